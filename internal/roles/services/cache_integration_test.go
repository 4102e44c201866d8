package services_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/roles/services"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// The unit-file listing is cached between probes and recomputed as soon as anything it depends on
// changes: a new unit file, an enablement link, an edited drop-in.
func TestUnitListCache(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	probe := func() services.Facts {
		t.Helper()
		return services.ParseFacts(testenv.Chroot(t, root, "sh", "-c", services.ProbeUnits), "", "")
	}
	first := probe()
	if first.UnitsCached || len(first.Units) < 20 {
		t.Fatalf("first probe: cached=%v, %d units", first.UnitsCached, len(first.Units))
	}
	second := probe()
	if !second.UnitsCached || len(second.Units) != len(first.Units) || second.Units["ssh.service"] != first.Units["ssh.service"] {
		t.Fatalf("second probe: cached=%v, %d units (want the cached %d)", second.UnitsCached, len(second.Units), len(first.Units))
	}
	// Timestamps have nanoseconds on ext4/overlayfs, but make the ordering unambiguous anyway.
	time.Sleep(10 * time.Millisecond)
	unit := filepath.Join(root, "etc/systemd/system/chaos-cache.service")
	if err := os.WriteFile(unit, []byte("[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	third := probe()
	if third.UnitsCached || third.Units["chaos-cache.service"] != "disabled" {
		t.Fatalf("after adding a unit: cached=%v, state %q", third.UnitsCached, third.Units["chaos-cache.service"])
	}
	time.Sleep(10 * time.Millisecond)
	testenv.Chroot(t, root, "systemctl", "--root=/", "enable", "chaos-cache.service")
	if fourth := probe(); fourth.UnitsCached || fourth.Units["chaos-cache.service"] != "enabled" {
		t.Fatalf("after enabling: cached=%v, state %q", fourth.UnitsCached, fourth.Units["chaos-cache.service"])
	}
	if !probe().UnitsCached {
		t.Fatal("unchanged host: the listing was not cached")
	}
	// A drop-in edited in place (no rename, so only the file's own mtime changes) still counts.
	time.Sleep(10 * time.Millisecond)
	dropin := filepath.Join(root, "etc/systemd/system/chaos-cache.service.d")
	if err := os.MkdirAll(dropin, 0o755); err != nil {
		t.Fatal(err)
	}
	if probe().UnitsCached {
		t.Fatal("new drop-in directory: cache reused")
	}
	f, err := os.OpenFile(filepath.Join(dropin, "x.conf"), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	probe()
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(dropin, "x.conf"), []byte("[Unit]\nDescription=x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if probe().UnitsCached {
		t.Fatal("drop-in edited in place: cache reused")
	}
}
