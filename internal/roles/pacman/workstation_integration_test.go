package pacman_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

func yamlList(names []string) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString("  - " + n + "\n")
	}
	return b.String()
}

// TestWorkstationChobolo loads a realistic Arch workstation Ch-obolo — 230 packages and 50 AUR
// packages over four files joined by imports (combine and override), with the original's legacy
// spellings (pacotes, aurPkgs) — and plans it with every built-in role against an Arch-flavoured root
// holding a matching local repository, half of it installed, plus undeclared packages to prune.
func TestWorkstationChobolo(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.ArchRoot(t)
	var basePkgs, deskPkgs, aurPkgs []string
	var repo []testenv.PacPkg
	for i := range 40 {
		repo = append(repo, testenv.PacPkg{Name: fmt.Sprintf("lib-%02d", i)})
	}
	for i := range 230 {
		n := fmt.Sprintf("ws-pkg-%03d", i)
		repo = append(repo, testenv.PacPkg{Name: n, Depends: []string{fmt.Sprintf("lib-%02d", i%40)}})
		if i < 120 {
			basePkgs = append(basePkgs, n)
		} else {
			deskPkgs = append(deskPkgs, n)
		}
	}
	for i := range 50 {
		aurPkgs = append(aurPkgs, fmt.Sprintf("aur-ws-%02d", i))
	}
	repo = append(repo, testenv.PacPkg{Name: "tinybase"}, testenv.PacPkg{Name: "junk-1"}, testenv.PacPkg{Name: "junk-2"},
		testenv.PacPkg{Name: "needed-by-declared"}, testenv.PacPkg{Name: "ws-app", Depends: []string{"needed-by-declared"}})
	deskPkgs = append(deskPkgs, "ws-app")
	section := testenv.PacmanRepo(t, root, repo...)
	_ = section

	// Half installed, plus undeclared explicit packages and a kept one.
	install := []string{"pacman", "--noconfirm", "-S", "tinybase", "junk-1", "junk-2", "needed-by-declared", "ws-app"}
	for i := 0; i < 230; i += 2 {
		install = append(install, fmt.Sprintf("ws-pkg-%03d", i))
	}
	testenv.Chroot(t, root, install...)
	// 20 AUR packages and yay installed as foreign packages, and one undeclared.
	var files []string
	for i := range 20 {
		files = append(files, testenv.PacmanPackage(t, root, "/tmp/aur", testenv.PacPkg{Name: aurPkgs[i]}))
	}
	files = append(files, testenv.PacmanPackage(t, root, "/tmp/aur", testenv.PacPkg{Name: "yay"}),
		testenv.PacmanPackage(t, root, "/tmp/aur", testenv.PacPkg{Name: "aur-stale"}))
	testenv.Chroot(t, root, append([]string{"pacman", "--noconfirm", "-U"}, files...)...)
	if err := syscallMountProc(root); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("base.yml", "# legacy spelling of packages\npacotes:\n"+yamlList(basePkgs)+
		"baseOverride: [tinybase]\nusers:\n  - {name: alice, groups: [wheel], sudo: false}\nregion:\n  timezone: UTC\n  locale: [en_US.UTF-8]\n")
	write("desktop.yml", "packages:\n"+yamlList(deskPkgs)+"services:\n  - ssh\n")
	write("aur.yml", "aurHelpers: [yay]\naurPkgs:\n  base_url: file:///srv/aur\n  packages:\n"+strings.ReplaceAll(yamlList(aurPkgs), "  - ", "    - "))
	write("laptop.yml", "region:\n  timezone: America/Sao_Paulo\n  locale: [pt_BR.UTF-8, en_US.UTF-8]\n  keymap: br-abnt2\n")
	write("main.yml", `imports:
  - base.yml
  - desktop.yml
  - aur.yml
  - {file: laptop.yml, strategy: override}
hostname: workstation
prune_orphans: true
repos:
  managed: {core: false, extra: false}
  third_party:
    - {name: chaos-test, url: "file:///srv/chaos-pacman-repo", siglevel: Never}
  i_know_exactly_what_im_doing: |
    [options]
    Architecture = auto
    SigLevel = Never
`)
	start := time.Now()
	c, err := chobolo.Load(filepath.Join(dir, "main.yml"), chobolo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	loadTime := time.Since(start)
	if len(c.Packages) != 231 || len(c.Warnings) == 0 || c.Region.Timezone != "America/Sao_Paulo" {
		t.Fatalf("loaded %d packages, %d warnings, timezone %s", len(c.Packages), len(c.Warnings), c.Region.Timezone)
	}
	tr := enginetest.Chroot(t, root)
	start = time.Now()
	hp := enginetest.Plan(t, tr, c, builtin.Roles()...)
	planTime := time.Since(start)
	out := enginetest.Render(hp)
	t.Logf("load %v, plan %v (%d roles)", loadTime.Round(time.Millisecond), planTime.Round(time.Millisecond), len(hp.Roles))

	byRole := map[string]*engine.RolePlan{}
	for _, rp := range hp.Roles {
		byRole[rp.Role] = rp
	}
	count := func(role string, kind engine.Kind, prefix string) (n int, subjects []string) {
		if rp := byRole[role]; rp != nil {
			for _, s := range rp.Steps {
				for _, ch := range s.Changes {
					if ch.Kind == kind && strings.HasPrefix(ch.Subject, prefix) {
						n++
						subjects = append(subjects, ch.Subject)
					}
				}
			}
		}
		return n, subjects
	}
	if n, _ := count("packages", engine.Add, "package ws-pkg-"); n != 115 {
		t.Errorf("packages to install: %d, want 115", n)
	}
	if _, del := count("packages", engine.Del, "package "); strings.Join(del, ",") != "package junk-1,package junk-2" {
		t.Errorf("packages to remove: %v", del)
	}
	if n, _ := count("aur", engine.Add, "package aur-ws-"); n != 30 {
		t.Errorf("AUR packages to build: %d, want 30", n)
	}
	if _, del := count("aur", engine.Del, "package "); strings.Join(del, ",") != "package aur-stale" {
		t.Errorf("AUR removals: %v (yay must stay)", del)
	}
	for _, role := range []string{"repos", "hostname", "users", "region"} {
		if byRole[role] == nil {
			t.Errorf("no %s plan", role)
		}
	}
	if !strings.Contains(out, "/etc/vconsole.conf") || !strings.Contains(out, "/etc/pacman.conf") {
		t.Errorf("plan lacks Arch files:\n%s", out)
	}
	// Foreign or native: the AUR names must never reach pacman -S.
	if strings.Contains(out, "-- aur-ws") {
		t.Error("AUR packages in a pacman -S transaction")
	}
}
