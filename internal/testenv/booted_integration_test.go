package testenv

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A booted container runs systemd as its PID 1 in its own namespaces, and leaves nothing behind.
func TestBootedDebian(t *testing.T) {
	RequireRoot(t)
	own, _ := os.Hostname()
	var b *Booted
	var cgroups []string
	t.Run("boot", func(t *testing.T) {
		b = BootedDebian(t, func(root string) {
			WriteFile(t, root, "/etc/chaos-prepared", "yes\n")
		})
		t.Logf("boot: %v (%s)", b.Boot.Round(time.Millisecond), b.State)
		cgroups = b.cgroups
		if got := b.MustRun(t, "cat", "/proc/1/comm"); strings.TrimSpace(got) != "systemd" {
			t.Errorf("PID 1 inside is %q", got)
		}
		if got := b.MustRun(t, "cat", "/etc/chaos-prepared"); got != "yes\n" {
			t.Errorf("prepare did not run: %q", got)
		}
		for _, unit := range []string{"dbus.service", "ssh.service", "systemd-journald.service"} {
			if out, err := b.Run("systemctl", "is-active", unit); strings.TrimSpace(out) != "active" {
				t.Errorf("%s: %q %v", unit, out, err)
			}
		}
		// own UTS namespace: renaming inside leaves this machine alone
		b.MustRun(t, "hostname", "inside")
		if got := b.MustRun(t, "cat", "/proc/sys/kernel/hostname"); got != "inside\n" {
			t.Errorf("hostname inside = %q", got)
		}
		if now, _ := os.Hostname(); now != own {
			t.Fatalf("this machine's hostname changed to %q", now)
		}
		// loopback only
		if out := b.MustRun(t, "ip", "-o", "link"); strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("links inside:\n%s", out)
		}
		if _, err := b.Run("false"); err == nil || !strings.Contains(err.Error(), "exit status 1") {
			t.Errorf("Run(false) = %v", err)
		}
	})
	if b == nil {
		return
	}
	// after the subtest's cleanup: no process, cgroup or mount is left
	if err := syscall.Kill(b.PID, 0); err == nil {
		t.Errorf("container init %d still runs", b.PID)
	}
	for _, cg := range cgroups {
		if _, err := os.Stat(cg); err == nil {
			t.Errorf("cgroup %s left behind", cg)
		}
	}
	if ms := mountsUnder(b.Root); len(ms) > 0 {
		t.Errorf("mounts left: %v", ms)
	}
	if data, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(data), "chaos-nspawn") {
		t.Error("nspawn's tmpfs leaked into this machine's mount namespace")
	}
}
