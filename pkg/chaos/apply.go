package chaos

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/fleet"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// Approval is an Approver's answer.
type Approval int

const (
	// Refuse: nothing is applied to this target.
	Refuse Approval = iota
	// Approve: apply the plan. A plan that prunes a large share of a domain (Plan.Guards) is
	// still refused unless the request says PruneAll.
	Approve
	// ApprovePrune: apply the plan, its guarded prunes included (the person saw them).
	ApprovePrune
)

// Approver decides whether a target's plan (never empty) is applied. An error refuses it with
// that error (e.g. "refusing without confirmation"); Refuse without an error refuses it with
// "TARGET: not applied".
type Approver func(ctx context.Context, p *Plan) (Approval, error)

// Unattended is the approval of a run nobody watches (a script, a CI job, a server without a
// policy of its own): changes apply, removals only with yes, guarded prunes only with pruneAll.
func Unattended(yes, pruneAll bool) Approver {
	return func(_ context.Context, p *Plan) (Approval, error) {
		var reasons []string
		flags := "-y"
		switch {
		case len(p.Guards()) > 0 && !pruneAll:
			reasons, flags = p.Guards(), "-y and --prune-all"
		case p.Removes() && !yes:
			reasons = []string{"the plan removes things"}
		default:
			return ApprovePrune, nil
		}
		return Refuse, fmt.Errorf("%s: %s; refusing without confirmation (use %s)", p.Target, strings.Join(reasons, "; "), flags)
	}
}

// AccessOptions shape the confirmation of access after an apply over SSH whose plan touches how
// the host is reached (docs/generations.md, "Confirming access").
type AccessOptions struct {
	// Skip applies without confirming (no watchdog on the host); the run warns.
	Skip bool
	// Timeout bounds the fresh connection; the host rolls the apply back after it.
	// 0: DefaultConfirmTimeout.
	Timeout time.Duration
}

// DefaultConfirmTimeout bounds the fresh connection after an apply that touched access, and is
// how long the host waits for it before it rolls the apply back.
const DefaultConfirmTimeout = 30 * time.Second

func (o AccessOptions) timeout() time.Duration { return cmp.Or(o.Timeout, DefaultConfirmTimeout) }

// ApplyRequest is one run: a Ch-obolo, the roles to run and where.
type ApplyRequest struct {
	Chobolo *Chobolo
	// Tags select roles by name or alias (ResolveTags expands the user's aliases); empty: every
	// role with data in the Ch-obolo.
	Tags []string
	// Targets are target specs (@local, @chroot/PATH, @pid/N, [user@]host[:port] or a fleet host's
	// name), applied one after the other; empty: @local. ApplyFleet ignores them.
	Targets []string
	// Inventory is the fleet SSH targets are looked up in (nil: none); Connect how they are reached.
	Inventory *fleet.Fleet
	Connect   fleet.ConnectOptions
	// Core forces the core (debian, arch, fedora).
	Core string
	// Dry plans only: nothing at all is written to a target.
	Dry bool
	// Yes is the user's yes up front (-y): roles may act on it, and the default Approver lets
	// removals through.
	Yes bool
	// PruneAll allows prunes of a large share of a domain (--prune-all).
	PruneAll bool
	// Approve decides each non-empty plan; nil: Unattended(Yes, PruneAll).
	Approve Approver
	// AskFirst asks Approve on a read-only plan before the host lock is taken and an interrupted
	// apply recovered, so that a refusal leaves the target untouched (the terminal's question).
	// The plan made under the lock must then equal the approved one, or nothing is applied.
	AskFirst bool
	// Secrets are the decrypted secrets for the roles (nil: none).
	Secrets SecretStore
	// Allow grants risky steps roles otherwise refuse ("bootloader-install").
	Allow map[string]bool
	// Snapshot takes a read-only btrfs snapshot of / before the apply.
	Snapshot bool
	// MaxTreeBackup caps the trees recursive removes archive for undo; ForceRemove deletes bigger
	// ones without a backup.
	MaxTreeBackup int64
	ForceRemove   bool
	// Keep and MaxBytes override the controller's generation retention when set.
	Keep     int
	MaxBytes int64
	// Access shapes the confirmation of access over SSH.
	Access AccessOptions
	// LockWait is how long to wait for a host another apply holds before failing with
	// engine.ErrHostBusy (0: fail at once).
	LockWait time.Duration
	// Events receives every event of the run, in order (one goroutine at a time). May be nil.
	Events func(Event)
	// Command names the run in the logbook ("apply", "rollback", ...; default "apply").
	Command string
	// Job names the server job this run belongs to (Capitain's job id; "" outside a server). The
	// generation an apply records carries it, and an apply whose target already holds a
	// generation of Job (a job retried after its server died mid-run) applies nothing: it reports
	// that generation in a message and a generation event, and the target as changed. The check
	// runs under the host lock, after an interrupted apply was rolled back, so each target is
	// applied at most once per job.
	Job string
}

// Run is the outcome of a run: one HostOutcome per target, in the order given (ApplyFleet: the
// inventory's order), and the plans that were made.
type Run struct {
	Hosts []HostOutcome
	// Plans are the targets' plans by target name (absent when planning failed).
	Plans map[string]*Plan
	// LogbookID is the run's id in the logbook ("" when not recorded).
	LogbookID string
}

// Failed counts the targets that failed, were unreachable or skipped.
func (r *Run) Failed() int {
	n := 0
	for _, h := range r.Hosts {
		switch h.Status {
		case StatusFailed, StatusUnreachable, StatusSkipped:
			n++
		}
	}
	return n
}

// Pending reports whether a dry run found changes.
func (r *Run) Pending() bool {
	return slices.ContainsFunc(r.Hosts, func(h HostOutcome) bool { return h.Status == StatusPending })
}

// Statuses of a HostOutcome (the fleet's).
const (
	StatusUnchanged   = string(fleet.Unchanged)
	StatusChanged     = string(fleet.Changed)
	StatusPending     = string(fleet.Pending)
	StatusFailed      = string(fleet.Failed)
	StatusUnreachable = string(fleet.Unreachable)
	StatusSkipped     = string(fleet.Skipped)
)

// ResolveTags expands the controller's aliases (recursively) in tags and refuses, before
// anything is contacted, a tag that names no role: with the closest name when it looks like a
// typo, and at the alias's place in config.yml when an alias names it.
func (c *Controller) ResolveTags(tags []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	known := func() []string {
		var names []string
		for _, r := range c.registry.All() {
			names = append(append(names, r.Meta().Name), r.Meta().Aliases...)
		}
		return slices.Concat(names, slices.Sorted(maps.Keys(c.opts.Aliases)))
	}
	var walk func(tag string, chain []string) error
	walk = func(tag string, chain []string) error {
		if slices.Contains(chain, tag) {
			return fmt.Errorf("alias cycle: %s -> %s", strings.Join(chain, " -> "), tag)
		}
		if exp, ok := c.opts.Aliases[tag]; ok {
			for _, t := range strings.Fields(exp) {
				if err := walk(t, append(chain, tag)); err != nil {
					return err
				}
			}
			return nil
		}
		if c.registry.Canonical(tag) == "" {
			if len(chain) > 0 {
				alias := chain[len(chain)-1]
				return fmt.Errorf("%s: alias %q: unknown role or alias %q%s (see `chaos check roles`)",
					c.opts.AliasPos[alias], alias, tag, chobolo.DidYouMean(tag, known()))
			}
			return fmt.Errorf("unknown role or alias %q%s (see `chaos check roles` and `chaos check aliases`)",
				tag, chobolo.DidYouMean(tag, known()))
		}
		if !seen[tag] {
			seen[tag] = true
			out = append(out, tag)
		}
		return nil
	}
	for _, t := range tags {
		if err := walk(t, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Plan plans req on its targets without changing anything (Apply with Dry).
func (c *Controller) Plan(ctx context.Context, req ApplyRequest) (*Run, error) {
	req.Dry = true
	return c.Apply(ctx, req)
}

// Apply plans and applies req on each of its targets in turn. A target that fails does not stop
// the others: its outcome says why (and an error event was sent). The error is for a request
// that cannot run at all (a bad target spec).
func (c *Controller) Apply(ctx context.Context, req ApplyRequest) (*Run, error) {
	targets := req.Targets
	if len(targets) == 0 {
		targets = []string{"@local"}
	}
	for _, spec := range targets {
		if _, err := transport.ParseSpec(spec); err != nil {
			return nil, err
		}
	}
	// An @terraform target is the hosts its output names, each applied to as an SSH target.
	targets, err := fleet.ExpandTargets(ctx, targets)
	if err != nil {
		return nil, err
	}
	if req.Access.Timeout < 0 {
		return nil, fmt.Errorf("--confirm-timeout must be positive (got %s)", req.Access.Timeout)
	}
	r := c.startRun(ctx, &req, len(targets))
	for _, spec := range targets {
		j := c.job(req, spec, func(ctx context.Context, readOnly bool) (transport.Transport, error) {
			return c.openSpec(ctx, spec, req.Inventory, req.Connect, readOnly)
		})
		j.emit = r.emit
		out, hp := j.run(ctx)
		r.done(out, hp)
	}
	return r.finish(), nil
}

// openSpec opens one target: a connector (built in, or a Soul's), a fleet host by name, or
// [user@]host[:port] over SSH.
func (c *Controller) openSpec(ctx context.Context, spec string, inv *fleet.Fleet, co fleet.ConnectOptions, readOnly bool) (transport.Transport, error) {
	s, err := transport.ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	if s.Kind == transport.KindLocal || s.Kind == transport.KindChroot || s.Kind == transport.KindPID {
		return s.Open()
	}
	if inv == nil {
		inv = &fleet.Fleet{Souls: c.kinds()}
	}
	co.ReadOnly = readOnly
	for _, h := range inv.Hosts {
		if h.Name == spec {
			return inv.Open(ctx, h, co)
		}
	}
	h, err := fleet.ParseTarget(spec)
	if err != nil {
		return nil, err
	}
	return inv.Open(ctx, h, co)
}

// job is one target's run: the sequence apply, rollback and recover --resume share.
type job struct {
	c    *Controller
	req  ApplyRequest
	spec string
	// open opens the target (again, for the fresh connection that confirms access).
	open func(ctx context.Context, readOnly bool) (transport.Transport, error)
	// plan makes the plan (default: the engine's plan of req's Ch-obolo); rollbacks plan otherwise.
	plan func(ctx context.Context, t transport.Transport, ereq *engine.Request) (*Plan, error)
	// decorate adds to the plan and result events (a rollback's generation).
	decorate func(*Event)
	emit     func(Event)
	// lock and held, when set, are the host lock the job already holds (recover --resume) and the
	// open transport it was taken through, which the job uses and leaves open.
	lock *engine.HostLock
	held transport.Transport
	// skip drops roles a fleet host's restrictions forbid (engine.Request.Skip).
	skip func(role string) string
	// unreachable is set when opening the target failed to reach it.
	unreachable bool
	// noRecord records no generation (the installer's disk phases: the installing machine's
	// system did not change).
	noRecord bool
}

func (c *Controller) job(req ApplyRequest, spec string, open func(context.Context, bool) (transport.Transport, error)) *job {
	j := &job{c: c, req: req, spec: spec, open: open}
	j.plan = func(ctx context.Context, t transport.Transport, ereq *engine.Request) (*Plan, error) {
		return c.engine().Plan(ctx, t, *ereq)
	}
	return j
}

func (j *job) send(ev Event) {
	defer func() {
		if ev.Type == engine.EventProbed {
			j.send(Event{Type: engine.EventPhase, Target: j.spec, Phase: "planning"})
		}
	}()
	if j.decorate != nil && (ev.Type == engine.EventPlan || ev.Type == engine.EventResult) {
		j.decorate(&ev)
	}
	if j.emit != nil {
		j.emit(ev.Stamp())
	}
}

func (j *job) message(target, level, format string, args ...any) {
	j.send(Event{Type: engine.EventMessage, Target: target, Level: level, Message: fmt.Sprintf(format, args...)})
}

// run plans and (unless dry) applies the job's target, and says how it ended.
func (j *job) run(ctx context.Context) (HostOutcome, *Plan) {
	start := time.Now()
	out := HostOutcome{Name: j.spec, Status: StatusUnchanged}
	hp, changed, err := j.apply(ctx)
	if errors.Is(err, errSnapshotDone) {
		changed, err = true, nil
	}
	if hp != nil {
		out.Changes = hp.Changes()
	}
	switch {
	case err != nil && j.unreachable:
		out.Status, out.Error = StatusUnreachable, err.Error()
	case err != nil:
		out.Status, out.Error = StatusFailed, err.Error()
	case changed && j.req.Dry:
		out.Status = StatusPending
	case changed:
		out.Status = StatusChanged
	}
	if err != nil {
		j.send(Event{Type: engine.EventError, Target: j.spec, Error: err.Error()})
	}
	out.Elapsed = time.Since(start)
	return out, hp
}

func (j *job) engineRequest() engine.Request {
	r := j.req
	ereq := engine.Request{Chobolo: r.Chobolo, Tags: r.Tags, Core: r.Core, Assume: r.Yes, PruneAll: r.PruneAll,
		ReadOnly: r.Dry, Allow: r.Allow, Secrets: r.Secrets, Snapshot: r.Snapshot,
		MaxTreeBackup: r.MaxTreeBackup, ForceRemove: r.ForceRemove}
	ereq.Record.Keep = cmp.Or(r.Keep, j.c.opts.Keep)
	ereq.Record.MaxBytes = cmp.Or(r.MaxBytes, j.c.opts.MaxBytes)
	ereq.Record.Skip = j.noRecord
	ereq.Record.Job = r.Job
	ereq.Observe = j.send
	ereq.Skip = j.skip
	if c := r.Chobolo; c != nil {
		ereq.SourceFunc = func() []byte {
			src, _ := chobolo.Recorded(c)
			return src
		}
	}
	return ereq
}

// apply is the sequence: open, (ask first), lock, recover, plan, approve, apply, confirm access.
// It reports the plan and whether changes were pending.
func (j *job) apply(ctx context.Context) (*Plan, bool, error) {
	j.send(Event{Type: engine.EventPhase, Target: j.spec, Phase: "connecting"})
	t := j.held
	if t == nil {
		var err error
		if t, err = j.open(ctx, j.req.Dry); err != nil {
			var ue *transport.UnreachableError
			j.unreachable = errors.As(err, &ue)
			return nil, false, err
		}
		defer t.Close()
	}
	j.send(Event{Type: engine.EventConnected, Target: t.Name()})
	j.send(Event{Type: engine.EventPhase, Target: j.spec, Phase: "probing"})
	ereq := j.engineRequest()
	approve := j.req.Approve
	if approve == nil {
		approve = Unattended(j.req.Yes, j.req.PruneAll)
	}
	var watchdog *engine.WatchdogOptions
	var shown *Plan
	var approval Approval
	if !j.req.Dry && j.req.AskFirst {
		rreq := ereq
		rreq.ReadOnly = true
		j.notePending(ctx, t)
		hp, err := j.plan(ctx, t, &rreq)
		if err != nil {
			return nil, false, err
		}
		if j.showPlan(hp) {
			return hp, false, nil
		}
		if watchdog, err = j.accessCheck(t, hp); err != nil {
			return hp, true, err
		}
		if approval, err = j.approve(ctx, approve, hp); err != nil {
			return hp, true, err
		}
		shown = hp
	}
	release, err := j.begin(ctx, t, &ereq)
	if err != nil {
		return nil, false, err
	}
	release = sync.OnceFunc(release)
	defer release()
	if done, err := j.doneBefore(ctx, t); done || err != nil {
		return nil, done, err
	}
	hp, err := j.plan(ctx, t, &ereq)
	if err != nil {
		return nil, false, err
	}
	if shown != nil {
		if !samePlan(shown, hp) {
			j.showPlan(hp)
			return hp, true, fmt.Errorf("%s: the target changed after the plan above was shown: nothing applied; run chaos %s again",
				hp.Target, cmp.Or(j.req.Command, "apply"))
		}
	} else {
		if j.showPlan(hp) {
			return hp, false, nil
		}
		if watchdog, err = j.accessCheck(t, hp); err != nil || j.req.Dry {
			return hp, true, err
		}
		if approval, err = j.approve(ctx, approve, hp); err != nil {
			return hp, true, err
		}
	}
	if approval == ApprovePrune {
		ereq.PruneAll = true
	}
	ereq.Watchdog = watchdog
	if n := hp.Changes(); n > 0 {
		j.send(Event{Type: engine.EventPhase, Target: j.spec, Phase: "applying", Ops: planOps(hp)})
	}
	res, err := j.c.engine().Apply(ctx, t, hp, ereq)
	if err != nil {
		if res != nil && (res.RolledBack || len(res.NotUndone) > 0) {
			msg := fmt.Sprintf("failed, rolled back %s", plural(res.Ops, "op"))
			if j.req.Command == "rollback" {
				msg = fmt.Sprintf("rollback failed and was undone (%s)", plural(res.Ops, "op"))
			}
			if len(res.NotUndone) > 0 {
				msg = "failed, rolled back only in part: these ops cannot be undone and their effect stays:\n  " +
					strings.Join(res.NotUndone, "\n  ")
			}
			if len(res.UndoErrors) > 0 {
				msg += "; undo problems:\n  " + strings.Join(res.UndoErrors, "\n  ")
			}
			j.message(hp.Target, "error", "%s", msg)
		}
		return hp, true, err
	}
	j.send(Event{Type: engine.EventResult, Target: hp.Target, Result: res})
	if res.Snapshot != "" {
		j.send(Event{Type: engine.EventGeneration, Target: hp.Target,
			Message: "read-only btrfs snapshot of / before the apply: " + res.Snapshot})
	}
	if res.Generation > 0 {
		j.send(Event{Type: engine.EventGeneration, Target: hp.Target, Generation: res.Generation})
	}
	for _, w := range res.Warnings {
		j.message(hp.Target, "warning", "%s", w)
	}
	if res.Watchdog != "" {
		// The lock and the apply's connection go first: the fresh connection must stand alone,
		// and the host's watchdog counts its time from the lock's release.
		release()
		if j.held == nil {
			_ = t.Close()
		}
		return hp, true, j.confirmAccess(ctx, hp.Target, res.Watchdog)
	}
	return hp, true, nil
}

// doneBefore reports whether the target already holds a generation of the request's Job (the host
// lock is held), announcing it.
func (j *job) doneBefore(ctx context.Context, t transport.Transport) (bool, error) {
	if j.req.Job == "" || j.req.Dry {
		return false, nil
	}
	gens, err := engine.ReadGenerations(ctx, t)
	if err != nil {
		return false, err
	}
	for _, g := range gens {
		if g.Job == j.req.Job {
			j.message(t.Name(), "note", "job %s was applied here before (generation %d): nothing applied again", j.req.Job, g.N)
			j.send(Event{Type: engine.EventGeneration, Target: t.Name(), Generation: g.N})
			return true, nil
		}
	}
	return false, nil
}

// approve asks the approver about a non-empty plan.
func (j *job) approve(ctx context.Context, approve Approver, hp *Plan) (Approval, error) {
	a, err := approve(ctx, hp)
	switch {
	case err != nil:
		return Refuse, err
	case a == Refuse:
		return Refuse, fmt.Errorf("%s: not applied", hp.Target)
	}
	return a, nil
}

// notePending warns, on a run that does not lock (a dry run, the question asked first), about
// what the host holds that the real apply handles first.
func (j *job) notePending(ctx context.Context, t transport.Transport) {
	if jr, err := engine.ReadJournal(ctx, t); err == nil && jr != nil {
		j.message(t.Name(), "warning", "an interrupted apply (journal %s, %s) will be rolled back first; the plan below does not account for it",
			jr.ID, jr.Started.Format(time.RFC3339))
	}
	if ws, err := engine.ReadWatchdog(ctx, t); err == nil && ws.State != "" {
		j.message(t.Name(), "note", "the access watchdog of apply %s is %s (the next apply reports and clears it)", ws.Journal, ws.State)
	}
}

// begin runs before the plan of a real apply: it takes the host lock (held until release; or uses
// the one the job holds already) and rolls back an apply that was interrupted on this host, so the
// plan starts from a clean state. A dry run only warns about an interrupted apply.
func (j *job) begin(ctx context.Context, t transport.Transport, ereq *engine.Request) (release func(), err error) {
	if j.req.Dry {
		j.notePending(ctx, t)
		return func() {}, nil
	}
	lock := j.lock
	if lock == nil {
		if lock, err = engine.LockHost(ctx, t, engine.LockOptions{Wait: j.req.LockWait}); err != nil {
			return nil, err
		}
	}
	ereq.Lock = lock
	if err := j.recover(ctx, t, ereq.Observe, lock); err != nil {
		lock.Release()
		return nil, err
	}
	return lock.Release, nil
}

// recover rolls back an interrupted apply and settles an earlier access watchdog (the lock is
// held), reporting both as events.
func (j *job) recover(ctx context.Context, t transport.Transport, observe func(Event), lock *engine.HostLock) error {
	rec, err := j.c.engine().Recover(ctx, t, engine.RecoverOptions{Observe: observe, Lock: lock})
	if err != nil {
		return err
	}
	if rec != nil {
		j.send(Event{Type: engine.EventRecovered, Target: t.Name(), Recovery: rec})
	}
	// After the recovery: an interrupted apply's journal is undone by this run, and its watchdog
	// then has nothing left to do.
	ws, err := engine.SettleWatchdog(ctx, t)
	j.reportWatchdog(t.Name(), ws)
	return err
}

// showPlan sends the plan and reports whether it is empty.
func (j *job) showPlan(hp *Plan) (empty bool) {
	j.send(Event{Type: engine.EventPlan, Target: hp.Target, Changes: hp.Changes(), Plan: hp})
	return hp.Empty()
}

// samePlan reports whether two plans of one target do the same (roles, steps, ops, notes).
func samePlan(a, b *Plan) bool {
	ja, err1 := json.Marshal([]any{a.Roles, a.Notes})
	jb, err2 := json.Marshal([]any{b.Roles, b.Notes})
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// planOps counts the ops a plan will run (its roles' and its restarts').
func planOps(hp *Plan) int {
	n := 0
	for _, r := range hp.Roles {
		for _, s := range r.Steps {
			n += len(s.Ops)
		}
	}
	return n
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
