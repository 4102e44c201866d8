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

func TestRegionChroot(t *testing.T) {
	root := testenv.DebianRoot(t)
	tr := enginetest.Chroot(t, root)
	no := false
	c := &chobolo.Chobolo{Region: chobolo.Region{Timezone: "America/Sao_Paulo",
		Locales: []string{"pt_BR.UTF-8", "en_US.UTF-8"}, Keymap: "br-abnt2", NTP: &no}}
	c.SetKey("region", chobolo.Pos{})
	hp := enginetest.ApplyTwice(t, tr, c, region.New())
	t.Logf("first plan:\n%s", enginetest.Render(hp))

	if l, err := os.Readlink(filepath.Join(root, "etc/localtime")); err != nil || l != "/usr/share/zoneinfo/America/Sao_Paulo" {
		t.Errorf("/etc/localtime -> %q (%v)", l, err)
	}
	if got := testenv.ReadFile(t, root, "/etc/timezone"); got != "America/Sao_Paulo\n" {
		t.Errorf("/etc/timezone = %q", got)
	}
	locales := testenv.Chroot(t, root, "locale", "-a")
	for _, l := range []string{"pt_BR.utf8", "en_US.utf8"} {
		if !strings.Contains(locales, l+"\n") {
			t.Errorf("locale -a lacks %s:\n%s", l, locales)
		}
	}
	if got := testenv.ReadFile(t, root, "/etc/default/locale"); !strings.Contains(got, "\nLANG=pt_BR.UTF-8\n") {
		t.Errorf("/etc/default/locale = %q", got)
	}
	if got := testenv.ReadFile(t, root, "/etc/default/keyboard"); !strings.Contains(got, "XKBLAYOUT=\"br\"\nXKBVARIANT=\"abnt2\"\n") {
		t.Errorf("/etc/default/keyboard = %q", got)
	}
	if out, _, _ := testenv.ChrootResult(t, root, "systemctl", "--root=/", "is-enabled", "systemd-timesyncd.service"); strings.TrimSpace(out) != "disabled" {
		t.Errorf("timesyncd is %q", out)
	}

	// change everything back: a second locale set, keyboard us, ntp on, UTC
	yes := true
	c.Region = chobolo.Region{Timezone: "UTC", Locales: []string{"en_US.UTF-8"}, Keymap: "us", NTP: &yes}
	enginetest.ApplyTwice(t, tr, c, region.New())
	if gen := testenv.ReadFile(t, root, "/etc/locale.gen"); !strings.Contains(gen, "\n# pt_BR.UTF-8 UTF-8\n") {
		t.Error("pt_BR.UTF-8 still active in locale.gen")
	}
	if locales := testenv.Chroot(t, root, "locale", "-a"); strings.Contains(locales, "pt_BR") {
		t.Errorf("pt_BR still generated:\n%s", locales)
	}
	if out, _, _ := testenv.ChrootResult(t, root, "systemctl", "--root=/", "is-enabled", "systemd-timesyncd.service"); strings.TrimSpace(out) != "enabled" {
		t.Errorf("timesyncd is %q", out)
	}

	bad := &chobolo.Chobolo{Region: chobolo.Region{Timezone: "Mars/Olympus_Mons"}}
	bad.SetKey("region", chobolo.Pos{})
	if _, err := enginetestPlan(tr, bad); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing zone: err = %v", err)
	}
}
