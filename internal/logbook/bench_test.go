package logbook

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/engine"
)

// dryRunEvents are the events a no-change `chaos apply --dry` of one target sends.
var dryRunEvents = []engine.Event{
	{Type: engine.EventRunStart},
	{Type: engine.EventPhase, Target: "@chroot/r", Phase: "connecting"},
	{Type: engine.EventConnected, Target: "@chroot/r"},
	{Type: engine.EventPhase, Target: "@chroot/r", Phase: "probing"},
	{Type: engine.EventProbed, Target: "@chroot/r", Duration: 25 * time.Millisecond},
	{Type: engine.EventPhase, Target: "@chroot/r", Phase: "planning"},
	{Type: engine.EventPlan, Target: "@chroot/r"},
	{Type: engine.EventRunDone},
}

// BenchmarkDryRunRecord is the logbook's share of a `chaos apply --dry` (docs/performance.md):
// open the limani (in a directory on the machine's disk, as ~/.local/share/chaos is), record a dry
// run's events, Finish (its one transaction) and Close, with 1,000 earlier runs in the file.
func BenchmarkDryRunRecord(b *testing.B) {
	dsn := filepath.Join(b.TempDir(), "limani.db")
	ctx := context.Background()
	record := func(s *Store) {
		run, err := s.StartRun(ctx, RunInfo{Command: "apply --dry", Chobolo: "/srv/m.yml"})
		if err != nil {
			b.Fatal(err)
		}
		for _, ev := range dryRunEvents {
			run.Observe(ev)
		}
		run.Finish(nil)
		if err := run.Err(); err != nil {
			b.Fatal(err)
		}
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	for range 1000 {
		record(s)
	}
	s.Close()
	b.ResetTimer()
	for b.Loop() {
		s, err := Open(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		record(s)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
