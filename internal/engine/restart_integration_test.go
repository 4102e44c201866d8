package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// TestRestartUndoOrder: when an apply fails after its restart phase started (or is killed there and
// recovered), the files are restored before the phase's inverses run, so a unit restarted again
// reads the old content. The stand-in for a restart appends the file it "reads" to a log.
func TestRestartUndoOrder(t *testing.T) {
	root := testenv.DebianRoot(t)
	conf, seen := filepath.Join(root, "etc/demo.conf"), filepath.Join(root, "etc/seen")
	tr, err := transport.NewChroot(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	read := Exec("sh", "-c", "cat /etc/demo.conf >>/etc/seen")
	restart := read.WithUndo(read)
	restart.UndoLast = true
	plan := func(last Op) *HostPlan {
		return &HostPlan{Target: tr.Name(), Roles: []*RolePlan{
			{Role: "files", Steps: []Step{{Changes: []Change{{Kind: Modify, Subject: "/etc/demo.conf"}},
				Ops: []Op{Write("/etc/demo.conf", []byte("new\n"), 0o644, "", "")}}}},
			{Role: RestartRole, Steps: []Step{{Changes: []Change{{Kind: Modify, Subject: "restart demo"}},
				Ops: []Op{restart, last}}}},
		}}
	}
	reset := func() {
		for p, c := range map[string]string{conf: "old\n", seen: ""} {
			if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(what string) {
		t.Helper()
		if got, _ := os.ReadFile(seen); string(got) != "new\nold\n" {
			t.Errorf("%s: the restarts read %q, want new then old (the undo restarts on the restored file)", what, got)
		}
		if got, _ := os.ReadFile(conf); string(got) != "old\n" {
			t.Errorf("%s: demo.conf is %q after the undo", what, got)
		}
	}

	reset()
	res, err := (&Engine{}).Apply(context.Background(), tr, plan(Exec("false")), Request{Record: RecordOptions{Skip: true}})
	if err == nil || !res.RolledBack || len(res.UndoErrors) > 0 {
		t.Fatalf("apply: %v %+v", err, res)
	}
	check("failed apply")

	reset()
	crashAt(t, tr, plan(Exec("true")), 3) // killed right before the op after the restart
	if rec, err := (&Engine{}).Recover(context.Background(), tr, RecoverOptions{}); err != nil || len(rec.Errors) > 0 {
		t.Fatalf("recover: %+v %v", rec, err)
	}
	check("recovered apply")
}
