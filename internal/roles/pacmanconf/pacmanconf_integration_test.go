package pacmanconf_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/pacman"
	"github.com/ch-aos-ch/chaos/internal/roles/pacmanconf"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestIntegration generates pacman.conf on the Arch-flavoured root with "official" core and extra
// served by the fixture's mirrorlist and a third-party repository, syncs, installs from all three
// with the packages role in the same run, and proves the second run changes nothing (no second sync).
func TestIntegration(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.ArchRoot(t)
	testenv.PacmanMirror(t, root, "core", testenv.PacPkg{Name: "core-a"})
	testenv.PacmanMirror(t, root, "extra", testenv.PacPkg{Name: "extra-a", Depends: []string{"core-a"}})
	testenv.PacmanMirror(t, root, "multilib", testenv.PacPkg{Name: "lib32-a"})
	testenv.PacmanMirror(t, root, "third", testenv.PacPkg{Name: "third-a"}) // a third-party repo, by URL
	repo := testenv.PacmanMirrorDir + "/third"
	stock := testenv.ReadFile(t, root, "/etc/pacman.conf")

	c := &chobolo.Chobolo{Repos: chobolo.Repos{
		Managed:    map[string]bool{"multilib": true},
		ThirdParty: []chobolo.PacmanRepo{{Name: "third", URL: "file://" + repo, SigLevel: "Never"}},
		// Test packages are unsigned.
		Options: "[options]\nArchitecture = auto\nCheckSpace\nSigLevel = Never\nLocalFileSigLevel = Never\n",
	}, Packages: []chobolo.Package{{Name: "extra-a"}, {Name: "third-a"}, {Name: "lib32-a"}}, BaseOverride: []chobolo.Package{{Name: "core-a"}}}
	c.SetKey("repos", chobolo.Pos{})
	c.SetKey("packages", chobolo.Pos{})
	c.SetKey("baseOverride", chobolo.Pos{})
	tr := enginetest.Chroot(t, root)
	hp := enginetest.ApplyTwice(t, tr, c, pacmanconf.New(), pacman.New())
	plan := enginetest.Render(hp)
	t.Logf("first plan:\n%s", plan)

	conf := testenv.ReadFile(t, root, pacmanconf.ConfPath)
	if !strings.HasPrefix(conf, pacmanconf.Header) {
		t.Errorf("pacman.conf:\n%s", conf)
	}
	if got := testenv.ReadFile(t, root, pacmanconf.BackupPath); got != stock {
		t.Errorf("backup = %q, want the stock file", got)
	}
	repos := strings.Fields(testenv.Chroot(t, root, "pacman-conf", "--repo-list"))
	if !slices.Equal(repos, []string{"core", "extra", "multilib", "third"}) {
		t.Errorf("repositories = %v (official first)", repos)
	}
	if got := strings.Fields(testenv.Chroot(t, root, "pacman", "-Qqe")); !slices.Equal(got, []string{"core-a", "extra-a", "lib32-a", "third-a"}) {
		t.Errorf("explicit = %v", got)
	}
	if !strings.Contains(plan, "repositories: none -> core extra multilib third") {
		t.Error("the change does not list the repositories")
	}

	// Dropping multilib rewrites and syncs once; the backup stays the stock file.
	c.Repos.Managed = map[string]bool{"extras": false, "extra": true}
	c.Packages = c.Packages[:2]
	hp = enginetest.ApplyTwice(t, tr, c, pacmanconf.New(), pacman.New())
	t.Logf("second plan:\n%s", enginetest.Render(hp))
	if repos := strings.Fields(testenv.Chroot(t, root, "pacman-conf", "--repo-list")); !slices.Equal(repos, []string{"core", "extra", "third"}) {
		t.Errorf("repositories = %v", repos)
	}
	if got := testenv.ReadFile(t, root, pacmanconf.BackupPath); got != stock {
		t.Error("the backup was overwritten")
	}
}
