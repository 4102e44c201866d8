package services_test

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/services"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

const testUnit = `[Unit]
Description=chaos test service

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
`

func isEnabled(t *testing.T, root, unit string) string {
	t.Helper()
	out, _, _ := testenv.ChrootResult(t, root, "systemctl", "--root=/", "is-enabled", unit)
	return strings.TrimSpace(out)
}

func TestServicesChroot(t *testing.T) {
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, testenv.DebPkg{Name: "chaos-test", Version: "1.0", Files: map[string]string{
		"/lib/systemd/system/chaos-test.service":  testUnit,
		"/lib/systemd/system/chaos-extra.service": testUnit,
	}})
	testenv.Chroot(t, root, "apt-get", "install", "-y", "-q", "chaos-test")
	// an undeclared service someone enabled by hand: the prune disables it
	testenv.Chroot(t, root, "systemctl", "--root=/", "enable", "chaos-extra.service")
	tr := enginetest.Chroot(t, root)

	f := false
	c := &chobolo.Chobolo{Services: []chobolo.Service{{Name: "sshd"}, {Name: "chaos-test"}}}
	c.SetKey("services", chobolo.Pos{})
	hp := enginetest.ApplyTwice(t, tr, c, services.New())
	t.Logf("first plan:\n%s", enginetest.Render(hp))
	for unit, want := range map[string]string{"chaos-test.service": "enabled", "chaos-extra.service": "disabled",
		"ssh.service": "enabled", "systemd-timesyncd.service": "enabled"} {
		if got := isEnabled(t, root, unit); got != want {
			t.Errorf("%s is %q, want %q", unit, got, want)
		}
	}

	// on_boot: false disables it again, and the run after that is a no-op
	c.Services[1].OnBoot = &f
	enginetest.ApplyTwice(t, tr, c, services.New())
	if got := isEnabled(t, root, "chaos-test.service"); got != "disabled" {
		t.Errorf("chaos-test.service is %q after on_boot: false", got)
	}
	if got := isEnabled(t, root, "ssh.service"); got != "enabled" {
		t.Errorf("ssh.service is %q", got)
	}

	// an unknown unit is an error naming it
	bad := &chobolo.Chobolo{Services: []chobolo.Service{{Name: "nope"}}}
	bad.SetKey("services", chobolo.Pos{})
	if _, err := enginetestPlan(tr, bad); err == nil || !strings.Contains(err.Error(), "nope.service does not exist") {
		t.Errorf("unknown unit: err = %v", err)
	}
}
