// Package transport runs commands and moves files on a target: the local machine, a chroot, and
// (later) SSH hosts. It is the thin edge of chaos; everything above it works on data.
package transport

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Cmd is one command to run on the target.
type Cmd struct {
	Argv  []string
	Env   []string // KEY=VALUE, added to a minimal, predictable environment
	Stdin []byte
}

// Result is what a command produced.
type Result struct {
	Stdout []byte
	Stderr []byte
	Code   int
}

// FileInfo describes a file on the target, as needed to capture and restore it.
type FileInfo struct {
	Exists  bool
	Mode    fs.FileMode // includes the type bits (fs.ModeDir, fs.ModeSymlink)
	UID     int
	GID     int
	Content []byte // regular files only
	Target  string // symlinks only
}

// Transport is a connection to one target.
type Transport interface {
	// Name is how the target is shown to users: "@local", "@chroot/srv/root", "web1".
	Name() string
	// Run runs a command on the target. A non-zero exit is not an error: it is in Result.Code. Errors
	// are for commands that could not be run at all.
	Run(ctx context.Context, cmd Cmd) (Result, error)
	// Stat reads a file's metadata and, for regular files, its content. A missing file is not an error.
	Stat(ctx context.Context, path string) (FileInfo, error)
	// WriteFile writes data to path atomically: a temp file in the same directory, fsync, chown/chmod,
	// then rename. When validate is non-nil it runs on the temp file's path first and a non-zero exit
	// aborts the write.
	WriteFile(ctx context.Context, path string, data []byte, mode fs.FileMode, uid, gid int, validate func(tmp string) error) error
	// Remove removes path; recursive removes a directory tree. A missing path is not an error.
	Remove(ctx context.Context, path string, recursive bool) error
	// Symlink atomically makes path a symlink to target.
	Symlink(ctx context.Context, path, target string) error
	// Mkdir creates a directory and its missing parents with mode.
	Mkdir(ctx context.Context, path string, mode fs.FileMode) error
	// Chown and Chmod change an existing path (not following a final symlink for Chown).
	Chown(ctx context.Context, path string, uid, gid int) error
	Chmod(ctx context.Context, path string, mode fs.FileMode) error
	// Close releases the connection.
	Close() error
}

// ExitError is returned by Check for a command that exited non-zero.
type ExitError struct {
	Argv   []string
	Code   int
	Stderr string
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if len(msg) > 2000 {
		msg = "..." + msg[len(msg)-2000:]
	}
	if msg == "" {
		return fmt.Sprintf("%s: exit status %d", e.Argv[0], e.Code)
	}
	return fmt.Sprintf("%s: exit status %d: %s", e.Argv[0], e.Code, msg)
}

// Check runs cmd and turns a non-zero exit into an *ExitError.
func Check(ctx context.Context, t Transport, cmd Cmd) (Result, error) {
	res, err := t.Run(ctx, cmd)
	if err != nil {
		return res, err
	}
	if res.Code != 0 {
		return res, &ExitError{Argv: cmd.Argv, Code: res.Code, Stderr: string(res.Stderr)}
	}
	return res, nil
}

// ErrUnsupported is returned for an operation a transport cannot do.
var ErrUnsupported = errors.New("not supported by this transport")

// Open parses a target spec (ParseSpec) and opens it, unless it names an SSH host: those are
// dialled with their settings by the fleet (fleet.Fleet.Open).
func Open(ctx context.Context, spec string) (Transport, error) {
	s, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	return s.Open()
}

// Open opens a local, chroot, @pid/N, @podman/NAME or @docker/NAME target.
func (s Spec) Open() (Transport, error) {
	switch s.Kind {
	case KindLocal:
		return NewLocal(), nil
	case KindChroot:
		return NewChroot(s.Path)
	case KindPID:
		return NewNsenter(s.PID, s.String())
	case KindPodman, KindDocker:
		c, err := OpenContainer(context.Background(), ContainerConfig{Name: s.String(), Engine: s.Kind, Container: s.Container})
		if err != nil {
			return nil, err // not a Transport holding no connection
		}
		return c, nil
	}
	return nil, fmt.Errorf("target %q: a host reached over SSH is opened with its connection settings (fleet), not here", s.String())
}

// Renamer is implemented by transports that rename a file or directory atomically inside the
// target (rename(2)): the local machine, chroots, nsenter targets and SSH.
type Renamer interface {
	Rename(ctx context.Context, from, to string) error
}
