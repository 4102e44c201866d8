// Package enginetest runs roles against real targets in tests: plan, apply, and re-plan to prove the
// second run changes nothing.
package enginetest

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// Chroot opens a chroot transport on root, closed at cleanup.
func Chroot(t testing.TB, root string) transport.Transport {
	t.Helper()
	tr, err := transport.NewChroot(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// Plan plans c with roles on tr and fails the test on error.
func Plan(t testing.TB, tr transport.Transport, c *chobolo.Chobolo, roles ...engine.Role) *engine.HostPlan {
	t.Helper()
	e := &engine.Engine{Registry: engine.NewRegistry(roles...)}
	hp, err := e.Plan(context.Background(), tr, engine.Request{Chobolo: c, Assume: true})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return hp
}

// Apply plans and applies c with roles on tr, failing the test on error. It returns the plan that ran.
func Apply(t testing.TB, tr transport.Transport, c *chobolo.Chobolo, roles ...engine.Role) *engine.HostPlan {
	t.Helper()
	e, req, hp := plan(t, tr, c, roles...)
	if _, err := e.Apply(context.Background(), tr, hp, req); err != nil {
		t.Fatalf("apply: %v\nplan was:\n%s", err, Render(hp))
	}
	return hp
}

// plan is the engine, request and plan of an apply of c (-y).
func plan(t testing.TB, tr transport.Transport, c *chobolo.Chobolo, roles ...engine.Role) (*engine.Engine, engine.Request, *engine.HostPlan) {
	t.Helper()
	e := &engine.Engine{Registry: engine.NewRegistry(roles...)}
	req := engine.Request{Chobolo: c, Assume: true}
	hp, err := e.Plan(context.Background(), tr, req)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return e, req, hp
}

// ApplyRollsBack applies c, which must fail, and fails the test unless the engine rolled the
// completed ops back with every inverse succeeding (none failed, no warning). It returns the error.
func ApplyRollsBack(t testing.TB, tr transport.Transport, c *chobolo.Chobolo, roles ...engine.Role) error {
	t.Helper()
	e, req, hp := plan(t, tr, c, roles...)
	res, err := e.Apply(context.Background(), tr, hp, req)
	if err == nil || res == nil || !res.RolledBack {
		t.Fatalf("the apply did not fail and roll back: %v %+v\nplan was:\n%s", err, res, Render(hp))
	}
	if len(res.UndoErrors) > 0 || len(res.Warnings) > 0 {
		t.Errorf("the undo did not run cleanly: %q %q", res.UndoErrors, res.Warnings)
	}
	return err
}

// ApplyTwice applies c, then plans again and fails unless the second plan is empty. It returns the
// first plan.
func ApplyTwice(t testing.TB, tr transport.Transport, c *chobolo.Chobolo, roles ...engine.Role) *engine.HostPlan {
	t.Helper()
	first := Apply(t, tr, c, roles...)
	if second := Plan(t, tr, c, roles...); !second.Empty() {
		t.Fatalf("second run is not a no-op:\n%s\nfirst run was:\n%s", Render(second), Render(first))
	}
	return first
}

// ApplyThrice is ApplyTwice that also runs the (empty) second apply and fails unless a third plan is
// empty too: a change that flips back on the next run (or is only seen through the probe caches the
// second run leaves) shows up there. It returns the first plan.
func ApplyThrice(t testing.TB, tr transport.Transport, c *chobolo.Chobolo, roles ...engine.Role) *engine.HostPlan {
	t.Helper()
	first := ApplyTwice(t, tr, c, roles...)
	if second := Apply(t, tr, c, roles...); !second.Empty() {
		t.Fatalf("second run is not a no-op:\n%s", Render(second))
	}
	if third := Plan(t, tr, c, roles...); !third.Empty() {
		t.Fatalf("third run is not a no-op:\n%s\nfirst run was:\n%s", Render(third), Render(first))
	}
	return first
}

// Render is the plain-text plan, for test failure messages.
func Render(hp *engine.HostPlan) string {
	var b bytes.Buffer
	engine.RenderPlan(&b, hp, engine.Style{})
	return b.String()
}

// RenderRole is one role's plan as text, for the roles' golden files and test messages: its
// warnings, notes and guard, then each change ("K SUBJECT: DETAIL", with [FILE:LINE:COL] when it has
// a position) followed by its step's ops ("  $ OP", "    undo: OP"), then the ledger domains it
// sets, sorted. Unlike engine.RenderPlan it shows every undo and the ledger, and no styling.
func RenderRole(rp *engine.RolePlan) string {
	var b strings.Builder
	for _, w := range rp.Warnings {
		b.WriteString("warning: " + w + "\n")
	}
	for _, n := range rp.Notes {
		b.WriteString("note: " + n + "\n")
	}
	if rp.Guard != "" {
		b.WriteString("guard: " + rp.Guard + "\n")
	}
	for _, s := range rp.Steps {
		for _, c := range s.Changes {
			b.WriteString(string(c.Kind) + " " + c.Subject)
			if c.Detail != "" {
				b.WriteString(": " + c.Detail)
			}
			if c.Pos.File != "" || c.Pos.Line != 0 {
				b.WriteString(" [" + c.Pos.String() + "]")
			}
			b.WriteString("\n")
		}
		for _, o := range s.Ops {
			b.WriteString("  $ " + o.String() + "\n")
			if o.Undo != nil {
				b.WriteString("    undo: " + o.Undo.String() + "\n")
			}
		}
	}
	for _, d := range slices.Sorted(maps.Keys(rp.Ledger)) {
		b.WriteString(strings.Join(append([]string{"ledger " + d + ":"}, rp.Ledger[d]...), " ") + "\n")
	}
	return b.String()
}

// Nsenter opens a transport into the running container whose init is pid (see
// transport.NewNsenter), closed at cleanup. name is how the target is shown ("" for "@pid/PID").
func Nsenter(t testing.TB, pid int, name string) transport.Transport {
	t.Helper()
	tr, err := transport.NewNsenter(pid, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// PlanYAML loads src as the Ch-obolo "m.yml" and plans it read-only on tr with e; the plan error is
// returned, for tests of plan-time refusals.
func PlanYAML(t testing.TB, e *engine.Engine, tr transport.Transport, src string) (*engine.HostPlan, error) {
	t.Helper()
	c, err := chobolo.LoadBytes("m.yml", []byte(src), chobolo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return e.Plan(context.Background(), tr, engine.Request{Chobolo: c, ReadOnly: true})
}

// WantAll fails the test for each of wants that text lacks.
func WantAll(t testing.TB, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("missing %q in:\n%s", w, text)
		}
	}
}
