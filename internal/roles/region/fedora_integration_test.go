package region_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/region"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestRegionFedora applies the Fedora layout on the Fedora-flavoured root (ID=fedora, real dnf/rpm):
// /etc/locale.conf, /etc/vconsole.conf, /etc/localtime, no /etc/timezone, and the glibc langpacks of
// the declared locales installed with dnf instead of locale-gen.
func TestRegionFedora(t *testing.T) {
	root := testenv.FedoraRoot(t)
	testenv.RpmRepo(t, root, nil, testenv.RpmPkg{Name: "glibc-langpack-pt"}, testenv.RpmPkg{Name: "glibc-langpack-en"})
	tr := enginetest.Chroot(t, root)
	if err := os.Remove(filepath.Join(root, "etc/timezone")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	c := &chobolo.Chobolo{Region: chobolo.Region{Timezone: "America/Sao_Paulo", Locales: []string{"pt_BR.UTF-8", "en_US.UTF-8", "C.UTF-8"}, Keymap: "br-abnt2"}}
	c.SetKey("region", chobolo.Pos{})
	hp := enginetest.ApplyTwice(t, tr, c, region.NewFedora())
	t.Logf("first plan:\n%s", enginetest.Render(hp))
	if hp.Core != "fedora" {
		t.Errorf("core = %s", hp.Core)
	}
	if l, err := os.Readlink(filepath.Join(root, "etc/localtime")); err != nil || l != "/usr/share/zoneinfo/America/Sao_Paulo" {
		t.Errorf("/etc/localtime -> %q (%v)", l, err)
	}
	if testenv.Exists(t, root, "/etc/timezone") {
		t.Error("/etc/timezone written on Fedora")
	}
	if got := testenv.ReadFile(t, root, "/etc/locale.conf"); got != "LANG=pt_BR.UTF-8\n" {
		t.Errorf("/etc/locale.conf = %q", got)
	}
	if got := testenv.ReadFile(t, root, "/etc/vconsole.conf"); got != "KEYMAP=br-abnt2\n" {
		t.Errorf("/etc/vconsole.conf = %q", got)
	}
	if got := testenv.Chroot(t, root, "rpm", "-qa", "--qf", "%{NAME}\n"); !strings.Contains(got, "glibc-langpack-pt\n") || !strings.Contains(got, "glibc-langpack-en\n") {
		t.Errorf("langpacks not installed: %q", got)
	}
	if plan := enginetest.Render(hp); strings.Contains(plan, "locale-gen") {
		t.Errorf("locale-gen on Fedora:\n%s", plan)
	}
}
