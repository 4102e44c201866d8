package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/golden"
)

// TestRestartPhase renders the restart phase of small plans (testdata/restart.golden): which units a
// plan's ops trigger, why, in which order, and what is only noted.
func TestRestartPhase(t *testing.T) {
	nginx := UnitTriggers{Unit: "nginx.service", State: UnitRunning, CanReload: true,
		RestartOn: []string{"file:/etc/nginx/nginx.conf", "package:nginx"}, ReloadOn: []string{"file:/etc/nginx/site.conf"},
		Check: []string{"nginx", "-t"}}
	app := UnitTriggers{Unit: "app.service", Aliases: []string{"webapp.service"}, State: UnitRunning, RestartOn: []string{"unit:nginx.service"},
		ReloadOn: []string{"file:/etc/app.conf"}}
	files := func(ops ...Op) *RolePlan {
		rp := &RolePlan{Role: "files"}
		for _, op := range ops {
			rp.Add([]Change{{Kind: Modify, Subject: op.Path}}, op)
		}
		return rp
	}
	services := func(units ...UnitTriggers) *RolePlan { return &RolePlan{Role: "services", Units: units} }
	write := func(p string) Op { return Write(p, []byte("x\n"), 0o644, "", "") }
	notified := write("/etc/motd")
	notified.Notify = []string{"motd-news", "app.service", "webapp"} // webapp: an alias of app
	install := Exec("apt-get", "install", "nginx")
	install.Packages = []string{"nginx"}
	// systemd orders web after db: db restarts first, whatever triggered it first
	web := UnitTriggers{Unit: "web.service", State: UnitRunning, RestartOn: []string{"file:/etc/shared.conf"}, After: []string{"db.service"}}
	db := UnitTriggers{Unit: "db.service", State: UnitRunning, RestartOn: []string{"file:/etc/shared.conf"}}
	started := UnitTriggers{Unit: "bars-web.service", State: UnitStartedLast}
	fresh := nginx
	fresh.State = UnitStarted
	stopped := UnitTriggers{Unit: "idle.service", State: UnitStopped, RestartOn: []string{"file:/etc/nginx/nginx.conf"}}
	deferred := Step{Changes: []Change{{Kind: Add, Subject: "service bars-web.service", Detail: "enable, start"}},
		Ops: []Op{Exec("systemctl", "enable", "bars-web.service"), Exec("systemctl", "start", "bars-web.service")}}
	withDeferred := services(started)
	withDeferred.Deferred = []Step{deferred}

	cases := []struct {
		name  string
		live  bool
		roles []*RolePlan
	}{
		{"nothing changed", true, []*RolePlan{services(nginx, app), {Role: "files"}}},
		{"a config file: check, restart, then the unit restarting on it", true,
			[]*RolePlan{services(app, nginx), files(write("/etc/nginx/nginx.conf"))}},
		{"two triggers, one restart; restart wins over reload", true,
			[]*RolePlan{services(nginx), files(write("/etc/nginx/site.conf"), write("/etc/nginx/nginx.conf"))}},
		{"reload", true, []*RolePlan{services(nginx), files(write("/etc/nginx/site.conf"))}},
		{"reload without ExecReload is a restart", true, []*RolePlan{services(app), files(write("/etc/app.conf"))}},
		{"a package transaction", true, []*RolePlan{{Role: "packages", Steps: []Step{{Ops: []Op{install}}}}, services(nginx)}},
		{"unit files and drop-ins: one daemon-reload", true, []*RolePlan{withDeferred, services(nginx),
			files(write("/etc/systemd/system/bars-web.service"), write("/etc/systemd/system/nginx.service.d/limits.conf"),
				write("/etc/systemd/system/getty@.service"))}},
		{"notify: undeclared units only if they run", true, []*RolePlan{services(app), files(notified)}},
		{"started by services, then its file written by a later role: restarted", true,
			[]*RolePlan{services(fresh), files(write("/etc/nginx/nginx.conf"))}},
		{"started by services after its package was installed: no restart", true,
			[]*RolePlan{{Role: "packages", Steps: []Step{{Ops: []Op{install}}}}, services(fresh)}},
		{"systemd's After= orders the restarts", true, []*RolePlan{services(web, db), files(write("/etc/shared.conf"))}},
		{"not running: nothing to restart", true, []*RolePlan{services(stopped), files(write("/etc/nginx/nginx.conf"))}},
		{"chroot: everything noted, deferred steps run", false, []*RolePlan{withDeferred, services(nginx, app),
			files(write("/etc/systemd/system/bars-web.service"), write("/etc/nginx/nginx.conf"))}},
	}
	var b strings.Builder
	for _, tc := range cases {
		fmt.Fprintf(&b, "== %s (live %v)\n", tc.name, tc.live)
		ph := RestartPhase(tc.roles, tc.live)
		if ph == nil {
			b.WriteString("  (no restart phase)\n")
			continue
		}
		RenderPlan(&b, &HostPlan{Target: "@t", Roles: []*RolePlan{ph}}, Style{})
		for _, st := range ph.Steps {
			for _, op := range st.Ops {
				if op.Undo != nil {
					fmt.Fprintf(&b, "  undo of %s: %s (last: %v)\n", op, op.Undo, op.UndoLast)
				}
			}
		}
	}
	golden.Check(t, "restart", b.String())
}

// TestUndoOrder: the restart phase's inverses run after every other inverse, in their own order,
// so a unit is restarted again only once the files it reads are back.
func TestUndoOrder(t *testing.T) {
	e := func(name string, last bool) *JournalEntry {
		return &JournalEntry{Op: Op{Kind: OpExec, Argv: []string{name}, UndoLast: last}}
	}
	entries := []*JournalEntry{e("write", false), e("daemon-reload", true), e("enable", false),
		e("restart a", true), e("restart b", true), e("is-active b", false)}
	var got []string
	for _, i := range undoOrder(entries) {
		got = append(got, entries[i].Op.Argv[0])
	}
	want := "is-active b, enable, write, daemon-reload, restart a, restart b"
	if strings.Join(got, ", ") != want {
		t.Errorf("undo order = %s, want %s", strings.Join(got, ", "), want)
	}
}
