package livetest

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/region"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

func ntp(on bool) *chobolo.Chobolo {
	c := &chobolo.Chobolo{Region: chobolo.Region{NTP: &on}}
	c.SetKey("region", chobolo.Pos{})
	return c
}

const timesyncd = "systemd-timesyncd.service"

// TestRegionNTPLive: `ntp` enables and starts systemd-timesyncd on a running systemd, and stops
// and disables it; whether it can sync (there is no network) does not matter, only the unit's state.
func TestRegionNTPLive(t *testing.T) {
	t.Parallel()
	b, tr := boot(t)

	// As shipped, timesyncd does not run in a container (ConditionVirtualization=!container): it
	// is enabled, its start is a no-op, and chaos must not plan that start on every run.
	t.Run("start condition fails", func(t *testing.T) {
		wantState(t, b, timesyncd, "inactive", "enabled")
		hp := enginetest.ApplyTwice(t, tr, ntp(true), region.New())
		t.Logf("\n%s", enginetest.Render(hp))
		if !strings.Contains(notes(hp), "condition") {
			t.Errorf("no note explains why timesyncd is not started:\n%s", notes(hp))
		}
		wantState(t, b, timesyncd, "inactive", "enabled")
	})

	// Lift the conditions (as an admin's drop-in would) so that the unit can really run here.
	testenv.WriteFile(t, b.Root, "/etc/systemd/system/"+timesyncd+".d/10-chaos-test.conf", "[Unit]\nConditionVirtualization=\nConditionCapability=\n")
	b.MustRun(t, "systemctl", "daemon-reload")

	t.Run("ntp true starts it", func(t *testing.T) {
		hp := enginetest.ApplyTwice(t, tr, ntp(true), region.New())
		if !hasChange(hp, "ntp "+timesyncd, "start") {
			t.Errorf("plan: %q", changes(hp))
		}
		wantState(t, b, timesyncd, "active", "enabled")
	})
	t.Run("ntp false stops and disables it", func(t *testing.T) {
		hp := enginetest.ApplyTwice(t, tr, ntp(false), region.New())
		if !hasChange(hp, "ntp "+timesyncd, "disable, stop") {
			t.Errorf("plan: %q", changes(hp))
		}
		wantState(t, b, timesyncd, "inactive", "disabled")
	})
	t.Run("ntp true enables and starts it again", func(t *testing.T) {
		hp := enginetest.ApplyTwice(t, tr, ntp(true), region.New())
		if !hasChange(hp, "ntp "+timesyncd, "enable, start") {
			t.Errorf("plan: %q", changes(hp))
		}
		wantState(t, b, timesyncd, "active", "enabled")
	})
}
