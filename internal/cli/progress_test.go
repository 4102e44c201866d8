package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/fleet"
	"github.com/ch-aos-ch/chaos/internal/golden"
)

func TestProgressFrames(t *testing.T) {
	three := []progressHost{
		{Name: "web1", Phase: phaseApplying, Op: 3, Ops: 7, Elapsed: 2100 * time.Millisecond},
		{Name: "db-primary.eu-west.example.com", Phase: phaseProbing, Elapsed: 400 * time.Millisecond},
		{Name: "web2", Phase: phaseConnecting, Elapsed: 65 * time.Second},
	}
	var many []progressHost
	for i := range 30 {
		many = append(many, progressHost{Name: fmt.Sprintf("h%02d", i), Phase: phasePlanning, Elapsed: time.Duration(i) * 100 * time.Millisecond})
	}
	for _, tc := range []struct {
		name  string
		state progressState
		width int
	}{
		{"start", progressState{Total: 3, MaxRows: 10}, 80},
		{"running", progressState{Running: three, Total: 10, Done: 4, Changed: 2, Failed: 1, Unreachable: 1, Elapsed: 12300 * time.Millisecond, MaxRows: 10}, 80},
		{"narrow", progressState{Running: three, Total: 10, Done: 4, Changed: 2, Elapsed: 3 * time.Second, MaxRows: 10}, 36},
		{"tiny", progressState{Running: three, Total: 10, Done: 10, Elapsed: 3 * time.Second, MaxRows: 10}, 10},
		{"many", progressState{Running: many, Total: 50, Done: 20, Changed: 20, Elapsed: 95 * time.Second, MaxRows: 6}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame := renderProgress(tc.state, tc.width)
			for _, l := range frame {
				if len(l) >= max(tc.width, 20) {
					t.Errorf("line of %d columns at width %d: %q", len(l), tc.width, l)
				}
			}
			if tc.state.MaxRows > 0 && len(frame) > tc.state.MaxRows {
				t.Errorf("%d rows, max %d", len(frame), tc.state.MaxRows)
			}
			golden.Check(t, "progress_"+tc.name, strings.Join(frame, "\n")+"\n")
		})
	}
}

func TestFleetTracker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := newFleetTracker(4, t0)
	tr.setPhase("a", phaseConnecting, t0)
	tr.setPhase("b", phaseConnecting, t0.Add(time.Second))
	tr.setPhase("a", phaseProbing, t0.Add(2*time.Second))
	tr.planned("a", 3, t0.Add(2*time.Second))
	tr.opDone("a", t0)
	tr.opDone("a", t0)
	tr.planned("b", 0, t0) // nothing to do: the phase stays
	tr.finish(engine.HostOutcome{Name: "b", Status: string(fleet.Unchanged)})
	tr.finish(engine.HostOutcome{Name: "c", Status: string(fleet.Skipped)}) // never started
	s := tr.snapshot(t0.Add(5*time.Second), 10)
	if len(s.Running) != 1 || s.Running[0] != (progressHost{Name: "a", Phase: phaseApplying, Op: 2, Ops: 3, Elapsed: 5 * time.Second}) {
		t.Fatalf("running = %+v", s.Running)
	}
	if s.Done != 2 || s.Total != 4 || s.Elapsed != 5*time.Second || s.Changed != 0 {
		t.Fatalf("state = %+v", s)
	}
	tr.opDone("a", t0)
	tr.opDone("a", t0) // more op.end events than planned ops (undo) never go past the total
	tr.finish(engine.HostOutcome{Name: "a", Status: string(fleet.Failed)})
	tr.finish(engine.HostOutcome{Name: "d", Status: string(fleet.Unreachable)})
	if s := tr.snapshot(t0, 10); len(s.Running) != 0 || s.Failed != 1 || s.Unreachable != 1 || s.Done != 4 {
		t.Fatalf("final = %+v", s)
	}
}
