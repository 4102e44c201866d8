package region_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/packages"
	"github.com/ch-aos-ch/chaos/internal/roles/region"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// rootWithout is a Debian root where pkg is not installed but can be: the root's own package
// (testenv.InstalledDebPkg, Depends: depends) is published in a local repository with extra, then
// purged.
func rootWithout(t *testing.T, pkg string, depends []string, extra ...testenv.DebPkg) string {
	t.Helper()
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, append([]testenv.DebPkg{testenv.InstalledDebPkg(t, root, pkg, depends...)}, extra...)...)
	testenv.Chroot(t, root, "dpkg", "--purge", pkg)
	return root
}

// rootWithoutLocales is rootWithout locales, checked to have no locale-gen.
func rootWithoutLocales(t *testing.T, extra ...testenv.DebPkg) string {
	t.Helper()
	root := rootWithout(t, "locales", []string{"libc-bin"}, extra...)
	if _, _, code := testenv.ChrootResult(t, root, "sh", "-c", "command -v locale-gen"); code == 0 {
		t.Fatal("locale-gen is still there after purging locales")
	}
	return root
}

// TestLocalesNeeded: region.locale on a root without the locales package applies in one run: the
// packages role installs locales (needed by region) before region runs locale-gen, and the second
// run changes nothing. (Before, the packages role did not run for a region-only Ch-obolo and the
// apply failed with "locale-gen: not found", rolling everything back.)
func TestLocalesNeeded(t *testing.T) {
	root := rootWithoutLocales(t)
	tr := enginetest.Chroot(t, root)
	c := &chobolo.Chobolo{Region: chobolo.Region{Locales: []string{"de_DE.UTF-8"}}}
	c.SetKey("region", chobolo.Pos{})
	c.SetPos("region.locale", chobolo.Pos{File: "c.yml", Line: 3, Col: 3})
	hp := enginetest.ApplyTwice(t, tr, c, region.New(), packages.New())
	plan := enginetest.Render(hp)
	t.Logf("first plan:\n%s", plan)
	if !strings.Contains(plan, "package locales") || !strings.Contains(plan, "needed by region: locale-gen for region.locale") {
		t.Errorf("the plan does not install locales for region:\n%s", plan)
	}
	if got := testenv.Chroot(t, root, "dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "locales"); got != "ii " {
		t.Errorf("locales is %q", got)
	}
	if locales := testenv.Chroot(t, root, "locale", "-a"); !strings.Contains(locales, "de_DE.utf8\n") {
		t.Errorf("locale -a lacks de_DE.utf8:\n%s", locales)
	}
}

// TestLocalesNeededByTag: `chaos apply region` (a tag) while `packages` is declared: the packages
// role runs only to install locales; the declared package is not installed and the undeclared
// manually installed package is not pruned, since the tag did not ask for packages.
func TestLocalesNeededByTag(t *testing.T) {
	root := rootWithoutLocales(t, testenv.DebPkg{Name: "chaos-extra", Version: "1.0"}, testenv.DebPkg{Name: "chaos-declared", Version: "1.0"})
	testenv.Chroot(t, root, "apt-get", "install", "-y", "-q", "chaos-extra")
	tr := enginetest.Chroot(t, root)
	c := &chobolo.Chobolo{Region: chobolo.Region{Locales: []string{"de_DE.UTF-8"}}, Packages: []chobolo.Package{{Name: "chaos-declared"}}}
	c.SetKey("region", chobolo.Pos{})
	c.SetKey("packages", chobolo.Pos{})
	e := &engine.Engine{Registry: engine.NewRegistry(region.New(), packages.New())}
	req := engine.Request{Chobolo: c, Tags: []string{"region"}, Assume: true}
	hp, err := e.Plan(context.Background(), tr, req)
	if err != nil {
		t.Fatal(err)
	}
	plan := enginetest.Render(hp)
	t.Logf("plan:\n%s", plan)
	if !strings.Contains(plan, "package locales") || strings.Contains(plan, "chaos-extra") || strings.Contains(plan, "chaos-declared") {
		t.Fatalf("the packages role should only install locales:\n%s", plan)
	}
	if !strings.Contains(strings.Join(hp.Notes, "\n"), "runs only to install what region needs") {
		t.Errorf("notes %q", hp.Notes)
	}
	if _, err := e.Apply(context.Background(), tr, hp, req); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if second, err := e.Plan(context.Background(), tr, req); err != nil || !second.Empty() {
		t.Fatalf("second run: %v\n%s", err, enginetest.Render(second))
	}
	for pkg, want := range map[string]string{"locales": "ii ", "chaos-extra": "ii "} {
		if got := testenv.Chroot(t, root, "dpkg-query", "-W", "-f", "${db:Status-Abbrev}", pkg); got != want {
			t.Errorf("%s is %q, want %q", pkg, got, want)
		}
	}
}

// TestTimesyncdNeeded: region.ntp: true on a root without systemd-timesyncd (a package of its own on
// Debian) applies in one run: the packages role installs it, region enables it, and the second run
// changes nothing. (Before, the plan failed: "add systemd-timesyncd to packages".)
func TestTimesyncdNeeded(t *testing.T) {
	root := rootWithout(t, "systemd-timesyncd", []string{"systemd"})
	if testenv.Exists(t, root, "/lib/systemd/system/systemd-timesyncd.service") {
		t.Fatal("the unit is still there after purging systemd-timesyncd")
	}
	tr := enginetest.Chroot(t, root)
	yes := true
	c := &chobolo.Chobolo{Region: chobolo.Region{NTP: &yes}}
	c.SetKey("region", chobolo.Pos{})
	hp := enginetest.ApplyTwice(t, tr, c, region.New(), packages.New())
	plan := enginetest.Render(hp)
	t.Logf("first plan:\n%s", plan)
	if !strings.Contains(plan, "+ package systemd-timesyncd: needed by region: the NTP client of region.ntp") {
		t.Errorf("the plan does not install systemd-timesyncd for region:\n%s", plan)
	}
	if out, _, _ := testenv.ChrootResult(t, root, "systemctl", "--root=/", "is-enabled", "systemd-timesyncd.service"); strings.TrimSpace(out) != "enabled" {
		t.Errorf("timesyncd is %q", out)
	}
}
