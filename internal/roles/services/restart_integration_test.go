package services_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/files"
	"github.com/ch-aos-ch/chaos/internal/roles/services"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestRestartChroot: in a chroot no systemd runs, so the restart phase notes what it would restart
// and runs nothing (no daemon-reload, no restart); a unit whose unit file is declared under files
// is written and then enabled offline in the same apply (before the change: refused, "does not
// exist on the target").
func TestRestartChroot(t *testing.T) {
	root := testenv.DebianRoot(t)
	if err := os.WriteFile(filepath.Join(root, "etc/systemd/system/demo.service"), []byte(testUnit), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "etc/demo"), 0o755); err != nil {
		t.Fatal(err)
	}
	tr := enginetest.Chroot(t, root)
	c := &chobolo.Chobolo{
		Services: []chobolo.Service{{Name: "demo", RestartOn: []string{"/etc/demo/demo.conf"}}, {Name: "bars-web"}},
		Files: []chobolo.File{{Path: "/etc/demo/demo.conf", Content: "v1\n"},
			{Path: "/etc/systemd/system/bars-web.service", Content: testUnit}},
	}
	c.SetKey("services", chobolo.Pos{})
	c.SetKey("files", chobolo.Pos{})
	hp := enginetest.ApplyTwice(t, tr, c, services.New(), files.New())
	t.Logf("\n%s", enginetest.Render(hp))
	ph := hp.Roles[len(hp.Roles)-1]
	if ph.Role != engine.RestartRole {
		t.Fatalf("no restart phase:\n%s", enginetest.Render(hp))
	}
	for _, want := range []string{
		"daemon-reload skipped: systemd not running (because /etc/systemd/system/bars-web.service changed)",
		"restart demo.service skipped: systemd not running (because /etc/demo/demo.conf changed)",
	} {
		if !slices.Contains(ph.Notes, want) {
			t.Errorf("notes %q lack %q", ph.Notes, want)
		}
	}
	for _, st := range ph.Steps {
		for _, op := range st.Ops {
			if s := op.String(); !strings.HasPrefix(s, "systemctl '--root=/' ") {
				t.Errorf("the phase runs %s in a chroot", s)
			}
		}
	}
	if got := isEnabled(t, root, "bars-web.service"); got != "enabled" {
		t.Errorf("bars-web.service is %q", got)
	}
}
