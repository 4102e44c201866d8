package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/printable"
)

// Reporter renders a run's events (pkg/chaos streams them): text for people, JSON lines for
// programs. Every command that runs something reports through one.
type Reporter interface {
	Event(ev engine.Event)
	// Show prints a command's result: v as one indented JSON document, or what text writes.
	Show(v any, text func(w io.Writer) error) error
}

// reporter picks the text or the JSON reporter for the app's output.
func (a *app) reporter(asJSON bool) Reporter {
	if asJSON {
		return &jsonReporter{w: a.stdout}
	}
	return a.textReporter(engine.Style{Color: a.color(a.stdout)})
}

// jsonReporter writes each event as one JSON line (docs/events.md).
type jsonReporter struct {
	mu sync.Mutex
	w  io.Writer
}

func (r *jsonReporter) Event(ev engine.Event) {
	data, err := json.Marshal(ev)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.w.Write(append(data, '\n'))
}

func (r *jsonReporter) Show(v any, _ func(io.Writer) error) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err = r.w.Write(append(data, '\n'))
	return err
}

func (r *textReporter) Show(_ any, text func(io.Writer) error) error { return text(r.out) }

// textReporter writes what a person reads: the plan, one line per finished op, results and
// warnings (stderr), each host text escaped (printable).
type textReporter struct {
	out, errw io.Writer
	st        engine.Style
	verbose   int
	live      *stillRunning // "still running" lines on a terminal; nil otherwise
}

func (a *app) textReporter(st engine.Style) *textReporter {
	return &textReporter{out: a.stdout, errw: a.stderr, st: st, verbose: a.verbose, live: a.stillRunning()}
}

func (r *textReporter) Event(ev engine.Event) {
	st := r.st
	switch ev.Type {
	case engine.EventPlan:
		hp := ev.Plan
		switch {
		case ev.RollbackTo > 0:
			fmt.Fprintf(r.out, "%s: %s\n", hp.Target, ev.Message)
			engine.RenderPlan(r.out, hp, st)
			fmt.Fprintf(r.out, "%s: %s\n", hp.Target, engine.Summary(hp))
		case hp.Empty():
			fmt.Fprintf(r.out, "%s: no changes (probe %s)\n", hp.Target, hp.ProbeTime.Round(time.Millisecond))
			if r.verbose > 0 {
				engine.RenderPlan(r.out, hp, st)
			}
		default:
			engine.RenderPlan(r.out, hp, st)
			fmt.Fprintf(r.out, "%s: %s\n", hp.Target, engine.Summary(hp))
		}
	case engine.EventOpStart:
		if r.live != nil {
			r.live.start(ev.Role, ev.Op)
		}
	case engine.EventOpEnd:
		if r.live != nil {
			r.live.end()
		}
		mark := st.Paint("32", "ok")
		if ev.Error != "" {
			mark = st.Paint("31", "FAILED")
		}
		fmt.Fprintf(r.out, "  %s %s: %s (%s)\n", mark, ev.Role, printable.Line(ev.Op), ev.Duration.Round(time.Millisecond))
		if ev.Error != "" && r.verbose > 0 {
			fmt.Fprintf(r.out, "     %s\n", printable.Text(ev.Error))
		}
	case engine.EventUndo:
		fmt.Fprintf(r.out, "  %s %s: %s\n", st.Paint("33", "undo"), ev.Role, printable.Line(ev.Op))
	case engine.EventReplanned:
		// The plan of this role changed after earlier roles ran (engine.Settler): say how.
		for _, n := range ev.Notes {
			fmt.Fprintf(r.out, "  %s %s: %s\n", st.Paint("33", "re-planned"), ev.Role, printable.Line(n))
		}
	case engine.EventRecovered:
		r.recovered(ev.Target, ev.Recovery)
	case engine.EventWatchdog:
		fmt.Fprintf(r.errw, "%s: %s\n", ev.Target, printable.Text(ev.Message))
	case engine.EventAccess:
		if ev.Error == "" {
			fmt.Fprintf(r.out, "%s: access confirmed over a fresh connection in %s; the watchdog is disarmed\n", ev.Target, ev.Duration.Round(time.Millisecond))
		}
	case engine.EventResult:
		res := ev.Result
		if ev.RollbackTo > 0 {
			fmt.Fprintf(r.out, "%s: rolled back to generation %d: %s (%s) in %s\n", ev.Target, ev.RollbackTo, plural(res.Changed, "change"),
				plural(res.Ops, "op"), res.Elapsed.Round(time.Millisecond))
		} else {
			fmt.Fprintf(r.out, "%s: applied %s (%s) in %s\n", ev.Target, plural(res.Changed, "change"),
				plural(res.Ops, "op"), res.Elapsed.Round(time.Millisecond))
		}
	case engine.EventGeneration:
		if ev.Message != "" {
			fmt.Fprintf(r.out, "%s: %s\n", ev.Target, ev.Message)
		}
		if ev.Generation > 0 {
			fmt.Fprintf(r.out, "%s: recorded generation %d\n", ev.Target, ev.Generation)
		}
	case engine.EventMessage:
		r.message(ev)
	case engine.EventError:
		fmt.Fprintf(r.errw, "chaos: %s\n", printable.Text(ev.Error))
	}
}

func (r *textReporter) message(ev engine.Event) {
	w, prefix := r.errw, ""
	switch ev.Level {
	case "":
		w = r.out
	case "warning", "note":
		prefix = ev.Level + ": "
	}
	who := ev.Target
	if who == "" {
		who = "chaos"
	}
	fmt.Fprintf(w, "%s: %s%s\n", who, prefix, printable.Text(ev.Message))
}

// recovered says how an interrupted apply was handled (nil: there was none, which only recover
// reports).
func (r *textReporter) recovered(target string, rec *engine.Recovery) {
	if rec == nil {
		fmt.Fprintf(r.out, "%s: no interrupted apply: nothing to recover\n", target)
		return
	}
	fmt.Fprintf(r.out, "%s: found the journal of an interrupted apply (%s, started %s, %d ops): %s",
		target, rec.Journal.ID, rec.Journal.Started.Local().Format(time.DateTime), len(rec.Journal.Entries), rec.Action)
	if rec.Action == "rolled back" {
		fmt.Fprintf(r.out, " (%s undone)", plural(rec.Undone, "op"))
	}
	fmt.Fprintln(r.out)
	for _, n := range rec.NotUndone {
		fmt.Fprintf(r.errw, "  not undone: %s\n", n)
	}
	for _, e := range rec.Errors {
		fmt.Fprintf(r.errw, "  %s\n", e)
	}
	for _, w := range rec.Warnings {
		fmt.Fprintf(r.errw, "  warning: %s\n", w)
	}
}
