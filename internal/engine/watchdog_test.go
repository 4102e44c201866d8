package engine

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// snapshotTree describes every path under root: type, mode, owner, content or link target.
func snapshotTree(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %s %d:%d", strings.TrimPrefix(p, root), fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case fi.Mode().IsRegular():
			data, _ := os.ReadFile(p)
			line += fmt.Sprintf(" %q", data)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// The watchdog's undo steps, run by sh on their own, put back what the ops changed, exactly as the
// engine's undo does: regular files (content, mode with setuid, owner), a new file, a symlink, a
// removed file, a chmod of a directory, a mkdir with parents, and exec inverses with and without
// stdin. Real ops on real files through the local transport, in a temporary directory.
func TestWatchdogStepsUndo(t *testing.T) {
	testenv.RequireRoot(t)
	ctx := context.Background()
	root := t.TempDir()
	steps := t.TempDir()
	p := func(s string) string { return filepath.Join(root, s) }
	mustWrite := func(name, content string, mode fs.FileMode, uid, gid int) {
		if err := os.WriteFile(p(name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(p(name), uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p(name), mode); err != nil { // after the chown, which clears setuid
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(p("dir"), 0o750); err != nil {
		t.Fatal(err)
	}
	mustWrite("regular", "old content\n", 0o640, 1, 2)
	mustWrite("suid", "#!/bin/sh\n", 0o755|fs.ModeSetuid, 0, 0)
	mustWrite("empty", "", 0o600, 0, 0)
	mustWrite("stdin-target", "before\n", 0o644, 0, 0)
	if err := os.Symlink("target-one", p("link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(p("link"), 1, 1); err != nil {
		t.Fatal(err)
	}
	before := snapshotTree(t, root)

	ops := []Op{
		Write(p("regular"), []byte("new\n"), 0o600, "0", "0"),
		Write(p("new-file"), []byte("fresh\n"), 0o644, "", ""),
		Write(p("empty"), []byte("now full\n"), 0o644, "", ""),
		Symlink(p("link"), "target-two"),
		Remove(p("suid")),
		{Kind: OpChmod, Path: p("dir"), Mode: 0o700},
		Mkdir(p("made/with/parents"), 0o755, "", ""),
		Exec("sh", "-c", "echo ran >"+p("exec-made")).WithUndo(Exec("rm", "-f", p("exec-made"))),
		Exec("sh", "-c", "echo changed >"+p("stdin-target")).WithUndo(Op{Kind: OpExec, Argv: []string{"sh", "-c", "cat >" + p("stdin-target")}, Stdin: []byte("before\n")}),
		Exec("sh", "-c", "exit 0").WithUndo(Op{Kind: OpExec, Argv: []string{"sh", "-c", "exit 3"}, OkCodes: []int{3}}),
	}
	e := &Engine{}
	tr := transport.NewLocal()
	ids := &idCache{t: tr}
	for i, op := range ops {
		je, err := e.prepare(ctx, tr, i+1, "test", op, policyOf(Request{}))
		if err != nil {
			t.Fatal(err)
		}
		script, data, err := watchdogStep(je, steps)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		name := fmt.Sprintf("%s/%06d", steps, je.Seq)
		if data != nil {
			if err := os.WriteFile(name+".data", data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(name+".sh", []byte(script), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := e.runOp(ctx, tr, ids, op); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}
	if after := snapshotTree(t, root); after == before {
		t.Fatal("the ops changed nothing")
	}
	for i := len(ops); i >= 1; i-- {
		cmd := exec.Command("sh", fmt.Sprintf("%06d.sh", i))
		cmd.Dir = steps
		if out, err := cmd.CombinedOutput(); err != nil {
			script, _ := os.ReadFile(fmt.Sprintf("%s/%06d.sh", steps, i))
			t.Fatalf("undo step %d (%s): %v\n%s\n--- script:\n%s", i, ops[i-1], err, out, script)
		}
	}
	if after := snapshotTree(t, root); after != before {
		t.Fatalf("after the watchdog's undo:\n%s\nwant:\n%s", after, before)
	}
}

// An inverse that carries a secret is never on the host: its step fails and says why, so that the
// rollback reports it.
func TestWatchdogStepSecret(t *testing.T) {
	je := &JournalEntry{Seq: 4, Op: Exec("chpasswd", "-e"), Undo: &Op{Kind: OpExec, Argv: []string{"chpasswd", "-e"}, Secret: true}, UndoSecret: true}
	script, data, err := watchdogStep(je, "/x")
	if err != nil || data != nil {
		t.Fatalf("err %v, data %q", err, data)
	}
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "carries a secret") {
		t.Fatalf("the step did not fail with the reason: %v %s", err, out)
	}
}

// The previous content of a secret file is in the controller's memory only: the watchdog's step
// for it holds no data and fails with the reason.
func TestWatchdogStepSecretFile(t *testing.T) {
	op := Write("/etc/app.conf", []byte("new-secret"), 0o600, "", "")
	op.Secret, op.PrevInMemory = true, true
	je := &JournalEntry{Seq: 5, Op: op, UndoPath: "/etc/app.conf", prevContent: []byte("old-secret"),
		Prev: &FileState{Exists: true, Mode: 0o600, Size: 10, Backup: "5", Secret: true, InMemory: true}}
	script, data, err := watchdogStep(je, "/x")
	if err != nil || data != nil || strings.Contains(script, "old-secret") {
		t.Fatalf("err %v, data %q, script %s", err, data, script)
	}
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cannot be restored after a crash") {
		t.Fatalf("the step did not fail with the reason: %v %s", err, out)
	}
}

func TestRestartedUnit(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"systemctl", "restart", "ssh.service"}, "ssh.service"},
		{[]string{"systemctl", "--no-block", "reload", "--", "sshd"}, "sshd"},
		{[]string{"systemctl", "try-reload-or-restart", "nginx.service"}, "nginx.service"},
		{[]string{"systemctl", "enable", "ssh.service"}, ""},
		{[]string{"systemctl", "daemon-reload"}, ""},
		{[]string{"restart", "a", "b"}, ""},
	} {
		if got := restartedUnit(Exec(tc.argv...)); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.argv, got, tc.want)
		}
	}
}

// What the watchdog runs after the undo steps, and which ops' own inverses move there.
func TestWatchdogPosts(t *testing.T) {
	w := func(p string) Op { return Write(p, nil, 0o644, "", "") }
	for _, tc := range []struct {
		op       Op
		want     string // the posts' names
		replaces bool
	}{
		{Exec("systemctl", "daemon-reload").WithUndo(Exec("systemctl", "daemon-reload")), "1-daemon-reload.sh", true},
		{Exec("systemctl", "restart", "ssh.service").WithUndo(Exec("systemctl", "restart", "ssh.service")), "2-000007.sh", true},
		{Exec("systemctl", "reload", "nginx.service"), "2-000007.sh", true},
		{w("/etc/systemd/system/app.service"), "1-daemon-reload.sh", false},
		{w("/etc/systemd/system/ssh.service.d/override.conf"), "1-daemon-reload.sh", false},
		{w("/etc/ssh/sshd_config.d/10-x.conf"), "3-sshd.sh", false},
		{Remove("/etc/ssh/sshd_config"), "3-sshd.sh", false},
		{w("/etc/motd"), "", false},
		{Exec("systemctl", "enable", "ssh.service").WithUndo(Exec("systemctl", "disable", "ssh.service")), "", false},
		{Exec("useradd", "alice"), "", false},
	} {
		posts, replaces := watchdogPosts(tc.op, 7)
		var names []string
		for _, p := range posts {
			names = append(names, p.name)
		}
		if got := strings.Join(names, " "); got != tc.want || replaces != tc.replaces {
			t.Errorf("%s: posts %q replaces %v, want %q %v", tc.op, got, replaces, tc.want, tc.replaces)
		}
	}
}
