package souls_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// installSoul copies the Soul directory src into a fresh $CHAOS_SOUL_PATH (set for the test) and
// returns the copy; pkg, when set, is the Go package built into it as exe (the go build cache
// keeps that cheap: it rebuilds only when the source changed).
func installSoul(t *testing.T, src, pkg, exe string) string {
	t.Helper()
	path := t.TempDir()
	t.Setenv("CHAOS_SOUL_PATH", path)
	dst := filepath.Join(path, filepath.Base(src))
	if out, err := exec.Command("cp", "-r", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	if pkg != "" {
		goBuild(t, testenv.RepoRoot(t), filepath.Join(dst, exe), pkg)
	}
	return dst
}

func goBuild(t *testing.T, dir, out, pkg string) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	cmd := exec.Command(goTool, "build", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// isolate points chaos's config and logbook at a fresh directory.
func isolate(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("CHAOS_CONFIG_DIR", dir)
	t.Setenv("CHAOS_LIMANI", filepath.Join(dir, "limani.db"))
}

// chaosRun runs the real chaos binary.
func chaosRun(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(testenv.ChaosBinary(t), args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.org", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// gitServer serves a bare repository dots.git holding files (path -> content) with `git daemon`
// on 127.0.0.1 (reachable from a chroot, which shares this machine's network) and returns its
// base URL, git://127.0.0.1:PORT/, and the work tree, to push more commits from.
func gitServer(t *testing.T, files map[string]string) (string, string) {
	t.Helper()
	testenv.RequireTool(t, "git", "git")
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	for p, c := range files {
		writeFile(t, work, p, c)
	}
	git(t, work, "init", "-q", "-b", "main")
	git(t, work, "add", ".")
	git(t, work, "commit", "-q", "-m", "dots")
	git(t, dir, "clone", "-q", "--bare", work, filepath.Join(dir, "base", "dots.git"))
	git(t, work, "remote", "add", "origin", filepath.Join(dir, "base", "dots.git"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("git", "daemon", "--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), "--export-all",
		"--reuseaddr", "--base-path="+filepath.Join(dir, "base"), filepath.Join(dir, "base"))
	// its own process group: `git daemon` runs git-daemon as a child, which must end with it
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	for range 100 {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Sprintf("git://127.0.0.1:%d/", port), work
}
