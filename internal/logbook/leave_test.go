package logbook

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// leaveEnv makes the test binary a process that records one dry run in the limani it names,
// leaves the store (Leave) and exits: TestLeaveToExit's child.
const leaveEnv = "CHAOS_LOGBOOK_TEST_LEAVE"

func TestMain(m *testing.M) {
	if dsn := os.Getenv(leaveEnv); dsn != "" {
		if err := recordDryAndLeave(dsn); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func recordDryAndLeave(dsn string) error {
	ctx := context.Background()
	s, err := Open(ctx, dsn)
	if err != nil {
		return err
	}
	run, err := s.StartRun(ctx, RunInfo{Command: "apply --dry", Chobolo: "/srv/m.yml"})
	if err != nil {
		return err
	}
	for _, ev := range dryRunEvents {
		run.Observe(ev)
	}
	run.Finish(nil)
	if err := run.Err(); err != nil {
		return err
	}
	return s.Leave()
}

// TestLeaveToExit: processes that each record a dry run, Leave the store and exit leave every run
// readable by the next one (from the WAL), the database intact, and the WAL bounded: it stays
// while it is small and is checkpointed away (Leave closes) once it passes walLeaveLimit.
func TestLeaveToExit(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "limani.db")
	wal := dsn + "-wal"
	var kept, removed, runs int
	for removed == 0 || kept < 2 {
		if runs == 500 {
			t.Fatalf("after %d runs the WAL was kept %d times and removed %d times", runs, kept, removed)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), leaveEnv+"="+dsn)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child %d: %v\n%s", runs, err, out)
		}
		runs++
		fi, err := os.Stat(wal)
		switch {
		case err == nil && fi.Size() > 0:
			kept++
			// At most the limit plus one dry run's pages (a few dozen KiB).
			if fi.Size() > walLeaveLimit+256<<10 {
				t.Fatalf("after %d runs the WAL is %d bytes", runs, fi.Size())
			}
		case os.IsNotExist(err):
			removed++
		default:
			t.Fatalf("WAL after %d runs: %v, %v", runs, fi, err)
		}
	}
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.opened(); err != nil {
		t.Fatal(err)
	}
	var n int
	var check string
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM runs WHERE command = 'apply --dry' AND status = 'ok'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	if n != runs {
		t.Fatalf("%d dry runs recorded by %d processes", n, runs)
	}
	t.Logf("%d runs: the WAL was left %d times and checkpointed away %d times", runs, kept, removed)
}
