package livetest

import (
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/packages"
	"github.com/ch-aos-ch/chaos/internal/roles/services"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

func svcs(list ...chobolo.Service) *chobolo.Chobolo {
	c := &chobolo.Chobolo{Services: list}
	c.SetKey("services", chobolo.Pos{})
	return c
}

// TestServicesLive: on a running systemd, declared services are enabled AND started, `running` is
// re-checked on every run, undeclared ones are stopped and disabled, and the ways in stay up.
func TestServicesLive(t *testing.T) {
	t.Parallel()
	b, tr := boot(t)
	testenv.AptRepo(t, b.Root,
		testenv.DebPkg{Name: "chaos-live", Version: "1.0", Files: map[string]string{
			"/lib/systemd/system/chaos-live.service":    unitFile("chaos live test"),
			"/lib/systemd/system/chaos-extra.service":   unitFile("chaos extra"),
			"/lib/systemd/system/chaos-session.service": unitFile("stands for the service a session runs in"),
		}},
		testenv.DebPkg{Name: "chaos-late", Version: "1.0", Files: map[string]string{
			"/lib/systemd/system/chaos-late.service": unitFile("installed and started in one run"),
		}},
		testenv.DebPkg{Name: "chaos-cond", Version: "1.0", Files: map[string]string{
			// never runs here: started once, then not planned again on every run
			"/lib/systemd/system/chaos-cond.service": strings.Replace(unitFile("failing condition"), "[Unit]\n",
				"[Unit]\nConditionPathExists=/nonexistent\n", 1),
		}},
	)
	b.MustRun(t, "apt-get", "install", "-y", "-q", "chaos-live")
	// enabled and running, but not declared: the prune stops and disables it
	b.MustRun(t, "systemctl", "enable", "--now", "chaos-extra.service")
	wantState(t, b, "chaos-extra.service", "active", "enabled")
	wantState(t, b, "chaos-live.service", "inactive", "disabled")

	t.Run("enable and start", func(t *testing.T) {
		start := time.Now()
		hp := enginetest.ApplyTwice(t, tr, svcs(chobolo.Service{Name: "chaos-live"}), services.New())
		t.Logf("apply + no-op re-plan: %v\n%s", time.Since(start).Round(time.Millisecond), enginetest.Render(hp))
		if !hasChange(hp, "service chaos-live.service", "enable, start") ||
			!hasChange(hp, "service chaos-extra.service", "disable and stop") {
			t.Errorf("plan: %q", changes(hp))
		}
		wantState(t, b, "chaos-live.service", "active", "enabled")
		wantState(t, b, "chaos-extra.service", "inactive", "disabled")
		wantState(t, b, "ssh.service", "active", "enabled") // protected: kept and running
		if !strings.Contains(notes(hp), "ssh.service") {
			t.Errorf("notes do not mention the protected ssh.service:\n%s", notes(hp))
		}
	})

	t.Run("running false stops, stays enabled", func(t *testing.T) {
		c := svcs(chobolo.Service{Name: "chaos-live", Running: no()})
		hp := enginetest.ApplyTwice(t, tr, c, services.New())
		if got := changes(hp); len(got) != 1 || !strings.Contains(got[0], "stop") {
			t.Errorf("plan: %q", got)
		}
		wantState(t, b, "chaos-live.service", "inactive", "enabled")
	})

	t.Run("running is re-checked every run", func(t *testing.T) {
		c := svcs(chobolo.Service{Name: "chaos-live"})
		enginetest.Apply(t, tr, c, services.New()) // stopped by the previous step: started again
		wantState(t, b, "chaos-live.service", "active", "enabled")
		b.MustRun(t, "systemctl", "stop", "chaos-live.service") // stopped by hand
		hp := enginetest.Plan(t, tr, c, services.New())
		if got := changes(hp); len(got) != 1 || !strings.Contains(got[0], "service chaos-live.service: start") {
			t.Fatalf("after a manual stop the plan is %q, want one start", got)
		}
		enginetest.ApplyTwice(t, tr, c, services.New())
		wantState(t, b, "chaos-live.service", "active", "enabled")
		// killed behind systemd's back (no Restart=): failed -> started again
		b.MustRun(t, "systemctl", "kill", "--signal=KILL", "chaos-live.service")
		waitState(t, b, "chaos-live.service", "failed")
		enginetest.Apply(t, tr, c, services.New())
		wantState(t, b, "chaos-live.service", "active", "enabled")
	})

	t.Run("package and its service in one run", func(t *testing.T) {
		c := svcs(chobolo.Service{Name: "chaos-live"}, chobolo.Service{Name: "chaos-late"}, chobolo.Service{Name: "chaos-cond"})
		c.Packages = []chobolo.Package{{Name: "chaos-live"}, {Name: "chaos-late"}, {Name: "chaos-cond"}}
		c.SetKey("packages", chobolo.Pos{})
		hp := enginetest.ApplyTwice(t, tr, c, packages.New(), services.New())
		t.Logf("\n%s", enginetest.Render(hp))
		wantState(t, b, "chaos-late.service", "active", "enabled")
		wantState(t, b, "chaos-cond.service", "inactive", "enabled")

		wantState(t, b, "chaos-live.service", "active", "enabled")
	})

	t.Run("no lockout", func(t *testing.T) {
		for _, s := range []chobolo.Service{
			{Name: "sshd", Running: no()}, // by its alias
			{Name: "ssh", OnBoot: no()},
		} {
			_, err := plan(tr, svcs(chobolo.Service{Name: "chaos-live"}, s), services.New())
			if err == nil || !strings.Contains(err.Error(), "refusing to") || !strings.Contains(err.Error(), "ssh.service") {
				t.Errorf("%+v: err = %v, want a refusal naming ssh.service", s, err)
			}
		}
		wantState(t, b, "ssh.service", "active", "enabled")
	})

	t.Run("the session's own unit is kept", func(t *testing.T) {
		b.MustRun(t, "systemctl", "enable", "--now", "chaos-session.service")
		cg := b.CgroupOf("/system.slice/chaos-session.service")
		if cg == "" {
			t.Fatal("no cgroup2 directory for chaos-session.service")
		}
		session := inCgroup{Host: tr.(*transport.Host), cgroup: cg}
		c := svcs(chobolo.Service{Name: "chaos-live"}, chobolo.Service{Name: "chaos-late"}, chobolo.Service{Name: "chaos-cond"})
		// control: seen from outside the unit, chaos-session is just an undeclared service
		hp := enginetest.Plan(t, tr, c, services.New())
		if !hasChange(hp, "service chaos-session.service", "disable and stop") {
			t.Fatalf("control plan: %q", changes(hp))
		}
		// (and the unit whose condition failed in the previous step is still not started again)
		if !strings.Contains(notes(hp), "chaos-cond.service is not started") {
			t.Errorf("no note about chaos-cond.service:\n%s", notes(hp))
		}
		// from inside it, the prune keeps it: stopping it would kill the run itself
		hp = enginetest.Plan(t, session, c, services.New())
		if len(changes(hp)) != 0 || !strings.Contains(notes(hp), "chaos-session.service") {
			t.Errorf("plan from the session: %q\nnotes:\n%s", changes(hp), notes(hp))
		}
		wantState(t, b, "chaos-session.service", "active", "enabled")
		// and declaring it stopped is refused
		c.Services = append(c.Services, chobolo.Service{Name: "chaos-session", Running: no()})
		if _, err := plan(session, c, services.New()); err == nil || !strings.Contains(err.Error(), "refusing to stop chaos-session.service") {
			t.Errorf("stopping the session's unit: err = %v", err)
		}
		wantState(t, b, "chaos-session.service", "active", "enabled")
	})
}

func waitState(t *testing.T, b *testenv.Booted, unit, want string) {
	t.Helper()
	for range 200 {
		if state(t, b, "is-active", unit) == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never became %s (is %s)", unit, want, state(t, b, "is-active", unit))
}

// TestSettleLive: two packages whose postinst enables and starts their unit (as debhelper's does),
// installed in one run on a running systemd; one unit is declared, the other is not. After ONE apply
// the declared one is enabled and running, the undeclared one disabled and stopped (the services role
// was probed again after the packages role), and the next plans are empty.
func TestSettleLive(t *testing.T) {
	t.Parallel()
	b, tr := boot(t)
	testenv.AptRepo(t, b.Root,
		testenv.ServiceDebPkg("chaos-pkgon", "1.0", unitFile("declared, enabled by its package")),
		testenv.ServiceDebPkg("chaos-pkgoff", "1.0", unitFile("not declared, enabled and started by its package")))
	c := svcs(chobolo.Service{Name: "ssh"}, chobolo.Service{Name: "chaos-pkgon"})
	c.Packages = []chobolo.Package{{Name: "chaos-pkgon"}, {Name: "chaos-pkgoff"}}
	c.SetKey("packages", chobolo.Pos{})
	hp := enginetest.ApplyThrice(t, tr, c, packages.New(), services.New())
	t.Logf("\n%s", enginetest.Render(hp))
	wantState(t, b, "chaos-pkgon.service", "active", "enabled")
	wantState(t, b, "chaos-pkgoff.service", "inactive", "disabled")
	wantState(t, b, "ssh.service", "active", "enabled")
}
