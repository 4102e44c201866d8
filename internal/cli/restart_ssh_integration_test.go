package cli_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// restartUnit runs on the configuration it read at start: /run/restart-demo holds it.
const restartUnit = `[Unit]
Description=chaos restart demo

[Service]
ExecStart=/bin/sh -c 'cat /etc/restart-demo.conf >/run/restart-demo; exec sleep infinity'

[Install]
WantedBy=multi-user.target
`

// TestFleetRestartOverSSH: over SSH, on a systemd-booted host, a changed file restarts the service
// that restarts on it, once, and the service then runs the new content; the next apply restarts
// nothing.
func TestFleetRestartOverSSH(t *testing.T) {
	isolate(t)
	bs := testenv.StartBootedSSHHosts(t, 1, func(root string) {
		testenv.WriteFile(t, root, "/etc/systemd/system/restart-demo.service", restartUnit)
	})
	h := bs.Hosts[0]
	chobolo := func(conf string) string {
		return writeChobolo(t, fmt.Sprintf(`services:
  - ssh
  - name: restart-demo
    restart_on: /etc/restart-demo.conf
files:
  - path: /etc/restart-demo.conf
    content: %q
fleet:
  ssh: {known_hosts: %s, config: none, connect_timeout: 10s}
  hosts:
    %s: {ssh_hostname: %s, ssh_user: root, ssh_key: %s}
`, conf, bs.KnownHosts, h.Name, h.Addr, bs.KeyFile))
	}
	running := func() (pid, conf string) {
		p, _ := h.Run("systemctl", "show", "-p", "MainPID", "--value", "restart-demo.service")
		c, _ := h.Run("cat", "/run/restart-demo")
		return strings.TrimSpace(p), c
	}
	if r := run(t, "", "apply", "-c", chobolo("v1\n"), "-f", "-y"); r.code != 0 {
		t.Fatalf("first apply: %s", r)
	}
	pid, conf := running()
	if conf != "v1\n" || pid == "0" || pid == "" {
		t.Fatalf("after the first apply restart-demo runs %q (pid %s), want v1", conf, pid)
	}
	file := chobolo("v2\n")
	r := run(t, "", "apply", "-c", file, "-f", "-y")
	if r.code != 0 || !strings.Contains(r.stdout, "restart restart-demo.service (because /etc/restart-demo.conf changed)") {
		t.Fatalf("second apply: %s", r)
	}
	npid, conf := running()
	if conf != "v2\n" || npid == pid {
		t.Errorf("after the change restart-demo runs %q (pid %s, was %s), want v2 in a new process", conf, npid, pid)
	}
	if r := run(t, "", "apply", "-c", file, "-f", "-y"); r.code != 0 || !strings.Contains(r.stdout, "1 unchanged") ||
		strings.Contains(r.stdout, "restart restart-demo") {
		t.Fatalf("third apply is not a no-op: %s", r)
	}
	if again, _ := running(); again != npid {
		t.Errorf("the no-op apply restarted it: pid %s, was %s", again, npid)
	}
}
