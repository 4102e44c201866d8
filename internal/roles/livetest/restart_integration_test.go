package livetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/files"
	"github.com/ch-aos-ch/chaos/internal/roles/packages"
	"github.com/ch-aos-ch/chaos/internal/roles/services"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// demoSvc is a service that answers with the configuration it runs: it reads /etc/demo/demo.conf
// (and $DEMO_ENV, which a drop-in may set, and the plugin the package "demo" ships) when it starts and on SIGHUP, and writes them with its
// PID to /run/demo/state; every start and reload is appended to /run/demo/log.
const demoSvc = `#!/bin/sh
load() {
  { echo "pid $$"; echo "env ${DEMO_ENV:-none}"; cat /etc/demo/demo.conf
    if [ -f /usr/share/demo/plugin ]; then cat /usr/share/demo/plugin; fi; } >/run/demo/state.tmp
  mv /run/demo/state.tmp /run/demo/state
  echo "$1 $$" >>/run/demo/log
}
mkdir -p /run/demo
trap 'load reload' HUP
trap 'exit 0' TERM
load start
while :; do sleep 1 & wait $!; done
`

// demoUnit refuses to start on a configuration that says "crash" (a restart that fails), and has
// no start limit (the test restarts it often).
const demoUnit = `[Unit]
Description=chaos restart test service
StartLimitIntervalSec=0

[Service]
ExecStartPre=/bin/sh -c '! grep -q crash /etc/demo/demo.conf'
ExecStart=/usr/local/bin/demo-svc
ExecReload=/bin/kill -HUP $MAINPID

[Install]
WantedBy=multi-user.target
`

// TestRestartTriggersLive: on a booted host, a changed configuration restarts its service once and
// the service then runs it; reload_on reloads it (same PID); a changed drop-in triggers one
// daemon-reload and a restart; a failing check, and a restart that fails, leave the old
// configuration running; a unit file declared under files is written, loaded, enabled and started
// in one apply; a second apply restarts nothing.
func TestRestartTriggersLive(t *testing.T) {
	t.Parallel()
	b, tr := boot(t, func(root string) {
		for p, c := range map[string]string{"/usr/local/bin/demo-svc": demoSvc, "/etc/systemd/system/demo.service": demoUnit} {
			if err := os.WriteFile(filepath.Join(root, p), []byte(c), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(root, "/etc/demo"), 0o755); err != nil {
			t.Fatal(err)
		}
	})
	roles := []engine.Role{services.New(), files.New()}
	// svc is the demo service with its triggers; extra files are declared after demo.conf
	chob := func(conf string, svc chobolo.Service, extra ...chobolo.File) *chobolo.Chobolo {
		svc.Name = "demo"
		c := &chobolo.Chobolo{Services: []chobolo.Service{svc},
			Files: append([]chobolo.File{{Path: "/etc/demo/demo.conf", Content: conf}}, extra...)}
		c.SetKey("services", chobolo.Pos{})
		c.SetKey("files", chobolo.Pos{})
		return c
	}
	restartOn := chobolo.Service{RestartOn: []string{"/etc/demo/demo.conf"}}
	demoState := func() (pid, body string) {
		t.Helper()
		out, _ := b.Run("cat", "/run/demo/state") // none yet: "", the service has not loaded
		first, rest, _ := strings.Cut(out, "\n")
		return strings.TrimPrefix(first, "pid "), rest
	}
	demoLog := func() []string {
		t.Helper()
		return strings.Fields(strings.ReplaceAll(b.MustRun(t, "cat", "/run/demo/log"), "\n", " "))
	}
	events := func(from int) string { // start/reload events since log entry from (pairs: event pid)
		l := demoLog()
		var ev []string
		for i := from * 2; i+1 < len(l); i += 2 {
			ev = append(ev, l[i])
		}
		return strings.Join(ev, " ")
	}
	count := func() int { return len(demoLog()) / 2 }
	// waitEvents waits until the events since from are want: systemctl returns once the process is
	// started or signalled, a moment before the script logs; for none, it gives a late one time
	waitEvents := func(from int, want string) string {
		t.Helper()
		if want == "" {
			time.Sleep(500 * time.Millisecond)
			return events(from)
		}
		got := events(from)
		for deadline := time.Now().Add(10 * time.Second); got != want && time.Now().Before(deadline); got = events(from) {
			time.Sleep(50 * time.Millisecond)
		}
		return got
	}
	restartLines := func(hp *engine.HostPlan) []string {
		var out []string
		for _, c := range changes(hp) {
			if strings.Contains(c, "restart ") || strings.Contains(c, "reload") {
				out = append(out, c)
			}
		}
		return out
	}

	t.Run("first apply starts it on its configuration", func(t *testing.T) {
		hp := enginetest.ApplyTwice(t, tr, chob("ok v1\n", restartOn), roles...)
		t.Logf("\n%s", enginetest.Render(hp))
		wantState(t, b, "demo.service", "active", "enabled")
		// services starts it before files writes demo.conf: the phase restarts it on the new file
		if got := restartLines(hp); len(got) != 1 || !strings.Contains(got[0], "restart demo.service (because /etc/demo/demo.conf changed)") {
			t.Errorf("restart lines: %q", got)
		}
		// (the first start may be killed by the restart before it logs: wait for the configuration)
		_, body := demoState()
		for deadline := time.Now().Add(10 * time.Second); body != "env none\nok v1\n" && time.Now().Before(deadline); _, body = demoState() {
			time.Sleep(50 * time.Millisecond)
		}
		if body != "env none\nok v1\n" {
			t.Errorf("demo runs %q, want ok v1", body)
		}
	})

	t.Run("a changed configuration restarts it once", func(t *testing.T) {
		pid, _ := demoState()
		n := count()
		hp := enginetest.ApplyTwice(t, tr, chob("ok v2\n", restartOn), roles...)
		if got := restartLines(hp); len(got) != 1 || got[0] != "~ restart demo.service (because /etc/demo/demo.conf changed): " {
			t.Errorf("restart lines: %q", got)
		}
		waitEvents(n, "start")
		npid, body := demoState()
		if body != "env none\nok v2\n" || npid == pid {
			t.Errorf("demo runs %q with pid %s (was %s), want ok v2 in a new process", body, npid, pid)
		}
		if got := waitEvents(n, "start"); got != "start" {
			t.Errorf("events during the apply and the no-op plan: %q, want one start", got)
		}
		// a second apply changes nothing and restarts nothing
		n = count()
		if hp := enginetest.Apply(t, tr, chob("ok v2\n", restartOn), roles...); !hp.Empty() {
			t.Errorf("second apply: %s", enginetest.Render(hp))
		}
		if got := waitEvents(n, ""); got != "" {
			t.Errorf("the second apply restarted or reloaded it: %q", got)
		}
	})

	t.Run("reload_on reloads it in the same process", func(t *testing.T) {
		pid, _ := demoState()
		n := count()
		hp := enginetest.ApplyTwice(t, tr, chob("ok v3\n", chobolo.Service{ReloadOn: []string{"/etc/demo/demo.conf"}}), roles...)
		if got := restartLines(hp); len(got) != 1 || !strings.HasPrefix(got[0], "~ reload demo.service (because /etc/demo/demo.conf changed)") {
			t.Errorf("restart lines: %q", got)
		}
		waitEvents(n, "reload")
		npid, body := demoState()
		if body != "env none\nok v3\n" || npid != pid {
			t.Errorf("demo runs %q with pid %s (was %s), want ok v3 in the same process", body, npid, pid)
		}
		if got := waitEvents(n, "reload"); got != "reload" {
			t.Errorf("events: %q, want one reload", got)
		}
	})

	dropIn := chobolo.File{Path: "/etc/systemd/system/demo.service.d/env.conf", Content: "[Service]\nEnvironment=DEMO_ENV=dropin\n"}
	dropInDir := chobolo.File{Path: "/etc/systemd/system/demo.service.d", State: "directory"}
	t.Run("a changed drop-in: one daemon-reload, one restart", func(t *testing.T) {
		n := count()
		other := chobolo.File{Path: "/etc/systemd/system/demo-other.service", Content: strings.ReplaceAll(demoUnit, "demo-svc", "demo-svc-other")}
		hp := enginetest.Apply(t, tr, chob("ok v3\n", restartOn, dropInDir, dropIn, other), roles...)
		t.Logf("\n%s", enginetest.Render(hp))
		reloads := 0
		for _, rp := range hp.Roles {
			for _, st := range rp.Steps {
				for _, op := range st.Ops {
					if op.String() == "systemctl daemon-reload" {
						reloads++
					}
				}
			}
		}
		if reloads != 1 {
			t.Errorf("%d daemon-reloads planned, want 1", reloads)
		}
		if got := restartLines(hp); len(got) != 2 || !strings.Contains(got[1], "restart demo.service (because its unit file /etc/systemd/system/demo.service.d/env.conf changed)") {
			t.Errorf("restart lines: %q", got)
		}
		waitEvents(n, "start")
		if _, body := demoState(); body != "env dropin\nok v3\n" {
			t.Errorf("demo runs %q, want the drop-in's environment", body)
		}
		if got := strings.TrimSpace(b.MustRun(t, "systemctl", "show", "-p", "NeedDaemonReload", "--value", "demo.service")); got != "no" {
			t.Errorf("NeedDaemonReload=%s after the apply", got)
		}
		if got := waitEvents(n, "start"); got != "start" {
			t.Errorf("events: %q, want one start", got)
		}
	})

	check := chobolo.Service{RestartOn: []string{"/etc/demo/demo.conf"}, Check: []string{"grep", "-q", "^ok", "/etc/demo/demo.conf"}}
	t.Run("a failing check leaves the old configuration running", func(t *testing.T) {
		pid, _ := demoState()
		n := count()
		err := enginetest.ApplyRollsBack(t, tr, chob("bad v4\n", check, dropInDir, dropIn), roles...)
		if !strings.Contains(err.Error(), "grep -q") {
			t.Errorf("error: %v", err)
		}
		if got, _ := os.ReadFile(filepath.Join(b.Root, "/etc/demo/demo.conf")); string(got) != "ok v3\n" {
			t.Errorf("demo.conf is %q after the undo, want ok v3", got)
		}
		npid, body := demoState()
		if body != "env dropin\nok v3\n" || npid != pid {
			t.Errorf("demo runs %q with pid %s (was %s): it should not have been touched", body, npid, pid)
		}
		if got := waitEvents(n, ""); got != "" {
			t.Errorf("events: %q, want none", got)
		}
	})

	t.Run("a failed restart: the files come back, then it is restarted on them", func(t *testing.T) {
		n := count()
		err := enginetest.ApplyRollsBack(t, tr, chob("ok crash\n", check, dropInDir, dropIn), roles...)
		if !strings.Contains(err.Error(), "systemctl restart demo.service") {
			t.Errorf("error: %v", err)
		}
		if got, _ := os.ReadFile(filepath.Join(b.Root, "/etc/demo/demo.conf")); string(got) != "ok v3\n" {
			t.Errorf("demo.conf is %q after the undo, want ok v3", got)
		}
		wantState(t, b, "demo.service", "active", "enabled")
		waitEvents(n, "start")
		if _, body := demoState(); body != "env dropin\nok v3\n" {
			t.Errorf("demo runs %q, want the old configuration", body)
		}
		// the crashing start never ran the service; the undo's restart did, on the old file
		if got := waitEvents(n, "start"); got != "start" {
			t.Errorf("events: %q, want one start (the undo's); log %q", got, demoLog())
			out, _ := b.Run("journalctl", "-u", "demo.service", "--no-pager", "-n", "30")
			t.Logf("journal:\n%s", out)
		}
	})

	unit := strings.NewReplacer("Description=chaos restart test service", "Description=bars web\nAfter=demo.service",
		"ExecStartPre=/bin/sh -c '! grep -q crash /etc/demo/demo.conf'\n", "",
		"/usr/local/bin/demo-svc", "/bin/sleep infinity", "ExecReload=/bin/kill -HUP $MAINPID\n", "").Replace(demoUnit)
	barsWeb := chobolo.File{Path: "/etc/systemd/system/bars-web.service", Content: unit}
	t.Run("a unit file declared under files: written, loaded, enabled, started", func(t *testing.T) {
		c := chob("ok v3\n", restartOn, dropInDir, dropIn, barsWeb)
		c.Services = append(c.Services, chobolo.Service{Name: "bars-web"})
		hp := enginetest.ApplyTwice(t, tr, c, roles...)
		t.Logf("\n%s", enginetest.Render(hp))
		wantState(t, b, "bars-web.service", "active", "enabled")
		if !hasChange(hp, "daemon-reload", "") || !hasChange(hp, "service bars-web.service", "enable, start") {
			t.Errorf("plan: %q", changes(hp))
		}
	})

	t.Run("a package named like the service, installed: restarted on it", func(t *testing.T) {
		testenv.AptRepo(t, b.Root, testenv.DebPkg{Name: "demo", Version: "1.0",
			Files: map[string]string{"/usr/share/demo/plugin": "plugin 1.0\n"}})
		n := count()
		c := chob("ok v3\n", restartOn, dropInDir, dropIn, barsWeb)
		c.Services = append(c.Services, chobolo.Service{Name: "bars-web"})
		c.Packages = []chobolo.Package{{Name: "demo"}}
		c.SetKey("packages", chobolo.Pos{})
		hp := enginetest.ApplyTwice(t, tr, c, append([]engine.Role{packages.New()}, roles...)...)
		t.Logf("\n%s", enginetest.Render(hp))
		if got := restartLines(hp); len(got) != 1 || !strings.HasPrefix(got[0], "~ restart demo.service (because package demo installed or upgraded)") {
			t.Errorf("restart lines: %q", got)
		}
		waitEvents(n, "start")
		if _, body := demoState(); body != "env dropin\nok v3\nplugin 1.0\n" {
			t.Errorf("demo runs %q, want the package's plugin", body)
		}
		if got := waitEvents(n, "start"); got != "start" {
			t.Errorf("events: %q, want one start", got)
		}
	})

	t.Run("systemd's After= orders the restarts", func(t *testing.T) {
		// bars-web is declared first and ordered after demo (After=demo.service): demo restarts first
		c := chob("ok v5\n", restartOn, dropInDir, dropIn, barsWeb)
		c.Services = append([]chobolo.Service{{Name: "bars-web", RestartOn: []string{"/etc/demo/demo.conf"}}}, c.Services...)
		before := strings.TrimSpace(b.MustRun(t, "systemctl", "show", "-p", "MainPID", "--value", "bars-web.service"))
		hp := enginetest.ApplyTwice(t, tr, c, roles...)
		got := restartLines(hp)
		if len(got) != 2 || !strings.HasPrefix(got[0], "~ restart demo.service") || !strings.HasPrefix(got[1], "~ restart bars-web.service") {
			t.Errorf("restart lines: %q", got)
		}
		if after := strings.TrimSpace(b.MustRun(t, "systemctl", "show", "-p", "MainPID", "--value", "bars-web.service")); after == before {
			t.Errorf("bars-web.service was not restarted (pid %s)", after)
		}
		wantState(t, b, "bars-web.service", "active", "enabled")
	})

	// what the live probe pays for CanReload and After= (docs/roles/services.md, How)
	frag := services.UnitsProbe([]string{"demo.service", "bars-web.service", "ssh.service", "cron.service", "nope.service"})
	start := time.Now()
	for range 5 {
		if out := b.MustRun(t, "sh", "-c", frag); !strings.Contains(out, "@canreload demo.service") ||
			!strings.Contains(out, "@after bars-web.service") {
			t.Fatalf("units probe printed %q", out)
		}
	}
	t.Logf("units probe for 5 units: %v per run (nsenter included)", (time.Since(start) / 5).Round(time.Millisecond))
}
