package transport_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// onlyViaJump makes h2 accept root only from h1's address: a connection that did not go through h1
// is refused, so a successful one proves the jump.
func onlyViaJump(t *testing.T) func(h *testenv.SSHHost) {
	return func(h *testenv.SSHHost) {
		if h.Name != "h2" {
			return
		}
		jump := h.Addr[:strings.LastIndex(h.Addr, ".")] + ".11" // h1's address on the same bridge
		testenv.WriteFile(t, h.Root, "/etc/ssh/sshd_config.d/60-only-via-jump.conf", "AllowUsers root@"+jump+"\n")
	}
}

// startAgent runs a real ssh-agent on a socket of the test's, holding key, and points SSH_AUTH_SOCK
// at it. It returns a function that empties the agent.
func startAgent(t *testing.T, key string) (clear func()) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatalf("ssh-agent: %v", err)
	}
	t.Cleanup(func() { _ = agent.Process.Kill(); _ = agent.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ssh-agent did not create its socket")
		}
	}
	t.Setenv("SSH_AUTH_SOCK", sock)
	add := func(args ...string) {
		if out, err := exec.Command("ssh-add", args...).CombinedOutput(); err != nil {
			t.Fatalf("ssh-add %v: %v: %s", args, err, out)
		}
	}
	add(key)
	return func() { add("-D") }
}

// TestSSHProxyJumpAndAgent: ProxyJump through a jump host (given directly and from an OpenSSH
// client config), with the key offered by a real ssh-agent and no key file anywhere.
func TestSSHProxyJumpAndAgent(t *testing.T) {
	hs := testenv.StartSSHHosts(t, 2, onlyViaJump(t))
	h1, h2 := hs.Hosts[0], hs.Hosts[1]
	ctx := context.Background()
	t.Setenv("HOME", t.TempDir()) // no ~/.ssh/id_* to fall back on

	// Direct: refused, so the jump below is what gets in.
	if s, err := transport.DialSSH(ctx, sshCfg(hs, h2)); err == nil {
		_ = s.Close()
		t.Fatal("h2 accepted a direct connection: the test cannot tell a jump from none")
	}

	// The agent holds the only copy of the key chaos can use.
	clear := startAgent(t, hs.KeyFile)
	viaAgent := func(cfg transport.SSHConfig) transport.SSHConfig {
		cfg.KeyFiles, cfg.NoAgent = nil, false
		return cfg
	}
	clientOf := func(s *transport.SSH) string {
		res, err := s.Run(ctx, transport.Cmd{Argv: []string{"sh", "-c", `hostname; echo "${SSH_CLIENT%% *}"`}})
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(res.Stdout))
	}

	cfg := viaAgent(sshCfg(hs, h2))
	cfg.ProxyJump = "root@" + h1.Addr
	s, err := transport.DialSSH(ctx, cfg)
	if err != nil {
		t.Fatalf("ProxyJump with the agent's key: %v", err)
	}
	if got := clientOf(s); got != "h2\n"+h1.Addr {
		t.Fatalf("host and client address = %q, want h2 reached from %s", got, h1.Addr)
	}
	_ = s.Close()

	// The same from an OpenSSH client config: HostName, User and ProxyJump of an alias.
	conf := filepath.Join(t.TempDir(), "config")
	text := "Host web\n  HostName " + h2.Addr + "\n  User root\n  ProxyJump root@" + h1.Addr + "\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	alias := transport.SSHConfig{Host: "web", KnownHostsFiles: []string{hs.KnownHosts}, SSHConfigFile: conf,
		ConnectTimeout: 5 * time.Second}
	s, err = transport.DialSSH(ctx, alias)
	if err != nil {
		t.Fatalf("alias from the ssh config: %v", err)
	}
	if got := clientOf(s); got != "h2\n"+h1.Addr {
		t.Fatalf("host and client address = %q, want h2 reached from %s", got, h1.Addr)
	}
	_ = s.Close()

	// Without the key in the agent nothing gets in: the agent was what authenticated.
	clear()
	if s, err := transport.DialSSH(ctx, alias); err == nil {
		_ = s.Close()
		t.Fatal("connected with an empty agent and no key file")
	}
}
