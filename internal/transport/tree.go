package transport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Tree reads the files of a local or chroot target in-process, with system calls instead of
// processes (a probe over 1,000 paths starts no stat, sha256sum or awk). Every path is resolved as
// a process chrooted to the target resolves it: openat2's RESOLVE_IN_ROOT keeps absolute symlinks
// and ".." inside the tree, so a fact read here is the fact the probe script would print there.
// Each call follows a final symlink exactly when the command it stands for does (noted per method).
type Tree struct {
	root int // O_PATH descriptor of the target's "/"
}

// TreeStat is what lstat(2) says of a path.
type TreeStat struct {
	Mode     uint32 // st_mode: type and permission bits
	UID, GID uint32
	Size     int64
	// Dev and Ino identify the file; MtimeNs and CtimeNs are its modification and change times in
	// nanoseconds since the epoch.
	Dev, Ino         uint64
	MtimeNs, CtimeNs int64
}

func treeStat(st *unix.Stat_t) TreeStat {
	return TreeStat{Mode: st.Mode, UID: st.Uid, GID: st.Gid, Size: st.Size, Dev: uint64(st.Dev), Ino: st.Ino,
		MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano()}
}

// TreeReader is implemented by transports whose files the controller reads itself.
type TreeReader interface {
	// Tree returns the target's tree, or false when this transport or kernel cannot read it
	// in-process (then the probe's script answers).
	Tree() (*Tree, bool)
}

var _ TreeReader = (*Host)(nil)

// treeState is a Host's tree, opened on first use.
type treeState struct {
	once sync.Once
	tree *Tree
}

// Tree implements TreeReader for the local machine and chroots. A container entered with nsenter
// has mounts of its own, seen only from inside its namespace: its facts come from its probe.
func (h *Host) Tree() (*Tree, bool) {
	if h.ns != nil {
		return nil, false
	}
	h.tree.once.Do(func() {
		fd, err := unix.Open(h.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return
		}
		t := &Tree{root: fd}
		// openat2 arrived in Linux 5.6, and a seccomp filter may refuse it: then the script.
		fd2, err := t.open("/", unix.O_PATH)
		if err != nil {
			_ = unix.Close(fd)
			return
		}
		_ = unix.Close(fd2)
		h.tree.tree = t
	})
	return h.tree.tree, h.tree.tree != nil
}

// closeTree releases the tree's descriptor (Host.Close).
func (h *Host) closeTree() {
	if h.tree.tree != nil {
		_ = unix.Close(h.tree.tree.root)
		h.tree.tree = nil
	}
}

func (t *Tree) open(p string, flags int) (int, error) {
	for {
		fd, err := unix.Openat2(t.root, p, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: unix.RESOLVE_IN_ROOT})
		if err == unix.EAGAIN || err == unix.EINTR {
			continue // a concurrent rename in the tree; the kernel asks to retry
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: p, Err: err}
		}
		return fd, nil
	}
}

// TreeDir is a directory of the tree, resolved once for the lookups of many names in it (a probe
// of 1,000 files in one directory resolves its path once, then makes one call per name).
type TreeDir struct {
	fd   int // O_PATH
	path string
}

// OpenDir resolves the directory p, following a final symlink (as "p/" does).
func (t *Tree) OpenDir(p string) (*TreeDir, error) {
	fd, err := t.open(p, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	return &TreeDir{fd: fd, path: p}, nil
}

// Close releases the directory.
func (d *TreeDir) Close() error { return unix.Close(d.fd) }

// at checks that name is one entry of d ("" for d itself), never a path: a name like ".." would
// leave the tree, as nothing below resolves it inside the root.
func (d *TreeDir) at(name string) error {
	if name == "." || name == ".." || strings.Contains(name, "/") {
		return &os.PathError{Op: "lookup", Path: d.path + "/" + name, Err: unix.EINVAL}
	}
	return nil
}

// Lstat is lstat(2) of the entry name of d, not following a final symlink; "" is d itself.
func (d *TreeDir) Lstat(name string) (TreeStat, error) {
	if err := d.at(name); err != nil {
		return TreeStat{}, err
	}
	flags := unix.AT_SYMLINK_NOFOLLOW
	if name == "" {
		flags = unix.AT_EMPTY_PATH
	}
	var st unix.Stat_t
	for {
		err := unix.Fstatat(d.fd, name, &st, flags)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return TreeStat{}, &os.PathError{Op: "lstat", Path: d.path + name, Err: err}
		}
		return treeStat(&st), nil
	}
}

// Readlink is the target of the symlink name in d.
func (d *TreeDir) Readlink(name string) (string, error) {
	if err := d.at(name); err != nil {
		return "", err
	}
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(d.fd, name, buf)
		if err != nil {
			return "", &os.PathError{Op: "readlink", Path: d.path + name, Err: err}
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// Open opens the regular file name in d for reading. A symlink there is refused (ELOOP), never
// followed: it could point out of the tree, and the caller saw a regular file (O_NONBLOCK: should
// a FIFO have taken its place since, the open does not wait for a writer).
func (d *TreeDir) Open(name string) (io.ReadCloser, error) {
	if err := d.at(name); err != nil || name == "" {
		return nil, &os.PathError{Op: "open", Path: d.path + name, Err: unix.EINVAL}
	}
	fd, err := d.openat(name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK)
	if err != nil {
		return nil, err
	}
	return fdReader(fd), nil
}

// Entries counts the entries of the directory name in d ("" for d itself) other than "." and
// "..", as the globs "p/*", "p/.[!.]*" and "p/..?*" together list them.
func (d *TreeDir) Entries(name string) (int, error) {
	if err := d.at(name); err != nil {
		return 0, err
	}
	if name == "" {
		name = "."
	}
	fd, err := d.openat(name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if err != nil {
		return 0, err
	}
	f := os.NewFile(uintptr(fd), d.path+name)
	defer f.Close()
	n := 0
	for {
		names, err := f.Readdirnames(1024)
		n += len(names)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read directory %s: %w", d.path+name, err)
		}
	}
}

func (d *TreeDir) openat(name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(d.fd, name, flags|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: d.path + name, Err: err}
		}
		return fd, nil
	}
}

// fdReader reads a descriptor with plain system calls: os.NewFile would also ask the descriptor's
// flags and try the poller, two more calls per file for files that never block.
type fdReader int

func (r fdReader) Read(b []byte) (int, error) {
	for {
		n, err := unix.Read(int(r), b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 && len(b) > 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

func (r fdReader) Close() error { return unix.Close(int(r)) }

// ReadFile reads the whole file p (following a final symlink, as awk's getline < p does).
func (t *Tree) ReadFile(p string) ([]byte, error) {
	fd, err := t.open(p, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	r := fdReader(fd)
	defer r.Close()
	return io.ReadAll(r)
}
