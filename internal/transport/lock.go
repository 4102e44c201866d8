package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ch-aos-ch/chaos/internal/lockfile"
	"github.com/ch-aos-ch/chaos/internal/procfs"
)

// ErrLocked is returned by Flock when another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// The host lock and the commands chaos runs (docs/architecture.md, "No command outlives the lock").
//
// A command chaos runs on a target can outlive chaos: SIGKILL kills chaos, not useradd or apt-get,
// and those go on changing the host. Recovery (and the next apply) must never undo an op while the
// command of that op, or anything it started, can still change the host. So, on every transport:
//
//   - every command runs in its own process group (Setpgid), and inherits the open, flocked lock
//     descriptor as descriptor LockFD: the kernel keeps the lock held while any process that kept
//     the descriptor lives, even after chaos is gone (apt-get closes it when it starts dpkg, but
//     waits for dpkg);
//   - the lock file says who holds the lock (first line: PID START-TIME, then free text), which
//     command groups run at the moment ("group PGID START-TIME" lines, written when a command
//     starts and removed when it ends) and, after a clean release, "released"; every command gets
//     RunEnv=PID.START-TIME of the holder, which everything it starts inherits: so a background
//     process a command left behind without the descriptor, in its group or in a session of its
//     own (dpkg under apt-get on a host with /dev/pts), is found too;
//   - a chaos that finds the lock held while its owner is dead (the interrupted run's orphans hold
//     it) waits for them, at most OrphanWait, telling so (Notice); then it kills (SIGKILL) the
//     process groups of the processes still holding the lock. Once it has the lock, it kills what is
//     left of the process groups the dead owner recorded and the processes with its RunEnv mark,
//     and waits until they are gone, before it returns: only then may recovery undo anything.
//
// Over SSH the worker on the host holds the lock: it runs commands the same way and, when its
// connection dies, lets the running command finish (at most OrphanWait) and kills what is left of
// its process group before it exits and so releases the lock (internal/hostworker, sshworker.go).

// LockFD is the descriptor number under which commands inherit the host lock (as the sh worker's
// flock(1) on descriptor 9).
const LockFD = 9

// OrphanWait is how long a chaos waits for the processes left by an interrupted chaos, which hold
// the host lock, to finish before it kills them. CHAOS_ORPHAN_WAIT (a Go duration) overrides it.
var OrphanWait = 2 * time.Minute

// OrphanWaitEnv names the environment variable that overrides OrphanWait.
const OrphanWaitEnv = "CHAOS_ORPHAN_WAIT"

// OrphanWaitNow is OrphanWait, or the duration CHAOS_ORPHAN_WAIT gives.
func OrphanWaitNow() time.Duration {
	if d, err := time.ParseDuration(os.Getenv(OrphanWaitEnv)); err == nil && d >= 0 {
		return d
	}
	return OrphanWait
}

// Notice receives what a lock acquisition waits for or kills (default: a line on standard error).
var Notice = func(msg string) { fmt.Fprintln(os.Stderr, "chaos: "+msg) }

// hostLock is the held lock of a Host: the open descriptor commands inherit, and the command groups
// running now, recorded in the lock file.
type hostLock struct {
	mu     sync.Mutex
	f      *os.File
	owner  string         // first line of the lock file
	groups map[int]string // running command groups: pgid -> the leader's start time
	mark   string         // RunEnv's value for the commands run under it
}

// write rewrites the lock file: the owner line, then one line per running command group. Longer
// content first, then the size: a reader never sees a missing owner line.
func (l *hostLock) write() {
	data := lockfile.Format(l.owner, l.groups)
	_, _ = l.f.WriteAt([]byte(data), 0)
	_ = l.f.Truncate(int64(len(data)))
}

func (l *hostLock) started(pgid int) {
	start, _ := procfs.Start(pgid)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.groups[pgid] = start
	l.write()
}

func (l *hostLock) ended(pgid int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.groups, pgid)
	l.write()
}

// LockInfo is what a lock file says (internal/lockfile).
type LockInfo = lockfile.Info

// ParseLock reads a lock file's content.
func ParseLock(data string) LockInfo { return lockfile.Parse(data) }

// holderAlive says whether the holder that wrote the first line runs on this kernel (same pid, same
// start time). A holder written as free text counts as alive: it cannot be checked here.
func holderAlive(li LockInfo) bool {
	switch {
	case li.PID <= 0:
		return li.Text != ""
	case li.Start == "":
		return pidExists(li.PID)
	}
	st, err := procfs.Start(li.PID)
	return err == nil && st == li.Start
}

func pidExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Flock takes an exclusive flock(2) on path (absolute, inside the target; created with mode 0600
// when missing, its directory with 0755) and holds it through an open file descriptor until release
// is called or the process exits, so a killed chaos never leaves a stale lock behind. It works for
// the local machine, chroots and nsenter targets alike: they share this machine's kernel. While
// held, commands inherit it (see LockFD) and are recorded in it.
//
// ErrLocked when a live chaos holds it. When the lock is held by what a dead chaos left running,
// Flock waits for it (OrphanWaitNow), then kills it; see the comment on LockFD.
func (h *Host) Flock(p string) (release func() error, err error) {
	if err := h.Mkdir(context.Background(), path.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	f, err := h.openFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	prev, err := h.acquire(f, p)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	// An owner that died holding the lock left processes without the lock descriptor, in its
	// command groups or not (a maintainer script's background job, in the session dpkg gets from
	// apt-get): kill them, found by group and by run mark, before anything is undone.
	if li := ParseLock(prev); !li.Released && !holderAlive(li) {
		why := "left running by the interrupted chaos (" + li.Owner() + ")"
		killGroups(h.name, li, why)
		if li.PID > 0 && li.Start != "" {
			KillMarked(h.name, RunMark(li.PID, li.Start), why)
		}
	}
	st, _ := procfs.Start(os.Getpid())
	l := &hostLock{f: f, owner: fmt.Sprintf("%d %s", os.Getpid(), st), groups: map[int]string{}, mark: RunMark(os.Getpid(), st)}
	l.write()
	h.mu.Lock()
	h.lock = l
	h.mu.Unlock()
	return func() error {
		h.mu.Lock()
		if h.lock == l {
			h.lock = nil
		}
		h.mu.Unlock()
		l.mu.Lock()
		defer l.mu.Unlock()
		// A clean release: what commands left running (a daemon) is not the next chaos's to kill.
		l.owner += "\nreleased"
		l.groups = map[int]string{}
		l.write()
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return f.Close()
	}, nil
}

// RunEnv is the variable every command chaos runs under the host lock gets (RunMark of the lock's
// holder): inherited by everything the command starts, whatever session, process group or
// descriptors it ends up with, so that what a dead chaos left running is found (KillMarked).
const RunEnv = "CHAOS_RUN"

// RunMark is the value of RunEnv for the lock holder pid started at start.
func RunMark(pid int, start string) string { return strconv.Itoa(pid) + "." + start }

// KillMarked kills (SIGKILL) every process, but this one, whose environment has RunEnv=mark, and
// waits (at most 10 s) until they are gone.
func KillMarked(name, mark, why string) {
	want := []byte(RunEnv + "=" + mark)
	find := func() []int {
		var pids []int
		self := os.Getpid()
		procs, _ := os.ReadDir("/proc")
		for _, d := range procs {
			pid, err := strconv.Atoi(d.Name())
			if err != nil || pid == self {
				continue
			}
			env, err := os.ReadFile("/proc/" + d.Name() + "/environ")
			if err != nil || len(env) == 0 { // zombies and kernel threads have none
				continue
			}
			for _, e := range bytes.Split(env, []byte{0}) {
				if bytes.Equal(e, want) {
					pids = append(pids, pid)
					break
				}
			}
		}
		return pids
	}
	pids := find()
	if len(pids) == 0 {
		return
	}
	Notice(fmt.Sprintf("%s: killing what the interrupted chaos's commands started (%s): %s", name, why, describe(pids)))
	for deadline := time.Now().Add(10 * time.Second); len(pids) > 0 && time.Now().Before(deadline); pids = find() {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// acquire takes the flock on f, waiting for and then killing the processes a dead chaos left
// holding it, and returns the lock file's content as it was (the previous owner's record).
func (h *Host) acquire(f *os.File, p string) (string, error) {
	fd := int(f.Fd())
	var deadline time.Time
	var waited time.Duration
	seen := map[int]bool{} // process groups of holders, killed after the wait if still there
	killed := false
	var holders []int
	polls := 0
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			if !deadline.IsZero() {
				Notice(fmt.Sprintf("%s: the interrupted chaos's processes are gone (waited %s); going on", h.name, waited.Round(time.Millisecond)))
			}
			data, _ := os.ReadFile("/proc/self/fd/" + strconv.Itoa(fd))
			// Stragglers of the holders' groups, which did not keep the descriptor.
			for g := range seen {
				if procfs.GroupAlive(g) {
					killGroups(h.name, LockInfo{Groups: []lockfile.Group{{PGID: g}}}, "left running by the interrupted chaos")
				}
			}
			return string(data), nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return "", fmt.Errorf("lock %s: %w", p, err)
		}
		data, _ := os.ReadFile("/proc/self/fd/" + strconv.Itoa(fd))
		li := ParseLock(string(data))
		if holderAlive(li) {
			return "", fmt.Errorf("lock %s: %w", p, ErrLocked)
		}
		// Who holds it: scanned at first and then once a second (every descriptor of every process).
		if polls%20 == 0 {
			holders = lockHolders(f)
		}
		polls++
		for _, pid := range holders {
			if g, err := syscall.Getpgid(pid); err == nil && g > 1 && g != syscall.Getpgrp() {
				seen[g] = true
			}
		}
		now := time.Now()
		if deadline.IsZero() {
			wait := OrphanWaitNow()
			deadline = now.Add(wait)
			Notice(fmt.Sprintf("%s: the host lock %s is held by processes the interrupted chaos (%s) left running: %s; waiting up to %s for them to finish",
				h.name, p, li.Owner(), describe(holders), wait))
		}
		if now.After(deadline) {
			holders = lockHolders(f)
			if killed {
				return "", fmt.Errorf("lock %s: still held by %s after they were killed", p, describe(holders))
			}
			for _, pid := range holders {
				if g, err := syscall.Getpgid(pid); err == nil && g > 1 && g != syscall.Getpgrp() {
					seen[g] = true
				}
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			var groups []lockfile.Group
			for g := range seen {
				groups = append(groups, lockfile.Group{PGID: g})
			}
			killGroups(h.name, LockInfo{Groups: groups}, fmt.Sprintf("still holding the host lock after %s", OrphanWaitNow()))
			if li.PID > 0 && li.Start != "" {
				KillMarked(h.name, RunMark(li.PID, li.Start), fmt.Sprintf("still running after %s", OrphanWaitNow()))
			}
			killed = true
			deadline = time.Now().Add(10 * time.Second)
		}
		time.Sleep(50 * time.Millisecond)
		waited += 50 * time.Millisecond
	}
}

// lockHolders lists the processes, other than this one, that hold the flock on the file f (through
// the lock descriptor a command inherited): /proc/PID/fd/N resolves to the file whatever the
// process's root or mount namespace.
func lockHolders(f *os.File) []int {
	var want syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &want); err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	procs, _ := os.ReadDir("/proc")
	for _, d := range procs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == self {
			continue
		}
		fds, _ := os.ReadDir("/proc/" + d.Name() + "/fd")
		for _, e := range fds {
			var st syscall.Stat_t
			if syscall.Stat("/proc/"+d.Name()+"/fd/"+e.Name(), &st) != nil || st.Dev != want.Dev || st.Ino != want.Ino {
				continue
			}
			// Only a descriptor of the locked open file description shows the lock in its fdinfo:
			// another chaos waiting for the lock has the file open too, but not locked.
			info, _ := os.ReadFile("/proc/" + d.Name() + "/fdinfo/" + e.Name())
			if strings.Contains(string(info), "FLOCK") {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// describe names processes for a message: "useradd (pid 12), apt-get (pid 14)".
func describe(pids []int) string {
	if len(pids) == 0 {
		return "no process found"
	}
	var parts []string
	for _, pid := range pids {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		parts = append(parts, fmt.Sprintf("%s (pid %d)", orQ(strings.TrimSpace(string(comm))), pid))
	}
	return strings.Join(parts, ", ")
}

func orQ(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// killGroups kills (SIGKILL) the recorded process groups that still have members and waits, at most
// 10 s, until they are empty. A group whose leader runs with another start time than recorded is a
// reused pid, not the command's group, and is left alone. This process's own group never is killed.
func killGroups(name string, li LockInfo, why string) {
	var live []int
	for _, g := range li.Groups {
		if g.PGID <= 1 || g.PGID == syscall.Getpgrp() || !procfs.GroupAlive(g.PGID) {
			continue
		}
		if g.Start != "" {
			if st, err := procfs.Start(g.PGID); err == nil && st != g.Start {
				continue
			}
		}
		live = append(live, g.PGID)
	}
	if len(live) == 0 {
		return
	}
	members := procfs.GroupMembers(live...)
	Notice(fmt.Sprintf("%s: killing the process groups %v (%s): %s", name, live, why, describe(members)))
	for _, g := range live {
		_ = syscall.Kill(-g, syscall.SIGKILL)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if len(procfs.GroupMembers(live...)) == 0 {
			return
		}
	}
	Notice(fmt.Sprintf("%s: the process groups %v are still there 10 s after SIGKILL", name, live))
}
