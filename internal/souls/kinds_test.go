package souls

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// installKinds installs the test binary as the Soul name (behaving as mode) declaring kinds, in a
// Soul path it sets as $CHAOS_SOUL_PATH.
func installKinds(t *testing.T, name, mode, kinds string) {
	t.Helper()
	path := t.TempDir()
	dir := filepath.Join(path, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf("name: %s\nversion: 1.0.0\nprotocol: 1\nexec: [env, CHAOS_TEST_SOUL=%s, %s]\n%s", name, mode, exe, kinds)
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CHAOS_SOUL_PATH", path)
}

// Lookup names the kinds that are installed when the one asked for is not.
func TestLookup(t *testing.T) {
	installKinds(t, "inv", "serve", "boats: [{name: cmdb}, {name: ldap}]\nproviders: [{name: stick}]\n")
	rt := Open(Paths(), nil)
	s, spec, err := rt.Lookup(soul.KindBoat, "ldap")
	if err != nil || s != "inv" || spec.Name != "ldap" {
		t.Fatalf("Lookup(boat, ldap) = %v, %v, %v", s, spec, err)
	}
	if _, _, err := rt.Lookup(soul.KindBoat, "stick"); err == nil || !strings.Contains(err.Error(), `no installed Soul provides the boat "stick" (installed: cmdb, ldap)`) {
		t.Fatalf("a provider's name is not a boat: %v", err)
	}
	if _, _, err := rt.Lookup(soul.KindChimera, "x"); err == nil || !strings.Contains(err.Error(), "(Souls are looked up in ") {
		t.Fatalf("no back end at all: %v", err)
	}
}

// A sink that stops reading never blocks the run: Observe drops what the bounded queue cannot
// hold, and Close kills the Soul that stopped reading (after SinkDrain) and reports the loss once.
func TestSinkNeverBlocks(t *testing.T) {
	installKinds(t, "slow", "stuck", "limanis: [{name: slow}]\n")
	rt := Open(Paths(), nil)
	defer rt.Close()
	k, err := rt.Sink(context.Background(), "slow")
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 1<<10) // the pipe fills after ~64 events, the queue after SinkQueue more
	for i := range 3 * SinkQueue {
		k.Observe(map[string]any{"n": i, "pad": big})
	}
	err = k.Close()
	if err == nil || !strings.Contains(err.Error(), "logbook sink slow: ") || !strings.Contains(err.Error(), "events not delivered") {
		t.Fatalf("Close = %v", err)
	}
	k.Observe("after close") // ignored, no panic
	if err := k.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := rt.Sink(context.Background(), "fast"); err == nil || !strings.Contains(err.Error(), `logbook sink fast: no installed Soul provides the logbook sink "fast"`) {
		t.Fatalf("a sink that is not installed: %v", err)
	}
}

// BenchmarkSinkObserve is what a run pays per event for one sink: the enqueue (the Soul reads
// and discards them concurrently; drops are reported, not waited for).
func BenchmarkSinkObserve(b *testing.B) {
	path := b.TempDir()
	dir := filepath.Join(path, "bench")
	exe, _ := os.Executable()
	_ = os.MkdirAll(dir, 0o755)
	_ = os.WriteFile(filepath.Join(dir, ManifestFile), []byte(fmt.Sprintf("name: bench\nversion: 1.0.0\nprotocol: 1\nexec: [env, CHAOS_TEST_SOUL=serve, %s]\nlimanis: [{name: bench}]\n", exe)), 0o644)
	b.Setenv("CHAOS_SOUL_PATH", path)
	rt := Open(Paths(), nil)
	defer rt.Close()
	k, err := rt.Sink(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	ev := []byte(`{"v":1,"type":"op.end","time":"2026-01-01T00:00:00Z","target":"web1","op":"write /etc/motd","duration_ns":1200000}`)
	b.ResetTimer()
	for range b.N {
		k.Observe(json.RawMessage(ev))
	}
	b.StopTimer()
	if err := k.Close(); err != nil {
		b.Log(err)
	}
}

// The packages that use a kind reach Souls through soul.Kinds, which the run's Runtime implements:
// they do not import this package (the dependency arrows point inward, and they cannot start a
// second process for a Soul of the run).
func TestConsumersDoNotImportSouls(t *testing.T) {
	for _, pkg := range []string{"internal/fleet", "internal/chimera", "internal/secrets/providers", "internal/config"} {
		cmd := exec.Command("go", "list", "-deps", "./"+pkg)
		cmd.Dir = testenv.RepoRoot(t)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps ./%s: %v", pkg, err)
		}
		if slices.Contains(strings.Fields(string(out)), "github.com/ch-aos-ch/chaos/internal/souls") {
			t.Errorf("%s imports internal/souls; take a soul.Kinds instead", pkg)
		}
	}
}
