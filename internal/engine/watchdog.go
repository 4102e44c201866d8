package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ch-aos-ch/chaos/internal/shell"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// The access watchdog (docs/generations.md, "Confirming access"). An apply over SSH whose plan
// touches access arms it on the host before its first op: a process that survives the connection
// and, unless a fresh connection disarms it in time, undoes the apply on the host itself, from
// sh steps the apply writes beside each journal entry. Its state lives in WatchdogDir:
//
//	armed          present while it waits: the journal id (a rename decides between disarm and fire)
//	fired          armed, renamed by the watchdog when it fires
//	confirmed      armed, renamed by the fresh connection that disarmed it
//	rollback.sh    runs the undo steps in reverse order, under the host lock
//	undo/SEQ.sh    the inverse of journal entry SEQ, as sh; undo/SEQ.data the bytes it reads
//	post/*.sh      after every undo step: daemon-reload, restarts of the units the apply
//	               restarted, a reload of sshd (watchdogPosts)
//	generation     the generation the apply recorded
//	rollback.log   what the rollback did; done: "TIME FAILURES" once it is over
const WatchdogDir = StateDir + "/watchdog"

const (
	wdArmed     = WatchdogDir + "/armed"
	wdFired     = WatchdogDir + "/fired"
	wdConfirmed = WatchdogDir + "/confirmed"
	wdUndo      = WatchdogDir + "/undo"
	wdPost      = WatchdogDir + "/post"
	wdScript    = WatchdogDir + "/rollback.sh"
	wdGen       = WatchdogDir + "/generation"
	wdDone      = WatchdogDir + "/done"
	wdLog       = WatchdogDir + "/rollback.log"
)

// WatchdogOptions arm the access watchdog for an apply (Request.Watchdog).
type WatchdogOptions struct {
	// Timeout is how long the controller tries to confirm access after the apply. The host waits
	// WatchdogGrace more, once no chaos holds its lock, before it rolls the apply back.
	Timeout time.Duration
}

// WatchdogGrace is how much longer than the controller's confirmation the host waits: a fresh
// connection that gets in at the end of its time still disarms the watchdog, rather than find
// that it has just fired.
const WatchdogGrace = 5 * time.Second

// WatchdogUnit is the systemd unit the watchdog of journal id runs as (on hosts without systemd,
// a setsid'd sh).
func WatchdogUnit(id string) string { return "chaos-watchdog-" + id + ".service" }

// watchdogLoop is the watchdog process: $1 is WatchdogDir, $2 the timeout in seconds. While the
// host lock is held (an apply runs, or its commands outlive a lost connection) the deadline moves;
// once the lock is free for the timeout it fires, unless armed is gone (disarmed). The rename of
// armed is the one decision point against a disarm; a lock taken right then undoes the rename.
var watchdogLoop = `exec 9>&- </dev/null >/dev/null 2>&1
d=$1 t=$2 lock=` + shell.Quote(LockPath) + `
busy() {
	[ -d ` + shell.Quote(leaseDir) + ` ] && return 0
	ino=$(stat -c %i "$lock" 2>/dev/null) || return 1
	grep -q ":$ino " /proc/locks
}
last=$(date +%s)
while [ -e "$d/armed" ]; do
	now=$(date +%s)
	if busy; then
		last=$now
	elif [ $((now - last)) -ge "$t" ]; then
		mv "$d/armed" "$d/fired" 2>/dev/null || exit 0
		exec sh "$d/rollback.sh" "$d"
	fi
	sleep 1
done
`

// watchdogRollback is rollback.sh: it takes the host lock (flock(1) where there is one), says who
// holds it for a chaos that comes meanwhile, runs the undo steps newest first and then the unit
// restarts, removes the journal of the apply it undid, and writes done.
func watchdogRollback(journalID string) string {
	return `d=$1 lock=` + shell.Quote(LockPath) + `
umask 077
exec >"$d/rollback.log" 2>&1
if command -v flock >/dev/null 2>&1; then
	exec 9>>"$lock"
	if ! flock -n 9; then
		# a chaos took the lock right now: wait again
		mv "$d/fired" "$d/armed" && exec sh -c "$(cat "$d/loop.sh")" sh "$d" "$(cat "$d/timeout")"
		exit 1
	fi
	printf '%s\n' ` + shell.Quote("chaos access watchdog (rolling back "+journalID+")") + ` >"$lock"
fi
echo ` + shell.Quote("rollback of "+journalID) + ` "started $(date -u +%Y-%m-%dT%H:%M:%SZ)"
fails=0
for f in $(ls -r "$d/undo" | grep '^[0-9]*\.sh$') $(ls "$d/post" 2>/dev/null | grep '^[0-9a-z-]*\.sh$' | sed 's|^|../post/|'); do
	if (cd "$d/undo" && sh "./$f"); then echo "undone $f"; else echo "FAILED $f"; fails=$((fails + 1)); fi
done
if grep -q ` + shell.Quote(`"id": "`+journalID+`"`) + ` ` + shell.Quote(JournalFile) + ` 2>/dev/null; then
	rm -rf ` + shell.Quote(JournalDir) + `
fi
printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$fails" >"$d/done.tmp" && mv "$d/done.tmp" "$d/done"
sync
if command -v flock >/dev/null 2>&1; then printf 'released\n' >>"$lock"; fi
`
}

// watchdog is the armed watchdog of one apply.
type watchdog struct {
	t  transport.Transport
	id string
}

// arm writes the watchdog's scripts and starts it. systemd runs it as a transient unit (outside
// the SSH session, with a clean environment); without systemd it is a setsid'd sh without the
// lock descriptor and the run mark, so that no lock cleanup takes it for the apply's command.
func armWatchdog(ctx context.Context, t transport.Transport, id string, opt WatchdogOptions, systemd bool) (*watchdog, error) {
	secs := int((opt.Timeout + WatchdogGrace).Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	if err := t.Remove(ctx, WatchdogDir, true); err != nil {
		return nil, err
	}
	for _, d := range []string{WatchdogDir, wdUndo, wdPost} {
		if err := privateDir(ctx, t, d); err != nil {
			return nil, err
		}
	}
	files := []struct {
		p    string
		data string
	}{
		{WatchdogDir + "/loop.sh", watchdogLoop},
		{WatchdogDir + "/timeout", strconv.Itoa(secs)},
		{wdScript, watchdogRollback(id)},
		{wdArmed, id + "\n"},
	}
	for _, f := range files {
		if err := t.WriteFile(ctx, f.p, []byte(f.data), 0o600, 0, 0, nil); err != nil {
			return nil, fmt.Errorf("watchdog: %w", err)
		}
	}
	loop := []string{"sh", "-c", watchdogLoop, "sh", WatchdogDir, strconv.Itoa(secs)}
	var argv []string
	if systemd {
		argv = append([]string{"systemd-run", "--quiet", "--collect", "--unit=" + WatchdogUnit(id),
			"--description=chaos access watchdog of " + id}, loop...)
	} else {
		argv = append([]string{"env", "-u", transport.RunEnv, "setsid", "-f"}, loop...)
	}
	if _, err := transport.Check(ctx, t, transport.Cmd{Argv: argv}); err != nil {
		_ = t.Remove(ctx, WatchdogDir, true)
		return nil, fmt.Errorf("cannot arm the access watchdog (nothing applied; --no-confirm-access applies without it): %w", err)
	}
	return &watchdog{t: t, id: id}, nil
}

// add writes the undo step of je (and, for a restart of a unit, the restart after the undo), before
// its op runs.
func (w *watchdog) add(ctx context.Context, je *JournalEntry) error {
	script, data, err := watchdogStep(je, wdUndo)
	if err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	name := fmt.Sprintf("%06d", je.Seq)
	if data != nil {
		if err := w.t.WriteFile(ctx, wdUndo+"/"+name+".data", data, 0o600, 0, 0, nil); err != nil {
			return fmt.Errorf("watchdog: %w", err)
		}
	}
	if je.Prev != nil && je.Prev.Tree != "" {
		// the archive leaves the journal with it; the watchdog keeps its own link
		argv := []string{"ln", "-f", EntriesDir + "/" + je.Prev.Tree, wdUndo + "/" + name + ".tar"}
		if _, err := transport.Check(ctx, w.t, transport.Cmd{Argv: argv}); err != nil {
			return fmt.Errorf("watchdog: %w", err)
		}
	}
	posts, replaces := watchdogPosts(je.Op, je.Seq)
	if script != "" && !replaces {
		if err := w.t.WriteFile(ctx, wdUndo+"/"+name+".sh", []byte(script), 0o600, 0, 0, nil); err != nil {
			return fmt.Errorf("watchdog: %w", err)
		}
	}
	for _, p := range posts {
		if err := w.t.WriteFile(ctx, wdPost+"/"+p.name, []byte(p.script), 0o600, 0, 0, nil); err != nil {
			return fmt.Errorf("watchdog: %w", err)
		}
	}
	return nil
}

// watchdogPost is a step the watchdog runs after every undo step, in the order of the names.
type watchdogPost struct{ name, script string }

// watchdogPosts returns the steps op needs after the undo: a daemon-reload when it changed a unit
// file (or was one), a restart of the unit it restarted or reloaded, a reload of sshd when it
// changed sshd's configuration. Services read their files when they start: whatever restarted
// them with the changed ones (an op, a path unit, a package script), the restored ones need a
// restart too, after they are back. replaces says that op's own inverse is one of these (the
// restart or daemon-reload again), which then runs there, after the files are restored, and not in
// the reverse order of the ops.
func watchdogPosts(op Op, seq int) (posts []watchdogPost, replaces bool) {
	if op.Kind == OpExec && len(op.Argv) == 2 && path.Base(op.Argv[0]) == "systemctl" && op.Argv[1] == "daemon-reload" {
		return []watchdogPost{{"1-daemon-reload.sh", "systemctl daemon-reload\n"}}, true
	}
	if unit := restartedUnit(op); unit != "" {
		return []watchdogPost{{fmt.Sprintf("2-%06d.sh", seq), "systemctl restart " + shell.Quote(unit) + "\n"}}, true
	}
	if op.Kind == OpExec {
		return nil, false
	}
	for _, dir := range []string{"/etc/systemd/system/", "/usr/lib/systemd/system/", "/lib/systemd/system/", "/usr/local/lib/systemd/system/"} {
		if strings.HasPrefix(path.Clean(op.Path), dir) {
			posts = append(posts, watchdogPost{"1-daemon-reload.sh", "systemctl daemon-reload\n"})
			break
		}
	}
	if p := path.Clean(op.Path); p == "/etc/ssh" || strings.HasPrefix(p, "/etc/ssh/") {
		posts = append(posts, watchdogPost{"3-sshd.sh", reloadSSHD})
	}
	return posts, false
}

// reloadSSHD makes a running sshd read its restored configuration (a reload keeps the sessions).
// One that the changed configuration made fail (a bad ListenAddress) is started again.
const reloadSSHD = `if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	for u in ssh.service sshd.service; do
		if systemctl -q is-active "$u"; then exec systemctl reload-or-restart "$u"; fi
		if systemctl -q is-failed "$u"; then exec systemctl restart "$u"; fi
	done
	exit 0
fi
if [ -f /run/sshd.pid ]; then kill -HUP "$(cat /run/sshd.pid)"; fi
`

// restartedUnit is the unit an exec op restarts or reloads ("" for any other op): the undo puts
// its configuration back, and only a restart makes it read that again.
func restartedUnit(op Op) string {
	if op.Kind != OpExec || len(op.Argv) < 3 || path.Base(op.Argv[0]) != "systemctl" {
		return ""
	}
	verbs := []string{"restart", "reload", "try-restart", "reload-or-restart", "try-reload-or-restart"}
	for i, a := range op.Argv[1:] {
		if slices.Contains(verbs, a) {
			for _, u := range op.Argv[i+2:] {
				if !strings.HasPrefix(u, "-") {
					return u
				}
			}
		}
	}
	return ""
}

// watchdogStep renders the inverse of je as sh for the watchdog (run in dir, where SEQ.data holds
// data and SEQ.tar a removed tree), the same inverse undoEntry runs. An inverse that cannot run
// without the controller (a secret one) becomes a step that fails with the reason, so the
// rollback reports it.
func watchdogStep(je *JournalEntry, dir string) (script string, data []byte, err error) {
	name := fmt.Sprintf("%06d", je.Seq)
	dataFile := dir + "/" + name + ".data"
	var b strings.Builder
	b.WriteString("set -e\n")
	u := je.undo
	if u == nil && je.Undo != nil {
		c := *je.Undo
		if c.Kind == OpExec {
			c.Stdin = je.UndoData
		} else {
			c.Content = je.UndoData
		}
		u = &c
	}
	switch {
	case je.UndoSecret:
		fmt.Fprintf(&b, "echo %s >&2\nexit 1\n", shell.Quote("the inverse of "+je.Op.String()+" carries a secret: it is not kept on the host"))
		return b.String(), nil, nil
	case u != nil && u.Kind == OpExec:
		if len(u.Argv) == 0 {
			return "", nil, fmt.Errorf("the inverse of %s is an empty command", je.Op)
		}
		argv := u.Argv
		if len(u.Env) > 0 {
			argv = append(append([]string{"env"}, u.Env...), argv...)
		}
		in := "/dev/null"
		if len(u.Stdin) > 0 {
			in, data = dataFile, u.Stdin
		}
		fmt.Fprintf(&b, "rc=0; %s <%s || rc=$?\n", shell.Join(argv), shell.Quote(in))
		ok := []string{"0"}
		for _, c := range u.OkCodes {
			ok = append(ok, strconv.Itoa(c))
		}
		fmt.Fprintf(&b, "case $rc in %s) ;; *) exit $rc ;; esac\n", strings.Join(ok, "|"))
		return b.String(), data, nil
	case u != nil:
		if len(u.Content) > 0 || u.Kind == OpWrite {
			data = u.Content
		}
		if err := fileOpSh(&b, *u, dataFile); err != nil {
			return "", nil, err
		}
		return b.String(), data, nil
	case je.Prev == nil:
		return "", nil, nil
	}
	p, prev := je.UndoPath, je.Prev
	switch {
	case prev.Tree != "":
		fmt.Fprintf(&b, "rm -rf -- %s\n", shell.Quote(p))
		fmt.Fprintf(&b, "%s\n", shell.Join([]string{"sh", "-c", extractTree, "sh", dir + "/" + name + ".tar", path.Dir(p)}))
	case prev.TreeUnsaved:
		fmt.Fprintf(&b, "rm -rf -- %s\nmkdir -p -- %s\n", shell.Quote(p), shell.Quote(p))
		fmt.Fprintf(&b, "chmod %s %s\nchown %d:%d %s\n", modeArg(prev.Mode), shell.Quote(p), prev.UID, prev.GID, shell.Quote(p))
		fmt.Fprintf(&b, "echo %s >&2\nexit 1\n", shell.Quote(p+" was removed without a backup (--force-remove): only the directory itself was recreated"))
	case !prev.Exists:
		fmt.Fprintf(&b, "rm -rf -- %s\n", shell.Quote(p))
	case prev.Mode&fs.ModeSymlink != 0:
		tmp := path.Join(path.Dir(p), ".chaos-watchdog.tmp")
		fmt.Fprintf(&b, "rm -f -- %s\nln -s -- %s %s\nchown -h %d:%d %s\nmv -fT -- %s %s\n",
			shell.Quote(tmp), shell.Quote(prev.Target), shell.Quote(tmp), prev.UID, prev.GID, shell.Quote(tmp), shell.Quote(tmp), shell.Quote(p))
	case prev.Mode.IsDir():
		fmt.Fprintf(&b, "if [ -L %s ] || { [ -e %s ] && ! [ -d %s ]; }; then rm -f -- %s; fi\n", shell.Quote(p), shell.Quote(p), shell.Quote(p), shell.Quote(p))
		fmt.Fprintf(&b, "mkdir -p -- %s\nchown %d:%d %s\nchmod %s %s\n", shell.Quote(p), prev.UID, prev.GID, shell.Quote(p), modeArg(prev.Mode), shell.Quote(p))
	case prev.Mode.IsRegular() && prev.InMemory:
		// The previous content never leaves the controller's memory (FileState.InMemory).
		fmt.Fprintf(&b, "echo %s >&2\nexit 1\n", shell.Quote(secretLost(je).Error()))
	case prev.Mode.IsRegular():
		if prev.Size > 0 && je.prevContent == nil {
			return "", nil, fmt.Errorf("the previous content of %s is not in memory", p)
		}
		data = je.prevContent
		if data == nil {
			data = []byte{}
		}
		tmp := path.Join(path.Dir(p), ".chaos-watchdog.tmp")
		fmt.Fprintf(&b, "rm -rf -- %s\ncp -- %s %s\nchown %d:%d %s\nchmod %s %s\nsync %s\nmv -fT -- %s %s\n",
			shell.Quote(tmp), shell.Quote(dataFile), shell.Quote(tmp), prev.UID, prev.GID, shell.Quote(tmp),
			modeArg(prev.Mode), shell.Quote(tmp), shell.Quote(tmp), shell.Quote(tmp), shell.Quote(p))
	default:
		return "", nil, fmt.Errorf("%s: cannot restore a %s", p, prev.Mode.Type())
	}
	return b.String(), data, nil
}

// fileOpSh renders a role-supplied file inverse (a write, remove, symlink, mkdir or chmod) as sh.
func fileOpSh(b *strings.Builder, op Op, dataFile string) error {
	if op.Path == "" || op.Path[0] != '/' {
		return fmt.Errorf("%q: not an absolute path", op.Path)
	}
	p := shell.Quote(op.Path)
	own := func() {
		if op.Owner != "" || op.Group != "" {
			spec := op.Owner
			if op.Group != "" {
				spec += ":" + op.Group
			} else if op.Owner != "" {
				spec += ":"
			}
			fmt.Fprintf(b, "chown -h %s %s\n", shell.Quote(spec), p)
		}
	}
	switch op.Kind {
	case OpWrite:
		mode := op.Mode
		if mode == 0 {
			mode = 0o644
		}
		tmp := shell.Quote(path.Join(path.Dir(op.Path), ".chaos-watchdog.tmp"))
		fmt.Fprintf(b, "rm -rf -- %s\ncp -- %s %s\nchmod %s %s\nmv -fT -- %s %s\n", tmp, shell.Quote(dataFile), tmp, modeArg(mode), tmp, tmp, p)
		own()
	case OpRemove:
		flag := "-f"
		if op.Recursive {
			flag = "-rf"
		}
		fmt.Fprintf(b, "rm %s -- %s || rmdir -- %s\n", flag, p, p)
	case OpSymlink:
		tmp := shell.Quote(path.Join(path.Dir(op.Path), ".chaos-watchdog.tmp"))
		fmt.Fprintf(b, "rm -f -- %s\nln -s -- %s %s\nmv -fT -- %s %s\n", tmp, shell.Quote(op.Target), tmp, tmp, p)
		own()
	case OpMkdir, OpChmod:
		if op.Kind == OpMkdir {
			fmt.Fprintf(b, "mkdir -p -- %s\n", p)
		}
		own()
		if op.Mode != 0 {
			fmt.Fprintf(b, "chmod %s %s\n", modeArg(op.Mode), p)
		}
	default:
		return fmt.Errorf("unknown op kind %q", op.Kind)
	}
	return nil
}

// modeArg is a mode as chmod's octal argument, with setuid, setgid and sticky.
func modeArg(m fs.FileMode) string {
	return fmt.Sprintf("%04o", uint32(m.Perm())|modeSpecial(m))
}

// setGeneration records the generation the apply published, for the report after a rollback.
func (w *watchdog) setGeneration(ctx context.Context, n int) error {
	return w.t.WriteFile(ctx, wdGen, []byte(strconv.Itoa(n)+"\n"), 0o600, 0, 0, nil)
}

// disarm removes an armed watchdog (the apply failed and was undone by the engine, or is
// cancelled before the confirm step).
func (w *watchdog) disarm(ctx context.Context) error {
	if w == nil {
		return nil
	}
	_, err := ConfirmAccess(ctx, w.t)
	return err
}

// WatchdogState is what a host's watchdog directory says.
type WatchdogState struct {
	// State: "" (none), "armed", "fired" (rolling back now), "rolled back" (done), "confirmed".
	State      string    `json:"state,omitempty"`
	Journal    string    `json:"journal,omitempty"`
	Generation int       `json:"generation,omitempty"`
	Time       time.Time `json:"time,omitzero"`
	// Failures counts the undo steps that failed; Log is the rollback's log.
	Failures int    `json:"failures,omitempty"`
	Log      string `json:"log,omitempty"`
}

// ErrWatchdogFired: the watchdog fired before the fresh connection could disarm it.
var ErrWatchdogFired = errors.New("the access watchdog already fired: the host is rolling the apply back")

// ConfirmAccess disarms the host's watchdog: the connection it runs on is the proof of access.
// The rename of armed decides against the watchdog's own; the watchdog process then sees armed
// gone and ends. It returns the journal id of the apply it confirmed ("" when none was armed), and
// ErrWatchdogFired when the watchdog won.
func ConfirmAccess(ctx context.Context, t transport.Transport) (string, error) {
	r, ok := t.(transport.Renamer)
	if !ok {
		return "", fmt.Errorf("%s: confirm access: %w", t.Name(), transport.ErrUnsupported)
	}
	fi, err := t.Stat(ctx, wdArmed)
	if err != nil {
		return "", err
	}
	if !fi.Exists {
		if f, err := t.Stat(ctx, wdFired); err == nil && f.Exists {
			return "", ErrWatchdogFired
		}
		return "", nil
	}
	if err := r.Rename(ctx, wdArmed, wdConfirmed); err != nil {
		if f, serr := t.Stat(ctx, wdFired); serr == nil && f.Exists {
			return "", ErrWatchdogFired
		}
		return "", fmt.Errorf("%s: confirm access: %w", t.Name(), err)
	}
	id := strings.TrimSpace(string(fi.Content))
	if err := t.Remove(ctx, WatchdogDir, true); err != nil {
		return id, fmt.Errorf("%s: confirm access: %w", t.Name(), err)
	}
	return id, nil
}

// ReadWatchdog reads the host's watchdog directory.
func ReadWatchdog(ctx context.Context, t transport.Transport) (*WatchdogState, error) {
	read := func(p string) (string, bool, error) {
		fi, err := t.Stat(ctx, p)
		return strings.TrimSpace(string(fi.Content)), fi.Exists, err
	}
	ws := &WatchdogState{}
	// one round trip in the common case: no watchdog at all
	if fi, err := t.Stat(ctx, WatchdogDir); err != nil || !fi.Exists {
		return ws, err
	}
	var marker string
	for _, s := range []struct{ p, state string }{{wdArmed, "armed"}, {wdFired, "fired"}, {wdConfirmed, "confirmed"}} {
		v, ok, err := read(s.p)
		if err != nil {
			return nil, err
		}
		if ok {
			ws.State, marker = s.state, v
			break
		}
	}
	if ws.State == "" {
		return ws, nil
	}
	ws.Journal = marker
	if v, ok, _ := read(wdGen); ok {
		ws.Generation, _ = strconv.Atoi(v)
	}
	if v, ok, err := read(wdDone); err != nil {
		return nil, err
	} else if ok && ws.State == "fired" {
		ws.State = "rolled back"
		f := strings.Fields(v)
		if len(f) == 2 {
			ws.Time, _ = time.Parse(time.RFC3339, f[0])
			ws.Failures, _ = strconv.Atoi(f[1])
		}
		ws.Log, _, _ = read(wdLog)
	}
	return ws, nil
}

// SettleWatchdog deals, under the host lock, with what an earlier apply's watchdog left: an armed
// one is disarmed (this connection proves access: the earlier controller died or lost the race to
// confirm), a finished rollback is returned for the report and its generation marked as undone
// by the watchdog. A rollback still running is reported as an error.
func SettleWatchdog(ctx context.Context, t transport.Transport) (*WatchdogState, error) {
	ws, err := ReadWatchdog(ctx, t)
	if err != nil || ws.State == "" {
		return nil, err
	}
	switch ws.State {
	case "armed":
		if _, err := ConfirmAccess(ctx, t); err != nil {
			return nil, err
		}
		ws.State = "confirmed"
		return ws, nil
	case "fired":
		return nil, fmt.Errorf("%s: the access watchdog of apply %s is rolling it back now: try again in a moment", t.Name(), ws.Journal)
	case "rolled back":
		if ws.Generation > 0 {
			if err := markUndone(ctx, t, ws.Generation, ws.Time); err != nil {
				return ws, err
			}
		}
	}
	return ws, t.Remove(ctx, WatchdogDir, true)
}

// markUndone records in the generations index that the access watchdog rolled generation n back.
func markUndone(ctx context.Context, t transport.Transport, n int, at time.Time) error {
	gens, err := ReadGenerations(ctx, t)
	if err != nil {
		return err
	}
	for i := range gens {
		if gens[i].N == n {
			if at.IsZero() {
				at = time.Now().UTC()
			}
			gens[i].UndoneByWatchdog = at
			return writeIndex(ctx, t, gens)
		}
	}
	return nil
}

// dropWatchdog removes the watchdog of the apply with journal id, armed or fired, under the host
// lock: recovery undoes (or resumes) that apply itself. A fired watchdog that found the lock taken
// re-arms and then finds its directory gone; one of another apply is left alone.
func dropWatchdog(ctx context.Context, t transport.Transport, id string) error {
	for _, p := range []string{wdArmed, wdFired} {
		fi, err := t.Stat(ctx, p)
		if err != nil {
			return err
		}
		if fi.Exists && strings.TrimSpace(string(fi.Content)) == id {
			return t.Remove(ctx, WatchdogDir, true)
		}
	}
	return nil
}
