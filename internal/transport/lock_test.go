package transport

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// orphanHelperEnv makes the test binary a chaos stand-in: it takes the lock (LOCK) on the local
// machine, runs SCRIPT with sh as a command of the target, and is killed by the test meanwhile.
const orphanHelperEnv = "CHAOS_TEST_ORPHAN_HELPER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(orphanHelperEnv); spec != "" {
		lock, script := spec, os.Getenv(orphanHelperEnv+"_SCRIPT")
		h := NewLocal()
		if _, err := h.Flock(lock); err != nil {
			println("helper:", err.Error())
			os.Exit(3)
		}
		_, _ = h.Run(context.Background(), Cmd{Argv: []string{"sh", "-c", script}})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// interrupted runs script as the command of a chaos stand-in that holds the lock at lock, and kills
// that process with SIGKILL once the script has created dir/started.
func interrupted(t *testing.T, lock, dir, script string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), orphanHelperEnv+"="+lock, orphanHelperEnv+"_SCRIPT="+script)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("the helper's command never started")
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

func captureNotices(t *testing.T) func() string {
	var mu sync.Mutex
	var b strings.Builder
	old := Notice
	t0 := time.Now()
	Notice = func(m string) {
		mu.Lock()
		fmt.Fprintf(&b, "%6s %s\n", time.Since(t0).Round(time.Millisecond), m)
		mu.Unlock()
	}
	t.Cleanup(func() { t.Logf("notices:\n%s", b.String()) })
	t.Cleanup(func() { Notice = old })
	return func() string { mu.Lock(); defer mu.Unlock(); return b.String() }
}

func noneOf(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			t.Errorf("%s exists: a process of the killed chaos ran on after the lock was taken", n)
		}
	}
}

// A chaos killed while its command runs leaves that command, and what it started, running. The next
// Flock waits for the processes that hold the lock descriptor (bounded by OrphanWait), then kills
// them and their process groups, and kills what is left of the recorded command groups (processes
// that closed the descriptor), before it returns: nothing of the killed run changes the host after.
func TestFlockOrphansKilledAfterWait(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, "lock")
	t.Setenv(OrphanWaitEnv, "700ms")
	notices := captureNotices(t)
	interrupted(t, lock, dir, `cd `+dir+`
( sleep 2; touch late-fd ) &
( exec 9>&-; sleep 2; touch late-nofd ) &
setsid sh -c 'sleep 2; touch late-setsid' &
touch started
sleep 30`)
	start := time.Now()
	release, err := NewLocal().Flock(lock)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	defer release()
	if took < 600*time.Millisecond || took > 15*time.Second {
		t.Errorf("Flock took %s, want about OrphanWait (700ms)", took)
	}
	msgs := notices()
	if !strings.Contains(msgs, "waiting up to 700ms") || !strings.Contains(msgs, "killing the process groups") {
		t.Errorf("notices:\n%s", msgs)
	}
	time.Sleep(2500 * time.Millisecond)
	noneOf(t, dir, "late-fd", "late-nofd", "late-setsid")
}

// The interrupted command ends by itself within OrphanWait: Flock waits for it, then kills the
// background jobs it left without the lock descriptor, in its process group (as a maintainer
// script's job under apt-get, which closes the descriptor before it starts dpkg) or in a session
// of their own.
func TestFlockWaitsForInterruptedCommand(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, "lock")
	t.Setenv(OrphanWaitEnv, "20s")
	notices := captureNotices(t)
	interrupted(t, lock, dir, `cd `+dir+`
( exec 9>&-; sleep 2; touch late-nofd ) &
setsid sh -c 'exec 9>&-; touch detached; sleep 2; touch late-session' &
while [ ! -e detached ]; do sleep 0.01; done
touch started
sleep 0.5
touch done`)
	release, err := NewLocal().Flock(lock)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := os.Stat(filepath.Join(dir, "done")); err != nil {
		t.Errorf("Flock returned before the interrupted command ended\n%s", notices())
	}
	time.Sleep(2500 * time.Millisecond)
	// The job in a session of its own, without the descriptor (as a maintainer script's job when
	// apt-get gives dpkg a pty), is found by its RunEnv mark. The script waits until the job has
	// closed the descriptor before the kill: on a loaded machine it could otherwise still hold it
	// and be found as a lock holder instead (killed all the same, by another path).
	noneOf(t, dir, "late-nofd", "late-session")
	if msgs := notices(); !strings.Contains(msgs, "killing the process groups") || !strings.Contains(msgs, "killing what the interrupted chaos's commands started") {
		t.Errorf("notices:\n%s", msgs)
	}

	// Taken after the command ended: the recorded group's straggler is killed all the same.
	release()
	dir2 := t.TempDir()
	lock2 := filepath.Join(dir2, "lock")
	interrupted(t, lock2, dir2, `cd `+dir2+`
( exec 9>&-; sleep 2; touch late-nofd ) &
touch started
exec 9>&-
sleep 0.3`)
	time.Sleep(600 * time.Millisecond)
	release2, err := NewLocal().Flock(lock2)
	if err != nil {
		t.Fatal(err)
	}
	defer release2()
	time.Sleep(2 * time.Second)
	noneOf(t, dir2, "late-nofd")
}

// A live holder is another chaos: ErrLocked at once, nothing killed. A command run under the lock
// inherits it: the lock stays held while the command runs, and is recorded in the lock file.
func TestFlockLiveHolderAndInheritance(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, "lock")
	h := NewLocal()
	release, err := h.Flock(lock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan Result, 1)
	go func() {
		r, _ := h.Run(context.Background(), Cmd{Argv: []string{"sh", "-c", "sleep 0.2; cat " + lock + "; ls -l /proc/self/fd/; ps -o pid=,pgid= -p $$; exec 9>&-; sleep 0.5"}})
		done <- r
	}()
	r := <-done
	out := string(r.Stdout)
	if !strings.Contains(out, " 9 -> "+lock) {
		t.Errorf("the command did not inherit the lock as descriptor 9:\n%s", out)
	}
	if li := ParseLock(out); len(li.Groups) != 1 || li.PID != os.Getpid() {
		t.Errorf("lock file while the command ran: %+v\n%s", li, out)
	}
	if data, _ := os.ReadFile(lock); len(ParseLock(string(data)).Groups) != 0 {
		t.Errorf("the ended command is still recorded: %q", data)
	}
	other := &Host{name: "@local", dir: "/"}
	start := time.Now()
	if _, err := other.Flock(lock); err == nil || !strings.Contains(err.Error(), ErrLocked.Error()) || time.Since(start) > time.Second {
		t.Fatalf("Flock under a live holder: %v after %s", err, time.Since(start))
	}
	release()
	if r2, err := other.Flock(lock); err != nil {
		t.Fatal(err)
	} else {
		_ = r2()
	}
}
