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

// ErrHostBusy is what LockHost fails with (errors.Is) when another chaos holds the host lock: a
// *BusyError says who.
var ErrHostBusy = errors.New("host busy")

// BusyError is a host lock held by another chaos: another process (on this machine or another
// controller) or another caller in this process.
type BusyError struct {
	Target string // the transport's name
	Owner  string // who holds it: "pid 12", "pid 12 on ctl over ssh", "pid 12, this process, through NAME"
	Lock   string // the lock on the host (LockPath or the lease directory)
	Hint   string // what to do, when the owner is unknown
}

func (e *BusyError) Error() string {
	msg := fmt.Sprintf("%s: another chaos (%s) is applying to this host (lock %s)", e.Target, e.Owner, e.Lock)
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// Is makes errors.Is(err, ErrHostBusy) true.
func (e *BusyError) Is(target error) bool { return target == ErrHostBusy }

// LockOptions say how LockHost takes the host lock.
type LockOptions struct {
	// Wait is how long to wait for a busy host (polling with backoff, as long as ctx lives) before
	// failing with ErrHostBusy; 0 fails at once.
	Wait time.Duration
}

// HostLock is the held host lock of one target, taken by LockHost through one transport: the
// commands of that transport run under it (they inherit the flock, transport.LockFD). Release it
// when done; Engine.Apply and Engine.Recover take it in Request.Lock and RecoverOptions.Lock.
type HostLock struct {
	t      transport.Transport
	key    string
	done   chan struct{} // closed by Release: in-process waiters retry at once
	once   sync.Once
	unlock func() error // the on-host lock's release
}

// holders are the host locks this process holds, by host identity (hostKey). It is the lock's only
// package-level mutable state, and has to be: two callers in one process (two Engines, two jobs of
// a server) share nothing else, yet must exclude each other on one host whatever transport and
// name each reached it by.
var holders = struct {
	sync.Mutex
	m map[string]*HostLock
}{m: map[string]*HostLock{}}

type flocker interface {
	Flock(path string) (func() error, error)
}

type leaseOwner struct {
	Controller string    `json:"controller"`
	PID        int       `json:"pid"`
	Started    time.Time `json:"started"`
}

// LockHost takes the host lock of t (LockPath): two applies never run on one host at the same
// time. It is not re-entrant: a second LockHost on the same host, from this process or another,
// waits up to opts.Wait (as long as ctx lives) and then fails with a *BusyError (ErrHostBusy).
//
// In this process the lock is keyed by the host's identity (transport.HostIDer: machine-id and
// root, so two names of one chroot exclude each other and a copy of it does not), and the lock on
// the host is always taken as well. Local, chroot and nsenter targets use flock(2) on an open
// descriptor, released by the kernel if chaos dies, and so does SSH (held by the connection's
// remote worker, released when the connection ends); other transports, and SSH hosts without
// flock(1), use an atomic mkdir lease with the owner's pid, broken when that process is gone (same
// controller) or older than LeaseStale.
func LockHost(ctx context.Context, t transport.Transport, opts LockOptions) (*HostLock, error) {
	key, err := hostKey(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("%s: lock: %w", t.Name(), err)
	}
	deadline := time.Now().Add(opts.Wait)
	delay := 20 * time.Millisecond
	for {
		l, holder, err := take(ctx, t, key)
		if err == nil {
			return l, nil
		}
		left := time.Until(deadline)
		if !errors.Is(err, ErrHostBusy) || left <= 0 {
			return nil, err
		}
		timer := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("%s: waiting for the host lock: %w (%w)", t.Name(), context.Cause(ctx), err)
		case <-holder: // released in this process: try again at once (nil when held elsewhere)
		case <-timer.C:
		}
		timer.Stop()
		delay = min(2*delay, time.Second)
	}
}

// take tries once: the in-process slot for key, then the lock on the host. When the host is busy
// in this process, holder is closed when that lock is released.
func take(ctx context.Context, t transport.Transport, key string) (l *HostLock, holder <-chan struct{}, err error) {
	holders.Lock()
	if h := holders.m[key]; h != nil {
		holders.Unlock()
		return nil, h.done, &BusyError{Target: t.Name(), Lock: LockPath,
			Owner: fmt.Sprintf("pid %d, this process, through %s", os.Getpid(), h.t.Name())}
	}
	l = &HostLock{t: t, key: key, done: make(chan struct{})}
	holders.m[key] = l
	holders.Unlock()
	if l.unlock, err = onHost(ctx, t); err != nil {
		l.forget()
		return nil, nil, err
	}
	return l, nil, nil
}

// Release releases the lock; later calls do nothing.
func (l *HostLock) Release() {
	if l == nil {
		return
	}
	l.once.Do(func() {
		// The host first: an in-process waiter woken by forget then finds it free.
		_ = l.unlock()
		l.forget()
	})
}

func (l *HostLock) forget() {
	holders.Lock()
	if holders.m[l.key] == l {
		delete(holders.m, l.key)
	}
	holders.Unlock()
	close(l.done)
}

// heldFor checks that l is held and was taken through t: the commands of another transport
// (another connection, another name of the host) would not run under it.
func (l *HostLock) heldFor(t transport.Transport) error {
	select {
	case <-l.done:
		return fmt.Errorf("%s: the host lock passed (%s) was released", t.Name(), l.t.Name())
	default:
	}
	if l.t != t {
		return fmt.Errorf("%s: the host lock passed was taken through another transport (%s): it does not cover this one's commands", t.Name(), l.t.Name())
	}
	return nil
}

// lockFor checks the caller's lock l for t (release then does nothing), or takes one when l is nil.
func lockFor(ctx context.Context, t transport.Transport, l *HostLock) (release func(), err error) {
	if l != nil {
		return func() {}, l.heldFor(t)
	}
	if l, err = LockHost(ctx, t, LockOptions{}); err != nil {
		return nil, err
	}
	return l.Release, nil
}

// hostKey is the identity of t's host (transport.HostIDer); for other transports, the target's
// machine-id and the transport's name (nothing tells their roots apart).
func hostKey(ctx context.Context, t transport.Transport) (string, error) {
	if h, ok := t.(transport.HostIDer); ok {
		return h.HostID(ctx)
	}
	fi, err := t.Stat(ctx, "/etc/machine-id")
	if err != nil {
		return "", err
	}
	mid, _, _ := strings.Cut(string(fi.Content), "\n")
	return fmt.Sprintf("machine %s name %s", strings.TrimSpace(mid), t.Name()), nil
}

// onHost takes the lock on the host: flock when t has it, else the mkdir lease.
func onHost(ctx context.Context, t transport.Transport) (unlock func() error, err error) {
	f, ok := t.(flocker)
	if ok {
		// Flock creates StateDir itself: one round trip over SSH.
		unlock, err = flock(ctx, t, f)
		if errors.Is(err, transport.ErrLocked) {
			li := transport.ParseLock("")
			if fi, serr := t.Stat(ctx, LockPath); serr == nil {
				li = transport.ParseLock(string(fi.Content))
			}
			return nil, &BusyError{Target: t.Name(), Owner: li.Owner(), Lock: LockPath}
		}
	}
	if !ok || errors.Is(err, transport.ErrUnsupported) {
		if err := t.Mkdir(ctx, StateDir, 0o755); err != nil {
			return nil, fmt.Errorf("%s: lock: %w", t.Name(), err)
		}
		return lease(ctx, t)
	}
	return unlock, err
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
			return nil, &BusyError{Target: t.Name(), Lock: leaseDir,
				Owner: fmt.Sprintf("pid %d on %s, since %s", o.PID, o.Controller, o.Started.Format(time.RFC3339))}
		}
		return nil, &BusyError{Target: t.Name(), Owner: "owner unknown", Lock: leaseDir, Hint: "remove it if no chaos is running"}
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
