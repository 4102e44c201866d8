package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ch-aos-ch/chaos/internal/hostworker"
	"github.com/ch-aos-ch/chaos/internal/shell"
	"github.com/ch-aos-ch/chaos/internal/transport/workerbin"
)

// The SSH transport does not open a session per operation: opening one costs sshd a fork, PAM and
// a login shell (40-80 ms on a loaded machine, several per file write). Instead each connection
// runs one long-lived POSIX sh on the host, the worker, started once (through sudo once, when
// becoming root). It reads framed requests on its stdin and answers on its stdout, so an operation
// costs one round trip plus the processes it really needs (none for a Stat of a missing file).
//
// Requests (controller -> worker):
//
//	N\n                    number of lines of shell text that follow
//	TEXT\n                 a call of one of the worker's functions, every argument quoted by shell.Join
//	PAYLOAD TOKEN\n        for calls with a length argument: exactly that many bytes, then the token
//
// Greeting (worker -> controller, once): TOKEN "ready" PID MACHINE-ID BOOT-ID ROOT-MOUNT, the last
// three read with builtins only ("-" when unknown), for SSH.HostID.
//
// Replies (worker -> controller): STDOUT \n TOKEN " 1" \n STDERR \n TOKEN " 2 " CODE \n. TOKEN is
// 32 random hex digits sent on the worker's stdin at start (never in argv, so other users cannot
// read it in /proc); bodies are binary-safe because the token never occurs in them. The payload
// trailer lets the worker notice a truncated payload (connection lost mid-write) before it acts on
// it: it exits instead.
//
// Every process the worker starts is a cost (a fork and an exec took 10-30 ms on the loaded
// development machine), so the worker starts only those it needs: commands are found on PATH by
// the shell itself and started directly (env only when the request sets variables; through
// setsid(1) when the host has it), a Stat of a missing file is all builtins, a write is dd, mv and
// sync; starting the worker runs nothing but the shell. Commands run with umask 022, stdin from a
// file, stdout and stderr to the worker's private temp files (created O_EXCL, mode 0600, in /tmp):
// a daemon a command leaves behind can never write into the request stream (it could only add to
// a later command's output if it kept its stdout; daemons detach from it).
// The host lock (Flock) is an flock(1) on descriptor 9 of the worker shell itself: the kernel
// releases it when the worker dies, e.g. when the connection drops. Commands inherit descriptor 9,
// so that the host stays locked while a command of a lost connection (or what it started and that
// kept the descriptor) runs, and run in their own process group (setsid, as a background job the
// shell waits for; a background job ignores SIGINT, which chaos never sends), marked with
// CHAOS_RUN=sh-ID (RunEnv), which whatever they start inherits. A worker whose stream ends without
// the "_bye" a clean Close sends (the connection died) kills what is left of the last command's
// process group and every process with its mark before it exits, and so before the lock is
// released (see transport.LockFD; the native worker also notices a lost connection while the
// command runs).
var workerScript = `unset _t _o _e _in _n _c _l _f _r _p _q _g _s _b _k _w
IFS= read -r _t || exit 1
_i=$1
umask 077
set -C
for _f in o e i; do
	true > "/tmp/.chaos-worker-$2.$_f" || exit 1
done
set +C
umask 022
_o=/tmp/.chaos-worker-$2.o _e=/tmp/.chaos-worker-$2.e _in=/tmp/.chaos-worker-$2.i
_g= _s= _b= _k=sh-$2
command -v setsid >/dev/null 2>&1 && _s=1
_reap() {
	[ -z "$_g" ] || kill -s KILL -- "-$_g" 2>/dev/null
	for _w in 1 2; do
		for _q in $(grep -lzx "` + RunEnv + `=$_k" /proc/[0-9]*/environ 2>/dev/null); do
			_q=${_q#/proc/} _q=${_q%/environ}
			[ "$_q" = "$$" ] || kill -s KILL -- "$_q" 2>/dev/null
		done
	done
}
trap '[ -n "$_b" ] || _reap; rm -f -- "$_o" "$_e" "$_in"' EXIT
trap 'exit 129' HUP
trap 'exit 141' PIPE
trap 'exit 143' TERM
_x() {
	printf '\n%s 1\n' "$_t"
	if [ -s "$_e" ]; then cat -- "$_e"; : > "$_e"; fi
	printf '\n%s 2 %d\n' "$_t" "$1"
}
_e() {
	if [ -s "$_o" ]; then cat -- "$_o"; : > "$_o"; fi
	_x "$1"
}
_in() {
	_f=$1 _n=$2
	shift 2
	if ! dd of="$_f" bs=65536 count="$_n" iflag=fullblock,count_bytes status=none "$@"; then
		[ "$_f" = /dev/null ] || rm -f -- "$_f"
		exit 1
	fi
	IFS= read -r _l && [ "$_l" = "$_t" ] || { echo "chaos worker: truncated request" >&2; exit 1; }
}
_run() {
	if [ "$1" = - ]; then _f=/dev/null; else _in "$_in" "$1"; _f=$_in; fi
	_p=$2
	shift 2
	case $_p in
	*/*) ;;
	*)
		for _q in ` + pathDirs + `; do
			if [ -f "$_q/$_p" ] && [ -x "$_q/$_p" ]; then break; fi
			_q=
		done
		if [ -z "$_q" ]; then printf '%s: command not found\n' "$_p" >"$_e"; _e 127; return; fi
		_p=$_q/$_p ;;
	esac
	if [ -n "$_s" ]; then
		` + RunEnv + `=$_k setsid "$_p" "$@" <"$_f" >"$_o" 2>"$_e" &
		_g=$!
		wait "$_g"
	else
		` + RunEnv + `=$_k "$_p" "$@" <"$_f" >"$_o" 2>"$_e"
	fi
	_e $?
}
_stat() {
	if [ -L "$1" ]; then printf 'L '; stat -c '%f %u %g' -- "$1" && readlink -- "$1"
	elif [ -e "$1" ]; then stat -c '%f %u %g' -- "$1" && { [ ! -f "$1" ] || [ ! -s "$1" ] || cat -- "$1"; }
	else echo missing; fi 2>"$_e"
	_x $?
}
_own() {
	# root creates files as 0:0 unless the directory is set-group-ID: chown only when needed
	case $_i:$2 in
	*:) ;;
	0:0:0) if [ -g "${1%/*}/" ]; then chown -- 0:0 "$1" || return; fi ;;
	*) chown -- "$2" "$1" || return ;;
	esac
	[ -z "$3" ] || chmod -- "$3" "$1"
}
_mvin() {
	mv -f -T -- "$1" "$2" && { sync -- "${2%/*}/" 2>/dev/null || :; }
}
_write() {
	umask "$4"; set -C; true 2>|"$_e" >"$2"; _r=$?; set +C; umask 022
	if [ $_r -ne 0 ]; then [ "$1" = - ] || _in /dev/null "$1"; _x $_r; return; fi
	if [ "$7" = before ]; then _own "$2" "$5" "$6" 2>"$_e" || _r=$?; fi
	if [ $_r -ne 0 ]; then [ "$1" = - ] || _in /dev/null "$1"; rm -f -- "$2"; _x $_r; return; fi
	if [ "$1" = - ]; then sync -- "$2" 2>/dev/null; else _in "$2" "$1" oflag=nofollow conv=notrunc,nocreat,fsync; fi
	if [ "$7" = after ]; then { _own "$2" "$5" "$6" && sync -- "$2"; } 2>"$_e" || _r=$?; fi
	if [ $_r -eq 0 ] && [ "$8" = rename ]; then _mvin "$2" "$3" 2>"$_e" || _r=$?; fi
	[ $_r -eq 0 ] || rm -f -- "$2"
	_x $_r
}
_mv() {
	_mvin "$1" "$2" 2>"$_e" || { _r=$?; rm -f -- "$1"; _x $_r; return; }
	_x 0
}
_rm() { rm "$1" -- "$2" 2>"$_e"; _x $?; }
_mkdir() { { [ -d "$1" ] || mkdir -p -m "$2" -- "$1"; } 2>"$_e"; _x $?; }
_ln() {
	{ ln -s -- "$1" "$2" && mv -f -T -- "$2" "$3"; } 2>"$_e"; _r=$?
	[ $_r -eq 0 ] || rm -f -- "$2"
	_x $_r
}
_chown() { chown -h -- "$2" "$1" 2>"$_e"; _x $?; }
_chmod() { chmod -- "$2" "$1" 2>"$_e"; _x $?; }
_lock() {
	{ [ -d "${1%/*}" ] || mkdir -p -m 0755 -- "${1%/*}"; } 2>"$_e" || { _x 2; return; }
	if ! command -v flock >/dev/null 2>&1; then _x 3; return; fi
	{ command exec 9>>"$1"; } 2>"$_e" || { _x 2; return; }
	flock -n 9 2>"$_e"; _r=$?
	if [ $_r -ne 0 ]; then exec 9>&-; _x $_r; return; fi
	printf '%s\n' "$2" 2>"$_e" >"$1"
	_x 0
}
_unlock() { exec 9>&-; _x 0; }
_bye() { _b=1; exit 0; }
_native() {
	_m=
	{ IFS= read -r _m </proc/sys/kernel/arch; } 2>/dev/null || _m=$(uname -m 2>/dev/null)
	for _p; do
		case $_p in "$_m="/*) _p=${_p#*=}; break ;; esac
		_p=
	done
	if [ -n "$_p" ] && [ -f "$_p" ] && [ -x "$_p" ]; then
		export ` + hostworker.TokenEnv + `="$_t"
		exec "$_p" "$_i" "$_o" "$_e" "$_in"
	fi
	printf '%s missing %s\n' "$_t" "$_m"
}
_im=- _ib=- _ir=-
{ IFS= read -r _im; } 2>/dev/null </etc/machine-id
{ IFS= read -r _ib; } 2>/dev/null </proc/sys/kernel/random/boot_id
while IFS=' ' read -r _y1 _y2 _y3 _y4 _y5 _y6; do
	if [ "$_y5" = / ]; then _ir=$_y1:$_y3; break; fi
done 2>/dev/null </proc/self/mountinfo
case $_im in ''|*[!0-9a-f]*) _im=- ;; esac
case $_ib in ''|*[!0-9a-f-]*) _ib=- ;; esac
case $_ir in ''|*[!0-9:]*) _ir=- ;; esac
printf '%s ready %d %s %s %s\n' "$_t" "$$" "$_im" "$_ib" "$_ir"
unset _im _ib _ir _y1 _y2 _y3 _y4 _y5 _y6
while IFS= read -r _n; do
	case $_n in ''|*[!0-9]*) echo "chaos worker: bad request header" >&2; exit 1;; esac
	_c=
	while [ "$_n" -gt 0 ]; do IFS= read -r _l || exit 1; _c="$_c$_l
"; _n=$((_n - 1)); done
	eval "$_c"
done`

// killScript kills what the worker with pid $1 is running, for a cancelled request: each process
// tree below it, stopped from the top first so that nothing forks away, then killed.
const killScript = `k() {
	kill -STOP "$1" 2>/dev/null
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do k "$c"; done
	kill -KILL "$1" 2>/dev/null
}
for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do k "$c"; done`

// pathDirs is basePath's directories, where the worker looks for programs.
var pathDirs = strings.ReplaceAll(strings.TrimPrefix(basePath, "PATH="), ":", " ")

// worker is one running worker shell.
type worker struct {
	sess   *ssh.Session
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *tailBuffer
	tok    string
	mark   []byte // tok + " ": how every reply marker line starts
	pid    int    // the worker shell's pid on the host
	hostID string // the host's identity from the greeting (SSH.HostID)
	native bool   // the native worker serves (the shell exec'd it)
	done   chan struct{}
}

// tailBuffer keeps the last bytes written to it (the worker's own stderr, for error messages).
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 4096 {
		b.buf = append([]byte{}, b.buf[len(b.buf)-4096:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}

// workerStartError is a worker that exited before it was ready (sudo refused, no sh, ...).
type workerStartError struct {
	stderr string
	err    error
}

func (e *workerStartError) Error() string {
	if e.stderr != "" {
		return "remote worker did not start: " + e.stderr
	}
	return fmt.Sprintf("remote worker did not start: %v", e.err)
}

func (e *workerStartError) Unwrap() error { return e.err }

// envArgv is the fixed environment of every remote command (the worker's, inherited by what it
// runs): the same PATH and locale as local commands, and CHAOS_SSH_USER so that the engine
// protects the login user.
func (s *SSH) envArgv() []string {
	argv := []string{"env", basePath, "LC_ALL=C.UTF-8"}
	if s.root {
		argv = append(argv, "HOME=/root")
	}
	if d := os.Getenv(OrphanWaitEnv); d != "" {
		argv = append(argv, OrphanWaitEnv+"="+d) // how long the worker lets a command of a lost connection run
	}
	return append(argv, "CHAOS_SSH_USER="+s.user)
}

// NativeWorkerDir is where the native worker binaries live on a host, named by their hash.
const NativeWorkerDir = "/var/lib/chaos/worker"

// WorkerEnv set to "sh" keeps the sh worker on every host (no native worker is sent).
const WorkerEnv = "CHAOS_SSH_WORKER"

// startWorker starts the connection's worker: the sh worker, which then hands over to the native
// worker when it can (upgrade).
func (s *SSH) startWorker(ctx context.Context) (*worker, error) {
	w, err := s.startShellWorker(ctx)
	if err == nil && s.hostID == "" {
		s.hostID = w.hostID
	}
	if err != nil || !s.root || s.nativeOff || os.Getenv(WorkerEnv) == "sh" {
		return w, err
	}
	return s.upgrade(ctx, w)
}

// Worker says which worker serves the connection: "native" or "sh".
func (s *SSH) Worker() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil && s.w.native {
		return "native"
	}
	return "sh"
}

// upgrade hands the connection from the sh worker w to the native worker (internal/hostworker)
// when one is built for the host's architecture: the shell execs it (same process, stdin and
// stdout) when it is installed, which costs one round trip and no process. Otherwise it is sent
// once (NativeWorkerDir/chaos-worker-HASH, atomically) and run once to check that it runs there
// (a noexec mount), then exec'd. A check that fails keeps the sh worker; when the shell dies in the
// exec, the connection goes on with a new sh worker.
func (s *SSH) upgrade(ctx context.Context, w *worker) (*worker, error) {
	paths := map[string]string{}
	var offers []string
	for machine := range workerbin.Arches {
		if name, ok := workerbin.Name(machine); ok {
			paths[machine] = NativeWorkerDir + "/" + name
			offers = append(offers, machine+"="+paths[machine])
		}
	}
	if len(offers) == 0 {
		return w, nil
	}
	slices.Sort(offers)
	native := "_native " + shell.Join(offers)
	line, err := s.exchange(ctx, w, native)
	if err != nil || line == "" {
		return s.nativeFailed(ctx, w, err, slices.Collect(maps.Values(paths))...)
	}
	machine, missing := strings.CutPrefix(line, w.tok+" missing ")
	if missing {
		p, ok := paths[machine]
		if !ok || s.readOnly {
			return w, nil // no native worker for this architecture, or none may be written
		}
		bin, ok := workerbin.Binary(machine)
		if !ok {
			return w, nil
		}
		if installed, err := s.installNative(ctx, w, p, bin); err != nil || !installed {
			return w, err
		}
		if line, err = s.exchange(ctx, w, native); err != nil || line == "" {
			return s.nativeFailed(ctx, w, err, p)
		}
	}
	if line != fmt.Sprintf("%s ready %d", w.tok, w.pid) {
		return nil, s.lost(w, fmt.Errorf("protocol error: native worker greeting %q", line))
	}
	w.native = true
	return w, nil
}

// exchange sends one request to w and reads a single line back ("" when the worker ended).
func (s *SSH) exchange(ctx context.Context, w *worker, text string) (string, error) {
	s.requests.Add(1)
	if _, err := w.in.Write(frame(text, nil, w.tok)); err != nil {
		return "", nil
	}
	rc := make(chan string, 1)
	go func() {
		line, _ := w.out.ReadString('\n')
		rc <- strings.TrimSuffix(line, "\n")
	}()
	select {
	case line := <-rc:
		return line, nil
	case <-ctx.Done():
		s.drop(w)
		return "", ctx.Err()
	}
}

// installNative sends the native worker to p and checks that it runs there; false (and the file
// removed) when it does not.
func (s *SSH) installNative(ctx context.Context, w *worker, p string, bin []byte) (bool, error) {
	if r, err := s.callOn(ctx, w, "_mkdir "+shell.Join([]string{NativeWorkerDir, "0700"}), nil); err != nil || r.code != 0 {
		return false, err
	}
	args, payload := s.writeArgs(tempName(p), p, bin, 0o755, 0, 0, "rename")
	if r, err := s.callOn(ctx, w, "_write "+shell.Join(args), payload); err != nil || r.code != 0 {
		return false, err
	}
	r, err := s.callOn(ctx, w, "_run - "+shell.Quote(p)+" -check", nil)
	if err != nil {
		return false, err
	}
	if r.code != 0 || strings.TrimSpace(string(r.out)) != hostworker.CheckReply {
		_, err := s.callOn(ctx, w, "_rm -f "+shell.Quote(p), nil)
		return false, err
	}
	return true, nil
}

// nativeFailed handles a shell that died in the exec of the native worker: the connection goes on
// with sh workers, and the binary is removed so that the next connection checks a fresh copy.
func (s *SSH) nativeFailed(ctx context.Context, w *worker, err error, binaries ...string) (*worker, error) {
	w.close()
	if err != nil {
		return nil, err
	}
	s.nativeOff = true
	nw, err := s.startShellWorker(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range binaries {
		_, _ = s.callOn(ctx, nw, "_rm -f "+shell.Quote(p), nil)
	}
	return nw, nil
}

// startShellWorker starts a sh worker (through sudo when s.sudo is set, with the password as the
// first line of stdin when s.pass is set) and waits until it is ready.
func (s *SSH) startShellWorker(ctx context.Context) (*worker, error) {
	sess, err := s.newSession()
	if err != nil {
		return nil, err
	}
	in, err := sess.StdinPipe()
	if err != nil {
		_ = sess.Close()
		return nil, err
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		_ = sess.Close()
		return nil, err
	}
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	w := &worker{sess: sess, in: in, out: bufio.NewReaderSize(out, 64<<10), stderr: &tailBuffer{},
		tok: hex.EncodeToString(rnd[:]), done: make(chan struct{})}
	w.mark = []byte(w.tok + " ")
	sess.Stderr = w.stderr
	uid := "1"
	if s.root {
		uid = "0"
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	argv := append(append(append([]string{}, s.sudo...), s.envArgv()...), "sh", "-c", workerScript, "chaos-worker",
		uid, hex.EncodeToString(id[:]))
	if err := sess.Start(shell.Join(argv)); err != nil {
		_ = sess.Close()
		return nil, fmt.Errorf("start remote worker: %w", err)
	}
	go func() { _ = sess.Wait(); close(w.done) }()
	var hello []byte
	if s.pass != nil {
		hello = append(append(hello, s.pass...), '\n')
	}
	hello = append(append(hello, w.tok...), '\n')
	type ready struct {
		line string
		err  error
	}
	rc := make(chan ready, 1)
	go func() {
		if _, err := in.Write(hello); err != nil {
			rc <- ready{err: err}
			return
		}
		line, err := w.out.ReadString('\n')
		rc <- ready{line, err}
	}()
	var r ready
	select {
	case r = <-rc:
	case <-ctx.Done():
		w.close()
		return nil, ctx.Err()
	}
	rest, ok := strings.CutPrefix(strings.TrimSuffix(r.line, "\n"), w.tok+" ready ")
	if fields := strings.Fields(rest); r.err == nil && ok && len(fields) > 0 {
		if w.pid, err = strconv.Atoi(fields[0]); err == nil {
			w.hostID = sshHostID(s.name, fields[1:])
			return w, nil
		}
	}
	w.close()
	select { // let the session's stderr arrive
	case <-w.done:
	case <-time.After(2 * time.Second):
	}
	if r.err == nil {
		r.err = fmt.Errorf("unexpected greeting %q", r.line)
	}
	return nil, &workerStartError{stderr: w.stderr.String(), err: r.err}
}

// workerExitWait bounds how long close waits for the worker to exit by itself.
const workerExitWait = 5 * time.Second

// close ends the worker: end of input ends its loop, and its exit removes its temp files (the
// shell's EXIT trap, the native worker's cleanup). close waits for that exit (bounded), so that a
// run leaves nothing of its own on the host once chaos has returned: closing the session at once
// raced the worker's cleanup, and a dry run could leave /tmp/.chaos-worker-* behind.
func (w *worker) close() {
	_ = w.in.Close()
	select {
	case <-w.done:
	case <-time.After(workerExitWait):
	}
	_ = w.sess.Close()
}

func (w *worker) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// reply is one answer of the worker.
type reply struct {
	out, errb []byte
	code      int
	err       error
}

// record reads one reply body up to its marker line and returns the body and what follows the
// token on the marker line.
func (w *worker) record() ([]byte, string, error) {
	var body []byte
	for {
		chunk, err := w.out.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			body = append(body, chunk...)
			continue
		}
		if err != nil {
			return nil, "", err
		}
		if n := len(body); n > 0 && body[n-1] == '\n' && bytes.HasPrefix(chunk, w.mark) {
			return body[:n-1], string(chunk[len(w.mark) : len(chunk)-1]), nil
		}
		body = append(body, chunk...)
	}
}

func (w *worker) read() reply {
	out, tail, err := w.record()
	if err != nil {
		return reply{err: err}
	}
	if tail != "1" {
		return reply{err: fmt.Errorf("protocol error: marker %q", tail)}
	}
	errb, tail, err := w.record()
	if err != nil {
		return reply{err: err}
	}
	code, ok := strings.CutPrefix(tail, "2 ")
	n, cerr := strconv.Atoi(code)
	if !ok || cerr != nil {
		return reply{err: fmt.Errorf("protocol error: marker %q", tail)}
	}
	return reply{out: out, errb: errb, code: n}
}

// frame builds one request: the line count, the text and, when payload is not nil, the payload
// and the trailer.
func frame(text string, payload []byte, tok string) []byte {
	var b bytes.Buffer
	b.Grow(len(text) + len(payload) + 64)
	b.WriteString(strconv.Itoa(strings.Count(text, "\n") + 1))
	b.WriteByte('\n')
	b.WriteString(text)
	b.WriteByte('\n')
	if payload != nil {
		b.Write(payload)
		b.WriteString(tok)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// call sends one request to the worker and waits for its reply. text is a call of a worker
// function; payload, when not nil, is the data its length argument announced. A cancelled
// context kills the remote command (through a separate session) and returns at once; the worker
// is used again once its reply has arrived.
func (s *SSH) call(ctx context.Context, text string, payload []byte) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	s.mu.Lock()
	handedOff := false
	defer func() {
		if !handedOff {
			s.mu.Unlock()
		}
	}()
	w, err := s.readyWorker(ctx)
	if err != nil {
		return Result{}, err
	}
	s.requests.Add(1)
	if traceFile != "" {
		defer trace(s.name, text, len(payload), time.Now())
	}
	msg := frame(text, payload, w.tok)
	rc := make(chan reply, 1)
	go func() {
		if _, err := w.in.Write(msg); err != nil {
			rc <- reply{err: err}
			return
		}
		rc <- w.read()
	}()
	select {
	case r := <-rc:
		if r.err != nil {
			return Result{}, s.lost(w, r.err)
		}
		return Result{Stdout: r.out, Stderr: r.errb, Code: r.code}, nil
	case <-ctx.Done():
		handedOff = true
		go s.abandon(w, rc)
		return Result{}, ctx.Err()
	}
}

// readyWorker returns the running worker, starting a new one (and taking the held lock again)
// when the last one died. Called with s.mu held.
func (s *SSH) readyWorker(ctx context.Context) (*worker, error) {
	if s.w != nil && !s.w.exited() {
		return s.w, nil
	}
	if s.w != nil {
		s.w.close()
		s.w = nil
	}
	if s.lockErr != nil {
		return nil, s.lockErr
	}
	w, err := s.startWorker(ctx)
	if err != nil {
		return nil, err
	}
	s.w = w
	if s.lockPath != "" {
		// The old worker held the host lock; its death released it, unless the command it was
		// running still runs (it inherited the lock, see LockFD): wait for that, at most
		// OrphanWaitNow(), so that nothing else (an undo) runs beside it. Take the lock again before
		// anything else runs, or refuse to go on.
		deadline := time.Now().Add(OrphanWaitNow())
		for {
			r, err := s.callOn(ctx, w, lockCall(s.lockPath, s.lockOwner), nil)
			if err == nil && r.code == 1 && time.Now().Before(deadline) && ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if err != nil || r.code != 0 {
				s.lockErr = fmt.Errorf("%s: the connection's worker died and the host lock %s could not be taken again", s.name, s.lockPath)
				return nil, s.lockErr
			}
			break
		}
	}
	return w, nil
}

// callOn is a request on a given worker, without cancellation (used while s.mu is held).
func (s *SSH) callOn(ctx context.Context, w *worker, text string, payload []byte) (reply, error) {
	s.requests.Add(1)
	rc := make(chan reply, 1)
	go func() {
		if _, err := w.in.Write(frame(text, payload, w.tok)); err != nil {
			rc <- reply{err: err}
			return
		}
		rc <- w.read()
	}()
	select {
	case r := <-rc:
		if r.err != nil {
			return r, s.lost(w, r.err)
		}
		return r, nil
	case <-ctx.Done():
		s.drop(w)
		return reply{}, ctx.Err()
	}
}

// lost drops a worker whose stream failed and describes why.
func (s *SSH) lost(w *worker, err error) error {
	s.drop(w)
	select { // its stderr may say why
	case <-w.done:
	case <-time.After(time.Second):
	}
	if msg := w.stderr.String(); msg != "" {
		return fmt.Errorf("connection lost: %v (%s)", err, msg)
	}
	return fmt.Errorf("connection lost: %w", err)
}

func (s *SSH) drop(w *worker) {
	w.close()
	if s.w == w {
		s.w = nil
	}
}

// abandon kills the command of a cancelled request and waits for its reply, so the worker can serve
// the next request; it holds s.mu (handed over by call) until then.
func (s *SSH) abandon(w *worker, rc chan reply) {
	defer s.mu.Unlock()
	kctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, _ = s.runRaw(kctx, shell.Join(append(append(append([]string{}, s.sudo...), s.envArgv()...),
		"sh", "-c", killScript, "sh", strconv.Itoa(w.pid))), s.passLine(nil))
	cancel()
	select {
	case r := <-rc:
		if r.err != nil {
			s.drop(w)
		}
	case <-time.After(30 * time.Second):
		s.drop(w)
	}
}

// passLine prepends the sudo password line to stdin when sudo reads one.
func (s *SSH) passLine(stdin []byte) []byte {
	if s.pass == nil {
		return stdin
	}
	return append(append(append([]byte{}, s.pass...), '\n'), stdin...)
}

// runCall is the request text of Run.
func runCall(c Cmd) string {
	n := "-"
	if len(c.Stdin) > 0 {
		n = strconv.Itoa(len(c.Stdin))
	}
	argv := c.Argv
	if len(c.Env) > 0 {
		// "--" keeps a program name starting with "-" from being read as an option of env.
		argv = append(append([]string{"env", "--"}, c.Env...), c.Argv...)
	}
	return "_run " + n + " " + shell.Join(argv)
}

func lockCall(p, owner string) string { return "_lock " + shell.Join([]string{p, owner}) }

// SSHStats count what a connection cost.
type SSHStats struct {
	// Sessions is the number of SSH sessions opened (workers, sudo checks, cancellations).
	Sessions int64
	// Requests is the number of requests the workers answered.
	Requests int64
}

// Stats returns what the connection cost so far.
func (s *SSH) Stats() SSHStats {
	return SSHStats{Sessions: s.sessions.Load(), Requests: s.requests.Load()}
}

// TraceEnv names a file to which every SSH worker request is appended as one line: the time, the
// host, the duration, the worker function and, for _run, the program (never other arguments or
// data). For profiling a run.
const TraceEnv = "CHAOS_SSH_TRACE"

var (
	traceFile = os.Getenv(TraceEnv)
	traceMu   sync.Mutex
)

func trace(host, text string, n int, start time.Time) {
	fn, rest, _ := strings.Cut(text, " ")
	if fn == "_run" {
		f := strings.Fields(rest)
		if len(f) > 1 {
			fn += " " + f[1]
		}
	}
	traceMu.Lock()
	defer traceMu.Unlock()
	f, err := os.OpenFile(traceFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	fmt.Fprintf(f, "%s %s %7.1fms %6d %s\n", start.Format("15:04:05.000"), host,
		float64(time.Since(start).Microseconds())/1000, n, fn)
	_ = f.Close()
}
