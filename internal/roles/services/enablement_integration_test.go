package services_test

import (
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/services"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// Units whose enablement reaches other units: a template with a default instance, a service that
// pulls its socket in with Also=, a service enabled only through its socket (indirect), and a
// socket whose service's Also= names it.
var enablementUnits = map[string]string{
	"/lib/systemd/system/chaos-tpl@.service": "[Unit]\nDescription=tpl %i\n[Service]\nExecStart=/bin/sleep infinity\n" +
		"[Install]\nWantedBy=multi-user.target\nDefaultInstance=one\n",
	"/lib/systemd/system/chaos-web.service": "[Service]\nExecStart=/bin/sleep infinity\n" +
		"[Install]\nWantedBy=multi-user.target\nAlso=chaos-web.socket\n",
	"/lib/systemd/system/chaos-web.socket": "[Socket]\nListenStream=/run/chaos-web.sock\n[Install]\nWantedBy=sockets.target\n",
	"/lib/systemd/system/chaos-act.service": "[Service]\nExecStart=/bin/sleep infinity\n" +
		"[Install]\nAlso=chaos-act.socket\n",
	"/lib/systemd/system/chaos-act.socket": "[Socket]\nListenStream=/run/chaos-act.sock\n[Install]\nWantedBy=sockets.target\n",
}

// TestServicesEnablementConverges: every declared unit whose `systemctl enable` or `disable` reaches
// other units (Also=, aliases, template instances, socket activation) converges in one run: the
// second plan is empty, and so is the third.
func TestServicesEnablementConverges(t *testing.T) {
	no := false
	cases := []struct {
		name    string
		svcs    []chobolo.Service
		prepare []string // a unit enabled by hand (a package's postinst) before the run
		want    map[string]string
	}{
		// systemd-networkd's [Install] has Also= its socket, systemd-network-generator and
		// systemd-networkd-wait-online: all enabled with it, none pruned on the next run.
		{name: "also", svcs: []chobolo.Service{{Name: "systemd-networkd"}},
			want: map[string]string{"systemd-networkd.service": "enabled", "systemd-network-generator.service": "enabled",
				"systemd-networkd.socket": "enabled", "systemd-networkd-wait-online.service": "enabled",
				"dbus-org.freedesktop.network1.service": "alias"}},
		// instances of a template: one by name, the default one through the template itself
		{name: "template", svcs: []chobolo.Service{{Name: "chaos-tpl@two"}, {Name: "chaos-tpl@"}, {Name: "getty@tty3"}},
			want: map[string]string{"chaos-tpl@one.service": "enabled", "chaos-tpl@two.service": "enabled",
				"getty@tty3.service": "enabled", "getty@tty1.service": "enabled"}},
		// socket activation: a service enabled only through its socket (Also= alone is "indirect")
		{name: "indirect", svcs: []chobolo.Service{{Name: "chaos-act"}},
			want: map[string]string{"chaos-act.socket": "enabled", "chaos-act.service": "indirect"}},
		// only the socket is declared; the service a postinst enabled is pruned, and its disable
		// (which follows its Also= to the socket) must not leave the declared socket disabled
		{name: "socket", svcs: []chobolo.Service{{Name: "chaos-web.socket"}}, prepare: []string{"chaos-web.service"},
			want: map[string]string{"chaos-web.socket": "enabled", "chaos-web.service": "disabled"}},
		// the opposite: the service is wanted off while its Also= socket stays declared on
		{name: "disable-keeps-also", svcs: []chobolo.Service{{Name: "chaos-web", OnBoot: &no}, {Name: "chaos-web.socket"}},
			prepare: []string{"chaos-web.service"},
			want:    map[string]string{"chaos-web.socket": "enabled", "chaos-web.service": "disabled"}},
		// a declared-off unit that a declared unit's Also= enables: the disable comes last
		{name: "also-declared-off", svcs: []chobolo.Service{{Name: "systemd-networkd"}, {Name: "systemd-network-generator", OnBoot: &no}},
			want: map[string]string{"systemd-networkd.service": "enabled", "systemd-network-generator.service": "disabled",
				"systemd-networkd.socket": "enabled"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := testenv.DebianRoot(t)
			testenv.AptRepo(t, root, testenv.DebPkg{Name: "chaos-units", Version: "1.0", Files: enablementUnits})
			testenv.Chroot(t, root, "apt-get", "install", "-y", "-q", "chaos-units")
			for _, u := range tc.prepare {
				testenv.Chroot(t, root, "systemctl", "--root=/", "enable", u)
			}
			tr := enginetest.Chroot(t, root)
			c := &chobolo.Chobolo{Services: tc.svcs}
			c.SetKey("services", chobolo.Pos{})
			hp := enginetest.ApplyThrice(t, tr, c, services.New())
			t.Logf("first plan:\n%s", enginetest.Render(hp))
			for unit, want := range tc.want {
				if got := isEnabled(t, root, unit); got != want {
					t.Errorf("%s is %q, want %q", unit, got, want)
				}
			}
			if got := isEnabled(t, root, "ssh.service"); got != "enabled" {
				t.Errorf("ssh.service is %q", got)
			}
		})
	}
}
