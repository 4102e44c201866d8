package chaos

import (
	"io"

	"github.com/ch-aos-ch/chaos/internal/engine"
)

// The event types (docs/events.md lists the fields each sets).
const (
	EventRunStart   = engine.EventRunStart
	EventPhase      = engine.EventPhase
	EventConnected  = engine.EventConnected
	EventProbed     = engine.EventProbed
	EventPlan       = engine.EventPlan
	EventRecovered  = engine.EventRecovered
	EventOpStart    = engine.EventOpStart
	EventOpEnd      = engine.EventOpEnd
	EventUndo       = engine.EventUndo
	EventReplanned  = engine.EventReplanned
	EventGeneration = engine.EventGeneration
	EventDone       = engine.EventDone
	EventResult     = engine.EventResult
	EventAccess     = engine.EventAccess
	EventWatchdog   = engine.EventWatchdog
	EventMessage    = engine.EventMessage
	EventError      = engine.EventError
	EventHostResult = engine.EventHostResult
	EventRunDone    = engine.EventRunDone
)

// RenderPlan writes a plan as the chaos CLI shows it (colored with ANSI escapes when color).
func RenderPlan(w io.Writer, p *Plan, color bool) {
	engine.RenderPlan(w, p, engine.Style{Color: color})
}

// Summary is the plan's one-line summary ("3 to change, 1 to remove, ...").
func Summary(p *Plan) string { return engine.Summary(p) }
