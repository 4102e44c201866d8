package gitsync

import (
	"context"
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

// upstream is a real git repository: a work tree the test commits in and a bare repository it
// pushes to, which a real server (git daemon, git http-backend, sshd) serves.
type upstream struct {
	t    testing.TB
	work string
	bare string
}

func newUpstream(t testing.TB, bare string, files map[string]string) *upstream {
	t.Helper()
	testenv.RequireTool(t, "git", "git")
	u := &upstream{t: t, work: filepath.Join(t.TempDir(), "work"), bare: bare}
	u.git(t.TempDir(), "init", "-q", "--bare", "-b", "main", bare)
	u.git(t.TempDir(), "init", "-q", "-b", "main", u.work)
	u.git(u.work, "remote", "add", "origin", bare)
	u.commit("first", files)
	return u
}

func (u *upstream) git(dir string, args ...string) string {
	u.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.org", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		u.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (path -> content; "" removes the path; a "->" prefix makes a symlink), commits
// and pushes main; it returns the commit id.
func (u *upstream) commit(msg string, files map[string]string) string {
	u.t.Helper()
	for p, c := range files {
		full := filepath.Join(u.work, p)
		_ = os.Remove(full)
		if c == "" {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			u.t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(c, "->"); ok {
			err = os.Symlink(target, full)
		} else {
			err = os.WriteFile(full, []byte(c), 0o644)
		}
		if err != nil {
			u.t.Fatal(err)
		}
	}
	u.git(u.work, "add", "-A")
	u.git(u.work, "commit", "-q", "--allow-empty", "-m", msg)
	u.git(u.work, "push", "-q", "-f", "origin", "main")
	return u.git(u.work, "rev-parse", "HEAD")
}

// forcePush rewrites main: back to commit base, one new commit, pushed with --force.
func (u *upstream) forcePush(base, msg string, files map[string]string) string {
	u.t.Helper()
	u.git(u.work, "reset", "-q", "--hard", base)
	return u.commit(msg, files)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// gitDaemon serves base with `git daemon` on loopback and returns git://127.0.0.1:PORT/.
func gitDaemon(t testing.TB, base string) string {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command("git", "daemon", "--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), "--export-all",
		"--reuseaddr", "--base-path="+base, base)
	// its own process group: git daemon forks a child per connection, which must end with it
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	waitPort(t, fmt.Sprintf("127.0.0.1:%d", port))
	return fmt.Sprintf("git://127.0.0.1:%d/", port)
}

func waitPort(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never listened", addr)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newCache(t *testing.T) *Cache {
	t.Helper()
	c, err := NewCache(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	// checkouts are read-only: give t.TempDir's cleanup its write bits back
	t.Cleanup(func() { _ = removeTree(c.dir) })
	return c
}

func mustSync(t *testing.T, c *Cache, project string, src Source) *Checkout {
	t.Helper()
	co, err := c.Sync(context.Background(), project, src)
	if err != nil {
		t.Fatal(err)
	}
	return co
}
