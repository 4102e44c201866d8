package livetest

import (
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/services"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestServicesEnablementLive: on a running systemd (plain `systemctl enable`, through the manager)
// units whose enablement reaches others converge in one run and are started: systemd-networkd with
// its Also= units, a template instance, a socket-activated service (Also= alone), and a socket whose
// service's Also= names it while that service is pruned.
func TestServicesEnablementLive(t *testing.T) {
	t.Parallel()
	b, tr := boot(t)
	testenv.AptRepo(t, b.Root, testenv.DebPkg{Name: "chaos-units", Version: "1.0", Files: map[string]string{
		"/lib/systemd/system/chaos-act.service": "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nAlso=chaos-act.socket\n",
		"/lib/systemd/system/chaos-act.socket":  "[Socket]\nListenStream=/run/chaos-act.sock\n[Install]\nWantedBy=sockets.target\n",
		"/lib/systemd/system/chaos-web.service": "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\nAlso=chaos-web.socket\n",
		"/lib/systemd/system/chaos-web.socket":  "[Socket]\nListenStream=/run/chaos-web.sock\n[Install]\nWantedBy=sockets.target\n",
		"/lib/systemd/system/chaos-tpl@.service": "[Service]\nExecStart=/bin/sleep infinity\n" +
			"[Install]\nWantedBy=multi-user.target\nDefaultInstance=one\n",
	}})
	b.MustRun(t, "apt-get", "install", "-y", "-q", "chaos-units")
	// a postinst-style enable of the service: its Also= enables the socket too
	b.MustRun(t, "systemctl", "enable", "--now", "chaos-web.service")

	c := svcs(chobolo.Service{Name: "systemd-networkd"}, chobolo.Service{Name: "chaos-tpl@two"}, chobolo.Service{Name: "chaos-tpl@"},
		chobolo.Service{Name: "chaos-act"}, chobolo.Service{Name: "chaos-web.socket"})
	hp := enginetest.ApplyThrice(t, tr, c, services.New())
	t.Logf("\n%s", enginetest.Render(hp))
	wantState(t, b, "systemd-networkd.service", "active", "enabled")
	wantState(t, b, "systemd-network-generator.service", "inactive", "enabled") // Also=, not pruned
	wantState(t, b, "chaos-tpl@two.service", "active", "enabled")
	wantState(t, b, "chaos-tpl@one.service", "active", "enabled")
	wantState(t, b, "chaos-act.service", "active", "indirect")
	// enabled, so it listens from the next boot on (starting it is the job of a declared socket)
	if got := state(t, b, "is-enabled", "chaos-act.socket"); got != "enabled" {
		t.Errorf("chaos-act.socket is %q, want enabled", got)
	}
	wantState(t, b, "chaos-web.service", "inactive", "disabled") // pruned and stopped
	wantState(t, b, "chaos-web.socket", "active", "enabled")     // enabled again after the prune
	wantState(t, b, "ssh.service", "active", "enabled")
}
