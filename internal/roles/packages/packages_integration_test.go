package packages

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/debian"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

func pkgs(names ...string) *chobolo.Chobolo {
	c := &chobolo.Chobolo{File: "m.yml"}
	for _, n := range names {
		c.Packages = append(c.Packages, chobolo.Package{Name: n})
	}
	c.SetKey("packages", chobolo.Pos{File: "m.yml", Line: 1, Col: 1})
	return c
}

func installedSet(t *testing.T, root string) (installed, manual []string) {
	t.Helper()
	for line := range strings.SplitSeq(testenv.Chroot(t, root, "dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Package}\n"), "\n") {
		if strings.HasPrefix(line, "ii ") {
			installed = append(installed, strings.TrimSpace(line[3:]))
		}
	}
	manual = strings.Fields(testenv.Chroot(t, root, "apt-mark", "showmanual"))
	return installed, manual
}

// TestIntegration installs, marks, prunes and keeps packages on a real Debian root with a local repo,
// then proves the second run is a no-op.
func TestIntegration(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	svc := `rc=0; /usr/sbin/policy-rc.d chaos-svc start || rc=$?; echo "$rc" > /var/tmp/chaos-svc-policy`
	testenv.AptRepo(t, root,
		testenv.DebPkg{Name: "chaos-a", Version: "1.0"},
		testenv.DebPkg{Name: "chaos-lib", Version: "1.0"},
		testenv.DebPkg{Name: "chaos-b", Version: "1.0", Depends: []string{"chaos-lib"}},
		testenv.DebPkg{Name: "chaos-junk", Version: "1.0", Files: map[string]string{"/etc/chaos-junk.conf": "x\n"}},
		testenv.DebPkg{Name: "chaos-helper", Version: "1.0"},
		testenv.DebPkg{Name: "chaos-app", Version: "1.0", Depends: []string{"chaos-helper"}},
		testenv.DebPkg{Name: "chaos-helper2", Version: "1.0"},
		testenv.DebPkg{Name: "chaos-mid", Version: "1.0", Depends: []string{"chaos-helper2 (>= 1.0)"}},
		testenv.DebPkg{Name: "chaos-app2", Version: "1.0", Depends: []string{"chaos-mid"}},
		testenv.DebPkg{Name: "chaos-svc", Version: "1.0", Postinst: svc},
	)
	apt := append([]string{"apt-get"}, debian.AptOptions...)
	testenv.Chroot(t, root, append(apt, "install", "--no-install-recommends", "chaos-junk", "chaos-app", "chaos-helper", "chaos-helper2", "chaos-lib")...)
	testenv.Chroot(t, root, "apt-mark", "auto", "chaos-lib")
	// The root's own manual packages stay: it is a minbase root plus what its recipe adds.
	_, manualBefore := installedSet(t, root)

	tr := enginetest.Chroot(t, root)
	c := pkgs("chaos-a", "chaos-b", "chaos-lib", "chaos-app", "chaos-app2", "chaos-svc")
	hp := enginetest.ApplyTwice(t, tr, c, New())
	plan := enginetest.Render(hp)
	t.Logf("first plan:\n%s", plan)

	installed, manual := installedSet(t, root)
	for _, n := range []string{"chaos-a", "chaos-b", "chaos-lib", "chaos-app", "chaos-app2", "chaos-mid", "chaos-svc", "chaos-helper", "chaos-helper2"} {
		if !slices.Contains(installed, n) {
			t.Errorf("%s is not installed", n)
		}
	}
	if slices.Contains(installed, "chaos-junk") {
		t.Error("chaos-junk (manual, undeclared) was not pruned")
	}
	if !slices.Contains(manual, "chaos-lib") {
		t.Error("chaos-lib was not marked manual")
	}
	// Undeclared manual packages that declared ones need stay, marked automatic: the manual set is
	// the declared set plus the base system, and the next plan is empty without a note.
	for _, n := range []string{"chaos-helper", "chaos-helper2"} {
		if !strings.Contains(plan, "~ package "+n+": manual -> automatic (declared package") {
			t.Errorf("the plan does not mark %s automatic:\n%s", n, plan)
		}
		if slices.Contains(manual, n) || !slices.Contains(installed, n) {
			t.Errorf("%s: installed %v, manual %v; want installed, automatic", n, slices.Contains(installed, n), slices.Contains(manual, n))
		}
	}
	if !strings.Contains(plan, "chaos-app2 -> chaos-mid -> chaos-helper2") {
		t.Errorf("the mark should show the chain through the new package:\n%s", plan)
	}
	if second := enginetest.Plan(t, tr, c, New()); len(second.Roles[0].Notes) > 0 {
		t.Errorf("the second plan still has notes: %q", second.Roles[0].Notes)
	}
	// The other manual packages of the root were left alone.
	for _, n := range manualBefore {
		if strings.HasPrefix(n, "chaos-") {
			continue
		}
		if !slices.Contains(installed, n) {
			t.Errorf("%s (manual, base system) was removed", n)
		}
	}
	// No service started in the chroot, and the temporary policy-rc.d is gone.
	if got := strings.TrimSpace(testenv.ReadFile(t, root, "/var/tmp/chaos-svc-policy")); got != "101" {
		t.Errorf("policy-rc.d during the install returned %q, want 101", got)
	}
	if testenv.Exists(t, root, debian.PolicyRC) {
		t.Error("policy-rc.d was left behind")
	}

	// The apply-time guard refuses a removal that would take a declared package with it.
	g := GuardOp([]string{"chaos-helper"}, "remove", "chaos-helper")
	res, err := tr.Run(context.Background(), transport.Cmd{Argv: g.Argv, Env: g.Env})
	if err != nil {
		t.Fatal(err)
	}
	if res.Code == 0 || !strings.Contains(string(res.Stderr), "apt would also remove chaos-app") {
		t.Errorf("guard: exit %d, stderr %q", res.Code, res.Stderr)
	}
	g = GuardOp([]string{"chaos-a"}, "remove", "chaos-a")
	if res, err := tr.Run(context.Background(), transport.Cmd{Argv: g.Argv, Env: g.Env}); err != nil || res.Code != 0 {
		t.Errorf("guard refused a harmless removal: %v %d %s", err, res.Code, res.Stderr)
	}

	// `chaos init chobolo --from`: the captured Ch-obolo plans no change.
	e := &engine.Engine{Registry: engine.NewRegistry(New())}
	captured, err := e.Capture(context.Background(), tr, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(captured.Packages, func(p chobolo.Package) string { return p.Name }); slices.Contains(got, "chaos-helper") || !slices.Contains(got, "chaos-a") { // chaos-helper is a dependency now
		t.Errorf("captured packages: %v", got)
	}
	if hp := enginetest.Plan(t, tr, captured, New()); !hp.Empty() {
		t.Errorf("the captured Ch-obolo is not a no-op:\n%s", enginetest.Render(hp))
	}

	// Dropping a package from the Ch-obolo removes it (and autoremove takes its dependency).
	c = pkgs("chaos-a", "chaos-app", "chaos-app2", "chaos-svc")
	enginetest.ApplyTwice(t, tr, c, New())
	installed, _ = installedSet(t, root)
	for _, n := range []string{"chaos-b", "chaos-lib"} {
		if slices.Contains(installed, n) {
			t.Errorf("%s should be gone", n)
		}
	}
}

// TestIntegrationNoLists: on a root where apt never ran `apt-get update`, the plan updates first.
func TestIntegrationNoLists(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, testenv.DebPkg{Name: "chaos-a", Version: "1.0"})
	testenv.Chroot(t, root, "sh", "-c", "rm -f /var/lib/apt/lists/*_Packages*")
	tr := enginetest.Chroot(t, root)
	c := &chobolo.Chobolo{Packages: []chobolo.Package{{Name: "chaos-a"}}} // packages not declared: no prune
	hp := enginetest.ApplyTwice(t, tr, withUsersKey(c), New())
	if plan := enginetest.Render(hp); !strings.Contains(plan, "apt-get -q -y") || !strings.Contains(plan, " update") {
		t.Errorf("no apt-get update in the plan:\n%s", plan)
	}

	// A package apt cannot find fails the apply before anything changes, and the temporary
	// policy-rc.d does not survive the rollback. Without package lists the plan cannot tell that it
	// is missing (it warns), so the apply is what finds out.
	testenv.Chroot(t, root, "sh", "-c", "rm -f /var/lib/apt/lists/*_Packages*")
	c = &chobolo.Chobolo{Packages: []chobolo.Package{{Name: "chaos-a"}, {Name: "chaos-nonexistent"}}}
	e := &engine.Engine{Registry: engine.NewRegistry(New())}
	req := engine.Request{Chobolo: withUsersKey(c), Assume: true}
	hp, err := e.Plan(context.Background(), tr, req)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Apply(context.Background(), tr, hp, req)
	if err == nil || !strings.Contains(err.Error(), "chaos-nonexistent") || !res.RolledBack || len(res.UndoErrors) > 0 {
		t.Errorf("apply: %v %+v", err, res)
	}
	if testenv.Exists(t, root, debian.PolicyRC) {
		t.Error("policy-rc.d survived the rollback")
	}
}

// withUsersKey declares `users` (empty) so that the role runs without `packages` being declared.
func withUsersKey(c *chobolo.Chobolo) *chobolo.Chobolo {
	c.SetKey("users", chobolo.Pos{})
	return c
}

// TestIntegrationUndoKilledTransaction: dpkg dies in the middle of the install (a preinst kills it,
// as when chaos and its apt are killed): the package it was unpacking is left half-installed with
// "reinstall required" and dpkg's journal unmerged, which apt refuses to touch. The undo must still
// bring dpkg back to exactly its state before, and apt must work afterwards.
func TestIntegrationUndoKilledTransaction(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root,
		testenv.DebPkg{Name: "chaos-lib", Version: "1.0", Files: map[string]string{"/usr/share/chaos-lib/data": "lib\n"}},
		testenv.DebPkg{Name: "chaos-a", Version: "1.0", Depends: []string{"chaos-lib"}, Postinst: "echo configured > /var/lib/chaos-a-configured"},
		testenv.DebPkg{Name: "chaos-doomed", Version: "1.0", Depends: []string{"chaos-a"}, Preinst: `kill -KILL "$PPID"`,
			Files: map[string]string{"/usr/share/chaos-doomed/data": "doomed\n"}})
	states := func() string {
		return testenv.Chroot(t, root, "dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n")
	}
	before := states()
	wide := testenv.HostState(t, root)
	tr := enginetest.Chroot(t, root)
	enginetest.ApplyRollsBack(t, tr, withUsersKey(&chobolo.Chobolo{Packages: []chobolo.Package{{Name: "chaos-doomed"}}}), New())
	if got := testenv.HostState(t, root); got != wide {
		t.Errorf("the root is not as before the apply:\n%s", testenv.StateDiff(wide, got))
	}
	if got := states(); got != before {
		b, g := strings.Split(before, "\n"), strings.Split(got, "\n")
		t.Errorf("dpkg is not as before the apply: now %q, before %q",
			slices.DeleteFunc(g, func(l string) bool { return slices.Contains(b, l) }),
			slices.DeleteFunc(slices.Clone(b), func(l string) bool { return slices.Contains(g, l) }))
	}
	if audit := testenv.Chroot(t, root, "dpkg", "--audit"); audit != "" {
		t.Errorf("dpkg --audit after the undo:\n%s", audit)
	}
	for _, p := range []string{"/usr/share/chaos-doomed/data", "/usr/share/chaos-lib/data", "/var/lib/chaos-a-configured"} {
		if testenv.Exists(t, root, p) {
			t.Errorf("%s survived the undo", p)
		}
	}
	// apt works again: the same root takes a clean install.
	enginetest.ApplyTwice(t, tr, withUsersKey(&chobolo.Chobolo{Packages: []chobolo.Package{{Name: "chaos-a"}}}), New())
}
