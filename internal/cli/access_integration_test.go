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

// Confirming access after an apply over SSH, on a systemd-booted host (docs/generations.md,
// "Confirming access"): a good change is confirmed and kept, and the watchdog is gone; changes that
// lock root out (an AllowUsers drop-in and a ListenAddress on the loopback, which sshd reads at its
// restart by the restart phase, and an authorized_keys without the connecting key) fail the confirmation, and the host rolls itself
// back: reachable again, with its old configuration, and the next run reports it; a ListenAddress
// whose restart fails is undone by the engine itself, which disarms the watchdog;
// --no-confirm-access warns and arms nothing.
func TestConfirmAccessBooted(t *testing.T) {
	isolate(t)
	bs := testenv.StartBootedSSHHosts(t, 1)
	h := bs.Hosts[0]
	fleetYAML := fmt.Sprintf(`fleet:
  ssh: {known_hosts: %s, config: none, connect_timeout: 5s}
  hosts:
    %s: {ssh_hostname: %s, ssh_user: root, ssh_key: %s}
`, bs.KnownHosts, h.Name, h.Addr, bs.KeyFile)
	// sshd restarts when its drop-ins change (files' notify: the restart phase, in the apply)
	chobolo := func(files string) string {
		if files == "" {
			return writeChobolo(t, "services:\n  - name: ssh\nfiles: []\n"+fleetYAML)
		}
		return writeChobolo(t, "services:\n  - name: ssh\nfiles:\n"+files+fleetYAML)
	}
	const good = "  - {path: /etc/ssh/sshd_config.d/60-chaos-good.conf, content: \"ClientAliveInterval 120\\n\", notify: ssh}\n"
	const allow = "  - {path: /etc/ssh/sshd_config.d/40-chaos-allow.conf, content: \"AllowUsers nobody\\n\", notify: ssh}\n"
	// sshd listens on the loopback only: its restart succeeds, connections from outside are refused
	const loopback = "  - {path: /etc/ssh/sshd_config.d/40-chaos-loopback.conf, content: \"ListenAddress 127.0.0.1\\n\", notify: ssh}\n"
	// an address the host does not have: sshd cannot bind, its restart fails
	const listen = "  - {path: /etc/ssh/sshd_config.d/40-chaos-listen.conf, content: \"ListenAddress 192.0.2.1\\n\", notify: ssh}\n"
	otherKey := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl someone-else"
	keys := fmt.Sprintf("  - {path: /root/.ssh/authorized_keys, content: %q, mode: \"0600\"}\n", otherKey+"\n")
	apply := func(file string, extra ...string) result {
		return run(t, "", append([]string{"apply", "-c", file, "-f", "-y", "--confirm-timeout", "8s"}, extra...)...)
	}
	watchdogUnits := func() string {
		out, _ := h.Run("systemctl", "list-units", "--all", "--no-legend", "--plain", "chaos-watchdog-*")
		return strings.TrimSpace(out)
	}
	// the watchdog process ends by itself once disarmed (it looks once a second)
	waitNoWatchdog := func(what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for watchdogUnits() != "" {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the watchdog still runs: %s", what, watchdogUnits())
			}
			time.Sleep(300 * time.Millisecond)
		}
		if out, _ := h.Run("test", "-e", "/var/lib/chaos/watchdog"); out != "" {
			t.Fatalf("%s: %s", what, out)
		}
		if _, err := h.Run("test", "!", "-e", "/var/lib/chaos/watchdog"); err != nil {
			t.Fatalf("%s: /var/lib/chaos/watchdog is still there", what)
		}
	}
	origKeys := h.MustRun(t, "cat", "/root/.ssh/authorized_keys")

	// A good change: confirmed over a fresh connection, kept, the watchdog gone.
	r := apply(chobolo(good))
	if r.code != 0 || !strings.Contains(r.stdout, "access will be confirmed after the apply") ||
		!strings.Contains(r.stdout, "access confirmed over a fresh connection") {
		t.Fatalf("good change: %s", r)
	}
	waitNoWatchdog("after the confirmed apply")
	if got := h.MustRun(t, "cat", "/etc/ssh/sshd_config.d/60-chaos-good.conf"); got != "ClientAliveInterval 120\n" {
		t.Fatalf("the confirmed change was not kept: %q", got)
	}

	// Changes that lock root out: the confirmation fails, the host rolls itself back.
	for _, bad := range []struct {
		name, files string
		check       func() string // the old configuration is back: "" or what differs
	}{
		{"AllowUsers nobody (sshd restarted)", good + allow, func() string {
			if _, err := h.Run("test", "-e", "/etc/ssh/sshd_config.d/40-chaos-allow.conf"); err == nil {
				return "the AllowUsers drop-in is still there"
			}
			if out := h.MustRun(t, "sshd", "-T"); strings.Contains(strings.ToLower(out), "allowusers") {
				return "sshd -T still has AllowUsers"
			}
			return ""
		}},
		{"ListenAddress on the loopback (sshd restarted)", good + loopback, func() string {
			if _, err := h.Run("test", "-e", "/etc/ssh/sshd_config.d/40-chaos-loopback.conf"); err == nil {
				return "the ListenAddress drop-in is still there"
			}
			return ""
		}},
		{"authorized_keys without the connecting key", good + keys, func() string {
			if got := h.MustRun(t, "cat", "/root/.ssh/authorized_keys"); got != origKeys {
				return fmt.Sprintf("authorized_keys is %q", got)
			}
			return ""
		}},
	} {
		t.Run(bad.name, func(t *testing.T) {
			start := time.Now()
			r := apply(chobolo(bad.files))
			// a fleet run prints each host's lines, errors included, on stdout
			if r.code == 0 || !strings.Contains(r.stdout, "access lost after the apply") ||
				!strings.Contains(r.stdout, "the host rolls itself back at") || !strings.Contains(r.stdout, "is reachable again (the next run reports it)") {
				t.Fatalf("a lockout was not reported, or the host not seen back: %s", r)
			}
			// The watchdog fires 8+5 s after the lock's release and writes done when the undo is over.
			deadline := time.Now().Add(60 * time.Second)
			for {
				if _, err := h.Run("test", "-e", "/var/lib/chaos/watchdog/done"); err == nil {
					break
				}
				if time.Now().After(deadline) {
					log, _ := h.Run("cat", "/var/lib/chaos/watchdog/rollback.log")
					t.Fatalf("the watchdog did not roll back within a minute; units: %s; log:\n%s", watchdogUnits(), log)
				}
				time.Sleep(500 * time.Millisecond)
			}
			t.Logf("rolled back %s after the apply started", time.Since(start).Round(time.Second))
			log := h.MustRun(t, "cat", "/var/lib/chaos/watchdog/rollback.log")
			if strings.Contains(log, "FAILED") {
				t.Fatalf("undo steps failed:\n%s", log)
			}
			if why := bad.check(); why != "" {
				t.Fatalf("after the rollback: %s\n%s", why, log)
			}
			// Reachable again with the old configuration: the next run gets in, reports the
			// rollback, marks the generation, and finds only the good change in place.
			r = run(t, "", "apply", "-c", chobolo(good), "-f", "-y")
			if r.code != 0 || !strings.Contains(r.stdout, "1 unchanged") ||
				!strings.Contains(r.stdout, "access watchdog rolled back apply") {
				t.Fatalf("after the rollback: %s", r)
			}
			waitNoWatchdog("after the report")
			if index := h.MustRun(t, "cat", "/var/lib/chaos/generations/index.json"); !strings.Contains(index, `"undone_by_watchdog"`) {
				t.Fatalf("no generation is marked as undone by the watchdog:\n%s", index)
			}
		})
	}

	// A ListenAddress sshd cannot bind makes its restart fail in the apply: the engine undoes the
	// apply itself (the drop-in goes, sshd restarts on the old configuration) and disarms the
	// watchdog; nothing is left for the host to roll back.
	r = apply(chobolo(good + listen))
	if r.code == 0 || !strings.Contains(r.stdout, "failed, rolled back") || strings.Contains(r.stdout, "access lost") {
		t.Fatalf("bad ListenAddress: %s", r)
	}
	if _, err := h.Run("test", "-e", "/etc/ssh/sshd_config.d/40-chaos-listen.conf"); err == nil {
		t.Fatal("bad ListenAddress: the drop-in is still there")
	}
	if out, _ := h.Run("systemctl", "is-active", "ssh.service"); strings.TrimSpace(out) != "active" {
		t.Fatalf("bad ListenAddress: ssh.service is %s", out)
	}
	waitNoWatchdog("after the engine's own undo")

	// --no-confirm-access: a warning, no watchdog at any time.
	r = apply(chobolo(""), "--no-confirm-access")
	if r.code != 0 || !strings.Contains(r.stdout, "--no-confirm-access is set") || strings.Contains(r.stdout, "access confirmed") {
		t.Fatalf("--no-confirm-access: %s", r)
	}
	if units := watchdogUnits(); units != "" {
		t.Fatalf("--no-confirm-access armed a watchdog: %s", units)
	}
	if _, err := h.Run("test", "-e", "/var/lib/chaos/watchdog"); err == nil {
		t.Fatal("--no-confirm-access left /var/lib/chaos/watchdog")
	}
	if _, err := h.Run("test", "-e", "/etc/ssh/sshd_config.d/60-chaos-good.conf"); err == nil {
		t.Fatal("the apply with --no-confirm-access did not remove the managed file")
	}
}

// Without systemd (sshd chrooted in its own namespaces, no init), the watchdog is a setsid'd sh
// started through the connection: it outlives the session and rolls a lockout back all the same.
// The apply is a single --target, whose errors go to stderr.
func TestConfirmAccessWithoutSystemd(t *testing.T) {
	isolate(t)
	hs := testenv.StartSSHHosts(t, 1)
	h := hs.Hosts[0]
	if _, err := os.Stat(filepath.Join(h.Root, "run/systemd/system")); err == nil {
		t.Fatal("the host has /run/systemd/system: the engine would take it for a systemd host, and this test is for the setsid watchdog")
	}
	// `--target box` outside a Ch-obolo (generations, rollback) reaches the host through ~/.ssh/config
	home := t.TempDir()
	testenv.WriteFile(t, home, "/.ssh/config", fmt.Sprintf("Host box\n  HostName %s\n  User root\n  IdentityFile %s\n  UserKnownHostsFile %s\n",
		h.Addr, hs.KeyFile, hs.KnownHosts))
	t.Setenv("HOME", home)
	keysPath := filepath.Join(h.Root, "root/.ssh/authorized_keys")
	orig, err := os.ReadFile(keysPath)
	if err != nil {
		t.Fatal(err)
	}
	file := func(files string) string {
		return writeChobolo(t, fmt.Sprintf(`files:
%sfleet:
  ssh: {known_hosts: %s, config: none, connect_timeout: 5s}
  hosts:
    box: {ssh_hostname: %s, ssh_user: root, ssh_key: %s}
`, files, hs.KnownHosts, h.Addr, hs.KeyFile))
	}
	other := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl someone-else\n"
	lockout := file(fmt.Sprintf("  - {path: /root/.ssh/authorized_keys, content: %q, mode: \"0600\"}\n", other))
	// --dry says so, and arms nothing
	if r := run(t, "", "apply", "-c", lockout, "--target", "box", "--dry"); r.code != 2 ||
		!strings.Contains(r.stdout, "box: access would be confirmed after the apply") || testenv.Exists(t, h.Root, "/var/lib/chaos/watchdog") {
		t.Fatalf("--dry: %s", r)
	}
	r := run(t, "", "apply", "-c", lockout, "--target", "box", "-y", "--confirm-timeout", "4s")
	if r.code != 1 || !strings.Contains(r.stderr, "box: access lost after the apply") || !strings.Contains(r.stderr, "is reachable again") {
		t.Fatalf("a lockout was not reported, or the host not seen back: %s", r)
	}
	if lb := run(t, "", "logbook", "show", "last"); lb.code != 0 || !strings.Contains(lb.stdout, "\naccess:\n  box confirm access (apply ") ||
		!strings.Contains(lb.stdout, "access lost after the apply") {
		t.Fatalf("the logbook does not record the lost access: %s", lb)
	}
	done := filepath.Join(h.Root, "var/lib/chaos/watchdog/done")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		if _, err := os.Stat(done); err == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(h.Root, "var/lib/chaos/watchdog/rollback.log"))
			t.Fatalf("the watchdog did not roll back within a minute:\n%s", log)
		}
	}
	if got, _ := os.ReadFile(keysPath); string(got) != string(orig) {
		t.Fatalf("authorized_keys after the rollback: %q, want %q", got, orig)
	}
	r = run(t, "", "apply", "-c", file("  - {path: /etc/motd, content: \"hi\\n\"}\n"), "--target", "box", "-y")
	if r.code != 0 || !strings.Contains(r.stderr, "access watchdog rolled back apply") || strings.Contains(r.stdout, "access will be confirmed") {
		t.Fatalf("the next run: %s", r)
	}
	if lb := run(t, "", "logbook", "show", "last"); lb.code != 0 || !strings.Contains(lb.stdout, "  box rolled back ") ||
		!strings.Contains(lb.stdout, "access was not confirmed after it") {
		t.Fatalf("the logbook does not record the watchdog's rollback: %s", lb)
	}
	if g := run(t, "", "generations", "--target", "box"); g.code != 0 || !strings.Contains(g.stdout, "apply (undone by watchdog)") {
		t.Fatalf("generations: %s", g)
	}
	if g := run(t, "", "generations", "show", "1", "--target", "box"); g.code != 0 || !strings.Contains(g.stdout, "by the host's access watchdog") {
		t.Fatalf("generations show: %s", g)
	}
	if _, err := os.Stat(filepath.Join(h.Root, "var/lib/chaos/watchdog")); err == nil {
		t.Fatal("the watchdog's directory is still there after the report")
	}

	// A rollback is an apply too: one that touches access is confirmed the same way.
	conf := "  - {path: /etc/ssh/sshd_config.d/61-chaos.conf, content: \"ClientAliveInterval 60\\n\"}\n"
	motd := "  - {path: /etc/motd, content: \"hi\\n\"}\n"
	if r := run(t, "", "apply", "-c", file(conf+motd), "--target", "box", "-y"); r.code != 0 || !strings.Contains(r.stdout, "access confirmed") {
		t.Fatalf("apply with the drop-in: %s", r)
	} else {
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.Contains(l, "applied") || strings.Contains(l, "access confirmed") {
				t.Log(l)
			}
		}
	}
	if r := run(t, "", "apply", "-c", file(motd), "--target", "box", "-y"); r.code != 0 || !strings.Contains(r.stdout, "access confirmed") {
		t.Fatalf("apply without the drop-in: %s", r)
	}
	r = run(t, "", "rollback", "--target", "box", "-y", "--confirm-timeout", "10s")
	if r.code != 0 || !strings.Contains(r.stdout, "access will be confirmed after the apply") || !strings.Contains(r.stdout, "access confirmed over a fresh connection") {
		t.Fatalf("rollback: %s", r)
	}
	if !testenv.Exists(t, h.Root, "/etc/ssh/sshd_config.d/61-chaos.conf") || testenv.Exists(t, h.Root, "/var/lib/chaos/watchdog") {
		t.Fatal("after the rollback: the drop-in is not back, or the watchdog is still there")
	}
}
