package engine

import "time"

// EventVersion is the version of the event schema (docs/events.md, docs/events.schema.json).
// Every event carries it as "v"; it changes only when a field changes meaning or goes away
// (new event types and new optional fields keep the version).
const EventVersion = 1

// EventType names an event.
type EventType string

// The events of a run, in the order they happen. The engine emits the host-level ones (probed to
// host.done); the library (pkg/chaos) adds the run-level ones and those around the engine's calls.
const (
	// EventRunStart opens a run: Count is the number of targets (fleet hosts or --target specs).
	EventRunStart EventType = "run.start"
	// EventPhase: a host entered a phase (Phase: connecting, probing, planning, applying with Ops,
	// confirming).
	EventPhase EventType = "host.phase"
	// EventConnected: the target's transport is open.
	EventConnected EventType = "host.connected"
	EventProbed    EventType = "probed"
	// EventPlan carries the plan (Plan, Changes) before anything is approved or applied.
	EventPlan EventType = "plan"
	// EventRecovered: an interrupted apply found on the host was handled first (Recovery).
	EventRecovered EventType = "recovered"
	EventOpStart   EventType = "op.start"
	EventOpEnd     EventType = "op.end"
	EventUndo      EventType = "undo"
	// EventReplanned: a role was planned again during the apply because an earlier role changed
	// its facts (Notes say how the new plan differs from the approved one).
	EventReplanned EventType = "role.replanned"
	// EventGeneration: the apply recorded a generation (Generation) or a snapshot (Message).
	EventGeneration EventType = "generation"
	// EventDone ends a host's apply (Error when it failed).
	EventDone EventType = "host.done"
	// EventResult carries the apply's Result after success.
	EventResult EventType = "result"
	// EventAccess: the fresh connection after an apply that touched access confirmed it (no Error)
	// or failed (Error says when the host rolls itself back).
	EventAccess EventType = "access.confirm"
	// EventWatchdog: what an earlier apply's access watchdog left on the host, found by the next run
	// (Op "rolled back JOURNAL" with Error, or "confirmed JOURNAL").
	EventWatchdog EventType = "access.watchdog"
	// EventMessage is a line for the person running chaos (Message, with Level "warning" or
	// "note"): warnings about the target, what an access confirmation will do, ...
	EventMessage EventType = "message"
	// EventError: a target failed (Error); the run goes on with the next one.
	EventError EventType = "error"
	// EventHostResult: a fleet host is done (Host).
	EventHostResult EventType = "fleet.host"
	// EventRunDone closes a run: Hosts are the outcomes, Duration the whole run.
	EventRunDone EventType = "run.done"
)

// Event is one step of a run, consumed by the terminal UI, --json, the logbook and Capitain. It is
// one flat type with optional fields (which ones each type sets: docs/events.md) so that a
// consumer decodes every line the same way.
type Event struct {
	V      int       `json:"v"`
	Type   EventType `json:"type"`
	Time   time.Time `json:"time,omitzero"`
	Target string    `json:"target,omitempty"`
	Role   string    `json:"role,omitempty"`
	Op     string    `json:"op,omitempty"`
	// Duration is the op's, the host's (host.done) or the run's (run.done).
	Duration time.Duration `json:"duration_ns,omitempty"`
	Error    string        `json:"error,omitempty"`
	// Stdout and Stderr are the tails (OutputTail bytes) of what an exec op printed, on op.end.
	// Neither is kept for an op with secret data, and known secret values are redacted from both
	// (and from Error).
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	// Generation is set on generation and host.done after a successful apply that recorded one.
	Generation int `json:"generation,omitempty"`
	// Notes are the changes of a re-planned role that differ from the approved plan (role.replanned).
	Notes []string `json:"notes,omitempty"`
	// Phase and Ops: host.phase.
	Phase string `json:"phase,omitempty"`
	Ops   int    `json:"ops,omitempty"`
	// Count: run.start.
	Count int `json:"count,omitempty"`
	// Message and Level: message (Level "warning" or "note"), generation (the snapshot line).
	Message string `json:"message,omitempty"`
	Level   string `json:"level,omitempty"`
	// Changes and Plan: plan.
	Changes int       `json:"changes,omitempty"`
	Plan    *HostPlan `json:"plan,omitempty"`
	// RollbackTo is the generation a rollback's plan and result go back to (Message says when it
	// was recorded).
	RollbackTo int `json:"rollback_to,omitempty"`
	// Result: result. Recovery: recovered. Watchdog: access.watchdog.
	Result   *Result        `json:"result,omitempty"`
	Recovery *Recovery      `json:"recovery,omitempty"`
	Watchdog *WatchdogState `json:"watchdog,omitempty"`
	// Host: fleet.host. Hosts: run.done.
	Host  *HostOutcome  `json:"host,omitempty"`
	Hosts []HostOutcome `json:"hosts,omitempty"`
}

// HostOutcome is how one target of a run ended.
type HostOutcome struct {
	Name string `json:"host"`
	// Status: unchanged, changed, pending (dry run with changes), failed, unreachable, skipped.
	Status  string        `json:"status"`
	Changes int           `json:"changes"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Error   string        `json:"error,omitempty"`
}

// Stamp sets the event's version and, when unset, its time.
func (ev Event) Stamp() Event {
	ev.V = EventVersion
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	return ev
}

func emit(f func(Event), ev Event) {
	if f != nil {
		f(ev.Stamp())
	}
}
