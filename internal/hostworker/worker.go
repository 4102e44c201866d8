// Package hostworker is the native worker: the program chaos runs on an SSH host, in place of the
// POSIX sh worker, to serve the connection's requests with system calls. It speaks the sh worker's
// protocol (internal/transport, sshworker.go) request for request, so the controller does not know
// which one answers; what changes is the cost: the sh worker starts dd, mv and sync for every file
// write (10-30 ms of CPU each on a loaded host), this one starts only the commands a request names.
//
// It imports nothing but the standard library and internal/shell, so the binary stays small (it is
// sent to every host once, and kept under /var/lib/chaos/worker/, named by its hash).
package hostworker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ch-aos-ch/chaos/internal/shell"

	"github.com/ch-aos-ch/chaos/internal/lockfile"
	"github.com/ch-aos-ch/chaos/internal/procfs"
)

// TokenEnv carries the reply token from the sh worker, which execs this program, to Serve (never
// argv, which other users can read in /proc). Serve removes it from the environment.
const TokenEnv = "CHAOS_WORKER_TOKEN"

// CheckReply is what `WORKER -check` prints: the binary runs on this host.
const CheckReply = "chaos-worker ready"

// Config is what the sh worker hands over.
type Config struct {
	// Token marks the end of each reply body and of each payload.
	Token string
	// Root is true when the worker runs as root (the sh worker's $1 = "0").
	Root bool
	// Path lists the directories in which programs are looked up, in order.
	Path []string
}

// worker is the state of one serving loop.
type worker struct {
	cfg  Config
	in   *bufio.Reader
	out  *bufio.Writer
	lock *os.File // the held host lock, or nil
	// owner is the lock file's head ("PID START" of this worker, "owner WHO") and groups the process
	// groups of the commands running now, recorded after it (the format of transport.ParseLock).
	owner  string
	groups map[int]string
	// lost is closed when the request stream has ended (the connection died, unless "_bye" came
	// first).
	lost chan struct{}
	// last is the process group of the last command, killed (what is left of it) when the stream
	// ends without "_bye".
	last int
	// io holds the unlinked files for a command's stdin, stdout and stderr: regular files, as in the
	// sh worker, so that a daemon a command leaves behind holding its stdout never blocks a reply.
	io [3]*os.File
}

// errTruncated ends the loop: the connection was lost in the middle of a request.
var errTruncated = errors.New("chaos worker: truncated request")

// Serve greets the controller and answers requests from in on out until in ends. Its error means
// the stream is unusable (the caller exits non-zero).
func Serve(in io.Reader, out io.Writer, cfg Config) error {
	// Requests arrive through a pipe fed by a goroutine, which notices at once when the stream ends
	// (the connection died), even while a command runs: see run.
	pr, pw := io.Pipe()
	lost := make(chan struct{})
	go func() {
		_, err := io.Copy(pw, in)
		close(lost)
		_ = pw.CloseWithError(err)
	}()
	w := &worker{cfg: cfg, in: bufio.NewReaderSize(pr, 64<<10), out: bufio.NewWriterSize(out, 64<<10),
		groups: map[int]string{}, lost: lost}
	for i := range w.io {
		f, err := os.CreateTemp("", ".chaos-worker-*")
		if err != nil {
			return err
		}
		_ = os.Remove(f.Name())
		w.io[i] = f
	}
	fmt.Fprintf(w.out, "%s ready %d\n", cfg.Token, os.Getpid())
	if err := w.out.Flush(); err != nil {
		return err
	}
	for {
		header, err := w.in.ReadString('\n')
		if err == io.EOF && header == "" {
			// No "_bye": the connection died, maybe before the last reply arrived. What the
			// commands left running goes before the lock does.
			w.reap()
			return nil
		}
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(strings.TrimSuffix(header, "\n"))
		if err != nil || n < 1 || strings.HasPrefix(header, "+") {
			return errors.New("chaos worker: bad request header")
		}
		var text strings.Builder
		for i := range n {
			line, err := w.in.ReadString('\n')
			if err != nil {
				return errTruncated
			}
			if i == n-1 {
				line = strings.TrimSuffix(line, "\n")
			}
			text.WriteString(line)
		}
		argv, err := shell.Split(text.String())
		if err != nil || len(argv) == 0 {
			return fmt.Errorf("chaos worker: bad request: %v", err)
		}
		if argv[0] == "_bye" { // a clean end: what the commands started stays
			w.release()
			return nil
		}
		if err := w.serve(argv[0], argv[1:]); err != nil {
			return err
		}
		select {
		case <-w.lost: // nobody reads the reply: end (and release the lock)
			w.reap()
			return nil
		default:
		}
		if err := w.out.Flush(); err != nil {
			return err
		}
	}
}

// payload reads the data a length argument announced ("-": none) and the token after it.
func (w *worker) payload(n string) ([]byte, error) {
	if n == "-" {
		return nil, nil
	}
	size, err := strconv.Atoi(n)
	if err != nil || size < 0 {
		return nil, fmt.Errorf("chaos worker: bad length %q", n)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(w.in, data); err != nil {
		return nil, errTruncated
	}
	if line, err := w.in.ReadString('\n'); err != nil || line != w.cfg.Token+"\n" {
		return nil, errTruncated
	}
	return data, nil
}

// reply writes one answer in the sh worker's format.
func (w *worker) reply(stdout, stderr []byte, code int) {
	w.out.Write(stdout)
	fmt.Fprintf(w.out, "\n%s 1\n", w.cfg.Token)
	w.out.Write(stderr)
	fmt.Fprintf(w.out, "\n%s 2 %d\n", w.cfg.Token, code)
}

// fail answers with err as the message of a command named prog, the way coreutils words it.
func (w *worker) fail(prog string, err error, code int) {
	w.reply(nil, []byte(prog+": "+message(err)+"\n"), code)
}

// message is err with the C library's capitalised strerror, as the sh worker's tools print it.
func message(err error) string {
	var pe *os.PathError
	var le *os.LinkError
	var errno syscall.Errno
	switch {
	case errors.As(err, &le) && errors.As(err, &errno):
		return fmt.Sprintf("cannot %s '%s' to '%s': %s", le.Op, le.Old, le.New, strerror(errno))
	case errors.As(err, &pe) && errors.As(err, &errno):
		return fmt.Sprintf("%s '%s': %s", pe.Op, pe.Path, strerror(errno))
	}
	return err.Error()
}

func strerror(e syscall.Errno) string {
	s := e.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (w *worker) serve(fn string, args []string) error {
	need := map[string]int{"_run": 2, "_stat": 1, "_write": 8, "_mv": 2, "_rm": 2, "_mkdir": 2, "_ln": 3,
		"_chown": 2, "_chmod": 2, "_lock": 2, "_unlock": 0}
	min, known := need[fn]
	if !known || len(args) < min || fn != "_run" && len(args) != min {
		w.reply(nil, []byte(fn+": not a worker request\n"), 127)
		return nil
	}
	switch fn {
	case "_run":
		data, err := w.payload(args[0])
		if err != nil {
			return err
		}
		w.run(data, args[0] != "-", args[1:])
	case "_write":
		data, err := w.payload(args[0])
		if err != nil {
			return err
		}
		w.write(data, args[1:])
	case "_stat":
		w.stat(args[0])
	case "_mv":
		if err := rename(args[0], args[1]); err != nil {
			_ = os.Remove(args[0])
			w.fail("mv", err, 1)
			return nil
		}
		w.reply(nil, nil, 0)
	case "_rm":
		w.rm(args[0], args[1])
	case "_mkdir":
		w.mkdir(args[0], args[1])
	case "_ln":
		err := os.Symlink(args[0], args[1])
		if err == nil {
			if err = rename(args[1], args[2]); err != nil {
				_ = os.Remove(args[1])
			}
		}
		w.done("ln", err)
	case "_chown":
		uid, gid, err := parseOwner(args[1])
		if err == nil {
			err = os.Lchown(args[0], uid, gid)
		}
		w.done("chown", err)
	case "_chmod":
		w.done("chmod", chmod(args[0], args[1]))
	case "_lock":
		w.takeLock(args[0], args[1])
	case "_unlock":
		if w.lock != nil {
			w.release()
			_ = w.lock.Close()
			w.lock = nil
		}
		w.reply(nil, nil, 0)
	}
	return nil
}

func (w *worker) done(prog string, err error) {
	if err != nil {
		w.fail(prog, err, 1)
		return
	}
	w.reply(nil, nil, 0)
}

// run starts a program with stdin from data (or /dev/null), stdout and stderr to files, and the
// worker's environment; "env -- NAME=VALUE... PROG ARGS" sets variables without starting env.
func (w *worker) run(data []byte, hasStdin bool, argv []string) {
	env := os.Environ()
	if len(argv) > 2 && argv[0] == "env" && argv[1] == "--" {
		i := 2
		for ; i < len(argv) && strings.Contains(argv[i], "=") && !strings.HasPrefix(argv[i], "="); i++ {
			env = append(env, argv[i])
		}
		if i < len(argv) {
			argv = argv[i:]
		}
	}
	prog := argv[0]
	if !strings.Contains(prog, "/") {
		prog = w.lookPath(prog)
		if prog == "" {
			w.reply(nil, []byte(argv[0]+": command not found\n"), 127)
			return
		}
	}
	stdin, stdout, stderr := w.io[0], w.io[1], w.io[2]
	for _, f := range w.io {
		_ = f.Truncate(0)
		_, _ = f.Seek(0, io.SeekStart)
	}
	cmd := &exec.Cmd{Path: prog, Args: append([]string{prog}, argv[1:]...), Env: env, Stdout: stdout, Stderr: stderr,
		// Its own process group, so that what it starts can be found and killed as one.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}
	if w.lock != nil {
		// The held lock as descriptor LockFD (3..LockFD-1 closed), as a command run by chaos on
		// the host itself gets it: the host stays locked while the command, or anything it started
		// that kept the descriptor, runs, even when this worker is gone. RunEnv (below) marks
		// everything it starts (transport.RunEnv).
		cmd.ExtraFiles = make([]*os.File, LockFD-2)
		cmd.ExtraFiles[LockFD-3] = w.lock
	}
	cmd.Env = append(cmd.Env, RunEnv+"="+w.mark())
	if hasStdin { // else /dev/null
		if _, err := stdin.Write(data); err != nil {
			w.fail("chaos worker", err, 126)
			return
		}
		_, _ = stdin.Seek(0, io.SeekStart)
		cmd.Stdin = stdin
	}
	code := 0
	err := cmd.Start()
	if err == nil {
		err = w.wait(cmd)
	}
	if err != nil {
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			code = ee.ExitCode()
			if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
				code = 128 + int(st.Signal())
			}
		default:
			code = 126
			if errors.Is(err, os.ErrNotExist) {
				code = 127
			}
			_, _ = stderr.WriteString(argv[0] + ": " + message(err) + "\n")
		}
	}
	w.reply(readAll(stdout), readAll(stderr), code)
}

// LockFD is the descriptor number under which commands inherit the host lock (transport.LockFD).
const LockFD = 9

// LostWait is how long a command may go on after the connection died before its process group is
// killed; CHAOS_ORPHAN_WAIT (a Go duration, set by the controller) overrides it.
var LostWait = 2 * time.Minute

// wait waits for a started command. Its process group is recorded in the lock file while it runs.
// When the connection dies meanwhile, the command may finish, for at most LostWait; then what is
// left of its process group is killed, and the worker waits until the group is empty, so that the
// lock, released when the worker exits, never outlives a process of the command (transport.LockFD).
func (w *worker) wait(cmd *exec.Cmd) error {
	pgid := cmd.Process.Pid
	w.last = pgid
	w.record(pgid, true)
	defer w.record(pgid, false)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-w.lost:
		wait := LostWait
		if d, perr := time.ParseDuration(os.Getenv("CHAOS_ORPHAN_WAIT")); perr == nil && d >= 0 {
			wait = d
		}
		select {
		case err = <-done:
		case <-time.After(wait):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			err = <-done
		}
	}
	return err
}

// RunEnv is the variable that marks every process a command of this worker started
// (transport.RunEnv).
const RunEnv = "CHAOS_RUN"

// mark is RunEnv's value for this worker: "PID.START", as transport.RunMark.
func (w *worker) mark() string { return strconv.Itoa(os.Getpid()) + "." + procStart(os.Getpid()) }

// reap kills what the commands left running when the connection died: the last command's process
// group and every process marked with this worker's RunEnv (a maintainer script's background job
// in the session apt-get gives dpkg), and waits until they are gone, before the worker exits and
// so releases the lock.
func (w *worker) reap() {
	if w.last > 1 && procfs.GroupAlive(w.last) {
		_ = syscall.Kill(-w.last, syscall.SIGKILL)
	}
	want := []byte(RunEnv + "=" + w.mark())
	find := func() []int {
		var pids []int
		procs, _ := os.ReadDir("/proc")
		for _, d := range procs {
			pid, err := strconv.Atoi(d.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			env, _ := os.ReadFile("/proc/" + d.Name() + "/environ")
			for _, e := range bytes.Split(env, []byte{0}) {
				if bytes.Equal(e, want) {
					pids = append(pids, pid)
					break
				}
			}
		}
		return pids
	}
	deadline := time.Now().Add(10 * time.Second)
	for pids := find(); len(pids) > 0 && time.Now().Before(deadline); pids = find() {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for w.last > 1 && procfs.GroupAlive(w.last) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// release marks the lock file: released cleanly (transport.ParseLock).
func (w *worker) release() {
	if w.lock == nil {
		return
	}
	w.owner += "released\n"
	w.groups = map[int]string{}
	w.writeLock()
}

// record adds (or removes) a running command's process group to the lock file.
func (w *worker) record(pgid int, running bool) {
	if w.lock == nil {
		return
	}
	if running {
		w.groups[pgid] = procStart(pgid)
	} else {
		delete(w.groups, pgid)
	}
	w.writeLock()
}

// writeLock rewrites the lock file (internal/lockfile): "PID START" of this worker, "owner WHO", then
// "group PGID START" per running command.
func (w *worker) writeLock() {
	data := lockfile.Format(w.owner, w.groups)
	_, _ = w.lock.WriteAt([]byte(data), 0)
	_ = w.lock.Truncate(int64(len(data)))
}

// procStart is the start time of pid, "0" when unknown.
func procStart(pid int) string {
	st, err := procfs.Start(pid)
	if err != nil {
		return "0"
	}
	return st
}

func readAll(f *os.File) []byte {
	_, _ = f.Seek(0, io.SeekStart)
	data, _ := io.ReadAll(f)
	return data
}

// lookPath finds a program as the sh worker does: an executable regular file in a Path directory.
func (w *worker) lookPath(name string) string {
	for _, dir := range w.cfg.Path {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && syscall.Access(p, 1) == nil {
			return p
		}
	}
	return ""
}

// stat answers as the sh worker's _stat: "missing", or "[L ]RAWMODE UID GID" and then the link
// target or a regular file's content.
func (w *worker) stat(p string) {
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		w.reply([]byte("missing\n"), nil, 0)
		return
	}
	head := fmt.Sprintf("%x %d %d\n", st.Mode, st.Uid, st.Gid)
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFLNK:
		target, err := os.Readlink(p)
		if err != nil {
			w.fail("readlink", err, 1)
			return
		}
		w.reply([]byte("L "+head+target+"\n"), nil, 0)
	case syscall.S_IFREG:
		if st.Size == 0 {
			w.reply([]byte(head), nil, 0)
			return
		}
		data, err := os.ReadFile(p)
		if err != nil {
			w.reply([]byte(head), []byte("cat: "+message(err)+"\n"), 1)
			return
		}
		w.reply(append([]byte(head), data...), nil, 0)
	default:
		w.reply([]byte(head), nil, 0)
	}
}

// write is the sh worker's _write: TMP DEST UMASK OWNER MODE WHEN STEP. The temp file is created
// exclusively with the mode the umask gives, owner and mode are set before the data (as root) or
// after it, the data is fsync'd, and with STEP "rename" it is renamed over DEST and DEST's directory
// is fsync'd. Any failure removes the temp file.
func (w *worker) write(data []byte, a []string) {
	tmp, dest, umask, own, mode, when, step := a[0], a[1], a[2], a[3], a[4], a[5], a[6]
	mask, err := strconv.ParseUint(umask, 8, 32)
	if err != nil {
		w.fail("chaos worker", fmt.Errorf("bad umask %q", umask), 2)
		return
	}
	old := syscall.Umask(int(mask))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o666)
	syscall.Umask(old)
	if err != nil {
		w.fail("sh", err, 2)
		return
	}
	err = func() error {
		defer f.Close()
		if when == "before" {
			if err := w.own(tmp, own, mode); err != nil {
				return err
			}
		}
		if _, err := f.Write(data); err != nil {
			return err
		}
		if when == "after" {
			if err := w.own(tmp, own, mode); err != nil {
				return err
			}
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if step == "rename" {
			return rename(tmp, dest)
		}
		return nil
	}()
	if err != nil {
		_ = os.Remove(tmp)
		w.fail("chaos worker", err, 1)
		return
	}
	w.reply(nil, nil, 0)
}

// own sets owner and mode as the sh worker's _own: root creates files as 0:0, so chown only when
// another owner is asked for or the directory is set-group-ID.
func (w *worker) own(p, own, mode string) error {
	if own != "" {
		uid, gid, err := parseOwner(own)
		if err != nil {
			return err
		}
		need := true
		if w.cfg.Root && uid == 0 && gid == 0 {
			fi, err := os.Stat(path.Dir(p))
			need = err == nil && fi.Mode()&os.ModeSetgid != 0
		}
		if need {
			if err := os.Chown(p, uid, gid); err != nil {
				return err
			}
		}
	}
	if mode != "" {
		return chmod(p, mode)
	}
	return nil
}

// parseOwner reads "UID:GID", "UID" or ":GID" (numbers); -1 leaves one unchanged.
func parseOwner(s string) (uid, gid int, err error) {
	u, g, _ := strings.Cut(s, ":")
	uid, gid = -1, -1
	if u != "" {
		if uid, err = strconv.Atoi(u); err != nil {
			return 0, 0, fmt.Errorf("invalid owner %q", s)
		}
	}
	if g != "" {
		if gid, err = strconv.Atoi(g); err != nil {
			return 0, 0, fmt.Errorf("invalid owner %q", s)
		}
	}
	return uid, gid, nil
}

// chmod sets an octal mode, set-id and sticky bits included.
func chmod(p, mode string) error {
	m, err := strconv.ParseUint(mode, 8, 32)
	if err != nil || m > 0o7777 {
		return fmt.Errorf("invalid mode %q", mode)
	}
	if err := syscall.Chmod(p, uint32(m)); err != nil {
		return &os.PathError{Op: "changing permissions of", Path: p, Err: err}
	}
	return nil
}

// rename moves src over dst (never into dst when dst is a directory) and fsyncs dst's directory.
func rename(src, dst string) error {
	if err := os.Rename(src, dst); err != nil {
		if errors.Is(err, syscall.EBUSY) {
			return replaceInPlace(src, dst, err)
		}
		return err
	}
	if d, err := os.Open(path.Dir(dst)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// replaceInPlace gives the regular file dst (a mount point: rename(2) fails with EBUSY) the content,
// owner and mode of the regular file src, then removes src. Container engines bind-mount
// /etc/hostname, /etc/hosts and /etc/resolv.conf into a container: writing in place is the only way
// they change, as it is for any tool. It is not atomic; the data is fsync'd. Anything else keeps
// rename's error.
func replaceInPlace(src, dst string, renameErr error) error {
	si, err1 := os.Lstat(src)
	di, err2 := os.Lstat(dst)
	if err1 != nil || err2 != nil || !si.Mode().IsRegular() || !di.Mode().IsRegular() {
		return renameErr
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_TRUNC|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if st, ok := si.Sys().(*syscall.Stat_t); ok {
		if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		if err := syscall.Chmod(dst, st.Mode&0o7777); err != nil {
			return &os.PathError{Op: "chmod", Path: dst, Err: err}
		}
	}
	return os.Remove(src)
}

func (w *worker) rm(flag, p string) {
	switch flag {
	case "-f":
		if err := syscall.Unlink(p); err != nil && err != syscall.ENOENT {
			w.fail("rm", &os.PathError{Op: "cannot remove", Path: p, Err: err}, 1)
			return
		}
	case "-rf":
		if err := os.RemoveAll(p); err != nil {
			w.fail("rm", err, 1)
			return
		}
	default:
		w.fail("rm", fmt.Errorf("unknown flag %q", flag), 1)
		return
	}
	w.reply(nil, nil, 0)
}

// mkdir creates p with exactly mode (parents with 0755 through the umask) unless it is a directory
// already.
func (w *worker) mkdir(p, mode string) {
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		w.reply(nil, nil, 0)
		return
	}
	if _, err := strconv.ParseUint(mode, 8, 32); err != nil {
		w.fail("mkdir", fmt.Errorf("invalid mode %q", mode), 1)
		return
	}
	if err := os.MkdirAll(path.Dir(p), 0o777); err != nil {
		w.fail("mkdir", err, 1)
		return
	}
	if err := syscall.Mkdir(p, 0o700); err != nil {
		w.fail("mkdir", &os.PathError{Op: "cannot create directory", Path: p, Err: err}, 1)
		return
	}
	w.done("mkdir", chmod(p, mode))
}

// takeLock is the sh worker's _lock: an flock(2) on PATH (created, with its directory, when
// missing), held until _unlock or the worker's end; code 1 when another process holds it. The
// owner line is written into the file for people reading it.
func (w *worker) takeLock(p, owner string) {
	if err := os.MkdirAll(path.Dir(p), 0o755); err != nil {
		w.fail("mkdir", err, 2)
		return
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		w.fail("sh", err, 2)
		return
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			w.reply(nil, nil, 1)
			return
		}
		w.fail("flock", err, 2)
		return
	}
	w.lock = f
	w.owner = fmt.Sprintf("%d %s\nowner %s\n", os.Getpid(), procStart(os.Getpid()), owner)
	w.writeLock()
	w.reply(nil, nil, 0)
}

// Main is the worker program: it reads the token from TokenEnv, removes the sh worker's temporary
// files named in args (the sh worker execs this program, so its exit trap never runs), removes
// older worker binaries next to its own, and serves stdin. args: ROOT(0|1) FILES...
func Main(args []string) int {
	if len(args) == 1 && args[0] == "-check" {
		fmt.Println(CheckReply) // the controller runs this once before it hands the connection over
		return 0
	}
	tok := os.Getenv(TokenEnv)
	_ = os.Unsetenv(TokenEnv)
	if tok == "" || len(args) < 1 {
		fmt.Fprintln(os.Stderr, "chaos worker: started without a token (it is started by chaos, over SSH)")
		return 2
	}
	for _, f := range args[1:] {
		if strings.HasPrefix(f, "/tmp/.chaos-worker-") {
			_ = os.Remove(f)
		}
	}
	if self, err := os.Executable(); err == nil {
		old, _ := filepath.Glob(filepath.Join(filepath.Dir(self), "chaos-worker-*"))
		for _, p := range old {
			if p != self {
				_ = os.Remove(p)
			}
		}
	}
	path := strings.Split(strings.TrimPrefix(os.Getenv("PATH"), "PATH="), ":")
	err := Serve(os.Stdin, os.Stdout, Config{Token: tok, Root: args[0] == "0", Path: path})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
