package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// TestFailAtEveryPositionSSH is TestFailAtEveryPosition over a real SSH connection to a real sshd
// (testenv.StartSSHHosts): each op of a five-role plan fails in turn (and each write between its
// temp file and its rename), the engine undoes the others over SSH (the lock is the mkdir lease
// there), and the host's full state (testenv.HostState) is exactly as before, read from the
// host's root directly.
func TestFailAtEveryPositionSSH(t *testing.T) {
	hs := testenv.StartSSHHosts(t, 1, func(h *testenv.SSHHost) { testenv.AptRepo(t, h.Root, faultPkgs...) })
	h := hs.Hosts[0]
	ctx := context.Background()
	tr, err := transport.DialSSH(ctx, transport.SSHConfig{Name: h.Name, Host: h.Addr, User: "root", KeyFiles: []string{hs.KeyFile},
		NoAgent: true, KnownHostsFiles: []string{hs.KnownHosts}, SSHConfigFile: "none", ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	e := &engine.Engine{Registry: builtin.Registry()}
	req := engine.Request{Chobolo: load(t, faultChobolo), Assume: true}
	first, err := e.Plan(ctx, tr, req)
	if err != nil {
		t.Fatal(err)
	}
	ops := planOps(first)
	nops := len(ops)
	if nops < 10 || len(first.Roles) < 5 {
		t.Fatalf("plan too small for the test (%d ops):\n%s", nops, enginetest.Render(first))
	}
	plan0 := enginetest.Render(first)
	before := state(t, h.Root)
	start := time.Now()
	// A fault before each op, and one between each write's temp file and its rename (the SSH
	// transport must remove the temp file on the host).
	type fault struct {
		k    int
		mode faultMode
	}
	var faults []fault
	for i, op := range ops {
		faults = append(faults, fault{i + 1, faultBefore})
		if op.Kind == engine.OpWrite {
			faults = append(faults, fault{i + 1, faultMidWrite})
		}
	}
	for _, ft := range faults {
		k := ft.k
		f := &faulty{Transport: tr, mode: ft.mode}
		seen := 0
		var failedOp string
		r := req
		r.Observe = func(ev engine.Event) {
			if ev.Type == engine.EventOpStart {
				if seen++; seen == k {
					f.armed, failedOp = true, ev.Role+": "+ev.Op
				}
			}
		}
		// The host is exactly as before each time (checked below), so the first plan still holds.
		res, err := e.Apply(ctx, f, first, r)
		if f.fired == "" {
			t.Fatalf("op %d (%s): the fault (mode %d) never struck: %v", k, failedOp, ft.mode, err)
		}
		failedOp += ", " + f.fired
		if !errors.Is(err, errInjected) || res == nil || !res.RolledBack {
			t.Fatalf("op %d (%s): want the injected failure and a rollback, got %v", k, failedOp, err)
		}
		if len(res.UndoErrors) > 0 {
			t.Errorf("op %d (%s): undo errors: %v", k, failedOp, res.UndoErrors)
		}
		if got := state(t, h.Root); got != before {
			t.Fatalf("op %d (%s): host changed after the rollback:\n%s", k, failedOp, diffState(before, got))
		}
		if testenv.Exists(t, h.Root, engine.JournalDir) || testenv.Exists(t, h.Root, engine.StateDir+"/lock.d") {
			t.Fatalf("op %d (%s): journal or lease left behind", k, failedOp)
		}
	}
	if again, err := e.Plan(ctx, tr, req); err != nil || enginetest.Render(again) != plan0 {
		t.Fatalf("the plan after the rollbacks differs:\n%s\nwas:\n%s (%v)", enginetest.Render(again), plan0, err)
	}
	t.Logf("%d faults at %d positions rolled back over SSH in %s", len(faults), nops, time.Since(start).Round(time.Millisecond))
	if _, err := e.Apply(ctx, tr, first, req); err != nil {
		t.Fatal(err)
	}
	if again, err := e.Plan(ctx, tr, req); err != nil || !again.Empty() {
		t.Fatalf("after the real apply: %v\n%s", err, enginetest.Render(again))
	}
}
