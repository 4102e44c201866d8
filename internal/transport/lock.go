package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"syscall"
)

// ErrLocked is returned by Flock when another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// Flock takes an exclusive, non-blocking flock(2) on path (absolute, inside the target; created with
// mode 0600 when missing, its directory with 0755) and holds it through an open file descriptor until release is called or
// the process exits, so a killed chaos never leaves a stale lock behind. It works for the local
// machine, chroots and nsenter targets alike: they share this machine's kernel.
func (h *Host) Flock(p string) (release func() error, err error) {
	if err := h.Mkdir(context.Background(), path.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	f, err := h.openFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", p, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	// Best effort: who holds it, for the message another chaos prints.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	}
	return func() error {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return f.Close()
	}, nil
}
