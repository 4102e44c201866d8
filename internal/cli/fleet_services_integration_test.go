package cli_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

const demoUnit = `[Unit]
Description=chaos demo service

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
`

// Services start, stop, enable and disable for real over SSH, on systemd-booted hosts (systemd is
// PID 1, sshd is its ssh.service).
func TestFleetServicesOverSSH(t *testing.T) {
	isolate(t)
	bs := testenv.StartBootedSSHHosts(t, 2, func(root string) {
		testenv.WriteFile(t, root, "/etc/systemd/system/chaos-demo.service", demoUnit)
	})
	chobolo := func(running, onBoot bool) string {
		var b strings.Builder
		fmt.Fprintf(&b, `services:
  - name: ssh
  - name: chaos-demo
    running: %v
    on_boot: %v
fleet:
  ssh: {known_hosts: %s, config: none, connect_timeout: 10s}
  hosts:
`, running, onBoot, bs.KnownHosts)
		for _, h := range bs.Hosts {
			fmt.Fprintf(&b, "    %s: {ssh_hostname: %s, ssh_user: root, ssh_key: %s}\n", h.Name, h.Addr, bs.KeyFile)
		}
		return writeChobolo(t, b.String())
	}
	state := func(h *testenv.BootedSSHHost) string {
		active, _ := h.Run("systemctl", "is-active", "chaos-demo.service")
		enabled, _ := h.Run("systemctl", "is-enabled", "chaos-demo.service")
		return strings.TrimSpace(active) + "/" + strings.TrimSpace(enabled)
	}
	for _, h := range bs.Hosts {
		if got := state(h); got != "inactive/disabled" {
			t.Fatalf("%s before: %s", h.Name, got)
		}
	}
	for _, step := range []struct {
		running, onBoot bool
		want            string
	}{
		{true, true, "active/enabled"},
		{false, false, "inactive/disabled"},
		{true, false, "active/disabled"},
	} {
		file := chobolo(step.running, step.onBoot)
		r := run(t, "", "apply", "-c", file, "-f", "-y")
		if r.code != 0 || !strings.Contains(r.stdout, "2 changed") {
			t.Fatalf("running=%v on_boot=%v: %s", step.running, step.onBoot, r)
		}
		for _, h := range bs.Hosts {
			if got := state(h); got != step.want {
				t.Errorf("%s after running=%v on_boot=%v: %s, want %s\n%s", h.Name, step.running, step.onBoot, got, step.want, r.stdout)
			}
			// sshd, which chaos came in through, is still there
			if out, _ := h.Run("systemctl", "is-active", "ssh.service"); strings.TrimSpace(out) != "active" {
				t.Errorf("%s: ssh.service is %q", h.Name, out)
			}
		}
		if r := run(t, "", "apply", "-c", file, "-f", "-y"); r.code != 0 || !strings.Contains(r.stdout, "2 unchanged") {
			t.Fatalf("second run is not a no-op: %s", r)
		}
	}
}
