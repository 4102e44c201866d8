package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/transport"
)

// A plan whose last op fails must leave the tree exactly as it was. File ops need no programs in
// the tree, so a bare directory is a real chroot target here.
func TestApplyUndoesOnFailure(t *testing.T) {
	dir := treeRoot(t)
	mustWrite(t, filepath.Join(dir, "etc/keep"), "old\n", 0o600)
	mustWrite(t, filepath.Join(dir, "etc/gone"), "bye\n", 0o644)
	if err := os.Symlink("/old/target", filepath.Join(dir, "etc/link")); err != nil {
		t.Fatal(err)
	}
	// chaos's own state (lock, journal, generations) lives in /var/lib/chaos, outside the snapshot.
	if err := os.MkdirAll(filepath.Join(dir, StateDir), 0o755); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)

	tr, err := transport.NewChroot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	hp := &HostPlan{Target: tr.Name(), Roles: []*RolePlan{{Role: "t", Steps: []Step{{Ops: []Op{
		Write("/etc/keep", []byte("new\n"), 0o644, "", ""),
		Write("/etc/new", []byte("x"), 0o600, "", ""),
		Mkdir("/srv/a/b", 0o750, "", ""),
		Remove("/etc/gone"),
		Symlink("/etc/link", "/new/target"),
		Exec("/nonexistent-program"),
	}}}}}}
	res, err := (&Engine{}).Apply(context.Background(), tr, hp, Request{})
	if err == nil {
		t.Fatal("apply succeeded, want failure")
	}
	if !res.RolledBack || len(res.UndoErrors) > 0 {
		t.Fatalf("result %+v", res)
	}
	if after := snapshot(t, dir); after != before {
		t.Fatalf("tree changed after rollback:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// A plan with a guarded prune is refused by the engine itself unless PruneAll, whatever approved it.
func TestApplyRefusesGuardedPrune(t *testing.T) {
	dir := treeRoot(t)
	mustWrite(t, filepath.Join(dir, "etc/gone"), "bye\n", 0o644)
	tr, err := transport.NewChroot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	hp := &HostPlan{Target: tr.Name(), Roles: []*RolePlan{{Role: "files", Guard: "removes 9 of 10 managed files",
		Steps: []Step{{Ops: []Op{Remove("/etc/gone")}}}}}}
	_, err = (&Engine{}).Apply(context.Background(), tr, hp, Request{Assume: true})
	if err == nil || !strings.Contains(err.Error(), "removes 9 of 10 managed files") {
		t.Fatalf("want a refusal naming the guard, got %v", err)
	}
	if _, serr := os.Stat(filepath.Join(dir, "etc/gone")); serr != nil {
		t.Fatal("the guarded remove ran")
	}
	if _, err := (&Engine{}).Apply(context.Background(), tr, hp, Request{PruneAll: true}); err != nil {
		t.Fatal(err)
	}
	if _, serr := os.Stat(filepath.Join(dir, "etc/gone")); serr == nil {
		t.Fatal("PruneAll: the remove did not run")
	}
}

func TestApplyWritesLedgerOnlyOnChange(t *testing.T) {
	dir := treeRoot(t)
	tr, err := transport.NewChroot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	hp := &HostPlan{Target: tr.Name(), Roles: []*RolePlan{{Role: "files", Ledger: map[string][]string{"files": {"/b", "/a", "/a"}}}}}
	if _, err := (&Engine{}).Apply(context.Background(), tr, hp, Request{}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, LedgerPath))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), ledgerHeader+"files\t/a\nfiles\t/b\n"; got != want {
		t.Fatalf("ledger not sorted/deduplicated:\n%s", data)
	}
	// The probe fragment reads a domain back, exactly, with the target's own awk.
	res, err := transport.NewLocal().Run(context.Background(), transport.Cmd{Argv: []string{"/bin/sh", "-c",
		strings.ReplaceAll(LedgerItems("files"), LedgerPath, filepath.Join(dir, LedgerPath))}})
	if err != nil || string(res.Stdout) != "/a\n/b\n" {
		t.Fatalf("LedgerItems printed %q, %v", res.Stdout, err)
	}
	// Same content again: nothing to write, so a read-only ledger is no problem.
	if err := os.Chmod(filepath.Join(dir, "var/lib/chaos"), 0o500); err != nil {
		t.Fatal(err)
	}
	hp.ledger = map[string][]string{"files": {"/a", "/b"}}
	if _, err := (&Engine{}).Apply(context.Background(), tr, hp, Request{}); err != nil {
		t.Fatal(err)
	}
}

// treeRoot is a directory the chroot transport accepts as a root (a shell and /etc/os-release), for
// tests of the engine's file ops that run no command.
func treeRoot(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "bin/sh"), "", 0o755)
	mustWrite(t, filepath.Join(dir, "etc/os-release"), "ID=debian\n", 0o644)
	return dir
}

func mustWrite(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// snapshot describes every path under dir: type, mode, content or link target.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == StateDir[1:] {
			return filepath.SkipDir
		}
		b.WriteString(rel + " " + fi.Mode().String())
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			b.WriteString(" -> " + target)
		case fi.Mode().IsRegular():
			data, _ := os.ReadFile(p)
			b.WriteString(" " + string(data))
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestLedgerRoundTrip(t *testing.T) {
	in := map[string][]string{"files": {"/etc/a b", "/etc/c\td"}, "repos.apt": {"docker"}}
	data, err := formatLedger(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ParseLedger(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out["files"][1] != "/etc/c\td" || out["repos.apt"][0] != "docker" {
		t.Fatalf("round trip: %v", out)
	}
	if _, err := formatLedger(map[string][]string{"files": {"/a\n/b"}}); err == nil {
		t.Fatal("a newline in an item must be refused")
	}
	if _, err := ParseLedger([]byte("files\n")); err == nil {
		t.Fatal("a line without a tab must be refused")
	}
}
