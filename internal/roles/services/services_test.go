package services

import (
	"os"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/golden"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
)

func bookworm(t *testing.T) *Facts {
	t.Helper()
	units, err := os.ReadFile("testdata/bookworm-units.txt")
	if err != nil {
		t.Fatal(err)
	}
	links, err := os.ReadFile("testdata/bookworm-links.txt")
	if err != nil {
		t.Fatal(err)
	}
	f := ParseFacts(string(units), string(links), "")
	return &f
}

func bp(b bool) *bool { return &b }

func posOf(sub string) chobolo.Pos { return chobolo.Pos{File: "c.yml", Line: 1, Col: len(sub)} }

func TestResolve(t *testing.T) {
	f := bookworm(t)
	cases := map[string]string{
		"sshd.service":                           "ssh.service",
		"ssh.service":                            "ssh.service",
		"getty@tty2.service":                     "getty@tty2.service",
		"autovt@tty3.service":                    "getty@tty3.service",
		"dbus-org.freedesktop.timesync1.service": "systemd-timesyncd.service",
		"hwclock.service":                        "hwclock.service",
		"nope.service":                           "",
		"nope@x.service":                         "",
	}
	for in, want := range cases {
		got, ok := f.Resolve(in)
		if want == "" {
			if ok {
				t.Errorf("Resolve(%s) = %s, want not found", in, got)
			}
			continue
		}
		if got != want || !ok {
			t.Errorf("Resolve(%s) = %s %v, want %s", in, got, ok, want)
		}
	}
	// with ssh disabled, the sshd.service link is gone: the Alias= line still resolves it
	delete(f.Links, "sshd.service")
	delete(f.Units, "sshd.service")
	if got, ok := f.Resolve("sshd.service"); got != "ssh.service" || !ok {
		t.Errorf("Resolve(sshd.service) without link = %s %v", got, ok)
	}
	if st := f.State("getty@tty1.service"); st != "enabled" {
		t.Errorf("State(getty@tty1) = %s", st)
	}
	if st := f.State("getty@tty5.service"); st != "disabled" {
		t.Errorf("State(getty@tty5) = %s", st)
	}
	if got := strings.Join(f.Reach("systemd-networkd.service"), " "); got != "systemd-networkd.service systemd-networkd.socket "+
		"systemd-network-generator.service systemd-networkd-wait-online.service" {
		t.Errorf("Reach(systemd-networkd) = %s", got)
	}
	if got := strings.Join(f.Reach("getty@.service"), " "); got != "getty@.service getty@tty1.service" {
		t.Errorf("Reach(getty@) = %s", got)
	}
	if st := f.State("hwclock.service"); st != "masked" {
		t.Errorf("State(hwclock) = %s", st)
	}
}

func plan(t *testing.T, f *Facts, tg Target, svcs []chobolo.Service, full bool) (*engine.RolePlan, error) {
	t.Helper()
	wants, err := Desired(svcs, f, tg, posOf)
	if err != nil {
		return nil, err
	}
	d, err := ComputeDelta(wants, f, tg, full)
	if err != nil {
		return nil, err
	}
	return BuildPlan(d, tg.Live), nil
}

func TestPlans(t *testing.T) {
	cases := []struct {
		name string
		tg   Target
		svcs []chobolo.Service
		edit func(f *Facts)
		full bool
	}{
		{name: "chroot-noop", tg: Target{Chroot: true}, full: true,
			svcs: []chobolo.Service{{Name: "sshd"}, {Name: "systemd-timesyncd"}}},
		{name: "chroot-enable-disable-prune", tg: Target{Chroot: true}, full: true,
			svcs: []chobolo.Service{{Name: "sshd"}, {Name: "systemd-networkd"}, {Name: "getty@tty2"},
				{Name: "fstrim.timer", OnBoot: bp(false)}, {Name: "hwclock"}, {Name: "dbus", OnBoot: bp(false)}},
			edit: func(f *Facts) {
				f.Units["nginx.service"] = "enabled"
				f.Units["apache2.service"] = "enabled"
			}},
		{name: "live-start-stop", tg: Target{Live: true}, full: true,
			svcs: []chobolo.Service{{Name: "ssh"}, {Name: "systemd-networkd", Running: bp(false)},
				{Name: "cron", OnBoot: bp(false), Running: bp(false)}},
			edit: func(f *Facts) {
				f.Units["cron.service"] = "enabled"
				f.Units["nginx.service"] = "enabled"
				f.Units["foo.service"] = "enabled"
				f.Active = map[string]string{"ssh.service": "active", "systemd-networkd.service": "active",
					"cron.service": "active", "nginx.service": "active", "foo.service": "failed"}
				f.Session = "foo.service"
			}},
		{name: "dense", tg: Target{Chroot: true},
			svcs: []chobolo.Service{{Name: "systemd-network", Dense: true, OnBoot: bp(false)},
				{Name: "systemd-networkd"}}},
		{name: "pending-package", tg: Target{Chroot: true, Packages: []string{"nginx"}},
			svcs: []chobolo.Service{{Name: "nginx"}}},
		// enabled with a declared unit through its Also=: kept, not pruned
		{name: "also-kept", tg: Target{Chroot: true}, full: true,
			svcs: []chobolo.Service{{Name: "systemd-networkd"}},
			edit: func(f *Facts) {
				for _, u := range []string{"systemd-networkd.service", "systemd-network-generator.service", "systemd-networkd.socket",
					"systemd-networkd-wait-online.service"} {
					f.Units[u] = "enabled"
				}
			}},
		// the pruned service's disable reaches the declared socket (Also=): enabled again after
		{name: "also-reenable", tg: Target{Chroot: true}, full: true,
			svcs: []chobolo.Service{{Name: "web.socket"}},
			edit: func(f *Facts) {
				f.Units["web.service"], f.Units["web.socket"] = "enabled", "enabled"
				f.Install["web.service"] = Install{Also: []string{"web.socket"}}
			}},
		// the default instance of a declared template is its enablement, not an undeclared instance
		{name: "template-default", tg: Target{Chroot: true}, full: true,
			svcs: []chobolo.Service{{Name: "tpl@"}, {Name: "tpl@two"}},
			edit: func(f *Facts) {
				f.Units["tpl@.service"] = "enabled"
				f.Wants["tpl@one.service"], f.Wants["tpl@two.service"], f.Wants["tpl@three.service"] = true, true, true
				f.Install["tpl@.service"] = Install{DefaultInstance: "one"}
			}},
		// socket activation: a service whose [Install] has only Also= is enabled through its socket
		{name: "indirect", tg: Target{Chroot: true}, full: true,
			svcs: []chobolo.Service{{Name: "act"}, {Name: "idle", OnBoot: bp(false)}, {Name: "stuck"}},
			edit: func(f *Facts) {
				f.Units["act.service"], f.Units["act.socket"] = "indirect", "disabled"
				f.Install["act.service"] = Install{Also: []string{"act.socket"}}
				f.Units["idle.service"], f.Units["idle.socket"] = "indirect", "enabled"
				f.Install["idle.service"] = Install{Also: []string{"idle.socket"}}
				// Also= of a unit without [Install]: enable links nothing, so nothing is planned
				f.Units["stuck.service"], f.Units["stuck.socket"] = "indirect", "static"
				f.Install["stuck.service"] = Install{Also: []string{"stuck.socket"}}
			}},
		// a prune must not take a protected unit along through Also=: it is enabled again
		{name: "prune-reaches-protected", tg: Target{Chroot: true}, full: true,
			svcs: []chobolo.Service{{Name: "ssh"}},
			edit: func(f *Facts) {
				f.Units["foo.service"] = "enabled"
				f.Install["foo.service"] = Install{Also: []string{"dbus-org.freedesktop.timesync1.service"}}
			}},
		// a declared disable takes its Also= units along, protected ones too (the user's choice)
		{name: "declared-off-takes-also", tg: Target{Chroot: true}, full: true,
			svcs: []chobolo.Service{{Name: "systemd-networkd", OnBoot: bp(false)}},
			edit: func(f *Facts) {
				for _, u := range []string{"systemd-networkd.service", "systemd-network-generator.service", "systemd-networkd.socket",
					"systemd-networkd-wait-online.service"} {
					f.Units[u] = "enabled"
				}
			}},
		// on a live host a template runs as its default instance; one without DefaultInstance= cannot run
		{name: "live-template", tg: Target{Live: true}, full: true,
			svcs: []chobolo.Service{{Name: "ssh"}, {Name: "tpl@"}, {Name: "bare@", OnBoot: bp(false)}},
			edit: func(f *Facts) {
				f.Units["tpl@.service"], f.Units["bare@.service"] = "disabled", "disabled"
				f.Install["tpl@.service"] = Install{DefaultInstance: "one"}
				f.Active = map[string]string{"ssh.service": "active"}
			}},
		{name: "guard", tg: Target{Chroot: true}, full: true,
			svcs: []chobolo.Service{},
			edit: func(f *Facts) {
				for _, n := range []string{"a", "b", "c", "d", "e", "f", "g"} {
					f.Units[n+".service"] = "enabled"
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := bookworm(t)
			if tc.edit != nil {
				tc.edit(f)
			}
			rp, err := plan(t, f, tc.tg, tc.svcs, tc.full)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tc.name, enginetest.RenderRole(rp))
		})
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name string
		tg   Target
		svcs []chobolo.Service
		want string
	}{
		{"unknown", Target{Chroot: true}, []chobolo.Service{{Name: "nginx"}}, "unit nginx.service does not exist"},
		// every unknown unit at once, each at its position
		{"unknown, all", Target{Chroot: true}, []chobolo.Service{{Name: "nginx"}, {Name: "ssh"}, {Name: "apache2"}},
			"c.yml:1:8: error: unit nginx.service does not exist on the target: install the package that ships it (declare it under packages:, e.g. `- nginx`) or fix the name\n" +
				"c.yml:1:8: error: unit apache2.service does not exist on the target"},
		// the package is declared but already installed: it does not ship the unit
		{"installed package lacks the unit", Target{Chroot: true, Packages: []string{"nginx"}, Installed: map[string]bool{"nginx": true}},
			[]chobolo.Service{{Name: "nginx"}}, "unit nginx.service does not exist on the target, and package nginx, which is installed, does not ship it"},
		{"bad name", Target{Chroot: true}, []chobolo.Service{{Name: "x;rm -rf /"}}, "invalid unit name"},
		{"leading dash", Target{Chroot: true}, []chobolo.Service{{Name: "--root=/x"}}, "invalid unit name"},
		{"ssh disable live", Target{Live: true}, []chobolo.Service{{Name: "sshd", OnBoot: bp(false)}}, "refusing to disable ssh.service"},
		{"ssh stop live", Target{Live: true}, []chobolo.Service{{Name: "ssh", Running: bp(false)}}, "refusing to stop ssh.service"},
		{"dense none", Target{Chroot: true}, []chobolo.Service{{Name: "zzz", Dense: true}}, "matches no service"},
		{"conflict", Target{Chroot: true}, []chobolo.Service{{Name: "ssh"}, {Name: "sshd", OnBoot: bp(false)}}, "declared twice"},
		{"template without default", Target{Chroot: true}, []chobolo.Service{{Name: "serial-getty@"}},
			"serial-getty@.service is a template without DefaultInstance=: `systemctl enable` cannot enable it; declare an instance (serial-getty@INSTANCE)"},
		// a.service's Also= enables b, whose Also= disables a again: no order of calls satisfies both
		{"also cycle", Target{Chroot: true}, []chobolo.Service{{Name: "a"}, {Name: "b", OnBoot: bp(false)}},
			"b.service is declared with on_boot: false, but enabling a.service enables it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := bookworm(t)
			f.Units["a.service"], f.Units["b.service"] = "disabled", "disabled"
			f.Install["a.service"] = Install{Also: []string{"b.service"}}
			f.Install["b.service"] = Install{Also: []string{"a"}}
			f.Active = map[string]string{"ssh.service": "active"}
			_, err := plan(t, f, tc.tg, tc.svcs, true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "c.yml:1:") {
				t.Errorf("error has no position: %v", err)
			}
		})
	}
	// in a chroot, disabling ssh is allowed (building an image without sshd at boot)
	f := bookworm(t)
	if _, err := plan(t, f, Target{Chroot: true}, []chobolo.Service{{Name: "sshd", OnBoot: bp(false)}}, true); err != nil {
		t.Fatal(err)
	}
}

func TestParseActive(t *testing.T) {
	out := "@live\nssh.service loaded active running OpenBSD Secure Shell server\n" +
		"● foo.service loaded failed failed Foo\n@session ssh.service\n"
	f := ParseFacts("", "", out)
	if !f.Running("ssh.service") || f.Running("foo.service") || f.Session != "ssh.service" {
		t.Fatalf("%+v", f)
	}
}

// TestSettlePrunes: the plan made after earlier roles ran, checked against the approved one. A unit
// enabled in this run (not enabled in the approved facts) is pruned with its own detail; a unit the
// approved plan already pruned stays a plain prune; a unit that was enabled and kept by the approved
// plan (here: enabled with systemd-networkd through its Also=, until a file without that Also= took
// over) is refused.
func TestSettlePrunes(t *testing.T) {
	tg := Target{Live: true}
	svcs := []chobolo.Service{{Name: "ssh"}, {Name: "systemd-networkd"}}
	was := bookworm(t)
	for _, u := range []string{"systemd-networkd.service", "systemd-network-generator.service", "apache2.service"} {
		was.Units[u] = "enabled"
	}
	was.Active = map[string]string{"ssh.service": "active", "systemd-networkd.service": "active"}
	delta := func(f *Facts) *Delta {
		t.Helper()
		wants, err := Desired(svcs, f, tg, posOf)
		if err != nil {
			t.Fatal(err)
		}
		d, err := ComputeDelta(wants, f, tg, true)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	approved := delta(was)

	now := bookworm(t)
	for _, u := range []string{"systemd-networkd.service", "systemd-network-generator.service", "apache2.service", "nginx.service"} {
		now.Units[u] = "enabled"
	}
	now.Active = map[string]string{"ssh.service": "active", "systemd-networkd.service": "active", "nginx.service": "active"}
	d := delta(now)
	if err := SettlePrunes(d, approved, was); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "settle", enginetest.RenderRole(BuildPlan(d, tg.Live)))

	in := now.Install["systemd-networkd.service"]
	in.Also = nil
	now.Install["systemd-networkd.service"] = in
	err := SettlePrunes(delta(now), approved, was)
	if err == nil || !strings.Contains(err.Error(), "would now disable systemd-network-generator.service, which was enabled when the plan was approved") {
		t.Fatalf("a prune of a unit the approved plan kept: err = %v", err)
	}
}

// TestInstallOverride: a unit file earlier in systemd's search order (an admin's or a package's copy
// in /etc/systemd/system) replaces a later one whole, [Install] included, even when it has no Also=
// line of its own.
func TestInstallOverride(t *testing.T) {
	links := "F\t/etc/systemd/system/web.service\n" +
		"F\t/usr/lib/systemd/system/web.service\nI\t/usr/lib/systemd/system/web.service\tAlso\tweb.socket\n" +
		"F\t/usr/lib/systemd/system/db.service\nI\t/usr/lib/systemd/system/db.service\tAlso\tdb.socket\n"
	f := ParseFacts("web.service enabled enabled\nweb.socket enabled enabled\ndb.service enabled enabled\ndb.socket enabled enabled\n", links, "")
	if in := f.Install["web.service"]; len(in.Also) != 0 {
		t.Errorf("web.service: Also=%q from the file /etc overrides", in.Also)
	}
	if in := f.Install["db.service"]; strings.Join(in.Also, " ") != "db.socket" {
		t.Errorf("db.service: Also=%q, want db.socket", in.Also)
	}
}
