package services_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/roles/services"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// A read-only run (--dry, a capture) uses a fresh unit-file cache but never writes one: the probe
// of a dry run leaves the target as it was.
func TestReadOnlyProbeWritesNoCache(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	cache := filepath.Join(root, "var/lib/chaos/cache/unit-files")
	probe := func(readOnly bool) services.Facts {
		t.Helper()
		var units string
		for _, s := range (services.Role{}).Probe(&engine.Env{Chroot: true, ReadOnly: readOnly}, &chobolo.Chobolo{}) {
			if s.Name == "units" {
				units = s.Script
			}
		}
		return services.ParseFacts(testenv.Chroot(t, root, "sh", "-c", units), "", "")
	}
	stat := func() string {
		t.Helper()
		fi, err := os.Stat(cache)
		if os.IsNotExist(err) {
			return "none"
		}
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime().String()
	}
	if f := probe(true); f.UnitsCached || len(f.Units) < 20 {
		t.Fatalf("read-only probe without a cache: cached=%v, %d units", f.UnitsCached, len(f.Units))
	}
	if testenv.Exists(t, root, "/var/lib/chaos") {
		t.Fatal("a read-only probe created /var/lib/chaos")
	}
	probe(false)
	written := stat()
	if written == "none" {
		t.Fatal("the probe of a real apply wrote no cache")
	}
	if f := probe(true); !f.UnitsCached || f.Units["ssh.service"] == "" {
		t.Fatalf("read-only probe with a fresh cache: cached=%v, ssh.service %q", f.UnitsCached, f.Units["ssh.service"])
	}
	time.Sleep(10 * time.Millisecond)
	testenv.WriteFile(t, root, "/etc/systemd/system/chaos-ro.service", "[Service]\nExecStart=/bin/true\n")
	if f := probe(true); f.UnitsCached || f.Units["chaos-ro.service"] == "" {
		t.Fatalf("read-only probe with a stale cache: cached=%v, chaos-ro.service %q", f.UnitsCached, f.Units["chaos-ro.service"])
	}
	if now := stat(); now != written {
		t.Fatalf("a read-only probe rewrote the stale cache (mtime %s -> %s)", written, now)
	}
}
