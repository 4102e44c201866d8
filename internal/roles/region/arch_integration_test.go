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

// TestRegionArch applies the Arch layout on the Arch-flavoured root (ID=arch): /etc/locale.conf,
// /etc/vconsole.conf with the console keymap as is, /etc/localtime and no /etc/timezone.
func TestRegionArch(t *testing.T) {
	root := testenv.ArchRoot(t)
	tr := enginetest.Chroot(t, root)
	if err := os.Remove(filepath.Join(root, "etc/timezone")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	c := &chobolo.Chobolo{Region: chobolo.Region{Timezone: "America/Sao_Paulo", Locales: []string{"pt_BR.UTF-8", "en_US.UTF-8"}, Keymap: "br-abnt2"}}
	c.SetKey("region", chobolo.Pos{})
	hp := enginetest.ApplyTwice(t, tr, c, region.NewArch())
	t.Logf("first plan:\n%s", enginetest.Render(hp))
	if hp.Core != "arch" {
		t.Errorf("core = %s", hp.Core)
	}
	if l, err := os.Readlink(filepath.Join(root, "etc/localtime")); err != nil || l != "/usr/share/zoneinfo/America/Sao_Paulo" {
		t.Errorf("/etc/localtime -> %q (%v)", l, err)
	}
	if testenv.Exists(t, root, "/etc/timezone") {
		t.Error("/etc/timezone written on Arch")
	}
	if got := testenv.ReadFile(t, root, "/etc/locale.conf"); got != "LANG=pt_BR.UTF-8\n" {
		t.Errorf("/etc/locale.conf = %q", got)
	}
	if got := testenv.ReadFile(t, root, "/etc/vconsole.conf"); got != "KEYMAP=br-abnt2\n" {
		t.Errorf("/etc/vconsole.conf = %q", got)
	}
	if locales := testenv.Chroot(t, root, "locale", "-a"); !strings.Contains(locales, "pt_BR.utf8\n") {
		t.Errorf("locale -a:\n%s", locales)
	}
	if testenv.Exists(t, root, "/etc/default/keyboard") && strings.Contains(testenv.ReadFile(t, root, "/etc/default/keyboard"), "abnt2") {
		t.Error("the Debian keyboard file was written")
	}
}
