package dnf

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/fedora"
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

// rpmState returns the installed packages and the user-installed ones (dnf's view).
func rpmState(t *testing.T, root string) (installed, user []string) {
	t.Helper()
	installed = strings.Fields(testenv.Chroot(t, root, "rpm", "-qa", "--qf", "%{NAME}\n"))
	user = strings.Fields(testenv.Chroot(t, root, "dnf", "-q", "-C", "--disablerepo=*", "repoquery", "--userinstalled", "--qf", "%{name}\n"))
	slices.Sort(installed)
	slices.Sort(user)
	return installed, user
}

var testRepo = []testenv.RpmPkg{
	{Name: "chaos-a"},
	{Name: "chaos-lib"},
	{Name: "chaos-b", Requires: []string{"chaos-lib"}},
	{Name: "chaos-junk", Files: map[string]string{"/etc/chaos-junk.conf": "x\n"}},
	{Name: "chaos-junk2"},
	{Name: "chaos-helper"},
	{Name: "chaos-app", Requires: []string{"chaos-helper"}},
	{Name: "chaos-helper2", Provides: []string{"chaos-virt"}},
	{Name: "chaos-mid", Requires: []string{"chaos-virt >= 1.0"}},
	{Name: "chaos-app2", Requires: []string{"chaos-mid"}},
	{Name: "chaos-g1"},
	{Name: "chaos-g2", Requires: []string{"chaos-lib"}},
}

var testGroups = []testenv.RpmGroup{{ID: "chaos-tools", Packages: []string{"chaos-g1", "chaos-g2"}}}

// TestIntegration installs, marks, prunes and keeps packages and a group on a real dnf/rpm root with a
// local repository, then proves the second run is a no-op.
func TestIntegration(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.FedoraRoot(t)
	start := time.Now()
	testenv.RpmRepo(t, root, testGroups, testRepo...)
	t.Logf("repository of %d packages: %v", len(testRepo), time.Since(start).Round(time.Millisecond))
	// chaos-junk is installed outside dnf (reason unknown), the others with dnf; chaos-lib becomes a
	// dependency.
	testenv.Chroot(t, root, "sh", "-c", "rpm -i /srv/chaos-rpm-repo/chaos-junk-1.0-1.noarch.rpm 2>/dev/null")
	testenv.Chroot(t, root, "dnf", "-y", "-q", "install", "chaos-junk2", "chaos-app", "chaos-helper", "chaos-helper2", "chaos-lib")
	testenv.Chroot(t, root, "dnf", "-y", "-q", "mark", "remove", "chaos-lib")

	tr := enginetest.Chroot(t, root)
	c := pkgs("chaos-a", "chaos-b", "chaos-lib", "chaos-app", "chaos-app2", "@chaos-tools")
	start = time.Now()
	enginetest.Plan(t, tr, c, New())
	t.Logf("probe + plan (dnf reasons, groups, new packages): %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	hp := enginetest.ApplyTwice(t, tr, c, New())
	t.Logf("apply + re-plan: %v", time.Since(start).Round(time.Millisecond))
	plan := enginetest.Render(hp)
	t.Logf("first plan:\n%s", plan)

	installed, user := rpmState(t, root)
	for _, n := range []string{"chaos-a", "chaos-b", "chaos-lib", "chaos-app", "chaos-app2", "chaos-mid", "chaos-helper", "chaos-helper2", "chaos-g1", "chaos-g2"} {
		if !slices.Contains(installed, n) {
			t.Errorf("%s is not installed", n)
		}
	}
	for _, n := range []string{"chaos-junk", "chaos-junk2"} {
		if slices.Contains(installed, n) {
			t.Errorf("%s (user-installed, undeclared) was not pruned", n)
		}
	}
	if !slices.Contains(user, "chaos-lib") {
		t.Error("chaos-lib was not marked user-installed")
	}
	// Undeclared user-installed packages that declared ones require stay, as dependencies: the
	// user-installed set is the declared set plus the base system, and the next plan has no note.
	if !strings.Contains(plan, "~ package chaos-helper: user-installed -> dependency (declared package chaos-app requires it)") {
		t.Errorf("chaos-helper is not marked as a dependency:\n%s", plan)
	}
	if !strings.Contains(plan, "~ package chaos-helper2: user-installed -> dependency") {
		t.Errorf("chaos-helper2 (needed through chaos-app2 -> chaos-mid -> chaos-virt) is not marked as a dependency:\n%s", plan)
	}
	if want := []string{"chaos-a", "chaos-app", "chaos-app2", "chaos-b", "chaos-lib"}; !slices.Equal(slices.DeleteFunc(slices.Clone(user), func(n string) bool { return !strings.HasPrefix(n, "chaos-") }), want) {
		t.Errorf("user-installed chaos packages = %v, want the declared ones %v", user, want)
	}
	if second := enginetest.Plan(t, tr, c, New()); len(second.Roles[0].Notes) > 0 {
		t.Errorf("the second plan has notes: %q", second.Roles[0].Notes)
	}
	if !strings.Contains(testenv.Chroot(t, root, "dnf", "-q", "-v", "-C", "group", "list", "--installed"), "(chaos-tools)") {
		t.Error("group chaos-tools is not installed")
	}

	// The apply-time guard refuses a removal that would take a package that stays with it.
	g := GuardOp([]string{"chaos-helper"})
	res, err := tr.Run(context.Background(), transport.Cmd{Argv: g.Argv})
	if err != nil {
		t.Fatal(err)
	}
	if res.Code == 0 || !strings.Contains(string(res.Stderr), "chaos-helper is needed by (installed) chaos-app") {
		t.Errorf("guard: exit %d, stderr %q", res.Code, res.Stderr)
	}
	g = GuardOp([]string{"chaos-a"})
	if res, err := tr.Run(context.Background(), transport.Cmd{Argv: g.Argv}); err != nil || res.Code != 0 {
		t.Errorf("guard refused a harmless removal: %v %d %s", err, res.Code, res.Stderr)
	}

	// `chaos init chobolo --from`: the captured Ch-obolo plans no change.
	e := &engine.Engine{Registry: engine.NewRegistry(New())}
	captured, err := e.Capture(context.Background(), tr, "")
	if err != nil {
		t.Fatal(err)
	}
	captured.Packages = append(captured.Packages, chobolo.Package{Name: "@chaos-tools"})
	if hp := enginetest.Plan(t, tr, captured, New()); !hp.Empty() {
		t.Errorf("the captured Ch-obolo is not a no-op:\n%s", enginetest.Render(hp))
	}

	// Installed groups are read from dnf's history database, not from repository metadata: with the
	// cache gone (dnf group list --installed then reports no group data at all), @chaos-tools is still
	// installed and nothing is planned.
	testenv.Chroot(t, root, "dnf", "-q", "clean", "all")
	if hp := enginetest.Plan(t, tr, c, New()); !hp.Empty() {
		t.Errorf("after dnf clean all, the installed group is not seen:\n%s", enginetest.Render(hp))
	}

	// Dropping packages and the group removes them (still without any cached metadata); the group's
	// members go with it, and the dependency chaos-lib stays because it is declared.
	c = pkgs("chaos-a", "chaos-lib", "chaos-app", "chaos-app2")
	hp = enginetest.ApplyTwice(t, tr, c, New())
	t.Logf("second plan:\n%s", enginetest.Render(hp))
	installed, _ = rpmState(t, root)
	for _, n := range []string{"chaos-b", "chaos-g1", "chaos-g2"} {
		if slices.Contains(installed, n) {
			t.Errorf("%s should be gone", n)
		}
	}
	if !slices.Contains(installed, "chaos-lib") {
		t.Error("chaos-lib (declared) was removed")
	}
}

// TestReadOnlyProbeSameFacts: the probe of a read-only run (--dry, captures), which reads copies of
// rpm's and dnf's databases (fedora.ReadOnlyScript), learns exactly what the probe of a real apply
// learns (packages, reasons, groups, what the repositories offer), and leaves no temp directory.
func TestReadOnlyProbeSameFacts(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.FedoraRoot(t)
	testenv.RpmRepo(t, root, testGroups, testRepo...)
	testenv.Chroot(t, root, "sh", "-c", "rpm -i /srv/chaos-rpm-repo/chaos-junk-1.0-1.noarch.rpm 2>/dev/null")
	testenv.Chroot(t, root, "dnf", "-y", "-q", "install", "chaos-app", "chaos-lib", "@chaos-tools")
	testenv.Chroot(t, root, "dnf", "-y", "-q", "mark", "remove", "chaos-lib")
	tr := enginetest.Chroot(t, root)
	c := pkgs("chaos-a", "chaos-b", "chaos-app2", "@chaos-tools")
	facts := func(readOnly bool) *Facts {
		t.Helper()
		raw := map[string]string{}
		for _, s := range New().Probe(&engine.Env{Core: fedora.Core, Chroot: true, ReadOnly: readOnly}, c) {
			res, err := tr.Run(context.Background(), transport.Cmd{Argv: []string{"sh", "-c", engine.WithScratch(s.Script)}})
			if err != nil || res.Code != 0 {
				t.Fatalf("section %s (read-only %v): %v, exit %d\n%s", s.Name, readOnly, err, res.Code, res.Stderr)
			}
			raw[s.Name] = string(res.Stdout)
		}
		return ParseFacts(raw)
	}
	want, got := facts(false), facts(true)
	// What the comparison is worth: the normal probe did learn reasons, the group and the new packages.
	if !want.Reasons || want.Pkgs["chaos-junk"].Reason != "unknown" || want.Pkgs["chaos-lib"].Reason != "dependency" ||
		!want.Groups["chaos-tools"] || !want.NewKnown || !want.Avail["chaos-b"] || !slices.Contains(want.NewDeps, "chaos-helper2") {
		t.Fatalf("the normal probe learnt too little to compare: %+v", want)
	}
	if !reflect.DeepEqual(want, got) {
		show := func(f *Facts) string {
			var b strings.Builder
			for _, n := range slices.Sorted(maps.Keys(f.Pkgs)) {
				fmt.Fprintf(&b, "%+v\n", *f.Pkgs[n])
			}
			f.Pkgs = nil
			fmt.Fprintf(&b, "%+v", *f)
			return b.String()
		}
		t.Errorf("the read-only probe learns something else:\nnormal:\n%s\nread-only:\n%s", show(want), show(got))
	}
	if left, _ := filepath.Glob(filepath.Join(root, "tmp", "chaos-probe.*")); len(left) > 0 {
		t.Errorf("temp directories left behind: %v", left)
	}
}
