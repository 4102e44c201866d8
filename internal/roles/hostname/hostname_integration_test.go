package hostname

import (
	"os"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

func TestIntegrationChroot(t *testing.T) {
	root := testenv.DebianRoot(t)
	tr := enginetest.Chroot(t, root)
	own, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	hostsBefore := testenv.ReadFile(t, root, "/etc/hosts")

	hp := enginetest.ApplyTwice(t, tr, chob("web1.example.com"), New())
	if hp.Empty() {
		t.Fatal("first run changed nothing")
	}
	if got := testenv.ReadFile(t, root, "/etc/hostname"); got != "web1.example.com\n" {
		t.Errorf("/etc/hostname = %q", got)
	}
	hosts := testenv.ReadFile(t, root, "/etc/hosts")
	if want, _, _ := EditHosts(hostsBefore, "web1.example.com"); hosts != want {
		t.Errorf("/etc/hosts =\n%s\nwant\n%s", hosts, want)
	}
	if !strings.Contains(hosts, "127.0.1.1\tweb1.example.com web1\n") || !strings.HasPrefix(hosts, hostsBefore[:strings.Index(hostsBefore, "\n")+1]) {
		t.Errorf("/etc/hosts =\n%s", hosts)
	}
	if out := testenv.Chroot(t, root, "getent", "hosts", "web1"); !strings.Contains(out, "127.0.1.1") {
		t.Errorf("getent hosts web1 = %q", out)
	}

	// Renaming replaces the line in place and keeps every other line.
	enginetest.ApplyTwice(t, tr, chob("db2"), New())
	if got := testenv.ReadFile(t, root, "/etc/hosts"); got != strings.Replace(hosts, "web1.example.com web1", "db2", 1) {
		t.Errorf("/etc/hosts after rename =\n%s", got)
	}
	for _, s := range hp.Roles[0].Steps {
		for _, op := range s.Ops {
			if len(op.Argv) > 0 {
				t.Errorf("a chroot plan runs a command: %s", op)
			}
		}
	}
	if now, _ := os.Hostname(); now != own {
		t.Fatalf("the machine's own hostname changed: %q -> %q", own, now)
	}
}
