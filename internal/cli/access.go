package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// accessFlags are --no-confirm-access and --confirm-timeout (docs/generations.md, "Confirming
// access").
type accessFlags struct {
	noConfirm bool
	timeout   time.Duration
}

// DefaultConfirmTimeout bounds the fresh connection after an apply that touched access, and is how
// long the host waits for it before it rolls the apply back.
const DefaultConfirmTimeout = 30 * time.Second

// confirmTimeout is --confirm-timeout, or its default for a command without the flag (recover
// --resume, which applies).
func (f accessFlags) confirmTimeout() time.Duration {
	if f.timeout == 0 {
		return DefaultConfirmTimeout
	}
	return f.timeout
}

// check refuses a negative --confirm-timeout before anything is contacted.
func (f accessFlags) check() error {
	if f.timeout < 0 {
		return fmt.Errorf("--confirm-timeout must be positive (got %s)", f.timeout)
	}
	return nil
}

func (f *accessFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.noConfirm, "no-confirm-access", false, "over SSH, do not confirm access after an apply that touches it (no watchdog on the host)")
	fs.DurationVar(&f.timeout, "confirm-timeout", DefaultConfirmTimeout, "how long the fresh connection confirming access may take; the host rolls the apply back after it")
}

// accessCheck decides whether the apply of hp on t is confirmed over a fresh connection: an SSH
// target whose plan touches access (engine.AccessReasons). It says so under the plan, warns when
// --no-confirm-access turns it off, and returns the watchdog options for the engine (nil: none).
func (a *app) accessCheck(t transport.Transport, hp *engine.HostPlan, o applyOpts) (*engine.WatchdogOptions, error) {
	s, ok := t.(*transport.SSH)
	if !ok || hp.Empty() {
		return nil, nil
	}
	reasons := engine.AccessReasons(hp, s.User())
	if len(reasons) == 0 {
		return nil, nil
	}
	if o.access.noConfirm {
		fmt.Fprintf(a.stderr, "%s: warning: the plan touches access (%s) and --no-confirm-access is set: access is not confirmed after the apply and the host cannot roll itself back\n",
			hp.Target, reasons[0])
		return nil, nil
	}
	timeout := o.access.confirmTimeout()
	if !o.json {
		verb := "will be"
		if o.dry {
			verb = "would be"
		}
		why := strings.Join(reasons[:min(len(reasons), 3)], "; ")
		if len(reasons) > 3 {
			why += fmt.Sprintf("; and %d more", len(reasons)-3)
		}
		fmt.Fprintf(a.stdout, "%s: access %s confirmed after the apply (within %s; else the host rolls it back): %s\n",
			hp.Target, verb, timeout, why)
	}
	return &engine.WatchdogOptions{Timeout: timeout}, nil
}

// confirmAccess opens a fresh connection to the target of spec, with the same settings, runs a
// trivial command and disarms the host's watchdog, all within --confirm-timeout. The apply's own
// connection is closed already: only a new login proves that the way in still works.
func (a *app) confirmAccess(ctx context.Context, spec, target, journal string, o applyOpts, observe func(engine.Event)) error {
	start := time.Now()
	deadline := start.Add(o.access.confirmTimeout())
	cctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	attempt := func() error {
		t, err := a.openApplyTarget(cctx, spec, o)
		if err != nil {
			return err
		}
		defer t.Close()
		if _, err := transport.Check(cctx, t, transport.Cmd{Argv: []string{"true"}}); err != nil {
			return err
		}
		_, err = engine.ConfirmAccess(cctx, t)
		return err
	}
	// A service restarting after the apply (sshd itself, the network) refuses connections for a
	// moment: the fresh connection is tried again, once a second, until the deadline.
	var err error
	for {
		err = attempt()
		if err == nil || errors.Is(err, engine.ErrWatchdogFired) || cctx.Err() != nil {
			break
		}
		select {
		case <-cctx.Done():
		case <-time.After(time.Second):
			continue
		}
		break
	}
	ev := engine.Event{Type: engine.EventAccess, Target: target, Op: "confirm access (apply " + journal + ")", Duration: time.Since(start)}
	if err != nil {
		fireAt := start.Add(o.access.confirmTimeout() + engine.WatchdogGrace + time.Second)
		msg := fmt.Sprintf("access lost after the apply: a fresh connection failed (%v); the host rolls itself back at %s",
			err, fireAt.Local().Format(time.TimeOnly))
		if errors.Is(err, engine.ErrWatchdogFired) {
			msg = "access was not confirmed in time: the host's watchdog fired and is rolling the apply back"
		}
		if !o.json {
			fmt.Fprintf(a.stderr, "%s: %s; waiting for it\n", target, msg)
		}
		msg += ": " + a.awaitRollback(ctx, spec, o, fireAt)
		ev.Error = msg
		emit(observe, ev)
		return fmt.Errorf("%s: %s", target, msg)
	}
	emit(observe, ev) // with --json, this is the line that says so
	if !o.json {
		fmt.Fprintf(a.stdout, "%s: access confirmed over a fresh connection in %s; the watchdog is disarmed\n", target, ev.Duration.Round(time.Millisecond))
	}
	return nil
}

// RecheckWindow is how long after the watchdog's time a failed confirmation keeps looking for the
// host to come back.
const RecheckWindow = 2 * time.Minute

// awaitRollback waits for the host's watchdog to roll the apply back (after fireAt) and says
// whether the host is reachable again, looking every 2 s over fresh connections. The rollback's
// record stays on the host for the next run, which reports it and marks the generation.
func (a *app) awaitRollback(ctx context.Context, spec string, o applyOpts, fireAt time.Time) string {
	wctx, cancel := context.WithDeadline(ctx, fireAt.Add(RecheckWindow))
	defer cancel()
	look := func() (*engine.WatchdogState, error) {
		t, err := a.openApplyTarget(wctx, spec, o)
		if err != nil {
			return nil, err
		}
		defer t.Close()
		return engine.ReadWatchdog(wctx, t)
	}
	wait := time.Until(fireAt)
	for {
		select {
		case <-wctx.Done():
			return fmt.Sprintf("the host was not seen back by %s", time.Now().Local().Format(time.TimeOnly))
		case <-time.After(wait):
		}
		wait = 2 * time.Second
		ws, err := look()
		switch {
		case err != nil:
		case ws.State == "rolled back" && ws.Failures > 0:
			return fmt.Sprintf("it did at %s and is reachable again, but %d undo steps failed:\n%s", ws.Time.Local().Format(time.TimeOnly), ws.Failures, ws.Log)
		case ws.State == "rolled back":
			return fmt.Sprintf("it did at %s and is reachable again (the next run reports it)", ws.Time.Local().Format(time.TimeOnly))
		case ws.State == "" || ws.State == "confirmed":
			return "the host is reachable again, and its watchdog was settled by another run"
		}
	}
}

// reportWatchdog says what an earlier apply's watchdog left on the host (engine.SettleWatchdog).
func (a *app) reportWatchdog(target string, ws *engine.WatchdogState, o applyOpts, observe func(engine.Event)) {
	if ws == nil {
		return
	}
	var msg string
	switch ws.State {
	case "confirmed":
		msg = fmt.Sprintf("the access watchdog of an earlier apply (%s) was still armed: this connection confirms access; disarmed", ws.Journal)
	case "rolled back":
		gen := ""
		if ws.Generation > 0 {
			gen = fmt.Sprintf(" (generation %d)", ws.Generation)
		}
		msg = fmt.Sprintf("warning: the host's access watchdog rolled back apply %s%s at %s: access was not confirmed after it",
			ws.Journal, gen, ws.Time.Local().Format(time.DateTime))
		if ws.Failures > 0 {
			msg += fmt.Sprintf("; %d undo steps failed:\n%s", ws.Failures, ws.Log)
		}
	default:
		return
	}
	emit(observe, engine.Event{Type: engine.EventWatchdog, Target: target, Op: ws.State + " " + ws.Journal,
		Generation: ws.Generation, Error: errorIf(ws.State == "rolled back", msg)})
	if o.json {
		if observe == nil { // recover: no event stream, the state as a JSON line of its own
			a.jsonLine(map[string]any{"type": string(engine.EventWatchdog), "target": target, "watchdog": ws})
		}
		return
	}
	fmt.Fprintf(a.stderr, "%s: %s\n", target, msg)
}

func errorIf(cond bool, msg string) string {
	if cond {
		return msg
	}
	return ""
}

func emit(f func(engine.Event), ev engine.Event) {
	if f != nil {
		f(ev)
	}
}
