package dnf_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/arch"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestThreeCores applies one distro-agnostic Ch-obolo to a Debian root, an Arch-style pacman root and
// a Fedora-style dnf root with every built-in role: the registry picks each core's packages and
// region roles, the package map turns `cron` and `7zip` into each core's names, each root ends up
// with its intended packages, the core-agnostic roles (hostname, users, files) do the same on all
// three, and the second run changes nothing anywhere.
func TestThreeCores(t *testing.T) {
	testenv.RequireRoot(t)
	c := &chobolo.Chobolo{File: "any.yml", Packages: []chobolo.Package{{Name: "chaos-hello"}, {Name: "cron"}, {Name: "7zip"}},
		Hostname: "forge", Users: []chobolo.User{{Name: "alice", Groups: []string{"adm"}}},
		Region: chobolo.Region{Timezone: "Europe/Berlin"},
		Files:  []chobolo.File{{Path: "/etc/motd", Content: "managed by Ch-aOS\n"}}}
	for _, k := range []string{"packages", "hostname", "users", "region", "files"} {
		c.SetKey(k, chobolo.Pos{File: "any.yml", Line: 1, Col: 1})
	}
	// The core-agnostic roles do the same on every core.
	same := func(t *testing.T, root string) {
		t.Helper()
		if got := testenv.ReadFile(t, root, "/etc/hostname"); got != "forge\n" {
			t.Errorf("hostname %q", got)
		}
		if got := testenv.Chroot(t, root, "id", "-nG", "alice"); !strings.Contains(got, "adm") {
			t.Errorf("alice's groups: %q", got)
		}
		if got := testenv.ReadFile(t, root, "/etc/motd"); got != "managed by Ch-aOS\n" {
			t.Errorf("motd %q", got)
		}
		if got := strings.TrimSpace(testenv.Chroot(t, root, "readlink", "/etc/localtime")); !strings.HasSuffix(got, "/zoneinfo/Europe/Berlin") {
			t.Errorf("localtime -> %q", got)
		}
	}

	t.Run("debian", func(t *testing.T) {
		root := testenv.DebianRoot(t)
		testenv.AptRepo(t, root, testenv.DebPkg{Name: "chaos-hello", Version: "1.0"}, testenv.DebPkg{Name: "cron", Version: "1.0"},
			testenv.DebPkg{Name: "p7zip-full", Version: "1.0"})
		hp := enginetest.ApplyTwice(t, enginetest.Chroot(t, root), c, builtin.Roles()...)
		if hp.Core != "debian" {
			t.Fatalf("core %s", hp.Core)
		}
		same(t, root)
		manual := strings.Fields(testenv.Chroot(t, root, "apt-mark", "showmanual"))
		for _, n := range []string{"chaos-hello", "cron", "p7zip-full"} {
			if !slices.Contains(manual, n) {
				t.Errorf("debian: %s not installed (manual: %v)", n, manual)
			}
		}
	})
	t.Run("arch", func(t *testing.T) {
		root := testenv.ArchRoot(t)
		repo := []testenv.PacPkg{{Name: "chaos-hello"}, {Name: "cronie"}, {Name: "p7zip"}}
		for _, n := range arch.BaseSet { // the Arch core installs its base set: stand-ins
			repo = append(repo, testenv.PacPkg{Name: n})
		}
		testenv.PacmanRepo(t, root, repo...)
		hp := enginetest.ApplyTwice(t, enginetest.Chroot(t, root), c, builtin.Roles()...)
		if hp.Core != "arch" {
			t.Fatalf("core %s", hp.Core)
		}
		same(t, root)
		explicit := strings.Fields(testenv.Chroot(t, root, "pacman", "-Qqe"))
		for _, n := range []string{"chaos-hello", "cronie", "p7zip"} {
			if !slices.Contains(explicit, n) {
				t.Errorf("arch: %s not installed (explicit: %v)", n, explicit)
			}
		}
	})
	t.Run("fedora", func(t *testing.T) {
		root := testenv.FedoraRoot(t)
		testenv.RpmRepo(t, root, nil, testenv.RpmPkg{Name: "chaos-hello"}, testenv.RpmPkg{Name: "cronie"},
			testenv.RpmPkg{Name: "p7zip"}, testenv.RpmPkg{Name: "p7zip-plugins"})
		hp := enginetest.ApplyTwice(t, enginetest.Chroot(t, root), c, builtin.Roles()...)
		if hp.Core != "fedora" {
			t.Fatalf("core %s", hp.Core)
		}
		same(t, root)
		user := strings.Fields(testenv.Chroot(t, root, "dnf", "-q", "-C", "--disablerepo=*", "repoquery", "--userinstalled", "--qf", "%{name}\n"))
		for _, n := range []string{"chaos-hello", "cronie", "p7zip", "p7zip-plugins"} {
			if !slices.Contains(user, n) {
				t.Errorf("fedora: %s not installed (user-installed: %v)", n, user)
			}
		}
	})
}
