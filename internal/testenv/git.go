package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Git runs git in dir with a fixed identity and no global config; a failure fails the test.
func Git(t testing.TB, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.org", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// GitServer serves a bare repository NAME.git, whose first commit on main holds files (path ->
// content), with `git daemon` on 127.0.0.1 (test-targets §10), and returns its base URL
// (git://127.0.0.1:PORT/) and a work tree whose origin is that repository: commit there and
// `git push origin main` to publish more. The daemon is killed at cleanup.
func GitServer(t testing.TB, name string, files map[string]string) (string, string) {
	t.Helper()
	RequireTool(t, "git", "git")
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	for p, c := range files {
		full := filepath.Join(work, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bare := filepath.Join(dir, "base", name+".git")
	Git(t, work, "init", "-q", "-b", "main")
	Git(t, work, "add", ".")
	Git(t, work, "commit", "-q", "-m", name)
	Git(t, dir, "clone", "-q", "--bare", work, bare)
	Git(t, work, "remote", "add", "origin", bare)
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
