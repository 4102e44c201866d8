package installer

import (
	"context"
	"io/fs"
	"path"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// Host is the machine the disk is attached to, as the engine sees it for the installer's phases:
// commands run there as they are, and the engine's own state (journal, lock) goes to StateDir
// instead of /var/lib/chaos, so that an install neither takes nor leaves state in the installing
// system's own transaction store (which `chaos apply` on that machine uses).
type Host struct {
	transport.Transport
	name     string
	stateDir string
}

// NewHost wraps t (the local machine) for the install onto dev, with the engine's state in stateDir.
func NewHost(t transport.Transport, dev, stateDir string) *Host {
	return &Host{Transport: t, name: "install:" + dev, stateDir: path.Clean(stateDir)}
}

// Name implements transport.Transport.
func (h *Host) Name() string { return h.name }

// StateDir is where the installer's journal lives on the installing machine.
func (h *Host) StateDir() string { return h.stateDir }

func (h *Host) at(p string) string {
	if rest, ok := strings.CutPrefix(p, engine.StateDir); ok && (rest == "" || rest[0] == '/') {
		return h.stateDir + rest
	}
	return p
}

// Stat implements transport.Transport.
func (h *Host) Stat(ctx context.Context, p string) (transport.FileInfo, error) {
	return h.Transport.Stat(ctx, h.at(p))
}

// WriteFile implements transport.Transport.
func (h *Host) WriteFile(ctx context.Context, p string, data []byte, mode fs.FileMode, uid, gid int, validate func(string) error) error {
	return h.Transport.WriteFile(ctx, h.at(p), data, mode, uid, gid, validate)
}

// Remove implements transport.Transport.
func (h *Host) Remove(ctx context.Context, p string, recursive bool) error {
	return h.Transport.Remove(ctx, h.at(p), recursive)
}

// Symlink implements transport.Transport.
func (h *Host) Symlink(ctx context.Context, p, target string) error {
	return h.Transport.Symlink(ctx, h.at(p), target)
}

// Mkdir implements transport.Transport.
func (h *Host) Mkdir(ctx context.Context, p string, mode fs.FileMode) error {
	return h.Transport.Mkdir(ctx, h.at(p), mode)
}

// Chown implements transport.Transport.
func (h *Host) Chown(ctx context.Context, p string, uid, gid int) error {
	return h.Transport.Chown(ctx, h.at(p), uid, gid)
}

// Chmod implements transport.Transport.
func (h *Host) Chmod(ctx context.Context, p string, mode fs.FileMode) error {
	return h.Transport.Chmod(ctx, h.at(p), mode)
}

// Rename implements transport.Renamer when the wrapped transport does.
func (h *Host) Rename(ctx context.Context, from, to string) error {
	r, ok := h.Transport.(transport.Renamer)
	if !ok {
		return transport.ErrUnsupported
	}
	return r.Rename(ctx, h.at(from), h.at(to))
}

// Flock takes the engine's host lock (at its place under StateDir) when the wrapped transport
// locks with flock, as the local machine does; else the engine falls back to its lease.
func (h *Host) Flock(p string) (func() error, error) {
	f, ok := h.Transport.(interface {
		Flock(string) (func() error, error)
	})
	if !ok {
		return nil, transport.ErrUnsupported
	}
	return f.Flock(h.at(p))
}
