package testenv

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// BootedSSHHost is a systemd-booted SSH test host (docs test-targets §2c): a Debian root booted
// with `systemd-nspawn -b` (see BootedDebian) in its own network namespace on a private bridge, so
// systemd is PID 1 and sshd runs as its ssh.service. Root logs in with the hosts' key. Run and
// MustRun (from Booted) run commands inside it without SSH, for assertions.
type BootedSSHHost struct {
	*Booted
	// Name is the host's hostname ("b1", "b2", ...).
	Name string
	// Addr is the IP address sshd listens on (port 22).
	Addr string
	// KnownHostsLine is the known_hosts line for Addr.
	KnownHostsLine string
}

// BootedSSHHosts is a set of BootedSSHHost on one bridge, sharing a client key.
type BootedSSHHosts struct {
	Hosts []*BootedSSHHost
	// KeyFile, PublicKey and KnownHosts are as in SSHHosts.
	KeyFile    string
	PublicKey  string
	KnownHosts string
}

// StartBootedSSHHosts boots n systemd SSH hosts and waits until each one's sshd answers. prepare
// functions run on each root before the boot (units, files). Everything is removed when the test
// ends. It needs root, systemd-nspawn, ip, unshare and nsenter; it skips the test without them.
// Many booted hosts need a higher fs.inotify.max_user_instances than the default 128 (about 20
// hosts); it is raised to 8192 when n is above 10.
func StartBootedSSHHosts(t testing.TB, n int, prepare ...func(root string)) *BootedSSHHosts {
	t.Helper()
	RequireRoot(t)
	RequireTool(t, "systemd-container", "systemd-nspawn")
	RequireTool(t, "iproute2", "ip")
	RequireTools(t, "util-linux", "unshare", "nsenter")
	if n > 10 {
		const knob = "/proc/sys/fs/inotify/max_user_instances"
		if data, err := os.ReadFile(knob); err == nil {
			if cur, _ := strconv.Atoi(strings.TrimSpace(string(data))); cur < 8192 {
				_ = os.WriteFile(knob, []byte("8192\n"), 0o644)
			}
		}
	}
	sweepStaleNet()
	sweepStaleCgroups()
	dir := t.TempDir()
	net := &SSHHosts{}
	bs := &BootedSSHHosts{KeyFile: filepath.Join(dir, "id_ed25519"), KnownHosts: filepath.Join(dir, "known_hosts")}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "chaos-test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bs.KeyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	spub, _ := ssh.NewPublicKey(pub)
	bs.PublicKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(spub)))
	seq := sshSeq.Add(1)
	if err := net.makeBridge(seq); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { _ = run("ip", "link", "del", net.bridge) })

	var lines []string
	for i := 1; i <= n; i++ {
		// The plain hosts' setup gives the root its host key, sshd settings, authorized key and
		// hostname, and the network namespace its veth; nspawn then boots into that namespace.
		h := &SSHHost{Name: "b" + strconv.Itoa(i), Addr: fmt.Sprintf("%s.%d", net.Subnet, 100+i),
			Root: DebianRoot(t), ns: fmt.Sprintf("%s%d-%d-%d", sshNSPrefix, os.Getpid(), seq, i)}
		if err := h.setupRoot(bs.PublicKey); err != nil {
			t.Fatalf("testenv: %s: %v", h.Name, err)
		}
		for _, p := range prepare {
			p(h.Root)
		}
		if err := h.setupNet(net, seq, i); err != nil {
			t.Fatalf("testenv: %s: %v", h.Name, err)
		}
		ns := h.ns
		t.Cleanup(func() { _ = run("ip", "netns", "del", ns) }) // after the container's own cleanup
		b := bootRoot(t, h.Root, "--network-namespace-path=/run/netns/"+ns)
		bs.Hosts = append(bs.Hosts, &BootedSSHHost{Booted: b, Name: h.Name, Addr: h.Addr, KnownHostsLine: h.KnownHostsLine})
		lines = append(lines, h.KnownHostsLine)
	}
	for _, h := range bs.Hosts {
		// ssh.service may still be starting when the boot is reported finished.
		probe := &SSHHost{Addr: h.Addr}
		if err := probe.WaitReady(30 * time.Second); err != nil {
			state, _ := h.Run("systemctl", "status", "--no-pager", "ssh.service")
			t.Fatalf("testenv: %s: %v\n%s", h.Name, err, state)
		}
	}
	if err := os.WriteFile(bs.KnownHosts, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return bs
}
