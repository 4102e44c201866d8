package engine_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// Two Ch-obolos that each own one file: whichever applies last leaves only its own file (the files
// role prunes the files chaos created that the Ch-obolo no longer lists).
const (
	lockChoboloA = "files:\n  - path: /srv/lock-a\n    content: \"a\\n\"\n"
	lockChoboloB = "files:\n  - path: /srv/lock-b\n    content: \"b\\n\"\n"
)

// lockHelperEnv makes the test binary a second chaos process: it applies the Ch-obolo in
// lockHelperEnv_CHOBOLO to the chroot named by lockHelperEnv under its own host lock, says
// "applied" on stdout, and releases the lock when its stdin ends.
const lockHelperEnv = "CHAOS_TEST_LOCK_HELPER"

func TestMain(m *testing.M) {
	if root := os.Getenv(lockHelperEnv); root != "" {
		if err := lockHelper(root, os.Getenv(lockHelperEnv+"_CHOBOLO")); err != nil {
			fmt.Fprintln(os.Stderr, "lock helper:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func lockHelper(root, text string) error {
	tr, err := transport.NewChroot(root)
	if err != nil {
		return err
	}
	defer tr.Close()
	ctx := context.Background()
	lock, err := engine.LockHost(ctx, tr, engine.LockOptions{})
	if err != nil {
		return err
	}
	defer lock.Release()
	if err := applyUnder(ctx, tr, lock, text, nil); err != nil {
		return err
	}
	fmt.Println("applied")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// applyUnder plans text on tr and applies it under lock (nil: Apply takes its own), as the CLI
// does: plan and apply under one lock.
func applyUnder(ctx context.Context, tr transport.Transport, lock *engine.HostLock, text string, observe func(engine.Event)) error {
	c, err := loadText(text)
	if err != nil {
		return err
	}
	e := &engine.Engine{Registry: builtin.Registry()}
	req := engine.Request{Chobolo: c, Assume: true, Lock: lock, Observe: observe}
	hp, err := e.Plan(ctx, tr, req)
	if err != nil {
		return err
	}
	_, err = e.Apply(ctx, tr, hp, req)
	return err
}

func loadText(text string) (*chobolo.Chobolo, error) {
	return chobolo.LoadBytes("lock.yml", []byte(text), chobolo.LoadOptions{})
}

// lockFiles says which of the two Ch-obolos' files the root has: "a", "b", "ab" or "".
func lockFiles(t *testing.T, root string) string {
	t.Helper()
	var s string
	for _, n := range []string{"a", "b"} {
		if testenv.Exists(t, root, "/srv/lock-"+n) {
			s += n
		}
	}
	return s
}

// TestLockTwoAppliesInOneProcess: two callers in one process (two transports, as two jobs of a
// server) apply two Ch-obolos to one chroot at once: exactly one applies, the other fails with
// ErrHostBusy, never both; with LockOptions.Wait the second applies after the first.
func TestLockTwoAppliesInOneProcess(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	trs := []transport.Transport{enginetest.Chroot(t, root), enginetest.Chroot(t, root)}
	texts := []string{lockChoboloA, lockChoboloB}
	ctx := context.Background()

	t.Run("at once", func(t *testing.T) {
		// The winner stops at its first op until the loser has returned: a lock that let both in
		// would leave both stopped there, and the test would time out.
		proceed := make(chan struct{})
		type result struct {
			i   int
			err error
		}
		results := make(chan result, 2)
		start := make(chan struct{})
		for i := range trs {
			go func() {
				var once sync.Once
				observe := func(ev engine.Event) {
					if ev.Type == engine.EventOpStart {
						once.Do(func() { <-proceed })
					}
				}
				<-start
				results <- result{i, applyUnder(ctx, trs[i], nil, texts[i], observe)}
			}()
		}
		close(start)
		var first result
		select {
		case first = <-results:
		case <-time.After(5 * time.Minute):
			t.Fatal("neither apply returned: both are inside the host lock")
		}
		close(proceed)
		second := <-results
		if !errors.Is(first.err, engine.ErrHostBusy) || !strings.Contains(first.err.Error(), "this process") {
			t.Fatalf("the apply that returned first: want ErrHostBusy (held in this process), got %v", first.err)
		}
		if second.err != nil {
			t.Fatalf("the winner: %v", second.err)
		}
		if got, want := lockFiles(t, root), []string{"a", "b"}[second.i]; got != want {
			t.Fatalf("files on the host %q, want only the winner's %q", got, want)
		}
	})

	t.Run("with wait", func(t *testing.T) {
		// The first holds the lock from before the second asks; the second waits, then plans and
		// applies from the state the first left.
		first, err := engine.LockHost(ctx, trs[0], engine.LockOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var seen string
		done := make(chan error, 1)
		go func() {
			lock, err := engine.LockHost(ctx, trs[1], engine.LockOptions{Wait: 5 * time.Minute})
			if err != nil {
				done <- err
				return
			}
			defer lock.Release()
			seen = lockFiles(t, root)
			done <- applyUnder(ctx, trs[1], lock, texts[1], nil)
		}()
		err = applyUnder(ctx, trs[0], first, texts[0], nil)
		first.Release()
		if err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("the waiting apply: %v", err)
		}
		if seen != "a" {
			t.Fatalf("the waiting caller got the lock while the host had %q: before the first apply ended", seen)
		}
		if got := lockFiles(t, root); got != "b" {
			t.Fatalf("files on the host %q, want the second Ch-obolo's only", got)
		}
	})
}

// flockTries is a chroot transport that counts its attempts at the flock on the host.
type flockTries struct {
	*transport.Host
	tries atomic.Int32
}

func (f *flockTries) Flock(p string) (func() error, error) {
	f.tries.Add(1)
	return f.Host.Flock(p)
}

// TestLockTwoProcesses: another chaos process (this test binary re-executed) applies to the chroot
// and keeps the lock: an apply here fails with ErrHostBusy naming it, and an apply with Wait goes
// on once it releases, from the state it left.
func TestLockTwoProcesses(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+root, lockHelperEnv+"_CHOBOLO="+lockChoboloA)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "applied\n" {
		t.Fatalf("the other process did not apply: %q", line)
	}
	h, err := transport.NewChroot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	tr := &flockTries{Host: h}
	ctx := context.Background()
	err = applyUnder(ctx, tr, nil, lockChoboloB, nil)
	if want := fmt.Sprintf("another chaos (pid %d) is applying to this host (lock %s)", cmd.Process.Pid, engine.LockPath); !errors.Is(err, engine.ErrHostBusy) || !strings.Contains(err.Error(), want) {
		t.Fatalf("apply while another process holds the lock: %v, want ErrHostBusy and %q", err, want)
	}
	if got := lockFiles(t, root); got != "a" {
		t.Fatalf("files on the host %q, want the other process's only", got)
	}
	// With Wait: release the other process only once this one has been refused at least twice
	// inside LockHost, so the wait is exercised.
	tr.tries.Store(0)
	done := make(chan error, 1)
	go func() {
		lock, err := engine.LockHost(ctx, tr, engine.LockOptions{Wait: 5 * time.Minute})
		if err != nil {
			done <- err
			return
		}
		defer lock.Release()
		done <- applyUnder(ctx, tr, lock, lockChoboloB, nil)
	}()
	for tr.tries.Load() < 2 {
		select {
		case err := <-done:
			t.Fatalf("LockHost with Wait returned while the other process held the lock: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	_ = stdin.Close()
	if err := <-done; err != nil {
		t.Fatalf("the waiting apply: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the other process: %v", err)
	}
	if got := lockFiles(t, root); got != "b" {
		t.Fatalf("files on the host %q, want this process's Ch-obolo's only", got)
	}
}

// TestLockHostIdentity: the in-process lock follows the host, not the name: a symlinked path to a
// chroot is the same host, a copy of the root with the same machine-id is another. A handle only
// covers the transport it was taken through; releasing twice is harmless; a cancelled context
// stops the wait.
func TestLockHostIdentity(t *testing.T) {
	testenv.RequireRoot(t)
	root, other := testenv.DebianRoot(t), testenv.DebianRoot(t)
	for _, r := range []string{root, other} {
		testenv.WriteFile(t, r, "/etc/machine-id", "0123456789abcdef0123456789abcdef\n")
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	tr, viaLink, copyTr := enginetest.Chroot(t, root), enginetest.Chroot(t, link), enginetest.Chroot(t, other)
	if tr.Name() == viaLink.Name() {
		t.Fatalf("the symlinked path has the same name %s", tr.Name())
	}
	ctx := context.Background()
	lock, err := engine.LockHost(ctx, tr, engine.LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Same host by another name: refused in this process, before the host is asked.
	_, err = engine.LockHost(ctx, viaLink, engine.LockOptions{})
	if want := "another chaos (pid " + fmt.Sprint(os.Getpid()) + ", this process, through " + tr.Name() + ")"; !errors.Is(err, engine.ErrHostBusy) || !strings.Contains(err.Error(), want) {
		t.Fatalf("LockHost through %s: %v, want ErrHostBusy and %q", viaLink.Name(), err, want)
	}
	// A copy is another host.
	copyLock, err := engine.LockHost(ctx, copyTr, engine.LockOptions{})
	if err != nil {
		t.Fatalf("the copy of the root is locked with its source: %v", err)
	}
	// A handle for another host, or taken through another transport, is refused.
	for _, target := range []transport.Transport{copyTr, viaLink} {
		err := applyUnder(ctx, target, lock, lockChoboloA, nil)
		if err == nil || !strings.Contains(err.Error(), "the host lock passed was taken through another transport") {
			t.Fatalf("apply on %s with the lock of %s: %v", target.Name(), tr.Name(), err)
		}
	}
	if got := lockFiles(t, root) + lockFiles(t, other); got != "" {
		t.Fatalf("a refused apply changed a host: %q", got)
	}
	copyLock.Release()
	// A cancelled context stops the wait at once, with both reasons.
	cctx, cancel := context.WithCancel(ctx)
	go cancel()
	_, err = engine.LockHost(cctx, viaLink, engine.LockOptions{Wait: time.Hour})
	if !errors.Is(err, context.Canceled) || !errors.Is(err, engine.ErrHostBusy) {
		t.Fatalf("LockHost with a cancelled context: %v", err)
	}
	// Released twice: the second does nothing, not even to the next holder's lock.
	lock.Release()
	lock.Release()
	next, err := engine.LockHost(ctx, viaLink, engine.LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lock.Release()
	if _, err := engine.LockHost(ctx, tr, engine.LockOptions{}); !errors.Is(err, engine.ErrHostBusy) {
		t.Fatalf("a stale handle's Release freed the next holder's lock: %v", err)
	}
	if err := applyUnder(ctx, tr, lock, lockChoboloA, nil); err == nil || !strings.Contains(err.Error(), "was released") {
		t.Fatalf("apply with a released lock: %v", err)
	}
	// The handle works for the transport it was taken through.
	if err := applyUnder(ctx, viaLink, next, lockChoboloA, nil); err != nil {
		t.Fatal(err)
	}
	next.Release()
	if got := lockFiles(t, root); got != "a" {
		t.Fatalf("files on the host %q", got)
	}
}

// TestLockOverSSH: over SSH, two connections to one host exclude each other in this process (the
// host's identity rides on the worker's greeting) and on the host (the worker's flock, when the
// identity is not known); a clone with the same machine-id on the same kernel (another root mount)
// is another host; Apply under the caller's handle runs on the connection holding it.
func TestLockOverSSH(t *testing.T) {
	const mid = "fedcba9876543210fedcba9876543210\n"
	hs := testenv.StartSSHHosts(t, 2, func(h *testenv.SSHHost) { testenv.WriteFile(t, h.Root, "/etc/machine-id", mid) })
	ctx := context.Background()
	dial := func(name string, h *testenv.SSHHost) *transport.SSH {
		tr, err := transport.DialSSH(ctx, transport.SSHConfig{Name: name, Host: h.Addr, User: "root", KeyFiles: []string{hs.KeyFile},
			NoAgent: true, KnownHostsFiles: []string{hs.KnownHosts}, SSHConfigFile: "none", ConnectTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Close() })
		return tr
	}
	h1, h2 := hs.Hosts[0], hs.Hosts[1]
	c1, again, clone := dial("h1", h1), dial("h1-again", h1), dial("h2", h2)
	lock, err := engine.LockHost(ctx, c1, engine.LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = engine.LockHost(ctx, again, engine.LockOptions{})
	if !errors.Is(err, engine.ErrHostBusy) || !strings.Contains(err.Error(), "this process, through h1)") {
		id1, _ := c1.HostID(ctx)
		id2, _ := again.HostID(ctx)
		t.Fatalf("second connection to the host: %v, want ErrHostBusy in this process (ids %q, %q)", err, id1, id2)
	}
	cloneLock, err := engine.LockHost(ctx, clone, engine.LockOptions{})
	if err != nil {
		t.Fatalf("a clone with the same machine-id is locked with its source: %v", err)
	}
	cloneLock.Release()
	// The handle of one connection covers its own commands only.
	if err := applyUnder(ctx, again, lock, lockChoboloA, nil); err == nil || !strings.Contains(err.Error(), "taken through another transport") {
		t.Fatalf("apply over another connection with h1's lock: %v", err)
	}
	if err := applyUnder(ctx, c1, lock, lockChoboloA, nil); err != nil {
		t.Fatal(err)
	}
	// Without a machine-id the connection's identity is its name: the lock on the host excludes.
	testenv.WriteFile(t, h1.Root, "/etc/machine-id", "")
	unknown := dial("h1-unknown", h1)
	_, err = engine.LockHost(ctx, unknown, engine.LockOptions{})
	host, _ := os.Hostname()
	if want := fmt.Sprintf("another chaos (pid %d on %s over ssh)", os.Getpid(), host); !errors.Is(err, engine.ErrHostBusy) || !strings.Contains(err.Error(), want) {
		t.Fatalf("a connection with another identity: %v, want ErrHostBusy and %q", err, want)
	}
	lock.Release()
	lock.Release()
	if got := lockFiles(t, h1.Root); got != "a" {
		t.Fatalf("files on h1 %q", got)
	}
	l, err := engine.LockHost(ctx, unknown, engine.LockOptions{})
	if err != nil {
		t.Fatalf("after the release: %v", err)
	}
	l.Release()
}
