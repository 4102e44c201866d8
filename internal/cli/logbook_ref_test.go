package cli_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/logbook"
)

// `logbook show` finds a run by a suffix of its id (the random part) in the real SQLite logbook,
// and an ambiguous prefix lists the runs it matches.
func TestLogbookShowSuffixAndAmbiguous(t *testing.T) {
	isolate(t)
	ctx := context.Background()
	s, err := logbook.Open(ctx, os.Getenv("CHAOS_LIMANI"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		r, err := s.StartRun(ctx, logbook.RunInfo{Command: "apply", Chobolo: "/srv/machine.yml"})
		if err != nil {
			t.Fatal(err)
		}
		r.Finish(nil)
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	s.Close()

	suffix := ids[0][strings.LastIndex(ids[0], "-")+1:]
	if r := run(t, "", "logbook", "show", suffix); r.code != 0 || !strings.Contains(r.stdout, ids[0]) {
		t.Errorf("show %s: %s", suffix, r)
	}
	r := run(t, "", "logbook", "show", "20")
	if r.code == 0 || !strings.Contains(r.stderr, "matches 2 runs") || !strings.Contains(r.stderr, ids[0]) || !strings.Contains(r.stderr, ids[1]) {
		t.Errorf("ambiguous show: %s", r)
	}
}

// The --limani help names its value and shows real DSNs (pflag takes a backquoted word of the
// usage as the value's name).
func TestLimaniHelp(t *testing.T) {
	for _, cmd := range []string{"apply", "logbook"} {
		r := run(t, "", cmd, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "--limani DSN ") || !strings.Contains(r.stdout, "postgres://chaos@db.example.org/chaos") {
			t.Errorf("%s --help:\n%s", cmd, r)
		}
	}
}
