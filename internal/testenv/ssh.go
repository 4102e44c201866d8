package testenv

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
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

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHHost is one real SSH test host (docs test-targets §2b): its own network namespace on a
// private bridge, its own copy-on-write Debian root (a DebianRoot overlay), and sshd running
// chrooted into it inside its own PID, UTS, IPC and mount namespaces. Root logs in with the test
// key; the host has no route off the bridge.
type SSHHost struct {
	// Name is the host's hostname inside its UTS namespace ("h1", "h2", ...).
	Name string
	// Addr is the IP address sshd listens on (port 22).
	Addr string
	// Root is the host's root directory as seen from this machine; assertions may read it directly.
	Root string
	// HostKey is the host's public key.
	HostKey ssh.PublicKey
	// KnownHostsLine is the known_hosts line for Addr.
	KnownHostsLine string

	ns    string
	cmd   *exec.Cmd
	done  chan struct{}
	mu    sync.Mutex
	logMu sync.Mutex
	log   *strings.Builder
}

type logWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// SSHHosts is a set of SSHHost on one bridge, sharing a client key.
type SSHHosts struct {
	Hosts []*SSHHost
	// KeyFile is the client's private key (ed25519, unencrypted), authorized for root on every host.
	KeyFile string
	// PublicKey is the authorized_keys line of KeyFile.
	PublicKey string
	// KnownHosts is a known_hosts file listing every host's key.
	KnownHosts string
	// Subnet is the /24 prefix of the bridge, e.g. "10.213.7".
	Subnet string
	bridge string
}

const sshNSPrefix = "chaos-t"

var (
	sshSeq   atomic.Int64
	netMu    sync.Mutex
	netSwept bool
)

// StartSSHHosts starts n SSH hosts and stops them (processes, namespaces, bridge, overlays) when the
// test ends. prepare functions run on each host's root before sshd starts (add users, files). It
// needs root, ip (iproute2), unshare and nsenter (util-linux); it skips the test without them.
func StartSSHHosts(t testing.TB, n int, prepare ...func(h *SSHHost)) *SSHHosts {
	t.Helper()
	return StartSSHHostsFrom(t, "", n, prepare...)
}

// StartSSHHostsFrom is StartSSHHosts with each host's root an overlay over lower (a read-only root
// such as BaseRootWith's) instead of the base root; "" means the base root.
func StartSSHHostsFrom(t testing.TB, lower string, n int, prepare ...func(h *SSHHost)) *SSHHosts {
	t.Helper()
	RequireRoot(t)
	RequireTool(t, "iproute2", "ip")
	RequireTools(t, "util-linux", "unshare", "nsenter")
	sweepStaleNet()
	dir := t.TempDir()
	hs := &SSHHosts{KeyFile: filepath.Join(dir, "id_ed25519"), KnownHosts: filepath.Join(dir, "known_hosts")}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "chaos-test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hs.KeyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	spub, _ := ssh.NewPublicKey(pub)
	hs.PublicKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(spub)))

	seq := sshSeq.Add(1)
	if err := hs.makeBridge(seq); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { _ = run("ip", "link", "del", hs.bridge) })

	var lines []string
	for i := 1; i <= n; i++ {
		h := &SSHHost{Name: "h" + strconv.Itoa(i), Addr: fmt.Sprintf("%s.%d", hs.Subnet, 10+i),
			Root: rootOn(t, lower), ns: fmt.Sprintf("%s%d-%d-%d", sshNSPrefix, os.Getpid(), seq, i)}
		if err := h.setupRoot(hs.PublicKey); err != nil {
			t.Fatalf("testenv: %s: %v", h.Name, err)
		}
		for _, p := range prepare {
			p(h)
		}
		if err := h.setupNet(hs, seq, i); err != nil {
			t.Fatalf("testenv: %s: %v", h.Name, err)
		}
		t.Cleanup(h.cleanup) // runs before DebianRoot's unmount (cleanups run last-in first-out)
		if err := h.Start(); err != nil {
			t.Fatalf("testenv: %s: %v", h.Name, err)
		}
		hs.Hosts = append(hs.Hosts, h)
		lines = append(lines, h.KnownHostsLine)
	}
	for _, h := range hs.Hosts {
		if err := h.WaitReady(15 * time.Second); err != nil {
			t.Fatalf("testenv: %s: %v", h.Name, err)
		}
	}
	if err := os.WriteFile(hs.KnownHosts, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return hs
}

func run(argv ...string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// makeBridge creates a bridge on a 10.213.X.0/24 subnet that no route of this machine uses (and that
// is not the resolver's), under a lock so that parallel test processes pick different ones.
func (hs *SSHHosts) makeBridge(seq int64) error {
	netMu.Lock()
	defer netMu.Unlock()
	lock, err := os.OpenFile("/run/lock/chaos-testenv-net.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		defer lock.Close()
		_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
	}
	routes, _ := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	resolv, _ := os.ReadFile("/etc/resolv.conf")
	used := string(routes) + string(resolv)
	hs.bridge = fmt.Sprintf("cb%d.%d", os.Getpid()%10000000, seq)
	for x := 0; x < 256; x++ {
		subnet := fmt.Sprintf("10.213.%d", x)
		if strings.Contains(used, subnet+".") {
			continue
		}
		hs.Subnet = subnet
		if err := run("ip", "link", "add", hs.bridge, "type", "bridge"); err != nil {
			return err
		}
		if err := run("ip", "addr", "add", subnet+".1/24", "dev", hs.bridge); err != nil {
			_ = run("ip", "link", "del", hs.bridge)
			return err
		}
		return run("ip", "link", "set", hs.bridge, "up")
	}
	return errors.New("no free 10.213.X.0/24 subnet")
}

func (h *SSHHost) setupRoot(authorized string) error {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return err
	}
	h.HostKey, _ = ssh.NewPublicKey(pub)
	h.KnownHostsLine = knownhosts.Line([]string{knownhosts.Normalize(h.Addr + ":22")}, h.HostKey)
	files := []struct {
		path string
		data string
		mode os.FileMode
	}{
		{"etc/ssh/ssh_host_ed25519_key", string(pem.EncodeToMemory(block)), 0o600},
		{"etc/ssh/ssh_host_ed25519_key.pub", string(ssh.MarshalAuthorizedKey(h.HostKey)), 0o644},
		{"etc/ssh/sshd_config.d/50-chaos-test.conf", "HostKey /etc/ssh/ssh_host_ed25519_key\n" +
			"PermitRootLogin prohibit-password\nPasswordAuthentication no\nMaxStartups 200\nMaxSessions 100\n" +
			"LogLevel ERROR\n", 0o644},
		{"root/.ssh/authorized_keys", authorized + "\n", 0o600},
		{"etc/hostname", h.Name + "\n", 0o644},
	}
	for _, f := range files {
		p := filepath.Join(h.Root, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
	}
	return os.Chmod(filepath.Join(h.Root, "root"), 0o700)
}

func (h *SSHHost) setupNet(hs *SSHHosts, seq int64, i int) error {
	veth := fmt.Sprintf("cv%d.%d", os.Getpid()%100000, int(seq)*1000+i)
	if len(veth) > 15 {
		veth = veth[:15]
	}
	mac := fmt.Sprintf("02:fd:%02x:%02x:%02x:%02x", byte(seq>>8), byte(seq), byte(i>>8), byte(i))
	steps := [][]string{
		{"ip", "netns", "add", h.ns},
		{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "address", mac, "netns", h.ns},
		{"ip", "link", "set", veth, "master", hs.bridge, "up"},
		{"ip", "-n", h.ns, "addr", "add", h.Addr + "/24", "dev", "eth0"},
		{"ip", "-n", h.ns, "link", "set", "lo", "up"},
		{"ip", "-n", h.ns, "link", "set", "eth0", "up"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return err
		}
	}
	return nil
}

// Start starts the host's sshd (again, after Stop).
func (h *SSHHost) Start() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cmd != nil {
		return nil
	}
	script := `hostname "$1"; R=$2
mount -t proc proc "$R/proc" && mount -t sysfs sysfs "$R/sys" &&
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts" && mount -t tmpfs tmpfs "$R/run" &&
mkdir -p "$R/run/sshd" && exec chroot "$R" /usr/sbin/sshd -D -e`
	cmd := exec.Command("nsenter", "--net=/run/netns/"+h.ns, "timeout", "3600",
		"unshare", "--pid", "--fork", "--kill-child", "--uts", "--ipc", "--mount", "--propagation", "private",
		"sh", "-c", script, "sh", h.Name, h.Root)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	h.log = &strings.Builder{}
	cmd.Stdout, cmd.Stderr = logWriter{&h.logMu, h.log}, logWriter{&h.logMu, h.log}
	if err := cmd.Start(); err != nil {
		return err
	}
	h.cmd, h.done = cmd, make(chan struct{})
	done := h.done
	go func() { _ = cmd.Wait(); close(done) }()
	return nil
}

// WaitReady waits until sshd accepts connections.
func (h *SSHHost) WaitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		done := h.done
		h.mu.Unlock()
		if done != nil {
			select {
			case <-done:
				return fmt.Errorf("sshd exited: %s", h.Log())
			default:
			}
		}
		c, err := net.DialTimeout("tcp", h.Addr+":22", 500*time.Millisecond)
		if err == nil {
			buf := make([]byte, 4)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			_, rerr := c.Read(buf)
			c.Close()
			if rerr == nil && string(buf) == "SSH-" {
				return nil
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	return fmt.Errorf("sshd not ready after %s: %s", limit, h.Log())
}

// Log is what sshd printed so far.
func (h *SSHHost) Log() string {
	h.mu.Lock()
	l := h.log
	h.mu.Unlock()
	if l == nil {
		return ""
	}
	h.logMu.Lock()
	defer h.logMu.Unlock()
	return l.String()
}

// Stop kills the host's sshd and everything in its PID namespace (the host becomes unreachable;
// Start brings it back).
func (h *SSHHost) Stop() {
	h.mu.Lock()
	cmd, done := h.cmd, h.done
	h.cmd = nil
	h.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

func (h *SSHHost) cleanup() {
	h.Stop()
	_ = run("ip", "netns", "del", h.ns)
}

// Exec runs argv inside the host's root (chroot from this machine, not through SSH).
func (h *SSHHost) Exec(t testing.TB, argv ...string) string {
	t.Helper()
	return Chroot(t, h.Root, argv...)
}

// sweepStaleNet removes network namespaces and bridges left by test processes that died.
func sweepStaleNet() {
	netMu.Lock()
	defer netMu.Unlock()
	if netSwept {
		return
	}
	netSwept = true
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], sshNSPrefix) {
			continue
		}
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(f[0], sshNSPrefix), "-")
		if pid, err := strconv.Atoi(pidStr); err == nil && pid != os.Getpid() && !alive(pid) {
			_ = run("ip", "netns", "del", f[0])
		}
	}
	out, _ = exec.Command("ip", "-o", "link", "show", "type", "bridge").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name := strings.TrimSuffix(f[1], ":")
		if !strings.HasPrefix(name, "cb") {
			continue
		}
		pidStr, _, ok := strings.Cut(strings.TrimPrefix(name, "cb"), ".")
		if pid, err := strconv.Atoi(pidStr); ok && err == nil && pid != os.Getpid()%10000000 && !alive(pid) {
			_ = run("ip", "link", "del", name)
		}
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
