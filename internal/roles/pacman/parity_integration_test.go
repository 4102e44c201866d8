package pacman_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestArchParity applies a whole Arch Ch-obolo with every built-in role (the registry picks the Arch
// implementations of packages, repos and region; users, hostname, services and files are shared) on
// the Arch-flavoured root, twice, the second run changing nothing.
func TestArchParity(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.ArchRoot(t)
	// No sudo package: the root's visudo (Debian's) meets the users role's need for sudo: true.
	testenv.PacmanMirror(t, root, "core", testenv.PacPkg{Name: "tinybase"}, testenv.PacPkg{Name: "zsh"})
	testenv.PacmanMirror(t, root, "extra", testenv.PacPkg{Name: "htop-ish"})
	yes := true
	c := &chobolo.Chobolo{
		Hostname: "arch-box",
		Users:    []chobolo.User{{Name: "alice", Groups: []string{"wheel"}, Sudo: true, Shell: "zsh"}},
		Packages: []chobolo.Package{{Name: "htop-ish"}},
		// The fixture's zsh is Debian's: shell packages only name the dependency here.
		BaseOverride: []chobolo.Package{{Name: "tinybase"}},
		Repos:        chobolo.Repos{Managed: map[string]bool{}, Options: "Architecture = auto\nSigLevel = Never\n"},
		Region:       chobolo.Region{Timezone: "Europe/Berlin", Locales: []string{"en_US.UTF-8"}, Keymap: "de-latin1", NTP: &yes},
		Services:     []chobolo.Service{{Name: "ssh"}},
		Files:        []chobolo.File{{Path: "/etc/motd", Content: "hello from chaos\n"}},
	}
	for _, k := range []string{"hostname", "users", "packages", "baseOverride", "repos", "region", "services", "files"} {
		c.SetKey(k, chobolo.Pos{})
	}
	// Debian's zsh binary stands in for Arch's zsh package (the shell must exist for useradd).
	if _, _, code := testenv.ChrootResult(t, root, "test", "-x", "/usr/bin/zsh"); code != 0 {
		testenv.Chroot(t, root, "ln", "-s", "/bin/bash", "/usr/bin/zsh")
		testenv.WriteFile(t, root, "/etc/shells", testenv.ReadFile(t, root, "/etc/shells")+"/usr/bin/zsh\n")
	}
	tr := enginetest.Chroot(t, root)
	start := time.Now()
	hp := enginetest.ApplyTwice(t, tr, c, builtin.Roles()...)
	t.Logf("apply + re-plan: %v\n%s", time.Since(start).Round(time.Millisecond), enginetest.Render(hp))
	if hp.Core != "arch" {
		t.Fatalf("core = %s", hp.Core)
	}
	if got := strings.Fields(testenv.Chroot(t, root, "pacman", "-Qqe")); !slices.Equal(got, []string{"htop-ish", "tinybase", "zsh"}) {
		t.Errorf("explicit packages = %v", got)
	}
	if got := testenv.ReadFile(t, root, "/etc/hostname"); got != "arch-box\n" {
		t.Errorf("hostname = %q", got)
	}
	if g := testenv.Chroot(t, root, "id", "-nG", "alice"); !strings.Contains(g, "wheel") {
		t.Errorf("alice's groups: %s", g)
	}
	if !testenv.Exists(t, root, "/etc/sudoers.d/99-chaos-alice") {
		t.Error("no sudoers file for alice")
	}
	if got := testenv.ReadFile(t, root, "/etc/locale.conf"); got != "LANG=en_US.UTF-8\n" {
		t.Errorf("locale.conf = %q", got)
	}
	if got := testenv.ReadFile(t, root, "/etc/vconsole.conf"); got != "KEYMAP=de-latin1\n" {
		t.Errorf("vconsole.conf = %q", got)
	}
	if got := testenv.ReadFile(t, root, "/etc/motd"); got != "hello from chaos\n" {
		t.Errorf("motd = %q", got)
	}
}
