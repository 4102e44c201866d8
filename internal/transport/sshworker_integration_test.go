package transport_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

func dial(t *testing.T, hs *testenv.SSHHosts, h *testenv.SSHHost) *transport.SSH {
	t.Helper()
	s, err := transport.DialSSH(context.Background(), sshCfg(hs, h))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// hostileNames are file names that break naive quoting or framing: shell syntax, newlines, a
// leading dash, globs, invalid UTF-8, and lines that look like the worker's protocol.
var hostileNames = []string{
	"a b", "$(touch pwned)", "`touch pwned`", "it's", `"dq"`, "semi;colon", "new\nline", "-rf", "*", "?[x]",
	"back\\slash", "\xff\xfe bytes", "tab\there", "trailing newline\n", "1", "0\n_rm -rf x", "~root", "é ü",
}

// Every operation round-trips hostile names, arguments and binary data over the worker, and none of
// them opens a new SSH session.
func TestSSHWorkerHostileRoundTrip(t *testing.T) { eachWorker(t, testSSHWorkerHostileRoundTrip) }

func testSSHWorkerHostileRoundTrip(t *testing.T, worker string) {
	hs := testenv.StartSSHHosts(t, 1)
	h := hs.Hosts[0]
	ctx := context.Background()
	s := dialWorker(t, hs, h, worker)
	if st := s.Stats(); st.Sessions != 1 {
		t.Fatalf("after dial: %d sessions, want 1 (the worker)", st.Sessions)
	}
	big := make([]byte, 300<<10)
	_, _ = rand.Read(big)
	payloads := [][]byte{
		nil, []byte("x"), []byte("no newline"), []byte("\x00\x01\xff\n\n"), []byte("\n1\n\n_rm -rf /\n"), big,
	}
	if err := s.Mkdir(ctx, "/srv/h", 0o755); err != nil {
		t.Fatal(err)
	}
	for i, name := range hostileNames {
		dir := "/srv/h/" + name
		p := dir + "/" + name
		data := payloads[i%len(payloads)]
		if err := s.Mkdir(ctx, dir, 0o750); err != nil {
			t.Fatalf("Mkdir(%q): %v", dir, err)
		}
		if err := s.WriteFile(ctx, p, data, 0o640, 1, 2, nil); err != nil {
			t.Fatalf("WriteFile(%q): %v", p, err)
		}
		fi, err := s.Stat(ctx, p)
		if err != nil || !fi.Exists || !bytes.Equal(fi.Content, data) || fi.Mode.Perm() != 0o640 || fi.UID != 1 || fi.GID != 2 {
			t.Fatalf("Stat(%q) = exists %v mode %v uid %d gid %d, %d bytes (want %d), %v",
				p, fi.Exists, fi.Mode, fi.UID, fi.GID, len(fi.Content), len(data), err)
		}
		if got, err := os.ReadFile(filepath.Join(h.Root, p)); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%q on the host: %d bytes, %v", p, len(got), err)
		}
		// argv and stdin come back byte for byte.
		res, err := s.Run(ctx, transport.Cmd{Argv: []string{"sh", "-c", `printf '%s' "$1"; cat`, "sh", name}, Stdin: data})
		if err != nil || res.Code != 0 || string(res.Stdout) != name+string(data) {
			t.Fatalf("Run echo %q: code %d, %d bytes (want %d), %v", name, res.Code, len(res.Stdout), len(name)+len(data), err)
		}
		if i%3 != 0 {
			continue // the rest for a third of the names: the machine is shared
		}
		link := dir + "/link " + name
		if err := s.Symlink(ctx, link, "../"+name); err != nil {
			t.Fatalf("Symlink(%q): %v", link, err)
		}
		if fi, _ := s.Stat(ctx, link); fi.Target != "../"+name || fi.Mode&os.ModeSymlink == 0 {
			t.Fatalf("symlink %q = %+v", link, fi)
		}
		if err := s.Chmod(ctx, p, 0o755|os.ModeSetuid); err != nil {
			t.Fatal(err)
		}
		if err := s.Chown(ctx, dir, 3, 3); err != nil {
			t.Fatal(err)
		}
		if fi, _ := s.Stat(ctx, p); fi.Mode&os.ModeSetuid == 0 || fi.Mode.Perm() != 0o755 {
			t.Fatalf("chmod %q: %v", p, fi.Mode)
		}
		if fi, _ := s.Stat(ctx, dir); !fi.Mode.IsDir() || fi.UID != 3 {
			t.Fatalf("chown %q: %+v", dir, fi)
		}
		if err := s.Remove(ctx, dir, true); err != nil {
			t.Fatal(err)
		}
		if fi, _ := s.Stat(ctx, dir); fi.Exists {
			t.Fatalf("Remove(%q) left it", dir)
		}
	}
	// A program whose name is a shell builtin or a worker function is the real program.
	res, err := s.Run(ctx, transport.Cmd{Argv: []string{"echo", "-e", `a\tb`}})
	if err != nil || string(res.Stdout) != "a\tb\n" {
		t.Fatalf("echo = %q, %v (the shell's builtin would print -e)", res.Stdout, err)
	}
	for _, prog := range []string{"_rm", "_run", "-rf", "no-such-program"} {
		res, err := s.Run(ctx, transport.Cmd{Argv: []string{prog, "/"}})
		if err != nil || res.Code != 127 {
			t.Fatalf("Run(%q) = code %d, %v; want 127", prog, res.Code, err)
		}
	}
	// Output on both streams, and env entries with hostile values.
	res, err = s.Run(ctx, transport.Cmd{Argv: []string{"sh", "-c", `printf '%s' "$V" >&2; printf out; exit 3`},
		Env: []string{"V=$(touch /pwned)\n'"}})
	if err != nil || res.Code != 3 || string(res.Stdout) != "out" || string(res.Stderr) != "$(touch /pwned)\n'" {
		t.Fatalf("Run with env = %q %q code %d, %v", res.Stdout, res.Stderr, res.Code, err)
	}
	// A failed write reports the error and leaves the worker in step (its payload was consumed).
	err = s.WriteFile(ctx, "/no/such/dir/f", []byte("payload\n2\n"), 0o644, -1, -1, nil)
	var ee *transport.ExitError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "/no/such/dir") {
		t.Fatalf("write into a missing directory: %v", err)
	}
	if res, err := s.Run(ctx, transport.Cmd{Argv: []string{"true"}}); err != nil || res.Code != 0 {
		t.Fatalf("after a failed write: %v", err)
	}
	if testenv.Exists(t, h.Root, "/pwned") || testenv.Exists(t, h.Root, "/root/pwned") {
		t.Fatal("a value was interpreted by the remote shell")
	}
	if st := s.Stats(); st.Sessions != 1 || st.Requests < 100 {
		t.Fatalf("stats %+v: every operation must be a request on the one worker session", st)
	}
}

// eachWorker runs test with the native worker and with the sh worker (CHAOS_SSH_WORKER=sh).
func eachWorker(t *testing.T, test func(t *testing.T, worker string)) {
	for _, w := range []string{"native", "sh"} {
		t.Run(w, func(t *testing.T) {
			if w == "sh" {
				t.Setenv(transport.WorkerEnv, "sh")
			}
			test(t, w)
		})
	}
}

// dialWorker dials h and checks that the expected worker serves it.
func dialWorker(t *testing.T, hs *testenv.SSHHosts, h *testenv.SSHHost, worker string) *transport.SSH {
	t.Helper()
	s := dial(t, hs, h)
	if got := s.Worker(); got != worker {
		t.Fatalf("worker %q serves the connection, want %q (is the native worker built? go generate ./internal/transport/workerbin)", got, worker)
	}
	return s
}

// failsWithin waits for the error of a request that must fail, and fails the test when it succeeds
// or hangs.
func failsWithin(t *testing.T, errc <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatalf("%s succeeded", what)
		}
		return err
	case <-time.After(15 * time.Second):
		t.Fatalf("%s hangs", what)
	}
	return nil
}

// workerPID is the pid, on the host, of the worker shell serving s: the parent of what it runs.
func workerPID(t *testing.T, s *transport.SSH) string {
	t.Helper()
	res, err := s.Run(context.Background(), transport.Cmd{Argv: []string{"sh", "-c", "echo $PPID"}})
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(res.Stdout))
}

// Cancelling a request kills the remote command and everything it started; the worker serves the
// next request.
func TestSSHWorkerCancel(t *testing.T) { eachWorker(t, testSSHWorkerCancel) }

func testSSHWorkerCancel(t *testing.T, worker string) {
	hs := testenv.StartSSHHosts(t, 1)
	h := hs.Hosts[0]
	s := dialWorker(t, hs, h, worker)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Run(ctx, transport.Cmd{Argv: []string{"sh", "-c", `echo $$ > /tmp/parent; sleep 60 & echo $! > /tmp/child; wait`}})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("cancelled Run = %v after %s", err, time.Since(start))
	}
	bg := context.Background()
	res, err := s.Run(bg, transport.Cmd{Argv: []string{"sh", "-c", `for f in parent child; do kill -0 "$(cat /tmp/$f)" 2>/dev/null && echo "$f alive"; done; true`}})
	if err != nil || res.Code != 0 || len(res.Stdout) != 0 {
		t.Fatalf("after cancel: %q %v", res.Stdout, err)
	}
	// One worker session and one session that killed the command; no new worker.
	if st := s.Stats(); st.Sessions != 2 {
		t.Fatalf("stats %+v, want 2 sessions", st)
	}
}

// A connection killed in the middle of a request fails that request promptly (no hang), later
// requests fail too, and the host can be reached again once sshd is back.
func TestSSHWorkerKilledConnection(t *testing.T) {
	hs := testenv.StartSSHHosts(t, 1)
	h := hs.Hosts[0]
	s := dial(t, hs, h)
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(context.Background(), transport.Cmd{Argv: []string{"sleep", "60"}})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	h.Stop() // sshd and every process of the host die
	if err := failsWithin(t, done, "Run on a killed connection"); !strings.Contains(err.Error(), "connection lost") {
		t.Fatalf("Run on a killed connection = %v", err)
	}
	// Every later request fails too, promptly: a new worker's session on a connection whose reader
	// has stopped must not wait for an answer that never comes.
	for range 3 {
		statErr := make(chan error, 1)
		go func() {
			_, err := s.Stat(context.Background(), "/etc/hostname")
			statErr <- err
		}()
		failsWithin(t, statErr, "Stat on a dead connection")
		time.Sleep(100 * time.Millisecond)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitReady(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	s2 := dial(t, hs, h)
	if fi, err := s2.Stat(context.Background(), "/etc/hostname"); err != nil || string(fi.Content) != "h1\n" {
		t.Fatalf("after restart: %q, %v", fi.Content, err)
	}
}

// When the worker dies (killed on the host) mid-request, that request fails, and the next one runs
// on a new worker, which takes the host lock again first.
func TestSSHWorkerDiesHoldingLock(t *testing.T) { eachWorker(t, testSSHWorkerDiesHoldingLock) }

func testSSHWorkerDiesHoldingLock(t *testing.T, worker string) {
	hs := testenv.StartSSHHosts(t, 1)
	h := hs.Hosts[0]
	ctx := context.Background()
	s, other := dialWorker(t, hs, h, worker), dial(t, hs, h)
	release, err := s.Flock("/var/lib/chaos/lock")
	if err != nil {
		t.Fatal(err)
	}
	lockFile := filepath.Join(h.Root, "var/lib/chaos/lock")
	if _, err := other.Flock("/var/lib/chaos/lock"); !errors.Is(err, transport.ErrLocked) {
		t.Fatalf("second connection's Flock = %v, want ErrLocked", err)
	}
	// The same lock as a chaos running on the host takes (flock on the same file).
	if err := exec.Command("flock", "-n", lockFile, "true").Run(); err == nil {
		t.Fatal("a local flock got the lock the SSH worker holds")
	}
	if owner := testenv.ReadFile(t, h.Root, "/var/lib/chaos/lock"); !strings.Contains(owner, strconv.Itoa(os.Getpid())) {
		t.Fatalf("lock owner = %q", owner)
	}
	pid := workerPID(t, s)
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(ctx, transport.Cmd{Argv: []string{"sh", "-c", "sleep 3; touch /slept"}})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if res, err := other.Run(ctx, transport.Cmd{Argv: []string{"kill", "-KILL", pid}}); err != nil || res.Code != 0 {
		t.Fatalf("kill worker: %v %s", err, res.Stderr)
	}
	failsWithin(t, done, "the request whose worker was killed")
	// Next request: a new worker, holding the lock again, once the command of the killed worker,
	// which inherited the lock, has ended.
	if pid2 := workerPID(t, s); pid2 == pid {
		t.Fatalf("same worker pid %s after kill", pid)
	}
	if !testenv.Exists(t, h.Root, "/slept") {
		t.Fatal("the new worker took the lock while the killed worker's command still ran")
	}
	if _, err := other.Flock("/var/lib/chaos/lock"); !errors.Is(err, transport.ErrLocked) {
		t.Fatalf("after the worker restarted, another Flock = %v, want ErrLocked", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	rel2, err := other.Flock("/var/lib/chaos/lock")
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	_ = rel2()
	// Closing the connection without releasing frees the lock too (the worker ends).
	if _, err := s.Flock("/var/lib/chaos/lock"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	other.Close()
	deadline := time.Now().Add(10 * time.Second)
	for exec.Command("flock", "-n", lockFile, "true").Run() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the lock outlived its connection")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The killed sh worker could not remove its three temp files; the workers that ended did. The
	// native worker removes them when it starts and keeps its own unlinked.
	left := 3
	if worker == "native" {
		left = 0
	}
	for {
		entries, _ := filepath.Glob(filepath.Join(h.Root, "tmp", ".chaos-worker-*"))
		if len(entries) == left {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker temp dirs left: %v", entries)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A validator runs on the temp file, in the same directory, before the rename; the write path also
// works for a non-root login without become (owner and mode applied after the data).
func TestSSHWorkerNonRootWrite(t *testing.T) {
	hs := testenv.StartSSHHosts(t, 1, func(h *testenv.SSHHost) {
		h.Exec(t, "useradd", "-m", "-s", "/bin/sh", "deploy")
		h.Exec(t, "usermod", "-p", "*", "deploy")
	})
	h := hs.Hosts[0]
	testenv.WriteFile(t, h.Root, "/home/deploy/.ssh/authorized_keys", hs.PublicKey+"\n")
	h.Exec(t, "sh", "-c", "chown -R deploy:deploy /home/deploy/.ssh && chmod 700 /home/deploy/.ssh")
	cfg := sshCfg(hs, h)
	cfg.User = "deploy"
	s, err := transport.DialSSH(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	p := "/home/deploy/ro"
	if err := s.WriteFile(ctx, p, []byte("read only\n"), 0o400, -1, -1, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteFile(ctx, p, []byte("again\n"), 0o500|os.ModeSetuid, -1, -1, func(tmp string) error {
		if path.Dir(tmp) != "/home/deploy" {
			t.Errorf("temp file %s not beside the target", tmp)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	fi, err := s.Stat(ctx, p)
	if err != nil || string(fi.Content) != "again\n" || fi.Mode&os.ModeSetuid == 0 || fi.Mode.Perm() != 0o500 {
		t.Fatalf("Stat = %+v, %v", fi, err)
	}
	if _, err := s.Flock("/etc/chaos-denied/lock"); err == nil {
		t.Fatal("a non-root worker took a lock under /etc")
	}
}

// The connection dies while a command runs (chaos killed, network lost): the worker lets the
// command finish, kills what it left behind without the lock descriptor (a background job in its
// process group, one in a session of its own: found by its CHAOS_RUN mark), and only then ends and
// releases the host lock. Another connection gets the lock
// only after that, and nothing of the lost connection's command changes the host afterwards.
func TestSSHWorkerLostConnection(t *testing.T) { eachWorker(t, testSSHWorkerLostConnection) }

func testSSHWorkerLostConnection(t *testing.T, worker string) {
	hs := testenv.StartSSHHosts(t, 1)
	h := hs.Hosts[0]
	s, other := dialWorker(t, hs, h, worker), dial(t, hs, h)
	if _, err := s.Flock("/var/lib/chaos/lock"); err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = s.Run(context.Background(), transport.Cmd{Argv: []string{"sh", "-c",
			"( exec 9>&-; sleep 3; touch /late ) & setsid sh -c 'exec 9>&-; sleep 3; touch /late-session' & touch /started; sleep 1; touch /done"}})
	}()
	for deadline := time.Now().Add(15 * time.Second); !testenv.Exists(t, h.Root, "/started"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the command never started")
		}
	}
	start := time.Now()
	s.Close() // the connection dies
	for {
		rel, err := other.Flock("/var/lib/chaos/lock")
		if err == nil {
			_ = rel()
			break
		}
		if !errors.Is(err, transport.ErrLocked) || time.Since(start) > 20*time.Second {
			t.Fatalf("Flock after the lost connection: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the lock was free %s after the connection died", time.Since(start).Round(time.Millisecond))
	if !testenv.Exists(t, h.Root, "/done") {
		t.Error("the lock was released before the lost connection's command ended")
	}
	time.Sleep(time.Until(start.Add(3500 * time.Millisecond)))
	for _, p := range []string{"/late", "/late-session"} {
		if testenv.Exists(t, h.Root, p) {
			t.Errorf("the lost connection's command left a process that changed the host after the lock was released (%s)", p)
		}
	}
}
