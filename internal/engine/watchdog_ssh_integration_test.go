package engine_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// The access watchdog over a real SSH connection (docs/generations.md, "Confirming access"):
//
//   - it does not fire while the apply holds the host lock, however long past its timeout an op
//     takes, and a fresh connection then disarms it;
//   - unconfirmed after a complete apply, it undoes it on the host once the lock is free;
//   - when the connection dies in the middle of the apply (a lockout mid-way), it undoes the ops
//     that ran and removes the open journal: the host is exactly as before, with nothing to recover;
//   - a recovery that comes first drops it: nothing is undone twice.
func TestWatchdogOverSSH(t *testing.T) {
	hs := testenv.StartSSHHosts(t, 1, func(h *testenv.SSHHost) {
		testenv.WriteFile(t, h.Root, "/srv/tree/a", "a\n")
		testenv.WriteFile(t, h.Root, "/srv/tree/sub/b", "b\n")
	})
	h := hs.Hosts[0]
	ctx := context.Background()
	dial := func() *transport.SSH {
		t.Helper()
		tr, err := transport.DialSSH(ctx, transport.SSHConfig{Name: h.Name, Host: h.Addr, User: "root", KeyFiles: []string{hs.KeyFile},
			NoAgent: true, KnownHostsFiles: []string{hs.KnownHosts}, SSHConfigFile: "none", ConnectTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Close() })
		return tr
	}
	e := &engine.Engine{Registry: builtin.Registry()}
	req := engine.Request{Chobolo: load(t, `files:
  - {path: /etc/ssh/sshd_config.d/70-watchdog.conf, content: "ClientAliveInterval 90\n"}
  - {path: /etc/zz-after.conf, content: "after\n"}
`), Assume: true, Watchdog: &engine.WatchdogOptions{Timeout: 2 * time.Second}}
	exists := func(p string) bool { return testenv.Exists(t, h.Root, p) }
	waitDone := func() {
		t.Helper()
		done := filepath.Join(h.Root, "var/lib/chaos/watchdog/done")
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if _, err := os.Stat(done); err == nil {
				return
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(h.Root, "var/lib/chaos/watchdog/rollback.log"))
				t.Fatalf("the watchdog did not roll back within a minute:\n%s", log)
			}
		}
	}
	before := state(t, h.Root)

	// 1. The second op starts 9 s after the first: past the watchdog's 2+5 s, but under the lock.
	tr := dial()
	r := req
	starts := 0
	r.Observe = func(ev engine.Event) {
		if ev.Type == engine.EventOpStart {
			if starts++; starts == 2 {
				time.Sleep(9 * time.Second)
			}
		}
	}
	res, err := e.Apply(ctx, tr, mustPlan(t, e, tr, req), r)
	if err != nil || res.Watchdog == "" {
		t.Fatalf("apply: %v %+v", err, res)
	}
	ws, err := engine.ReadWatchdog(ctx, tr)
	if err != nil || ws.State != "armed" {
		t.Fatalf("after an apply longer than the timeout, the watchdog is %+v (%v), want armed", ws, err)
	}
	_ = tr.Close()
	fresh := dial()
	if id, err := engine.ConfirmAccess(ctx, fresh); err != nil || id != res.Watchdog {
		t.Fatalf("confirm: %q %v", id, err)
	}
	_ = fresh.Close()
	if exists("/var/lib/chaos/watchdog") || !exists("/etc/zz-after.conf") {
		t.Fatal("after the confirmation: the watchdog's directory is there, or the apply was undone")
	}
	time.Sleep(8 * time.Second) // past its time: a disarmed watchdog never fires
	if !exists("/etc/ssh/sshd_config.d/70-watchdog.conf") || exists("/var/lib/chaos/watchdog") {
		t.Fatal("the disarmed watchdog undid the apply")
	}

	// Back to the state before, by an apply of nothing (the files role prunes what it created).
	tr = dial()
	empty := engine.Request{Chobolo: load(t, "files: []\n"), Assume: true}
	if _, err := e.Apply(ctx, tr, mustPlan(t, e, tr, empty), empty); err != nil {
		t.Fatal(err)
	}
	_ = tr.Close()

	// 2. Not confirmed: undone on the host once the lock is free, a removed tree included (its
	// archive leaves the journal with the watchdog's link to it).
	tree := treeOf(t, filepath.Join(h.Root, "srv/tree"))
	tr = dial()
	req2 := req
	req2.Chobolo = load(t, `files:
  - {path: /etc/ssh/sshd_config.d/70-watchdog.conf, content: "ClientAliveInterval 90\n"}
  - {path: /etc/zz-after.conf, content: "after\n"}
  - {path: /srv/tree, state: absent}
`)
	if res, err = e.Apply(ctx, tr, mustPlan(t, e, tr, req2), req2); err != nil {
		t.Fatal(err)
	}
	if exists("/srv/tree") {
		t.Fatal("the apply did not remove the tree")
	}
	_ = tr.Close()
	waitDone()
	if exists("/etc/ssh/sshd_config.d/70-watchdog.conf") || exists("/etc/zz-after.conf") {
		t.Fatal("the watchdog's rollback left the apply's files")
	}
	if got := treeOf(t, filepath.Join(h.Root, "srv/tree")); got != tree {
		t.Fatalf("the removed tree did not come back as it was:\n%s\nwant:\n%s", got, tree)
	}
	fresh = dial()
	ws, err = engine.SettleWatchdog(ctx, fresh)
	if err != nil || ws == nil || ws.State != "rolled back" || ws.Journal != res.Watchdog || ws.Generation != res.Generation || ws.Failures != 0 {
		t.Fatalf("the next run found %+v (%v), want the rollback of %s (generation %d)", ws, err, res.Watchdog, res.Generation)
	}
	gens, err := engine.ReadGenerations(ctx, fresh)
	if err != nil || len(gens) == 0 || gens[len(gens)-1].N != res.Generation || gens[len(gens)-1].UndoneByWatchdog.IsZero() {
		t.Fatalf("the generation is not marked as undone by the watchdog: %+v %v", gens, err)
	}
	// the ledger came back too: chaos manages no file now, so an apply of nothing has nothing to do
	if hp := mustPlan(t, e, fresh, empty); !hp.Empty() {
		t.Fatalf("after the rollback the plan of nothing is not empty: %d changes", hp.Changes())
	}
	_ = fresh.Close()
	before = state(t, h.Root) // with the generations recorded so far

	// applyCut applies req over a new connection that dies as the second op starts: the first op
	// ran (ops run one after the other), the journal is open. The host's files are not looked at
	// here: under load the 2 s watchdog may already have undone them when Apply returns.
	applyCut := func() {
		t.Helper()
		tr := dial()
		r := req
		starts := 0
		r.Observe = func(ev engine.Event) {
			if ev.Type == engine.EventOpStart {
				if starts++; starts == 2 {
					_ = tr.Close()
				}
			}
		}
		if _, err := e.Apply(ctx, tr, mustPlan(t, e, tr, req), r); err == nil {
			t.Fatal("the apply over a closed connection succeeded")
		}
		if starts < 2 {
			t.Fatalf("the test did not cut the connection after the first op (%d op started)", starts)
		}
	}

	// 3. The connection dies right before the second op: the first one ran, the journal is open.
	applyCut()
	waitDone()
	log, _ := os.ReadFile(filepath.Join(h.Root, "var/lib/chaos/watchdog/rollback.log"))
	if strings.Contains(string(log), "FAILED") {
		t.Fatalf("undo steps failed:\n%s", log)
	}
	if err := os.RemoveAll(filepath.Join(h.Root, "var/lib/chaos/watchdog")); err != nil {
		t.Fatal(err)
	}
	if got := state(t, h.Root); got != before {
		t.Fatalf("after the watchdog's rollback of the interrupted apply:\n%s\nlog:\n%s", diffState(before, got), log)
	}
	if exists(engine.JournalDir) {
		t.Fatal("the interrupted apply's journal is still there: the next run would undo it again")
	}

	// 4. The same cut, but a chaos recovers the host before the watchdog fires: the recovery undoes
	// the journal and drops the watchdog, which then never undoes anything a second time.
	applyCut()
	fresh = dial()
	rec, err := e.Recover(ctx, fresh, engine.RecoverOptions{})
	if err != nil || rec == nil || rec.Action != "rolled back" {
		t.Fatalf("recover: %+v %v", rec, err)
	}
	if exists("/var/lib/chaos/watchdog") {
		t.Fatal("the recovery left the interrupted apply's watchdog armed")
	}
	time.Sleep(8 * time.Second) // past the watchdog's time
	if got := state(t, h.Root); got != before {
		t.Fatalf("after the recovery:\n%s", diffState(before, got))
	}
}

// treeOf lists a directory tree: path, mode, owner and content of every entry.
func treeOf(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		fmt.Fprintf(&b, "%s %s %d:%d", strings.TrimPrefix(p, root), fi.Mode(), st.Uid, st.Gid)
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %q", data)
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func mustPlan(t *testing.T, e *engine.Engine, tr transport.Transport, req engine.Request) *engine.HostPlan {
	t.Helper()
	hp, err := e.Plan(context.Background(), tr, req)
	if err != nil {
		t.Fatal(err)
	}
	return hp
}
