package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

func fleetChobolo(t *testing.T, hs *testenv.SSHHosts, extra string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `users:
  - name: alice
    shell: bash
files:
  - path: /etc/motd
    content: "managed by chaos\n"
fleet:
  parallelism: 10
  ssh:
    known_hosts: %s
    config: none
    connect_timeout: 3s
  hosts:
`, hs.KnownHosts)
	for i, h := range hs.Hosts {
		group := "web"
		if i == len(hs.Hosts)-1 {
			group = "db"
		}
		fmt.Fprintf(&b, "    %s: {ssh_hostname: %s, ssh_user: root, ssh_key: %s, groups: [%s]", h.Name, h.Addr, hs.KeyFile, group)
		if i == 0 {
			b.WriteString(", vars: {hostname: web-one}")
		}
		b.WriteString("}\n")
	}
	b.WriteString(`  groups:
    web:
      vars:
        files:
          - path: /etc/role
            content: "web\n"
` + extra)
	return writeChobolo(t, b.String())
}

// TestFleetApply applies one Ch-obolo to three real SSH hosts in parallel: per-host and group vars,
// restrictions, a second run with no changes, --limit, and an unreachable host that does not stop
// the others.
func TestFleetApply(t *testing.T) {
	isolate(t)
	hs := testenv.StartSSHHosts(t, 3)
	h1, h2, h3 := hs.Hosts[0], hs.Hosts[1], hs.Hosts[2]
	file := fleetChobolo(t, hs, `  restrictions:
    black_list:
      h3: {users: true}
`)
	start := time.Now()
	r := run(t, "", "apply", "-c", file, "--fleet", "-y")
	t.Logf("first run %s", time.Since(start))
	if r.code != 0 {
		t.Fatalf("apply --fleet: %s", r)
	}
	if !strings.Contains(r.stdout, "3 hosts: 3 changed") {
		t.Errorf("summary:\n%s", r.stdout)
	}
	for _, h := range hs.Hosts {
		if got := testenv.ReadFile(t, h.Root, "/etc/motd"); got != "managed by chaos\n" {
			t.Errorf("%s: motd = %q", h.Name, got)
		}
	}
	if got := testenv.ReadFile(t, h1.Root, "/etc/hostname"); strings.TrimSpace(got) != "web-one" {
		t.Errorf("h1: host vars not applied: hostname %q", got)
	}
	if testenv.ReadFile(t, h2.Root, "/etc/role") != "web\n" || testenv.Exists(t, h3.Root, "/etc/role") {
		t.Errorf("group vars: h2 role %v, h3 role %v", testenv.Exists(t, h2.Root, "/etc/role"), testenv.Exists(t, h3.Root, "/etc/role"))
	}
	if !strings.Contains(testenv.ReadFile(t, h2.Root, "/etc/passwd"), "alice:") {
		t.Error("h2: alice missing")
	}
	if strings.Contains(testenv.ReadFile(t, h3.Root, "/etc/passwd"), "alice:") {
		t.Error("h3: restrictions did not skip the users role")
	}

	// Second run: nothing to do anywhere.
	start = time.Now()
	r = run(t, "", "apply", "-c", file, "-f", "-y")
	t.Logf("no-change run %s", time.Since(start))
	if r.code != 0 || !strings.Contains(r.stdout, "3 hosts: 3 unchanged") {
		t.Fatalf("second run: %s", r)
	}

	// The plan says what restrictions skipped.
	r = run(t, "", "apply", "-c", file, "--limit", "db", "--dry", "-v")
	if r.code != 0 || !strings.Contains(r.stdout, "role users: skipped: black-listed for h3") || strings.Contains(r.stdout, "h1:") {
		t.Fatalf("--limit db -v: %s", r)
	}
	// --limit patterns: group minus a host.
	r = run(t, "", "apply", "-c", file, "--limit", "web,!h2", "--dry")
	if r.code != 0 || !strings.Contains(r.stdout, "1 hosts: 1 unchanged") || !strings.Contains(r.stdout, "h1 ") {
		t.Fatalf("--limit web,!h2: %s", r)
	}
	if r = run(t, "", "apply", "-c", file, "--limit", "h9", "--dry"); r.code != 1 || !strings.Contains(r.stderr, "matches no host") {
		t.Fatalf("--limit h9: %s", r)
	}

	// An unreachable host is reported; the others still run; exit 1.
	h2.Stop()
	os.WriteFile(filepath.Join(h1.Root, "etc/motd"), []byte("drift\n"), 0o644)
	r = run(t, "", "apply", "-c", file, "-f", "-y")
	if r.code != 1 {
		t.Fatalf("with h2 down: want exit 1: %s", r)
	}
	if !strings.Contains(r.stdout, "h2") || !strings.Contains(r.stdout, "unreachable") ||
		!strings.Contains(r.stdout, "3 hosts: 1 changed, 1 unchanged, 1 unreachable") {
		t.Fatalf("with h2 down: %s", r)
	}
	if testenv.ReadFile(t, h1.Root, "/etc/motd") != "managed by chaos\n" {
		t.Fatal("h1 was not repaired while h2 was down")
	}
}

// TestFleetSSHTargetAndHostKeys: --target picks a fleet host by name; an unknown host key is refused
// until --accept-new-host-keys; a changed key is always refused.
func TestFleetSSHTargetAndHostKeys(t *testing.T) {
	isolate(t)
	hs := testenv.StartSSHHosts(t, 1)
	kh := filepath.Join(t.TempDir(), "kh")
	file := writeChobolo(t, fmt.Sprintf(`files:
  - path: /etc/motd
    content: "x\n"
fleet:
  ssh: {known_hosts: %s, config: none}
  hosts:
    box: {ssh_hostname: %s, ssh_user: root, ssh_key: %s}
`, kh, hs.Hosts[0].Addr, hs.KeyFile))
	r := run(t, "", "apply", "-c", file, "--target", "box", "-y")
	if r.code != 1 || !strings.Contains(r.stderr, "unknown host key") {
		t.Fatalf("unknown key: %s", r)
	}
	r = run(t, "", "apply", "-c", file, "--target", "box", "-y", "--accept-new-host-keys")
	if r.code != 0 || testenv.ReadFile(t, hs.Hosts[0].Root, "/etc/motd") != "x\n" {
		t.Fatalf("accept-new: %s", r)
	}
	r = run(t, "", "apply", "-c", file, "--target", "box", "-y")
	if r.code != 0 || !strings.Contains(r.stdout, "box: no changes") {
		t.Fatalf("known now: %s", r)
	}
	other := testenv.StartSSHHosts(t, 1)
	os.WriteFile(kh, []byte(strings.Replace(other.Hosts[0].KnownHostsLine, other.Hosts[0].Addr, hs.Hosts[0].Addr, 1)+"\n"), 0o600)
	r = run(t, "", "apply", "-c", file, "--target", "box", "-y", "--accept-new-host-keys")
	if r.code != 1 || !strings.Contains(r.stderr, "HOST KEY CHANGED") {
		t.Fatalf("changed key: %s", r)
	}
}

// TestFleetBecome applies as a non-root user through sudo with the password read from stdin.
func TestFleetBecome(t *testing.T) {
	isolate(t)
	const pass = "pw with spaces"
	hs := testenv.StartSSHHosts(t, 1, func(h *testenv.SSHHost) {
		h.Exec(t, "useradd", "-m", "-s", "/bin/sh", "-G", "sudo", "deploy")
		h.Exec(t, "sh", "-c", "echo 'deploy:"+pass+"' | chpasswd")
	})
	h := hs.Hosts[0]
	testenv.WriteFile(t, h.Root, "/home/deploy/.ssh/authorized_keys", hs.PublicKey+"\n")
	h.Exec(t, "chown", "-R", "deploy:deploy", "/home/deploy/.ssh")
	file := writeChobolo(t, fmt.Sprintf(`users:
  - name: alice
files:
  - path: /etc/sudo-made
    content: "y\n"
    mode: "0600"
fleet:
  ssh: {known_hosts: %s, config: none}
  hosts:
    h1: {ssh_hostname: %s, ssh_user: deploy, ssh_key: %s, become: true}
`, hs.KnownHosts, h.Addr, hs.KeyFile))
	r := run(t, "", "apply", "-c", file, "-f", "-y")
	if r.code != 1 || !strings.Contains(r.stdout, "sudo needs a password") {
		t.Fatalf("without password: %s", r)
	}
	r = run(t, pass+"\n", "apply", "-c", file, "-f", "-y", "--ask-become-pass")
	if r.code != 0 {
		t.Fatalf("with password: %s", r)
	}
	if testenv.ReadFile(t, h.Root, "/etc/sudo-made") != "y\n" || !strings.Contains(testenv.ReadFile(t, h.Root, "/etc/passwd"), "alice:") {
		t.Fatal("become did not apply as root")
	}
	if !strings.Contains(testenv.ReadFile(t, h.Root, "/etc/passwd"), "deploy:") {
		t.Fatal("the connecting user was removed")
	}
	r = run(t, pass+"\n", "apply", "-c", file, "-f", "-y", "--ask-become-pass")
	if r.code != 0 || !strings.Contains(r.stdout, "1 hosts: 1 unchanged") {
		t.Fatalf("second run: %s", r)
	}
}
