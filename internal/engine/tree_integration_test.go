package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// makeTree builds /srv/tree in root: nested directories with their own modes and owners (setgid,
// sticky), files of several modes and owners (one setuid, one empty), absolute, relative and
// dangling symlinks, a hard link and a fifo.
func makeTree(t *testing.T, root string) {
	t.Helper()
	base := filepath.Join(root, "srv/tree")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []struct {
		p        string
		mode     os.FileMode
		uid, gid int
	}{{"", 0o750, 0, 4}, {"a", 0o2775, 1234, 1234}, {"a/b", 0o700, 1234, 0}, {"tmp", 0o1777, 0, 0}, {"empty", 0o555, 0, 0}} {
		p := filepath.Join(base, d.p)
		must(os.MkdirAll(p, 0o755))
		must(os.Chown(p, d.uid, d.gid))
		must(os.Chmod(p, d.mode))
	}
	for _, f := range []struct {
		p, data  string
		mode     os.FileMode
		uid, gid int
	}{{"top.conf", "top=1\n", 0o644, 0, 0}, {"a/secret.key", "KEY\x00\xff\n", 0o600, 1234, 1234},
		{"a/b/deep.txt", strings.Repeat("deep\n", 500), 0o640, 1234, 4}, {"a/tool", "#!/bin/sh\n", 0o4755, 0, 0}, {"tmp/empty", "", 0o666, 7, 7}} {
		p := filepath.Join(base, f.p)
		must(os.WriteFile(p, []byte(f.data), 0o600))
		must(os.Chown(p, f.uid, f.gid))
		must(os.Chmod(p, f.mode))
	}
	must(os.Symlink("/etc/hostname", filepath.Join(base, "abs-link")))
	must(os.Symlink("../top.conf", filepath.Join(base, "a/rel-link")))
	must(os.Symlink("nowhere", filepath.Join(base, "dangling")))
	must(os.Lchown(filepath.Join(base, "a/rel-link"), 1234, 1234))
	must(os.Link(filepath.Join(base, "top.conf"), filepath.Join(base, "a/hard.conf")))
	must(syscall.Mkfifo(filepath.Join(base, "a/fifo"), 0o620))
}

// crashing panics at the armed file or command operation: the apply dies like a SIGKILLed chaos,
// leaving its journal behind.
type crashing struct{ faulty }

func (c *crashing) WriteFile(ctx context.Context, p string, data []byte, mode os.FileMode, uid, gid int, v func(string) error) error {
	if c.trip() != nil {
		panic("crash")
	}
	return c.Transport.WriteFile(ctx, p, data, mode, uid, gid, v)
}

// TestRemoveTreeUndo: a recursive remove archives the whole tree first, so its undo restores it
// exactly (contents, modes, owners, symlinks, hard links, a fifo) when a later op fails, after a
// crash (chaos recover), and in a rollback to an earlier generation. A tree bigger than the cap is
// refused before anything changes, unless forced; a forced removal's undo recreates only the
// directory and says so.
func TestRemoveTreeUndo(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	makeTree(t, root)
	tr := enginetest.Chroot(t, root)
	ctx := context.Background()
	e := &engine.Engine{Registry: builtin.Registry()}
	c := load(t, `files:
  - path: /srv/tree
    state: absent
  - path: /etc/motd
    content: "after\n"
`)
	req := engine.Request{Chobolo: c, Assume: true}
	before := state(t, root)
	if !strings.Contains(before, "srv/tree/a/fifo p") || !strings.Contains(before, "srv/tree/a/rel-link L") {
		t.Fatalf("the tree is not as built:\n%s", before)
	}
	planFor := func(req engine.Request) *engine.HostPlan {
		t.Helper()
		hp, err := e.Plan(ctx, tr, req)
		if err != nil {
			t.Fatal(err)
		}
		return hp
	}
	// The removal, then a write that the test fails or crashes in.
	plan := func() *engine.HostPlan {
		return &engine.HostPlan{Target: tr.Name(), Core: "debian", Roles: []*engine.RolePlan{{Role: "files", Steps: []engine.Step{{
			Changes: []engine.Change{{Kind: engine.Del, Subject: "/srv/tree"}, {Kind: engine.Modify, Subject: "/etc/motd"}},
			Ops:     []engine.Op{{Kind: engine.OpRemove, Path: "/srv/tree", Recursive: true}, engine.Write("/etc/motd", []byte("after\n"), 0o644, "", "")},
		}}}}}
	}
	// armAt fails the k-th op (k from 1) through f.
	armAt := func(r engine.Request, f *faulty, k int) engine.Request {
		seen := 0
		r.Observe = func(ev engine.Event) {
			if ev.Type == engine.EventOpStart {
				if seen++; seen == k {
					f.armed = true
				}
			}
		}
		return r
	}
	same := func(what string) {
		t.Helper()
		if got := state(t, root); got != before {
			t.Fatalf("%s: the host differs from before:\n%s", what, diffState(before, got))
		}
	}

	// 1. The write after the removal fails: the tree comes back from the archive.
	f := &faulty{Transport: tr}
	res, err := e.Apply(ctx, f, plan(), armAt(req, f, 2))
	if !errors.Is(err, errInjected) || res == nil || !res.RolledBack || len(res.UndoErrors) > 0 {
		t.Fatalf("failure after the removal: %v %+v", err, res)
	}
	same("undo after a failure")

	// 2. Killed right before the write: chaos recover restores the tree from the journal.
	cr := &crashing{faulty{Transport: tr}}
	func() {
		defer func() {
			if r := recover(); r != "crash" {
				t.Fatalf("no crash: %v", r)
			}
		}()
		_, _ = e.Apply(ctx, cr, plan(), armAt(req, &cr.faulty, 2))
	}()
	if testenv.Exists(t, root, "/srv/tree") {
		t.Fatal("the tree was not removed before the crash")
	}
	rec, err := e.Recover(ctx, tr, engine.RecoverOptions{})
	if err != nil || rec == nil || len(rec.Errors) > 0 {
		t.Fatalf("recover: %+v %v", rec, err)
	}
	same("recover after a crash")

	// 3. Bigger than the cap: refused before the first op, nothing changed, no journal.
	small := req
	small.MaxTreeBackup = 4 << 10
	if _, err := e.Apply(ctx, tr, plan(), small); err == nil || !strings.Contains(err.Error(), "nothing was changed") ||
		!strings.Contains(err.Error(), "--force-remove") {
		t.Fatalf("a tree over the cap: %v", err)
	}
	same("refused removal")
	if j, _ := engine.ReadJournal(ctx, tr); j != nil {
		t.Fatal("a refused apply left a journal")
	}

	// 4. Forced past the cap: removed without a backup; a later failure recreates only the directory
	// and reports it.
	forced := small
	forced.ForceRemove = true
	f = &faulty{Transport: tr}
	res, err = e.Apply(ctx, f, plan(), armAt(forced, f, 2))
	if !errors.Is(err, errInjected) || res == nil || len(res.UndoErrors) != 1 || !strings.Contains(res.UndoErrors[0], "without a backup") {
		t.Fatalf("forced removal, then a failure: %v %+v", err, res)
	}
	if fi, err := os.Lstat(filepath.Join(root, "srv/tree")); err != nil || fi.Mode() != os.ModeDir|0o750 {
		t.Fatalf("the directory itself was not recreated: %v %v", fi, err)
	}
	if testenv.Exists(t, root, "/srv/tree/top.conf") {
		t.Fatal("an unsaved tree came back")
	}

	// 5. Generations: the archive is kept, and a rollback extracts it.
	testenv.Chroot(t, root, "rm", "-rf", "/srv/tree")
	makeTree(t, root)
	one := engine.Request{Chobolo: load(t, "hostname: gen-one\n"), Assume: true}
	if _, err := e.Apply(ctx, tr, planFor(one), one); err != nil {
		t.Fatal(err)
	}
	afterOne := state(t, root)
	hp := planFor(req)
	if out := enginetest.Render(hp); !strings.Contains(out, "directory and everything in it") {
		t.Fatalf("the files role's plan:\n%s", out)
	}
	if _, err := e.Apply(ctx, tr, hp, req); err != nil {
		t.Fatal(err)
	}
	gens, err := engine.ReadGenerations(ctx, tr)
	if err != nil || len(gens) != 2 {
		t.Fatalf("generations: %+v %v", gens, err)
	}
	if gens[1].Bytes < 10<<10 {
		t.Fatalf("generation 2 does not count its tree archive: %d bytes", gens[1].Bytes)
	}
	files, err := e.RollbackFiles(ctx, tr, 1)
	if err != nil {
		t.Fatal(err)
	}
	rb := &engine.HostPlan{Target: tr.Name(), Roles: []*engine.RolePlan{files}}
	if out := enginetest.Render(rb); !strings.Contains(out, "directory tree restored") {
		t.Fatalf("rollback plan:\n%s", out)
	}
	if _, err := e.Apply(ctx, tr, rb, engine.Request{Record: engine.RecordOptions{Kind: "rollback", Of: 1}}); err != nil {
		t.Fatal(err)
	}
	// Generations 2 and 3 are history and stay; the ledger is the declarative half of a rollback
	// (the re-apply of generation 1's Ch-obolo, internal/cli), which this file half leaves alone.
	fileHalf := func(state string) string {
		var kept []string
		for _, l := range strings.Split(state, "\n") {
			if !strings.HasPrefix(l, "var/lib/chaos/generations/") && !strings.HasPrefix(l, engine.LedgerPath[1:]+" ") {
				kept = append(kept, l)
			}
		}
		return strings.Join(kept, "\n")
	}
	if got := fileHalf(state(t, root)); got != fileHalf(afterOne) {
		t.Fatalf("after the rollback to generation 1:\n%s", diffState(fileHalf(afterOne), got))
	}
}
