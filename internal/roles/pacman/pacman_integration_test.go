package pacman

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"go.yaml.in/yaml/v3"
)

func pacmanQ(t *testing.T, root string, flags string) []string {
	t.Helper()
	out, _, _ := testenv.ChrootResult(t, root, "pacman", flags)
	return strings.Fields(out)
}

func yamlNode(t *testing.T, s string) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil {
		t.Fatal(err)
	}
	return n.Content[0]
}

// TestIntegration installs, marks, prunes (never a package a declared one needs) and removes orphans
// with the real pacman on a real root, then proves the second run is a no-op.
func TestIntegration(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.ArchRoot(t)
	testenv.PacmanRepo(t, root,
		testenv.PacPkg{Name: "tinybase"},
		testenv.PacPkg{Name: "chaos-a"},
		testenv.PacPkg{Name: "chaos-lib"},
		testenv.PacPkg{Name: "chaos-b", Depends: []string{"chaos-lib>=1.0"}},
		testenv.PacPkg{Name: "chaos-junk", Depends: []string{"chaos-junkdep"}, Files: map[string]string{"/usr/bin/chaos-junk": "#!/bin/sh\n"}},
		testenv.PacPkg{Name: "chaos-junkdep"},
		testenv.PacPkg{Name: "chaos-helper", Provides: []string{"chaos-helping"}},
		testenv.PacPkg{Name: "chaos-app", Depends: []string{"chaos-helping"}},
		testenv.PacPkg{Name: "chaos-orphan"},
		testenv.PacPkg{Name: "chaos-svc", Install: "post_install() {\n  echo installed > /var/tmp/chaos-svc\n}"},
	)
	pacman := []string{"pacman", "--noconfirm"}
	testenv.Chroot(t, root, append(pacman, "-S", "chaos-junk", "chaos-app", "chaos-helper", "chaos-lib")...)
	testenv.Chroot(t, root, append(pacman, "-D", "--asdeps", "chaos-lib")...)
	testenv.Chroot(t, root, append(pacman, "-S", "--asdeps", "chaos-orphan")...)

	c := &chobolo.Chobolo{File: "m.yml", BaseOverride: []chobolo.Package{{Name: "tinybase"}}}
	for _, n := range []string{"chaos-a", "chaos-b", "chaos-lib", "chaos-app", "chaos-svc"} {
		c.Packages = append(c.Packages, chobolo.Package{Name: n})
	}
	c.SetKey("packages", chobolo.Pos{File: "m.yml", Line: 1, Col: 1})
	c.SetKey("baseOverride", chobolo.Pos{File: "m.yml", Line: 8, Col: 1})
	c.Extra = map[string]*yaml.Node{"prune_orphans": yamlNode(t, "true")}
	c.SetKey("prune_orphans", chobolo.Pos{})

	tr := enginetest.Chroot(t, root)
	start := time.Now()
	hp := enginetest.ApplyTwice(t, tr, c, New())
	t.Logf("apply + re-plan: %v", time.Since(start).Round(time.Millisecond))
	plan := enginetest.Render(hp)
	t.Logf("first plan:\n%s", plan)

	installed := pacmanQ(t, root, "-Qq")
	explicit := pacmanQ(t, root, "-Qqe")
	// The explicit set is the declared set plus the base set: chaos-helper, which a declared package
	// needs, stays as a dependency.
	if want := []string{"chaos-a", "chaos-app", "chaos-b", "chaos-lib", "chaos-svc", "tinybase"}; !slices.Equal(explicit, want) {
		t.Errorf("explicit = %v, want %v", explicit, want)
	}
	if !slices.Contains(installed, "chaos-helper") {
		t.Error("chaos-helper, which chaos-app needs, was removed")
	}
	for _, n := range []string{"chaos-junk", "chaos-junkdep", "chaos-orphan"} {
		if slices.Contains(installed, n) {
			t.Errorf("%s was not removed", n)
		}
	}
	if !strings.Contains(plan, "~ package chaos-helper: explicit -> dependency (declared package chaos-app depends on it)") {
		t.Error("the plan does not mark chaos-helper as a dependency")
	}
	if second := enginetest.Plan(t, tr, c, New()); len(second.Roles[0].Notes) > 0 {
		t.Errorf("the second plan has notes: %q", second.Roles[0].Notes)
	}
	if !strings.Contains(plan, "~ package chaos-lib: installed as a dependency; mark it explicitly installed") {
		t.Error("chaos-lib was not marked explicit")
	}
	if strings.Contains(plan, "-Rc") || strings.Contains(plan, "-Rs") {
		t.Error("the plan cascades or recurses")
	}
	if got := testenv.ReadFile(t, root, "/var/tmp/chaos-svc"); got != "installed\n" {
		t.Errorf("the install scriptlet did not run: %q", got)
	}
	if testenv.Exists(t, root, "/usr/bin/chaos-junk") {
		t.Error("chaos-junk's file is still there")
	}
}

// TestIntegrationDeclaredNeedsUndeclared is the prune case on the real pacman: a declared
// package depends on an undeclared explicit one, which stays as a dependency (the explicit set is
// the declared set plus the base set); and dropping the declaration of the dependant on the next
// run removes both.
func TestIntegrationDeclaredNeedsUndeclared(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.ArchRoot(t)
	testenv.PacmanRepo(t, root,
		testenv.PacPkg{Name: "base-x"},
		testenv.PacPkg{Name: "lib-x"},
		testenv.PacPkg{Name: "app-x", Depends: []string{"lib-x"}},
	)
	testenv.Chroot(t, root, "pacman", "--noconfirm", "-S", "lib-x", "app-x")
	c := &chobolo.Chobolo{Packages: []chobolo.Package{{Name: "app-x"}}, BaseOverride: []chobolo.Package{{Name: "base-x"}}}
	c.SetKey("packages", chobolo.Pos{})
	c.SetKey("baseOverride", chobolo.Pos{})
	tr := enginetest.Chroot(t, root)
	enginetest.ApplyTwice(t, tr, c, New())
	if got := pacmanQ(t, root, "-Qqe"); !slices.Equal(got, []string{"app-x", "base-x"}) {
		t.Errorf("explicit = %v, want the declared and the base set", got)
	}
	if got := pacmanQ(t, root, "-Qq"); !slices.Equal(got, []string{"app-x", "base-x", "lib-x"}) {
		t.Errorf("installed = %v", got)
	}
	c.Packages = nil
	enginetest.ApplyTwice(t, tr, c, New())
	if got := pacmanQ(t, root, "-Qq"); !slices.Equal(got, []string{"base-x"}) {
		t.Errorf("installed = %v, want only base-x", got)
	}
}

// TestIntegrationOrphanNeedsUndeclared: an orphan depends on an undeclared explicit package. Without
// prune_orphans the package stays (the real pacman would refuse its removal); with prune_orphans one
// run removes both, the orphan first, and the next plan is empty.
func TestIntegrationOrphanNeedsUndeclared(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.ArchRoot(t)
	testenv.PacmanRepo(t, root,
		testenv.PacPkg{Name: "base-y"},
		testenv.PacPkg{Name: "tool-y", Depends: []string{"toollib-y"}},
		testenv.PacPkg{Name: "toollib-y"},
		testenv.PacPkg{Name: "orphan-y", Depends: []string{"tool-y"}},
	)
	testenv.Chroot(t, root, "pacman", "--noconfirm", "-S", "base-y", "tool-y")
	testenv.Chroot(t, root, "pacman", "--noconfirm", "-S", "--asdeps", "orphan-y")
	c := &chobolo.Chobolo{BaseOverride: []chobolo.Package{{Name: "base-y"}}}
	c.SetKey("packages", chobolo.Pos{})
	c.SetKey("baseOverride", chobolo.Pos{})
	tr := enginetest.Chroot(t, root)
	plan := enginetest.Render(enginetest.ApplyTwice(t, tr, c, New()))
	if got := pacmanQ(t, root, "-Qq"); !slices.Equal(got, []string{"base-y", "orphan-y", "tool-y", "toollib-y"}) {
		t.Errorf("installed = %v", got)
	}
	if !strings.Contains(plan, "~ package tool-y: explicit -> dependency (package orphan-y depends on it)") {
		t.Errorf("plan:\n%s", plan)
	}
	if got := pacmanQ(t, root, "-Qqe"); !slices.Equal(got, []string{"base-y"}) {
		t.Errorf("explicit = %v, want only base-y", got)
	}
	c.Extra = map[string]*yaml.Node{"prune_orphans": yamlNode(t, "true")}
	c.SetKey("prune_orphans", chobolo.Pos{})
	enginetest.ApplyTwice(t, tr, c, New())
	if got := pacmanQ(t, root, "-Qq"); !slices.Equal(got, []string{"base-y"}) {
		t.Errorf("installed = %v, want only base-y", got)
	}
}

// TestIntegrationUndoKilledTransaction: pacman dies in the middle of the install (a scriptlet kills
// it, as when chaos and its pacman are killed): the packages installed before it stay, the one it
// was installing is not, and its database lock stays behind, on which every later pacman fails.
// The undo must still bring the package set back to exactly its state before.
func TestIntegrationUndoKilledTransaction(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.ArchRoot(t)
	testenv.PacmanRepo(t, root,
		testenv.PacPkg{Name: "chaos-lib", Files: map[string]string{"/usr/share/chaos-lib/data": "lib\n"}},
		testenv.PacPkg{Name: "chaos-a", Depends: []string{"chaos-lib"}},
		testenv.PacPkg{Name: "chaos-doomed", Depends: []string{"chaos-a"}, Install: "pre_install() {\n  kill -KILL \"$PPID\"\n}"},
	)
	before := pacmanQ(t, root, "-Q")
	wide := testenv.HostState(t, root)
	c := &chobolo.Chobolo{File: "m.yml", Packages: []chobolo.Package{{Name: "chaos-doomed"}}}
	c.SetKey("users", chobolo.Pos{}) // packages not declared: nothing is pruned
	tr := enginetest.Chroot(t, root)
	enginetest.ApplyRollsBack(t, tr, c, New())
	if got := testenv.HostState(t, root); got != wide {
		t.Errorf("the root is not as before the apply:\n%s", testenv.StateDiff(wide, got))
	}
	if got := pacmanQ(t, root, "-Q"); !slices.Equal(got, before) {
		t.Errorf("pacman -Q after the undo:\n%v\nbefore:\n%v", got, before)
	}
	if testenv.Exists(t, root, "/var/lib/pacman/db.lck") || testenv.Exists(t, root, "/usr/share/chaos-lib/data") {
		t.Error("the lock or a file of the transaction survived the undo")
	}
	// pacman works again.
	testenv.Chroot(t, root, "pacman", "--noconfirm", "-S", "chaos-a")
}
