package transport

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"github.com/ch-aos-ch/chaos/internal/procfs"
)

// nsTarget is a running process whose namespaces commands enter: the leader (PID 1) of a container
// such as a systemd-nspawn machine.
type nsTarget struct {
	pid     int
	start   string // the process's start time (field 22 of /proc/PID/stat), to detect PID reuse
	nsenter string // the nsenter binary on the machine chaos runs on
}

// NewNsenter returns a transport for the running container whose leader process (its PID 1, as
// seen from this machine) is pid: every command runs inside all of that process's namespaces
// (mount, UTS, IPC, network, PID, cgroup, user when distinct) through
// `nsenter --target PID --all -- ARGV...` (argv passing, never a shell string), and file operations go
// through /proc/PID/root, confined to it with os.Root exactly as for a chroot. Unlike a chroot, the
// target has its own running init: IsChroot is false, so roles may start and stop services and set
// the running hostname. name is how the target is shown ("" means "@pid/PID").
//
// If the process exits (the container stops), later calls fail instead of entering whatever process
// reuses the PID.
func NewNsenter(pid int, name string) (*Host, error) {
	if pid <= 1 {
		return nil, fmt.Errorf("nsenter target: invalid pid %d", pid)
	}
	name = cmp.Or(name, "@pid/"+strconv.Itoa(pid))
	bin, err := exec.LookPath("nsenter")
	if err != nil {
		return nil, fmt.Errorf("%s: nsenter (util-linux) is needed on this machine: %w", name, err)
	}
	start, err := procfs.Start(pid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/root"
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Host{name: name, dir: dir, root: r, ns: &nsTarget{pid: pid, start: start, nsenter: bin}}, nil
}

// PID is the process whose namespaces commands enter; 0 for the local machine and chroots.
func (h *Host) PID() int {
	if h.ns == nil {
		return 0
	}
	return h.ns.pid
}

// prepare turns cmd (Path and Args as for the target) into the nsenter call that runs it inside.
func (n *nsTarget) prepare(cmd *exec.Cmd) error {
	if st, err := procfs.Start(n.pid); err != nil || st != n.start {
		return fmt.Errorf("@pid/%d: the target process is gone (container stopped?)", n.pid)
	}
	// The program is passed by the name the caller gave: nsenter execvp()s it with the PATH of the
	// environment, which is the same fixed PATH lookPath used, inside the target's mount namespace.
	argv := append([]string{"nsenter", "--target", strconv.Itoa(n.pid), "--all", "--"}, cmd.Args...)
	cmd.Path = n.nsenter
	cmd.Args = argv
	cmd.Err = nil
	return nil
}
