package chaos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// accessCheck decides whether the apply of hp on t is confirmed over a fresh connection: an SSH
// target whose plan touches access (engine.AccessReasons). It says so (a message event), warns
// when the request skips the confirmation, and returns the watchdog options for the engine (nil:
// none).
func (j *job) accessCheck(t transport.Transport, hp *Plan) (*engine.WatchdogOptions, error) {
	s, ok := t.(*transport.SSH)
	if !ok || hp.Empty() {
		return nil, nil
	}
	reasons := engine.AccessReasons(hp, s.User())
	if len(reasons) == 0 {
		return nil, nil
	}
	if j.req.Access.Skip {
		j.message(hp.Target, "warning", "the plan touches access (%s) and --no-confirm-access is set: access is not confirmed after the apply and the host cannot roll itself back",
			reasons[0])
		return nil, nil
	}
	timeout := j.req.Access.timeout()
	verb := "will be"
	if j.req.Dry {
		verb = "would be"
	}
	why := strings.Join(reasons[:min(len(reasons), 3)], "; ")
	if len(reasons) > 3 {
		why += fmt.Sprintf("; and %d more", len(reasons)-3)
	}
	j.message(hp.Target, "", "access %s confirmed after the apply (within %s; else the host rolls it back): %s", verb, timeout, why)
	return &engine.WatchdogOptions{Timeout: timeout}, nil
}

// confirmAccess opens a fresh connection to the target, with the same settings, runs a trivial
// command and disarms the host's watchdog, all within the confirmation timeout. The apply's own
// connection is closed already: only a new login proves that the way in still works.
func (j *job) confirmAccess(ctx context.Context, target, journal string) error {
	j.send(Event{Type: engine.EventPhase, Target: j.spec, Phase: "confirming access"})
	start := time.Now()
	timeout := j.req.Access.timeout()
	cctx, cancel := context.WithDeadline(ctx, start.Add(timeout))
	defer cancel()
	attempt := func() error {
		t, err := j.open(cctx, false)
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
	ev := Event{Type: engine.EventAccess, Target: target, Op: "confirm access (apply " + journal + ")", Duration: time.Since(start)}
	if err != nil {
		fireAt := start.Add(timeout + engine.WatchdogGrace + time.Second)
		msg := fmt.Sprintf("access lost after the apply: a fresh connection failed (%v); the host rolls itself back at %s",
			err, fireAt.Local().Format(time.TimeOnly))
		if errors.Is(err, engine.ErrWatchdogFired) {
			msg = "access was not confirmed in time: the host's watchdog fired and is rolling the apply back"
		}
		j.message(target, "error", "%s; waiting for it", msg)
		msg += ": " + j.awaitRollback(ctx, fireAt)
		ev.Error = msg
		j.send(ev)
		return fmt.Errorf("%s: %s", target, msg)
	}
	j.send(ev)
	return nil
}

// RecheckWindow is how long after the watchdog's time a failed confirmation keeps looking for the
// host to come back.
const RecheckWindow = 2 * time.Minute

// awaitRollback waits for the host's watchdog to roll the apply back (after fireAt) and says
// whether the host is reachable again, looking every 2 s over fresh connections. The rollback's
// record stays on the host for the next run, which reports it and marks the generation.
func (j *job) awaitRollback(ctx context.Context, fireAt time.Time) string {
	wctx, cancel := context.WithDeadline(ctx, fireAt.Add(RecheckWindow))
	defer cancel()
	look := func() (*engine.WatchdogState, error) {
		t, err := j.open(wctx, false)
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
func (j *job) reportWatchdog(target string, ws *engine.WatchdogState) {
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
	ev := Event{Type: engine.EventWatchdog, Target: target, Op: ws.State + " " + ws.Journal,
		Generation: ws.Generation, Message: msg, Watchdog: ws}
	if ws.State == "rolled back" {
		ev.Error = msg
	}
	j.send(ev)
}
