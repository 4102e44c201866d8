package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ch-aos-ch/chaos/internal/procfs"
)

// basePath is the PATH every command gets, so results do not depend on the caller's environment.
const basePath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Host is a transport for the local machine (root "/") or a directory tree used as a chroot. File
// operations on a chroot are confined to it by os.Root, so a symlink inside the tree can never make
// chaos write outside it; commands run with the tree as their root directory.
type Host struct {
	name string
	dir  string    // "/" for the local machine
	root *os.Root  // nil for the local machine
	ns   *nsTarget // set for a running container entered with nsenter (see NewNsenter)

	mu   sync.Mutex
	lock *hostLock // the held host lock (Flock), which commands inherit

	tree treeState // the tree read in-process (Tree)
}

// NewLocal returns the transport for the machine chaos runs on.
func NewLocal() *Host { return &Host{name: "@local", dir: "/"} }

// NewChroot returns a transport for the directory tree at dir, which must hold a root file system
// (a shell and /etc/os-release): chaos runs /bin/sh in it, and a plan for a tree that is not a
// system would be nonsense. dir is never "/": the machine chaos runs on is NewLocal.
func NewChroot(dir string) (*Host, error) {
	dir = path.Clean(dir)
	if !path.IsAbs(dir) {
		return nil, fmt.Errorf("chroot %s: not an absolute path", dir)
	}
	if dir == "/" {
		return nil, errors.New("chroot /: that is the machine chaos runs on, not a chroot (say @local)")
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("chroot %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("chroot %s: not a directory", dir)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("chroot %s: %w", dir, err)
	}
	h := &Host{name: "@chroot" + dir, dir: dir, root: r}
	if missing := h.missingRoot(); len(missing) > 0 {
		r.Close()
		return nil, fmt.Errorf("chroot %s: not a root file system: no %s in it", dir, strings.Join(missing, " and no "))
	}
	return h, nil
}

// missingRoot lists what a root file system has and the tree at h lacks. Lstat: a symlink counts
// (merged /usr makes /bin one; os.Root resolves the inner ones).
func (h *Host) missingRoot() []string {
	var missing []string
	if _, err := h.stat("/bin/sh", false); err != nil {
		if _, err := h.stat("/usr/bin/sh", false); err != nil {
			missing = append(missing, "/bin/sh (nor /usr/bin/sh)")
		}
	}
	if _, err := h.stat("/etc/os-release", false); err != nil {
		missing = append(missing, "/etc/os-release")
	}
	return missing
}

// Name implements Transport.
func (h *Host) Name() string { return h.name }

// Dir is the directory that is "/" for commands on this target.
func (h *Host) Dir() string { return h.dir }

// IsChroot reports whether the target is a directory tree rather than the running machine.
func (h *Host) IsChroot() bool { return h.root != nil && h.ns == nil }

// Close implements Transport.
func (h *Host) Close() error {
	h.closeTree()
	if h.root != nil {
		return h.root.Close()
	}
	return nil
}

// Run implements Transport.
func (h *Host) Run(ctx context.Context, c Cmd) (Result, error) {
	if len(c.Argv) == 0 {
		return Result{}, errors.New("run: empty command")
	}
	bin, err := h.lookPath(c.Argv[0])
	if err != nil {
		return Result{}, err
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Path = bin
	cmd.Args = c.Argv
	cmd.Dir = "/"
	cmd.Env = append([]string{basePath, "LC_ALL=C.UTF-8", "HOME=/root"}, c.Env...)
	// Its own process group, so that what it starts can be found and killed as one (see LockFD).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	switch {
	case h.ns != nil:
		if err := h.ns.prepare(cmd); err != nil {
			return Result{}, err
		}
	case h.root != nil:
		cmd.SysProcAttr.Chroot = h.dir
	}
	h.mu.Lock()
	lock := h.lock
	h.mu.Unlock()
	if lock != nil {
		// The held lock as descriptor LockFD (3..LockFD-1 closed): the kernel keeps the host locked
		// while the command, or anything it started that kept the descriptor, runs. RunEnv marks
		// everything it starts.
		cmd.ExtraFiles = make([]*os.File, LockFD-2)
		cmd.ExtraFiles[LockFD-3] = lock.f
		cmd.Env = append(cmd.Env, RunEnv+"="+lock.mark)
	}
	// Cancelled: the whole group, not only the command, so that nothing it started goes on.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err = cmd.Start(); err == nil {
		pgid := cmd.Process.Pid
		if lock != nil {
			lock.started(pgid)
		}
		err = cmd.Wait()
		if ctx.Err() != nil {
			// What the killed command started may still be there: gone before the caller undoes.
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			for deadline := time.Now().Add(10 * time.Second); procfs.GroupAlive(pgid) && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
		}
		if lock != nil {
			lock.ended(pgid)
		}
	}
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
		if res.Code < 0 { // killed by a signal
			if ctx.Err() != nil {
				return res, fmt.Errorf("%s: %w", c.Argv[0], ctx.Err())
			}
			res.Code = 128 + int(ee.Sys().(syscall.WaitStatus).Signal())
		}
	default:
		return res, fmt.Errorf("%s: %w", c.Argv[0], err)
	}
	return res, nil
}

// lookPath finds a program inside the target's tree, since the host's PATH lookup would find the
// host's binaries instead of the chroot's.
func (h *Host) lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range strings.Split(strings.TrimPrefix(basePath, "PATH="), ":") {
		p := dir + "/" + name
		st, err := h.stat(p, true)
		if err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: command not found on %s", name, h.name)
}

// rel turns an absolute target path into a path for os.Root.
func rel(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("%q: not an absolute path", p)
	}
	p = path.Clean(p)
	if p == "/" {
		return ".", nil
	}
	return p[1:], nil
}

func (h *Host) stat(p string, follow bool) (fs.FileInfo, error) {
	if h.root == nil {
		if follow {
			return os.Stat(p)
		}
		return os.Lstat(p)
	}
	r, err := rel(p)
	if err != nil {
		return nil, err
	}
	if follow {
		return h.root.Stat(r)
	}
	return h.root.Lstat(r)
}

// Stat implements Transport.
func (h *Host) Stat(_ context.Context, p string) (FileInfo, error) {
	st, err := h.stat(p, false)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return FileInfo{}, nil
	}
	if err != nil {
		return FileInfo{}, err
	}
	fi := FileInfo{Exists: true, Mode: st.Mode()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		fi.UID, fi.GID = int(sys.Uid), int(sys.Gid)
	}
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		if h.root == nil {
			fi.Target, err = os.Readlink(p)
		} else {
			r, _ := rel(p)
			fi.Target, err = h.root.Readlink(r)
		}
	case st.Mode().IsRegular():
		if h.root == nil {
			fi.Content, err = os.ReadFile(p)
		} else {
			r, _ := rel(p)
			fi.Content, err = h.root.ReadFile(r)
		}
	}
	return fi, err
}

func (h *Host) openFile(p string, flag int, mode fs.FileMode) (*os.File, error) {
	if h.root == nil {
		return os.OpenFile(p, flag, mode)
	}
	r, err := rel(p)
	if err != nil {
		return nil, err
	}
	return h.root.OpenFile(r, flag, mode)
}

// WriteFile implements Transport.
func (h *Host) WriteFile(ctx context.Context, p string, data []byte, mode fs.FileMode, uid, gid int, validate func(string) error) (err error) {
	if !path.IsAbs(p) {
		return fmt.Errorf("%q: not an absolute path", p)
	}
	p = path.Clean(p)
	dir := path.Dir(p)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	// A leading dot and an inner dot: sudo ignores such files in sudoers.d, most *.d readers too.
	tmp := path.Join(dir, ".chaos-"+hex.EncodeToString(rnd[:])+".tmp")
	f, err := h.openFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	defer func() {
		if err != nil {
			_ = h.Remove(ctx, tmp, false)
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if err == nil && (uid >= 0 || gid >= 0) {
		err = f.Chown(uid, gid)
	}
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if validate != nil {
		if err = validate(tmp); err != nil {
			return fmt.Errorf("write %s: validation failed: %w", p, err)
		}
	}
	if err = h.rename(tmp, p); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	h.syncDir(dir)
	return nil
}

// Rename implements Renamer: rename(2) inside the target, then an fsync of the directory.
func (h *Host) Rename(_ context.Context, from, to string) error {
	if !path.IsAbs(from) || !path.IsAbs(to) {
		return fmt.Errorf("rename %q %q: not absolute paths", from, to)
	}
	if err := h.rename(path.Clean(from), path.Clean(to)); err != nil {
		return fmt.Errorf("rename %s: %w", from, err)
	}
	h.syncDir(path.Dir(path.Clean(to)))
	return nil
}

func (h *Host) rename(from, to string) error {
	if h.root == nil {
		return os.Rename(from, to)
	}
	rf, err := rel(from)
	if err != nil {
		return err
	}
	rt, err := rel(to)
	if err != nil {
		return err
	}
	return h.root.Rename(rf, rt)
}

func (h *Host) syncDir(dir string) {
	d, err := h.openFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// Remove implements Transport.
func (h *Host) Remove(_ context.Context, p string, recursive bool) error {
	if !path.IsAbs(p) || path.Clean(p) == "/" {
		return fmt.Errorf("remove %q: refusing", p)
	}
	var err error
	switch {
	case h.root == nil && recursive:
		err = os.RemoveAll(p)
	case h.root == nil:
		err = os.Remove(p)
	default:
		r, _ := rel(p)
		if recursive {
			err = h.root.RemoveAll(r)
		} else {
			err = h.root.Remove(r)
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Symlink implements Transport.
func (h *Host) Symlink(ctx context.Context, p, target string) error {
	if !path.IsAbs(p) {
		return fmt.Errorf("symlink %q: not an absolute path", p)
	}
	p = path.Clean(p)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(path.Dir(p), ".chaos-"+hex.EncodeToString(rnd[:])+".tmp")
	var err error
	if h.root == nil {
		err = os.Symlink(target, tmp)
	} else {
		r, _ := rel(tmp)
		err = h.root.Symlink(target, r)
	}
	if err != nil {
		return fmt.Errorf("symlink %s: %w", p, err)
	}
	if err := h.rename(tmp, p); err != nil {
		_ = h.Remove(ctx, tmp, false)
		return fmt.Errorf("symlink %s: %w", p, err)
	}
	return nil
}

// Mkdir implements Transport.
func (h *Host) Mkdir(_ context.Context, p string, mode fs.FileMode) error {
	if h.root == nil {
		return os.MkdirAll(p, mode)
	}
	r, err := rel(p)
	if err != nil {
		return err
	}
	return h.root.MkdirAll(r, mode)
}

// Chown implements Transport.
func (h *Host) Chown(_ context.Context, p string, uid, gid int) error {
	if h.root == nil {
		return os.Lchown(p, uid, gid)
	}
	r, err := rel(p)
	if err != nil {
		return err
	}
	return h.root.Lchown(r, uid, gid)
}

// Chmod implements Transport.
func (h *Host) Chmod(_ context.Context, p string, mode fs.FileMode) error {
	if h.root == nil {
		return os.Chmod(p, mode)
	}
	r, err := rel(p)
	if err != nil {
		return err
	}
	return h.root.Chmod(r, mode)
}
