package transport

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// HostIDer is implemented by transports that can say which host they reach, whatever name the
// target was given: the engine keys its in-process host lock by it (engine.LockHost), so that two
// transports to one host exclude each other in this process and two hosts never do.
type HostIDer interface {
	// HostID identifies the host: equal for two transports to the same root file system of the same
	// machine, different for different ones (a chroot copy of a root is another host, although it
	// carries the same /etc/machine-id). A transport that cannot tell a host apart by what it reads
	// puts its own name in, so that at worst two names of one host are not recognised as one.
	HostID(ctx context.Context) (string, error)
}

// machineID reads /etc/machine-id's first line: "" when it is absent or not initialised (a
// freshly built root, "uninitialized" on first boot).
func machineID(content []byte) string {
	line, _, _ := strings.Cut(string(content), "\n")
	line = strings.TrimSpace(line)
	if line == "uninitialized" || strings.ContainsAny(line, " \t") {
		return ""
	}
	return line
}

// HostID implements HostIDer: the target's machine-id and the device and inode of its root
// directory on this machine's kernel, which alone tells roots apart (a symlinked path to a chroot
// is the same host, a copy is not), so a root without a machine-id needs no name.
func (h *Host) HostID(ctx context.Context) (string, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(h.dir, &st); err != nil {
		return "", fmt.Errorf("%s: %w", h.name, &os.PathError{Op: "stat", Path: h.dir, Err: err})
	}
	fi, err := h.Stat(ctx, "/etc/machine-id")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("machine %s root %d:%d", machineID(fi.Content), st.Dev, st.Ino), nil
}

// HostID implements HostIDer from what the connection's first worker read when it started (no
// round trip of its own): the machine-id, the kernel's boot id and the root mount's id (one kernel
// boot and one mount are one root, even for containers cloned with the same machine-id). When the
// host did not say (no /proc), or has no machine-id, the connection's name stands in.
func (s *SSH) HostID(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hostID, nil
}

// sshHostID builds the SSH HostID from the worker's greeting fields: machine-id, boot id, root
// mount (any may be "-", unknown).
func sshHostID(name string, fields []string) string {
	get := func(i int) string {
		if i < len(fields) && fields[i] != "-" {
			return fields[i]
		}
		return ""
	}
	mid, boot, root := machineID([]byte(get(0))), get(1), get(2)
	if mid == "" || boot == "" || root == "" {
		return fmt.Sprintf("machine %s name %s", mid, name)
	}
	return fmt.Sprintf("machine %s boot %s mount %s", mid, boot, root)
}
