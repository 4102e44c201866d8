package services

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/golden"
	"github.com/ch-aos-ch/chaos/internal/shell"
)

// TestTriggers: what the services role tells the restart phase (testdata/triggers.golden), on a live
// host and in a chroot: each declared unit's state after the role's steps and its resolved
// triggers, the units whose unit files are declared under files, and a custom unit (its unit file
// declared under files, not on the target yet) planned as a deferred step instead of refused.
func TestTriggers(t *testing.T) {
	c := &chobolo.Chobolo{
		Packages: []chobolo.Package{{Name: "nginx"}, {Name: "ssh", Overrides: map[string][]string{"debian": {"openssh-server"}}}},
		Services: []chobolo.Service{
			{Name: "nginx", RestartOn: []string{"/etc/nginx/nginx.conf"}, ReloadOn: []string{"/etc/nginx/site.conf"},
				Check: []string{"nginx", "-t"}},
			{Name: "cron", RestartOn: []string{"nginx", "ssh"}, RestartOnUpgrade: bp(false)},
			{Name: "sshd"},
			{Name: "bars-web", RestartOn: []string{"/etc/bars.conf"}},
			{Name: "foo", Running: bp(false)},
			{Name: "worker@1"},
		},
		Files: []chobolo.File{{Path: "/etc/nginx/nginx.conf"}, {Path: "/etc/nginx/site.conf"}, {Path: "/etc/bars.conf"},
			{Path: "/etc/systemd/system/bars-web.service"}, {Path: "/etc/systemd/system/ssh.service.d/x.conf"},
			{Path: "/etc/systemd/system/worker@.service"}},
	}
	c.SetKey("services", chobolo.Pos{})
	var b strings.Builder
	for _, live := range []bool{true, false} {
		f := bookworm(t)
		f.Units["nginx.service"] = "enabled"
		f.Units["foo.service"] = "enabled"
		f.Units["cron.service"] = "enabled"
		if live {
			f.Active = map[string]string{"ssh.service": "active", "nginx.service": "active", "cron.service": "active",
				"foo.service": "active"}
			f.CanReload = map[string]bool{"nginx.service": true}
			f.After = map[string][]string{"cron.service": {"sysinit.target", "nginx.service"}}
		}
		env := &engine.Env{Core: "debian", Systemd: live, Chroot: !live}
		rp, err := planOf(env, c, f)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "== live %v\n%s", live, enginetest.RenderRole(rp))
		for _, st := range rp.Deferred {
			b.WriteString(enginetest.RenderRole(&engine.RolePlan{Steps: []engine.Step{st}}))
		}
		for _, u := range rp.Units {
			fmt.Fprintf(&b, "unit %s aliases=%q state=%q reload=%v restart_on=%q reload_on=%q check=%q after=%q\n",
				u.Unit, u.Aliases, u.State, u.CanReload, u.RestartOn, u.ReloadOn, u.Check, u.After)
		}
	}
	golden.Check(t, "triggers", b.String())

	// without its unit file under files, the unit is still refused
	c.Files = c.Files[:3]
	f := bookworm(t)
	f.Units["cron.service"] = "enabled"
	if _, err := planOf(&engine.Env{Core: "debian", Chroot: true}, c, f); err == nil ||
		!strings.Contains(err.Error(), "unit bars-web.service does not exist on the target") {
		t.Errorf("err = %v, want the refusal of bars-web.service", err)
	}
}

// TestUnitsProbe runs the live probe's fragment in sh over systemctl show's output (recorded on a
// booted bookworm; properties come in systemd's order, values of After= on one line) and reads it
// back: which units can reload, and what each is ordered after.
func TestUnitsProbe(t *testing.T) {
	const show = `After=network.target sysinit.target demo.service
CanReload=yes
Id=nginx.service

After=
CanReload=no
Id=cron.service
`
	script := "systemctl() { printf '%s' " + shell.Quote(show) + "; }\n" + UnitsProbe([]string{"nginx.service", "cron.service"})
	out, err := exec.Command("sh", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	f := ParseFacts("", "", "@live\nnginx.service loaded active running nginx\n"+string(out))
	if !f.CanReload["nginx.service"] || f.CanReload["cron.service"] || f.Active["nginx.service"] != "active" {
		t.Errorf("facts = %+v from %q", f, out)
	}
	if got := strings.Join(f.After["nginx.service"], " "); got != "network.target sysinit.target demo.service" || f.After["cron.service"] != nil {
		t.Errorf("after = %q from %q", f.After, out)
	}
	if !strings.Contains(UnitsProbe([]string{"a b.service"}), `'a b.service'`) {
		t.Errorf("names are not quoted: %s", UnitsProbe([]string{"a b.service"}))
	}
}
