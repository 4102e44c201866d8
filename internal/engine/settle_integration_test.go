package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// svcPkg enables its unit from its postinst as Debian packages do (deb-systemd-helper).
var svcPkg = testenv.ServiceDebPkg("chaos-svc", "1.0", "[Unit]\nDescription=chaos test daemon\n\n"+
	"[Service]\nExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=multi-user.target\n")

const settleChobolo = `packages: [chaos-svc]
services:
  - name: sshd
`

func unitState(t *testing.T, root, unit string) string {
	t.Helper()
	out, _, _ := testenv.ChrootResult(t, root, "systemctl", "--root=/", "is-enabled", unit)
	return strings.TrimSpace(out)
}

// TestSettleUnitEnabledByPackage: a package whose postinst enables its unit, the unit not declared
// under services. One apply leaves the package installed and the unit disabled (the services role is
// probed again after the packages role and prunes it in the same run, with a note and an event), the
// generation's journal holds that disable, and the next plans are empty.
func TestSettleUnitEnabledByPackage(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, svcPkg)
	tr := enginetest.Chroot(t, root)
	ctx := context.Background()
	e := &engine.Engine{Registry: builtin.Registry()}
	c := load(t, settleChobolo)
	req := engine.Request{Chobolo: c, Assume: true}
	hp, err := e.Plan(ctx, tr, req)
	if err != nil {
		t.Fatal(err)
	}
	dry := enginetest.Render(hp)
	if !strings.Contains(dry, "packages installed by this plan may enable units: probed again after packages and settled in the same run") {
		t.Errorf("--dry does not say that services are settled after packages:\n%s", dry)
	}
	var replanned []engine.Event
	var lastPkg, firstSvc time.Time
	req.Observe = func(ev engine.Event) {
		switch {
		case ev.Type == engine.EventReplanned:
			replanned = append(replanned, ev)
		case ev.Type == engine.EventOpEnd && ev.Role == "packages":
			lastPkg = time.Now()
		case ev.Type == engine.EventOpStart && ev.Role == "services" && firstSvc.IsZero():
			firstSvc = time.Now()
		}
	}
	res, err := e.Apply(ctx, tr, hp, req)
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, dry)
	}
	t.Logf("services probed and planned again in %v", firstSvc.Sub(lastPkg).Round(time.Millisecond))
	if len(replanned) != 1 || replanned[0].Role != "services" ||
		!slices.Contains(replanned[0].Notes, "- service chaos-svc.service: disable (enabled by a package installed in this run, not declared)") {
		t.Errorf("re-plan events: %+v", replanned)
	}
	if got := unitState(t, root, "chaos-svc.service"); got != "disabled" {
		t.Errorf("chaos-svc.service is %q after one apply, want disabled", got)
	}
	if got := testenv.Chroot(t, root, "dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "chaos-svc"); got != "ii " {
		t.Errorf("chaos-svc: dpkg state %q", got)
	}
	// The disable is journaled like every op (undo and rollback cover it) and in the generation.
	j, err := engine.ReadGenerationJournal(ctx, tr, res.Generation)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(j.Entries, func(je engine.JournalEntry) bool {
		return je.Role == "services" && slices.Equal(je.Op.Argv, []string{"systemctl", "--root=/", "disable", "chaos-svc.service"}) &&
			je.Undo != nil && slices.Contains(je.Undo.Argv, "enable")
	}) {
		var ops []string
		for _, je := range j.Entries {
			ops = append(ops, je.Role+": "+je.Op.String())
		}
		t.Errorf("the generation's journal has no services disable of chaos-svc.service:\n%s", strings.Join(ops, "\n"))
	}
	plan, err := engine.ReadGenerationFile(ctx, tr, res.Generation, "plan.json")
	if err != nil || !strings.Contains(string(plan), "planned again after packages") {
		t.Errorf("the generation's plan.json does not record the re-plan (%v)", err)
	}
	// Second run: nothing to do; the (empty) second apply leaves a third plan empty too.
	if second := enginetest.Plan(t, tr, c, builtin.Roles()...); !second.Empty() {
		t.Fatalf("second plan is not empty:\n%s\nfirst was:\n%s", enginetest.Render(second), dry)
	}
	enginetest.ApplyTwice(t, tr, c, builtin.Roles()...)
}

// TestSettleDeclaredUnit: the same package with its unit declared enabled under services: one run
// leaves it enabled (the approved `enable` of a unit the package was to ship is no longer needed once
// its postinst enabled it), the next plan is empty.
func TestSettleDeclaredUnit(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, svcPkg)
	tr := enginetest.Chroot(t, root)
	c := load(t, settleChobolo+"  - name: chaos-svc\n")
	first := enginetest.ApplyThrice(t, tr, c, builtin.Roles()...)
	if !strings.Contains(enginetest.Render(first), "+ service chaos-svc.service: enable") {
		t.Errorf("the approved plan does not enable chaos-svc.service:\n%s", enginetest.Render(first))
	}
	if got := unitState(t, root, "chaos-svc.service"); got != "enabled" {
		t.Errorf("chaos-svc.service is %q, want enabled", got)
	}
}

// TestSettleFailureUndoes: a failure in the re-planned services op, or in the op after it (a file of
// the files role), undoes everything: the unit's links, the package, the file; the root is exactly as
// before and the next plan is the first one again.
func TestSettleFailureUndoes(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, svcPkg)
	tr := enginetest.Chroot(t, root)
	ctx := context.Background()
	e := &engine.Engine{Registry: builtin.Registry()}
	c := load(t, settleChobolo+"files:\n  - path: /etc/motd\n    content: \"managed by chaos\\n\"\n")
	req := engine.Request{Chobolo: c, Assume: true}
	st := func() string { return testenv.HostState(t, root, "usr/lib/systemd/system", "var/lib/systemd") }
	before := st()
	plan0 := enginetest.Render(enginetest.Plan(t, tr, c, builtin.Roles()...))
	for _, role := range []string{"services", "files"} {
		t.Run("fail in "+role, func(t *testing.T) {
			f := &faulty{Transport: tr}
			var failed string
			r := req
			r.Observe = func(ev engine.Event) {
				if ev.Type == engine.EventOpStart && ev.Role == role && failed == "" {
					f.armed, failed = true, ev.Op
				}
			}
			hp, err := e.Plan(ctx, tr, req)
			if err != nil {
				t.Fatal(err)
			}
			res, err := e.Apply(ctx, f, hp, r)
			if !errors.Is(err, errInjected) || res == nil || !res.RolledBack {
				t.Fatalf("want the injected failure and a rollback, got %v", err)
			}
			if role == "services" && failed != "systemctl '--root=/' disable chaos-svc.service" {
				t.Errorf("the failed services op is %q, want the re-planned disable", failed)
			}
			if len(res.UndoErrors) > 0 {
				t.Errorf("undo errors: %v", res.UndoErrors)
			}
			if got := st(); got != before {
				t.Fatalf("root changed after the rollback:\n%s", diffState(before, got))
			}
			if again := enginetest.Render(enginetest.Plan(t, tr, c, builtin.Roles()...)); again != plan0 {
				t.Fatalf("the plan after the rollback differs:\n%s\nwas:\n%s", again, plan0)
			}
		})
	}
}

// TestSettlePackageRemoved: a package whose unit is enabled is removed by the prune of packages, and
// its unit is not declared. The approved plan also disables the unit, but once apt removed the
// package its unit file is gone (Debian keeps the links until purge): the services role, probed again,
// drops that disable (whose undo, an enable, could no longer run), and one run converges.
func TestSettlePackageRemoved(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, svcPkg, testenv.DebPkg{Name: "chaos-keep", Version: "1.0"})
	testenv.Chroot(t, root, "apt-get", "install", "-y", "-q", "chaos-svc")
	if got := unitState(t, root, "chaos-svc.service"); got != "enabled" {
		t.Fatalf("chaos-svc.service is %q after its install, want enabled", got)
	}
	tr := enginetest.Chroot(t, root)
	c := load(t, "packages: [chaos-keep]\nservices:\n  - name: sshd\nfiles:\n  - path: /etc/motd\n    content: \"managed by chaos\\n\"\n")

	// A failure after the services step (in the files op) undoes everything cleanly: had the disable
	// of the vanished unit run, its undo would fail and the reinstalled package would stay disabled.
	ctx := context.Background()
	e := &engine.Engine{Registry: builtin.Registry()}
	st := func() string { return testenv.HostState(t, root, "usr/lib/systemd/system") }
	before := st()
	f := &faulty{Transport: tr}
	req := engine.Request{Chobolo: c, Assume: true, Observe: func(ev engine.Event) {
		if ev.Type == engine.EventOpStart && ev.Role == "files" {
			f.armed = true
		}
	}}
	hp, err := e.Plan(ctx, tr, req)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Apply(ctx, f, hp, req)
	if !errors.Is(err, errInjected) || res == nil || !res.RolledBack {
		t.Fatalf("want the injected failure and a rollback, got %v", err)
	}
	if len(res.UndoErrors) > 0 {
		t.Errorf("undo errors: %v", res.UndoErrors)
	}
	if got := st(); got != before {
		t.Fatalf("root changed after the rollback:\n%s", diffState(before, got))
	}

	first := enginetest.ApplyThrice(t, tr, c, builtin.Roles()...)
	dry := enginetest.Render(first)
	if !strings.Contains(dry, "- package chaos-svc") || !strings.Contains(dry, "- service chaos-svc.service: disable") {
		t.Errorf("the approved plan does not remove chaos-svc and disable its unit:\n%s", dry)
	}
	if got := testenv.Chroot(t, root, "dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "chaos-svc"); got != "rc " {
		t.Errorf("chaos-svc: dpkg state %q, want rc", got)
	}
	// The disable of a unit whose file apt removed is dropped (its undo, an enable, could not run).
	plan, err := engine.ReadGenerationFile(ctx, tr, 1, "plan.json")
	if err != nil || !strings.Contains(string(plan), "no longer needed: - service chaos-svc.service: disable") {
		t.Errorf("the generation's plan.json does not say the disable was dropped (%v)", err)
	}
}

// TestSettleRefusesUnapproved: the fresh plan of a settle would disable a unit that was enabled and
// kept when the plan was approved. chaos-helper is enabled along with the declared chaos-main
// (its Also=); the package installed in the run ships a chaos-main.service in /etc/systemd/system
// (first in systemd's search order) without that Also=, so chaos-helper would now be pruned. The
// apply refuses it, names the unit, and undoes the package: the root is as before.
func TestSettleRefusesUnapproved(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	unit := "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n"
	testenv.AptRepo(t, root,
		testenv.DebPkg{Name: "chaos-main", Version: "1.0", Files: map[string]string{
			"/lib/systemd/system/chaos-main.service":   unit + "Also=chaos-helper.service\n",
			"/lib/systemd/system/chaos-helper.service": unit}},
		testenv.DebPkg{Name: "chaos-override", Version: "1.0", Files: map[string]string{
			"/etc/systemd/system/chaos-main.service": unit}})
	testenv.Chroot(t, root, "apt-get", "install", "-y", "-q", "chaos-main")
	testenv.Chroot(t, root, "systemctl", "--root=/", "enable", "chaos-main.service")
	if got := unitState(t, root, "chaos-helper.service"); got != "enabled" {
		t.Fatalf("chaos-helper.service is %q, want enabled with chaos-main", got)
	}
	tr := enginetest.Chroot(t, root)
	c := load(t, "packages: [chaos-main, chaos-override]\nservices:\n  - name: sshd\n  - name: chaos-main\n")
	st := func() string { return testenv.HostState(t, root, "usr/lib/systemd/system") }
	before := st()
	err := enginetest.ApplyRollsBack(t, tr, c, builtin.Roles()...)
	if err == nil || !strings.Contains(err.Error(), "would now disable chaos-helper.service, which was enabled when the plan was approved") {
		t.Errorf("want the settle refused naming chaos-helper.service, got %v", err)
	}
	if got := st(); got != before {
		t.Fatalf("root changed after the refused settle:\n%s", diffState(before, got))
	}
}
