package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Booted is a Debian root booted with systemd as its init in a systemd-nspawn container: systemd,
// journald, dbus and logind run for real, so `systemctl start`, `hostnamectl` and the like work.
// The container has its own mount, PID, UTS, IPC, network (loopback only) and cgroup namespaces; it
// never touches this machine's hostname, network or services.
type Booted struct {
	// Root is the container's root directory as seen from this machine (a DebianRoot overlay):
	// assertions may read it directly. Files under /run, /proc, /sys and /tmp inside the container
	// are separate mounts: read those with Run.
	Root string
	// Name is the machine name (also the container's hostname until its /etc/hostname applies).
	Name string
	// PID is the container's PID 1 (its systemd) as seen from this machine: the target of nsenter
	// and of transport.NewNsenter.
	PID int
	// Boot is how long it took from starting systemd-nspawn until `systemctl is-system-running`
	// answered running or degraded.
	Boot time.Duration
	// State is what is-system-running said after boot: "running" or "degraded".
	State string

	cmd     *exec.Cmd
	done    chan struct{}
	console *bytes.Buffer
	cgroups []string // per-container cgroups this machine's hierarchies got for it
}

// cgroupPrefix names the per-container cgroups; the pid in the name lets a later test process remove
// cgroups left behind by one that was killed.
const cgroupPrefix = "chaos-testenv-"

var bootSeq atomic.Int64

// BootedDebian boots a fresh DebianRoot with `systemd-nspawn -b` and waits until systemd reports the
// boot finished (running or degraded). prepare functions run on the root before the boot (install
// files, add units). The root gets an ed25519 SSH host key first, so that ssh.service starts. The
// container is halted cleanly (SIGTERM to nspawn, which powers the container off) when the test
// ends, and its overlay, cgroups and mounts are removed.
//
// The recipe is the one of docs test-targets §2c, adapted so that nothing leaks to this machine:
//   - `--register=no --keep-unit`: this machine's PID 1 need not be systemd (no machined, no bus);
//   - nspawn runs in a private mount namespace with a tmpfs on /run/systemd/nspawn (or /run/systemd),
//     since /run need not be a tmpfs here and nspawn refuses to clean disk directories under it;
//   - each container gets its own cgroup in each hierarchy (with --keep-unit, containers would
//     otherwise share one and race on it); they are removed at cleanup;
//   - `--private-network`: loopback only, no network needed or reachable.
//
// It needs root, systemd-nspawn (systemd-container) and nsenter (util-linux); it skips the test when
// systemd-nspawn is missing.
func BootedDebian(t testing.TB, prepare ...func(root string)) *Booted {
	t.Helper()
	RequireRoot(t)
	RequireTool(t, "systemd-container", "systemd-nspawn")
	for _, tool := range []string{"nsenter", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("testenv: %s (util-linux) is needed for booted containers", tool)
		}
	}
	sweepStaleCgroups()
	root := DebianRoot(t)
	key := filepath.Join(root, "etc/ssh/ssh_host_ed25519_key")
	if _, err := os.Stat(key); errors.Is(err, os.ErrNotExist) {
		Chroot(t, root, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "/etc/ssh/ssh_host_ed25519_key")
	}
	for _, p := range prepare {
		p(root)
	}
	return bootRoot(t, root, "--private-network")
}

// bootRoot boots root with systemd-nspawn -b, its network given by netArg (an nspawn option), and
// waits for the end of the boot; the container is halted when the test ends.
func bootRoot(t testing.TB, root, netArg string) *Booted {
	t.Helper()
	nspawn := RequireTool(t, "systemd-container", "systemd-nspawn")
	seq := bootSeq.Add(1)
	b := &Booted{
		Root:    root,
		Name:    fmt.Sprintf("chaos-t%d-%d", os.Getpid(), seq),
		done:    make(chan struct{}),
		console: &bytes.Buffer{},
	}
	var err error
	if b.cgroups, err = makeCgroups(fmt.Sprintf("%s%d-%d", cgroupPrefix, os.Getpid(), seq)); err != nil {
		t.Fatalf("testenv: %v", err)
	}

	// The launcher: a private mount namespace (nothing below leaks to this machine), a tmpfs where
	// nspawn keeps its runtime state, the container's own cgroups, then exec nspawn (same PID).
	// Everything variable is passed as arguments, never spliced into the script.
	const script = `set -e
if [ -d /run/systemd/nspawn ]; then d=/run/systemd/nspawn; else d=/run/systemd; mkdir -p "$d"; fi
mount -t tmpfs -o mode=0755 chaos-nspawn "$d"
while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs"; shift; done
shift
exec "$@"`
	args := []string{"--mount", "--propagation", "private", "--", "sh", "-c", script, "sh"}
	args = append(args, b.cgroups...)
	args = append(args, "--", nspawn, "--quiet", "--boot", "--directory", root, "--machine", b.Name,
		"--register=no", "--keep-unit", "--console=passive", netArg)
	cmd := exec.Command("unshare", args...)
	cmd.Dir = "/"
	cmd.Env = chrootEnv
	cmd.Stdout, cmd.Stderr = lockedWriter{b.console}, lockedWriter{b.console}
	// If this test process dies, nspawn gets SIGTERM and halts the container (a later test process
	// removes the overlay and cgroups left behind).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		removeCgroups(b.cgroups)
		t.Fatalf("testenv: starting systemd-nspawn: %v", err)
	}
	b.cmd = cmd
	go func() { _ = cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		if err := b.stop(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})

	if err := b.waitBoot(60 * time.Second); err != nil {
		t.Fatalf("testenv: booting %s: %v\nconsole:\n%s", b.Name, err, tail(b.Console(), 4000))
	}
	b.Boot = time.Since(start)
	if b.State == "degraded" {
		failed, _ := b.Run("systemctl", "--failed", "--no-legend", "--plain", "--no-pager")
		t.Logf("testenv: %s booted degraded; failed units:\n%s", b.Name, failed)
	}
	return b
}

// Console is what systemd-nspawn and the container's console printed so far.
func (b *Booted) Console() string {
	consoleMu.Lock()
	defer consoleMu.Unlock()
	return b.console.String()
}

var consoleMu sync.Mutex

type lockedWriter struct{ b *bytes.Buffer }

func (w lockedWriter) Write(p []byte) (int, error) {
	consoleMu.Lock()
	defer consoleMu.Unlock()
	return w.b.Write(p)
}

// waitBoot finds the container's PID 1 (nspawn's child once it has exec'd systemd) and waits until
// `systemctl is-system-running --wait` reports the end of the boot.
func (b *Booted) waitBoot(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	nspawnPID := b.cmd.Process.Pid
	for b.PID == 0 {
		if b.exited() {
			return errors.New("systemd-nspawn exited during boot")
		}
		if time.Now().After(deadline) {
			return errors.New("no container init appeared")
		}
		for _, c := range children(nspawnPID) {
			if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(c) + "/comm"); strings.TrimSpace(string(comm)) == "systemd" {
				b.PID = c
			}
		}
		if b.PID == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	for {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		out, err := b.run(ctx, "systemctl", "is-system-running", "--wait")
		cancel()
		state := strings.TrimSpace(out)
		switch state {
		case "running", "degraded":
			b.State = state
			return nil
		case "maintenance", "stopping":
			return fmt.Errorf("systemd is %s", state)
		}
		// "offline" (no /run/systemd/system yet) and connection errors: too early, retry
		if b.exited() {
			return errors.New("systemd-nspawn exited during boot")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("boot did not finish in %v (is-system-running: %q, %v); if many containers run, "+
				"fs.inotify.max_user_instances may be too low", limit, state, err)
		}
		time.Sleep(50 * time.Millisecond) // the manager's socket is not up yet
	}
}

func (b *Booted) exited() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// children lists the child processes of pid (all its threads).
func children(pid int) []int {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	for _, f := range tasks {
		data, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// Run runs argv inside the container (all its namespaces, through nsenter) with a fixed
// environment, and returns its stdout. A non-zero exit is an error carrying the exit code and
// stderr; stdout is returned either way.
func (b *Booted) Run(argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return b.run(ctx, argv...)
}

// MustRun is Run that fails the test on error.
func (b *Booted) MustRun(t testing.TB, argv ...string) string {
	t.Helper()
	out, err := b.Run(argv...)
	if err != nil {
		t.Fatalf("testenv: in %s: %q: %v", b.Name, argv, err)
	}
	return out
}

func (b *Booted) run(ctx context.Context, argv ...string) (string, error) {
	if len(argv) == 0 {
		return "", errors.New("Run needs a command")
	}
	if b.PID == 0 || b.exited() {
		return "", fmt.Errorf("container %s is not running", b.Name)
	}
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--target", strconv.Itoa(b.PID), "--all", "--"}, argv...)...)
	cmd.Dir = "/"
	cmd.Env = chrootEnv
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return o.String(), fmt.Errorf("exit status %d: %s", ee.ExitCode(), strings.TrimSpace(tail(e.String(), 2000)))
	}
	return o.String(), err
}

// CgroupOf is the directory, in this machine's cgroup2 hierarchy (the unified one on a hybrid
// machine), of the container's cgroup path p ("/system.slice/x.service"); "" when there is none.
func (b *Booted) CgroupOf(p string) string {
	for _, cg := range b.cgroups {
		if isCgroup2(filepath.Dir(cg)) {
			// nspawn puts the container below payload/ when it keeps the unit
			for _, dir := range []string{filepath.Join(cg, "payload", p), filepath.Join(cg, p)} {
				if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
					return dir
				}
			}
		}
	}
	return ""
}

// stop halts the container (SIGTERM makes nspawn power it off cleanly), waits for nspawn, and
// removes the cgroups. The overlay is unmounted by DebianRoot's own cleanup, which runs after.
func (b *Booted) stop() error {
	if b.cmd == nil {
		return nil
	}
	var errs []error
	if !b.exited() {
		// A SIGRTMIN+3 that nspawn forwards before systemd has set up its handlers is lost (a
		// namespace's init ignores signals it has no handler for): kill what does not halt in time.
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(20 * time.Second):
			errs = append(errs, fmt.Errorf("%s did not halt in 20 s: killed", b.Name))
		}
	}
	// Killing nspawn does not end the container (its init is reparented): kill every process left
	// in the container's cgroups; the kernel kills the rest of a PID namespace with its init.
	killCgroups(b.cgroups)
	<-b.done
	// The container's processes die with its PID namespace; wait for the kernel to empty the
	// cgroups before removing them.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := removeCgroups(b.cgroups)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			errs = append(errs, err)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.Join(errs...)
}

// cgroupRoots are the hierarchies a container gets its own cgroup in: the named systemd hierarchy
// and the unified one on a hybrid (v1) machine, or the single cgroup2 hierarchy.
func cgroupRoots() []string {
	if isCgroup2("/sys/fs/cgroup") {
		return []string{"/sys/fs/cgroup"}
	}
	var out []string
	for _, d := range []string{"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"} {
		var st syscall.Statfs_t
		if syscall.Statfs(d, &st) == nil && (st.Type == cgroupMagic || st.Type == cgroup2Magic) {
			out = append(out, d)
		}
	}
	return out
}

const (
	cgroupMagic  = 0x27e0eb
	cgroup2Magic = 0x63677270
)

func isCgroup2(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && st.Type == cgroup2Magic
}

func makeCgroups(name string) ([]string, error) {
	var made []string
	for _, r := range cgroupRoots() {
		d := filepath.Join(r, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			removeCgroups(made)
			return nil, fmt.Errorf("creating cgroup %s: %v", d, err)
		}
		made = append(made, d)
	}
	return made, nil
}

// removeCgroups removes each cgroup tree, deepest directories first (cgroups are removed with rmdir).
func removeCgroups(dirs []string) error {
	var errs []error
	for _, top := range dirs {
		var all []string
		_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				all = append(all, p)
			}
			return nil
		})
		for i := len(all) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(all[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %v", all[i], err))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// killCgroups sends SIGKILL to every process in the cgroup trees.
func killCgroups(dirs []string) {
	for _, top := range dirs {
		_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			data, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return nil
		})
	}
}

var cgroupSweep sync.Once

// sweepStaleCgroups removes the empty cgroups of test processes that died without cleaning up.
func sweepStaleCgroups() {
	cgroupSweep.Do(func() {
		for _, r := range cgroupRoots() {
			entries, _ := os.ReadDir(r)
			for _, e := range entries {
				name := e.Name()
				if !e.IsDir() || !strings.HasPrefix(name, cgroupPrefix) {
					continue
				}
				pidStr, _, _ := strings.Cut(strings.TrimPrefix(name, cgroupPrefix), "-")
				pid, err := strconv.Atoi(pidStr)
				if err != nil || pid == os.Getpid() {
					continue
				}
				if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
					continue
				}
				dir := []string{filepath.Join(r, name)}
				killCgroups(dir) // a container whose test process was killed
				for range 100 {
					if removeCgroups(dir) == nil {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}
	})
}
