package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ch-aos-ch/chaos/internal/transport"
)

// leaseDir is the lock for transports without flock(2) semantics (SSH): an atomic mkdir holding
// an owner file with the controller's host name, pid and start time.
const leaseDir = StateDir + "/lock.d"

// LeaseStale is how old a lease must be before another controller may break it.
var LeaseStale = 12 * time.Hour

// held counts the host locks this process holds, by target name, so that Apply inside a caller's
// Lock (the CLI locks before recovering and planning) does not lock twice.
var held = struct {
	sync.Mutex
	m map[string]int
}{m: map[string]int{}}

type flocker interface {
	Flock(path string) (func() error, error)
}

type leaseOwner struct {
	Controller string    `json:"controller"`
	PID        int       `json:"pid"`
	Started    time.Time `json:"started"`
}

// Lock takes the host lock of t (LockPath): two applies never run on one host at the same time.
// Local, chroot and nsenter targets use flock(2) on an open descriptor, released by the kernel if
// chaos dies, and so does SSH (held by the connection's remote worker, released when the
// connection ends); other transports, and SSH hosts without flock(1), use an atomic mkdir lease
// with the owner's pid, broken when that process is gone (same controller) or older than
// LeaseStale. The lock is re-entrant within this
// process. Call release when done.
func Lock(ctx context.Context, t transport.Transport) (release func(), err error) {
	key := t.Name()
	held.Lock()
	defer held.Unlock()
	if held.m[key] > 0 {
		held.m[key]++
		return func() { unhold(key, nil) }, nil
	}
	var unlock func() error
	f, ok := t.(flocker)
	if ok {
		// Flock creates StateDir itself: one round trip over SSH.
		unlock, err = flock(ctx, t, f)
		if errors.Is(err, transport.ErrLocked) {
			li := transport.ParseLock("")
			if fi, serr := t.Stat(ctx, LockPath); serr == nil {
				li = transport.ParseLock(string(fi.Content))
			}
			return nil, fmt.Errorf("%s: another chaos (%s) is applying to this host (lock %s)", key, li.Owner(), LockPath)
		}
	}
	if !ok || errors.Is(err, transport.ErrUnsupported) {
		if err := t.Mkdir(ctx, StateDir, 0o755); err != nil {
			return nil, fmt.Errorf("%s: lock: %w", key, err)
		}
		unlock, err = lease(ctx, t)
	}
	if err != nil {
		return nil, err
	}
	held.m[key] = 1
	return func() { unhold(key, unlock) }, nil
}

// flock takes the lock through f. A Host waits for (then kills) what an interrupted chaos left
// running itself. Over SSH, the lock may still be held by the worker of a connection this
// controller lost when a chaos run from here was killed: that worker lets its command finish (and
// kills what the command left behind) before it exits and releases the lock, so the lock is waited
// for, at most transport.OrphanWaitNow(), while its owner is a dead chaos process of this machine.
func flock(ctx context.Context, t transport.Transport, f flocker) (func() error, error) {
	unlock, err := f.Flock(LockPath)
	if _, local := t.(*transport.Host); local || !errors.Is(err, transport.ErrLocked) {
		return unlock, err
	}
	host, _ := os.Hostname()
	var deadline time.Time
	for errors.Is(err, transport.ErrLocked) {
		fi, serr := t.Stat(ctx, LockPath)
		if serr != nil {
			return nil, err
		}
		li := transport.ParseLock(string(fi.Content))
		pid, ctl, ok := sshOwner(li.Text)
		if !ok || ctl != host || pidAlive(pid) {
			return nil, err
		}
		if deadline.IsZero() {
			wait := transport.OrphanWaitNow()
			deadline = time.Now().Add(wait)
			transport.Notice(fmt.Sprintf("%s: the host lock is still held for the interrupted chaos (%s): waiting up to %s for its last command to end",
				t.Name(), li.Owner(), wait))
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: the host lock %s is still held for the interrupted chaos (%s) after %s: a command it started still runs on the host",
				t.Name(), LockPath, li.Owner(), transport.OrphanWaitNow())
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		unlock, err = f.Flock(LockPath)
	}
	return unlock, err
}

// sshOwner reads "PID on HOST over ssh", the owner an SSH controller records.
func sshOwner(text string) (pid int, host string, ok bool) {
	var rest string
	if _, err := fmt.Sscanf(text, "%d on %s", &pid, &host); err != nil {
		return 0, "", false
	}
	rest = strings.TrimPrefix(text, fmt.Sprintf("%d on %s", pid, host))
	return pid, host, rest == " over ssh"
}

func unhold(key string, unlock func() error) {
	held.Lock()
	defer held.Unlock()
	held.m[key]--
	if held.m[key] <= 0 {
		delete(held.m, key)
		if unlock != nil {
			_ = unlock()
		}
	}
}

// Locked reports whether this process holds the host lock of t.
func Locked(t transport.Transport) bool {
	held.Lock()
	defer held.Unlock()
	return held.m[t.Name()] > 0
}

func lease(ctx context.Context, t transport.Transport) (func() error, error) {
	host, _ := os.Hostname()
	for attempt := 0; attempt < 2; attempt++ {
		res, err := t.Run(ctx, transport.Cmd{Argv: []string{"mkdir", "-m", "0700", leaseDir}})
		if err != nil {
			return nil, fmt.Errorf("%s: lock: %w", t.Name(), err)
		}
		if res.Code == 0 {
			data, _ := json.Marshal(leaseOwner{Controller: host, PID: os.Getpid(), Started: time.Now().UTC()})
			if err := t.WriteFile(ctx, leaseDir+"/owner", data, 0o600, 0, 0, nil); err != nil {
				_ = t.Remove(context.WithoutCancel(ctx), leaseDir, true)
				return nil, fmt.Errorf("%s: lock: %w", t.Name(), err)
			}
			return func() error { return t.Remove(context.Background(), leaseDir, true) }, nil
		}
		fi, err := t.Stat(ctx, leaseDir+"/owner")
		if err != nil {
			return nil, err
		}
		var o leaseOwner
		if fi.Exists && json.Unmarshal(fi.Content, &o) == nil {
			stale := o.Controller == host && !pidAlive(o.PID) || time.Since(o.Started) > LeaseStale
			if stale {
				_ = t.Remove(ctx, leaseDir, true)
				continue
			}
			return nil, fmt.Errorf("%s: another chaos (pid %d on %s, since %s) is applying to this host (lock %s)",
				t.Name(), o.PID, o.Controller, o.Started.Format(time.RFC3339), leaseDir)
		}
		return nil, fmt.Errorf("%s: the host is locked (%s exists); remove it if no chaos is running", t.Name(), leaseDir)
	}
	return nil, fmt.Errorf("%s: could not take the lock %s", t.Name(), leaseDir)
}

func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
