package livetest

import (
	"os"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/hostname"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestHostnameLive: on a running systemd the role also sets the running hostname with hostnamectl,
// inside the container's own UTS namespace; this machine's name never changes.
func TestHostnameLive(t *testing.T) {
	t.Parallel()
	own, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	b, tr := boot(t)
	if got := strings.TrimSpace(b.MustRun(t, "cat", "/proc/sys/kernel/hostname")); got != "localhost" {
		t.Fatalf("running hostname after boot = %q", got)
	}
	// Dionysus: systemd keeps the case (static and kernel hostname), so a second apply is empty.
	for _, name := range []string{"web1.example.com", "db2", "Dionysus"} {
		c := &chobolo.Chobolo{Hostname: name}
		c.SetKey("hostname", chobolo.Pos{})
		hp := enginetest.ApplyTwice(t, tr, c, hostname.New())
		if !hasChange(hp, "running hostname", "-> "+name) {
			t.Errorf("plan has no running-hostname change: %q", changes(hp))
		}
		if got := b.MustRun(t, "cat", "/proc/sys/kernel/hostname"); got != name+"\n" {
			t.Errorf("running hostname = %q, want %q", got, name)
		}
		if got := strings.TrimSpace(b.MustRun(t, "hostnamectl", "hostname")); got != name {
			t.Errorf("hostnamectl hostname = %q", got)
		}
		if got := testenv.ReadFile(t, b.Root, "/etc/hostname"); got != name+"\n" {
			t.Errorf("/etc/hostname = %q", got)
		}
		if !strings.Contains(testenv.ReadFile(t, b.Root, "/etc/hosts"), "127.0.1.1\t"+name) {
			t.Errorf("/etc/hosts:\n%s", testenv.ReadFile(t, b.Root, "/etc/hosts"))
		}
		if now, _ := os.Hostname(); now != own {
			t.Fatalf("this machine's hostname changed: %q -> %q", own, now)
		}
	}
}
