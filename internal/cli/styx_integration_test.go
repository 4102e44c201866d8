package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestStyxDotfilesSoul takes the dotfiles Soul (examples/souls/dotfiles) through publish -> index
// -> invoke -> apply on a throwaway copy of the cached Debian root, then locks it: a Soul changed
// after the lock is refused by apply until invoke puts the locked version back.
func TestStyxDotfilesSoul(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "git", "git")
	w := newStyxWorld(t)
	src := filepath.Join(t.TempDir(), "dotfiles")
	if out, err := exec.Command("cp", "-r", filepath.Join(testenv.RepoRoot(t), "examples/souls/dotfiles"), src).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	os.Remove(filepath.Join(src, "main_test.go"))
	build := exec.Command(goTool(), "build", "-o", filepath.Join(src, "dotfiles"), "./examples/souls/dotfiles")
	build.Dir, build.Env = testenv.RepoRoot(t), append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	w.publish(t, src)
	if r := run(t, "", "styx", "invoke", "dotfiles"); r.code != 0 || !strings.Contains(r.stdout, "dotfiles@1.0.0") {
		t.Fatalf("invoke: %s", r)
	}
	if r := run(t, "", "soul", "list"); r.code != 0 || !strings.Contains(r.stdout, "dotfiles") || !strings.Contains(r.stdout, w.souls) {
		t.Fatalf("soul list after invoke: %s", r)
	}

	root := testenv.DebianRootWith(t, "git")
	testenv.Chroot(t, root, "useradd", "-m", "-s", "/bin/bash", "alice")
	// The dotfiles repository, inside the root (the clone runs there, as alice).
	work := filepath.Join(t.TempDir(), "work")
	os.MkdirAll(work, 0o755)
	os.WriteFile(filepath.Join(work, "bashrc"), []byte("# alice's bashrc from styx\n"), 0o644)
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."}, {"commit", "-q", "-m", "dots"},
		{"clone", "-q", "--bare", work, filepath.Join(root, "srv/dots.git")}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t",
			"GIT_COMMITTER_EMAIL=t@example.org", "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	testenv.Chroot(t, root, "chown", "-R", "alice:", "/srv/dots.git")
	m := writeChobolo(t, "dotfiles:\n  - user: alice\n    url: /srv/dots.git\n    links:\n      - from: bashrc\n        to: .bashrc\n")
	target := "@chroot" + root
	if r := run(t, "", "apply", "-c", m, "--target", target, "-y"); r.code != 0 {
		t.Fatalf("apply: %s", r)
	}
	// .bashrc is a link into the clone, absolute inside the root
	clone := "/home/alice/.dotfiles/chaos/dots"
	if got, err := os.Readlink(filepath.Join(root, "home/alice/.bashrc")); err != nil || got != clone+"/bashrc" {
		t.Fatalf(".bashrc links to %q (%v), want %s/bashrc", got, err, clone)
	}
	if got := testenv.ReadFile(t, root, clone+"/bashrc"); got != "# alice's bashrc from styx\n" {
		t.Fatalf("the clone's bashrc = %q", got)
	}
	if r := run(t, "", "apply", "-c", m, "--target", target, "--dry"); r.code != 0 {
		t.Fatalf("the rerun is not empty: %s", r)
	}

	if r := run(t, "", "styx", "lock", "-c", m); r.code != 0 {
		t.Fatalf("lock: %s", r)
	}
	// Someone edits the installed Soul: apply refuses it, verify reports it.
	explain := filepath.Join(w.souls, "dotfiles", "explain.md")
	os.WriteFile(explain, []byte("changed\n"), 0o644)
	if r := run(t, "", "apply", "-c", m, "--target", target, "--dry"); r.code != 1 || !strings.Contains(r.stderr, "dotfiles 1.0.0") ||
		!strings.Contains(r.stderr, "differs from the lock") {
		t.Fatalf("apply with a changed Soul: %s", r)
	}
	if r := run(t, "", "styx", "verify"); r.code != 1 || !strings.Contains(r.stdout, "FAILED") {
		t.Fatalf("verify of a changed Soul: %s", r)
	}
	// invoke with no names installs what the lock pins, from the warm cache.
	if r := run(t, "", "styx", "invoke", "-c", m); r.code != 0 {
		t.Fatalf("invoke from the lock: %s", r)
	}
	if r := run(t, "", "apply", "-c", m, "--target", target, "--dry"); r.code != 0 {
		t.Fatalf("apply after repair: %s", r)
	}
	if r := run(t, "", "styx", "destroy", "dotfiles"); r.code != 0 {
		t.Fatalf("destroy: %s", r)
	}
	if r := run(t, "", "apply", "-c", m, "--target", target, "--dry"); r.code != 1 || !strings.Contains(r.stderr, "locked but not installed") {
		t.Fatalf("apply without the locked Soul: %s", r)
	}
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}
