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
		unlock, err = f.Flock(LockPath)
		if errors.Is(err, transport.ErrLocked) {
			owner := ""
			if fi, serr := t.Stat(ctx, LockPath); serr == nil {
				owner = strings.TrimSpace(string(fi.Content))
			}
			return nil, fmt.Errorf("%s: another chaos (pid %s) is applying to this host (lock %s)", key, orDash(owner), LockPath)
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
