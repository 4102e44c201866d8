package logbook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// exercise records two runs and checks the reports.
func exercise(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(migrations) {
		t.Fatalf("schema version %d, %v", v, err)
	}
	run, err := s.StartRun(ctx, RunInfo{Command: "apply", Chobolo: "/srv/machine.yml"})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"web1", "web2"} {
		run.Observe(engine.Event{Type: engine.EventProbed, Target: target, Duration: 40 * time.Millisecond})
		for i := 1; i <= 100; i++ {
			role := "packages"
			if i%2 == 0 {
				role = "files"
			}
			op := fmt.Sprintf("write /etc/f%d", i)
			run.Observe(engine.Event{Type: engine.EventOpStart, Target: target, Role: role, Op: op})
			run.Observe(engine.Event{Type: engine.EventOpEnd, Target: target, Role: role, Op: op, Duration: time.Duration(i) * time.Millisecond})
		}
		run.Observe(engine.Event{Type: engine.EventDone, Target: target})
		run.HostDone(target, &engine.Result{Target: target, Changed: 100, Ops: 100, Generation: 3}, nil)
	}
	run.Finish(nil)
	if err := run.Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	failed, err := s.StartRun(ctx, RunInfo{Command: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	failed.Observe(engine.Event{Type: engine.EventProbed, Target: "web1"})
	failed.Observe(engine.Event{Type: engine.EventOpEnd, Target: "web1", Role: "users", Op: "useradd bob", Error: "exit status 4",
		Stdout: "out line\n", Stderr: strings.Repeat("x", 3000) + "useradd: UID 990 is not unique\n"})
	failed.Observe(engine.Event{Type: engine.EventUndo, Target: "web1", Role: "users", Op: "groupadd x"})
	failed.HostDone("web1", &engine.Result{RolledBack: true, Ops: 1}, errors.New("useradd failed"))
	failed.Finish(errors.New("1 host failed"))

	// A host recorded from events alone (what the CLI does): host.done carries the generation.
	evs, err := s.StartRun(ctx, RunInfo{Command: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	evs.Observe(engine.Event{Type: engine.EventProbed, Target: "db1", Duration: time.Millisecond})
	evs.Observe(engine.Event{Type: engine.EventOpEnd, Target: "db1", Role: "files", Op: "write /a", Duration: time.Millisecond})
	evs.Observe(engine.Event{Type: engine.EventDone, Target: "db1", Generation: 7})
	evs.Finish(nil)
	if rep, err := s.Report(ctx, evs.ID); err != nil || len(rep.Hosts) != 1 || rep.Hosts[0].Generation != 7 ||
		rep.Hosts[0].Ops != 1 || rep.Hosts[0].Status != "ok" || evs.Err() != nil {
		t.Fatalf("events-only host: %+v %v %v", rep, err, evs.Err())
	}
	time.Sleep(2 * time.Millisecond) // the events-only run is the newest
	runs, err := s.Runs(ctx, 10)
	if err != nil || len(runs) < 2 {
		t.Fatalf("runs: %v %v", runs, err)
	}
	if runs[0].ID != evs.ID || runs[1].ID != failed.ID || runs[1].Status != "failed" || runs[1].Failed != 1 {
		t.Fatalf("newest run: %+v", runs[0])
	}
	rep, err := s.Report(ctx, run.ID[:len(run.ID)-2])
	if err != nil {
		t.Fatal(err)
	}
	if rep.Run.Hosts != 2 || rep.Run.Changed != 200 || len(rep.Ops) != 200 || rep.Hosts[0].Generation != 3 || rep.Hosts[0].Probe != 40*time.Millisecond {
		t.Fatalf("report: %+v", rep.Run)
	}
	// 1..100 ms on each host: nearest-rank p50 = 50, p90 = 90, p95 = 95, p99 = 99 ms.
	p := rep.OpTime
	if p.Count != 200 || p.P50 != 50*time.Millisecond || p.P90 != 90*time.Millisecond || p.P95 != 95*time.Millisecond ||
		p.P99 != 99*time.Millisecond || p.Max != 100*time.Millisecond {
		t.Fatalf("percentiles: %+v", p)
	}
	if rep.ByRole["files"].Count != 100 || rep.ByRole["files"].Max != 100*time.Millisecond {
		t.Fatalf("by role: %+v", rep.ByRole)
	}
	rep, err = s.Report(ctx, failed.ID)
	if err != nil || rep.Run.ID != failed.ID || len(rep.Undos) != 1 || !rep.Hosts[0].RolledBack || rep.Hosts[0].Status != "rolled back" {
		t.Fatalf("last report: %+v %v", rep, err)
	}
	// The output tails: stdout as printed, stderr cut to its last engine.OutputTail bytes.
	if o := rep.Ops[0]; o.Stdout != "out line\n" || !strings.HasSuffix(o.Stderr, "UID 990 is not unique\n") ||
		len(o.Stderr) > engine.OutputTail+3 || len(o.Stderr) < engine.OutputTail {
		t.Fatalf("output tails: stdout %q, stderr %d bytes ending %q", o.Stdout, len(o.Stderr), o.Stderr[max(0, len(o.Stderr)-40):])
	}
	if id, err := s.Resolve(ctx, "last"); err != nil || id != evs.ID {
		t.Fatalf("last = %q, %v", id, err)
	}
	if _, err := s.Report(ctx, "nope"); !errors.Is(err, ErrNoRun) {
		t.Fatalf("unknown run: %v", err)
	}
}

func TestSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "limani.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	exercise(t, s)
	var mode string
	if err := s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q, %v", mode, err)
	}
	s.Close()
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("limani.db mode: %v %v", st, err)
	}
	// Reopening migrates nothing and keeps the data.
	s, err = Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// ... and writes nothing: opening a current limani is a read (one connection, so this is the
	// connection Open used, once its work is done).
	if err := s.opened(); err != nil {
		t.Fatal(err)
	}
	var changes int
	if err := s.db.QueryRow(`SELECT total_changes()`).Scan(&changes); err != nil || changes != 0 {
		t.Fatalf("opening a current limani wrote %d rows (%v)", changes, err)
	}
	if runs, err := s.Runs(context.Background(), 0); err != nil || len(runs) != 3 {
		t.Fatalf("after reopen: %v %v", runs, err)
	}
}

// schemaV5 is the schema as the first release made it (five migrations), with one run in it.
func schemaV5(t *testing.T, dsn string) {
	t.Helper()
	driver, name := "sqlite", "file:"+dsn
	if IsPostgres(dsn) {
		driver, name = "pgx", dsn
	}
	db, err := sql.Open(driver, name)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stmts := append([]string{`CREATE TABLE schema_version (version INTEGER NOT NULL)`, `INSERT INTO schema_version (version) VALUES (5)`},
		migrations[:5]...)
	stmts = append(stmts, `INSERT INTO runs (id, started, command) VALUES ('20260101-000000-old', 1, 'apply')`,
		`INSERT INTO events (run_id, seq, at, type, target, role, op, duration_ns) VALUES ('20260101-000000-old', 1, 1, 'op.end', 'h', 'files', 'write /a', 5)`)
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// checkMigrated opens a schema-v5 logbook: the migrations add the output columns and the old run
// reads back with empty tails.
func checkMigrated(t *testing.T, dsn string) {
	t.Helper()
	schemaV5(t, dsn)
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(context.Background()); err != nil || v != len(migrations) || v < 7 {
		t.Fatalf("schema version after migrating: %d %v", v, err)
	}
	rep, err := s.Report(context.Background(), "20260101-000000-old")
	if err != nil || len(rep.Ops) != 1 || rep.Ops[0].Op != "write /a" || rep.Ops[0].Stdout != "" {
		t.Fatalf("old run after migrating: %+v %v", rep, err)
	}
}

func TestSQLiteMigratesFromV5(t *testing.T) {
	checkMigrated(t, filepath.Join(t.TempDir(), "old.db"))
}

func TestPercentileEdges(t *testing.T) {
	if p := Percentile(nil); p.Count != 0 {
		t.Fatal(p)
	}
	p := Percentile([]time.Duration{5})
	if p.P50 != 5 || p.P99 != 5 {
		t.Fatal(p)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://chaos:s3cret@db:5432/limani": "postgres://chaos:***@db:5432/limani",
		"host=/tmp dbname=x password=s3cret":     "host=/tmp dbname=x password=***",
	} {
		if got := RedactDSN(in); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("RedactDSN(%q) = %q", in, got)
		}
	}
}

func TestPostgreSQL(t *testing.T) {
	dsn := testenv.PostgreSQL(t)
	ctx := context.Background()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	exercise(t, s)
	s.Close()
	// A second open (and migration check) of the same server, concurrently from two stores.
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			s, err := Open(ctx, dsn)
			if err == nil {
				_, err = s.Runs(ctx, 5)
				s.Close()
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The URL form.
	host := strings.Fields(dsn)[0][len("host="):]
	port := strings.Fields(dsn)[1][len("port="):]
	s, err = Open(ctx, "postgres://postgres@/postgres?host="+host+"&port="+port+"&sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if runs, err := s.Runs(ctx, 5); err != nil || len(runs) != 3 {
		t.Fatalf("runs over the URL DSN: %v %v", runs, err)
	}
	// A logbook made by the first schema, in its own database.
	if _, err := s.db.ExecContext(ctx, `CREATE DATABASE old5`); err != nil {
		t.Fatal(err)
	}
	checkMigrated(t, strings.Replace(dsn, "dbname=postgres", "dbname=old5", 1))
}

// A run is found by its id, or by a prefix or suffix matching exactly one run; an ambiguous
// reference lists its candidates. Ids as StartRun writes them, in both stores.
func TestResolveRef(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "limani.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resolveRefs(t, s)
}

func TestResolveRefPostgreSQL(t *testing.T) {
	s, err := Open(context.Background(), testenv.PostgreSQL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resolveRefs(t, s)
}

func resolveRefs(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	if err := s.opened(); err != nil { // the tables exist
		t.Fatal(err)
	}
	ids := []string{"20260101-120000-3fa9c2d1", "20260101-130000-0b7e44aa", "20260102-090000-3fa9ffff", "20260102-100000-c0ffee1d"}
	for i, id := range ids {
		if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO runs (id, started, command, chobolo, controller, username) VALUES (?, ?, 'apply', '', 'h', 'u')`), id, int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ ref, want, err string }{
		{ref: "20260101-130000-0b7e44aa", want: ids[1]},
		{ref: "last", want: ids[3]},
		{ref: "20260101-13", want: ids[1]}, // prefix
		{ref: "0b7e44aa", want: ids[1]},    // suffix: the random part
		{ref: "ee1d", want: ids[3]},        // short suffix
		{ref: "20260101-1", err: "matches 2 runs; give more of the id:\n  " + ids[1] + "\n  " + ids[0]},
		{ref: "3fa9", err: "no such run"},     // inside, neither prefix nor suffix
		{ref: "2026_101", err: "no such run"}, // _ is no wildcard
		{ref: "%", err: "no such run"},
		{ref: "nope", err: "no such run"},
	} {
		got, err := s.Resolve(ctx, tc.ref)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Resolve(%q) = %q, %v; want error %q", tc.ref, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.ref, got, err, tc.want)
		}
	}
}

// When a run's rows reach the limani: a dry run's all at Finish, a real apply's as it goes
// (crash-safety). In SQLite, and the same checks on a PostgreSQL server.
func TestDryRunAtFinishSQLite(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "limani.db")
	checkDryAtFinish(t, openTwo(t, dsn))
}

func TestApplyAsItGoesSQLite(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "limani.db")
	checkApplyAsItGoes(t, openTwo(t, dsn))
}

func TestDryRunAtFinishPostgreSQL(t *testing.T) {
	checkDryAtFinish(t, openTwo(t, testenv.PostgreSQL(t)))
}

func TestApplyAsItGoesPostgreSQL(t *testing.T) {
	checkApplyAsItGoes(t, openTwo(t, testenv.PostgreSQL(t)))
}

// openTwo opens the limani at dsn twice: the store that records, and a reader with its own
// connection that sees only what was committed, as `chaos logbook` would after a crash.
func openTwo(t *testing.T, dsn string) [2]*Store {
	t.Helper()
	var two [2]*Store
	for i := range two {
		s := &two[i]
		var err error
		if *s, err = Open(context.Background(), dsn); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { (*s).Close() })
	}
	return two
}

// committed counts what the reader sees of run id: its run row, host rows and events.
func committed(t *testing.T, r *Store, id string) (runs, hosts, events int) {
	t.Helper()
	if err := r.opened(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		n     *int
		query string
	}{
		{&runs, `SELECT COUNT(*) FROM runs WHERE id = ?`},
		{&hosts, `SELECT COUNT(*) FROM hosts WHERE run_id = ?`},
		{&events, `SELECT COUNT(*) FROM events WHERE run_id = ?`},
	} {
		if err := r.db.QueryRow(r.q(c.query), id).Scan(c.n); err != nil {
			t.Fatal(err)
		}
	}
	return runs, hosts, events
}

// checkDryAtFinish: a dry run (as the CLI names it, "apply --dry") writes nothing before Finish,
// and everything at Finish: the run, both hosts as planned with their probe times, every event.
func checkDryAtFinish(t *testing.T, stores [2]*Store) {
	t.Helper()
	w, r := stores[0], stores[1]
	ctx := context.Background()
	run, err := w.StartRun(ctx, RunInfo{Command: "apply --dry", Chobolo: "/srv/m.yml"})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"web1", "web2"} {
		run.Observe(engine.Event{Type: engine.EventProbed, Target: target, Duration: 25 * time.Millisecond})
	}
	if runs, hosts, events := committed(t, r, run.ID); runs+hosts+events != 0 {
		t.Fatalf("before Finish, a dry run wrote %d run, %d host and %d event rows", runs, hosts, events)
	}
	run.Finish(nil)
	if err := run.Err(); err != nil {
		t.Fatal(err)
	}
	if runs, hosts, events := committed(t, r, run.ID); runs != 1 || hosts != 2 || events != 2 {
		t.Fatalf("after Finish: %d run, %d host and %d event rows; want 1, 2, 2", runs, hosts, events)
	}
	rep, err := r.Report(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Run.Command != "apply --dry" || rep.Run.Chobolo != "/srv/m.yml" || rep.Run.Status != "ok" || rep.Run.Duration <= 0 {
		t.Fatalf("dry run: %+v", rep.Run)
	}
	for _, h := range rep.Hosts {
		if h.Status != "planned" || h.Probe != 25*time.Millisecond {
			t.Fatalf("dry run host: %+v", h)
		}
	}
}

// checkApplyAsItGoes: a real apply's rows are committed while it runs, before Finish, so that a
// crash leaves the record of what was started: the run row when StartRun returns, an op's start
// while the op runs (the writer commits it on its own; the reader waits for it, and fails if it
// never comes).
func checkApplyAsItGoes(t *testing.T, stores [2]*Store) {
	t.Helper()
	w, r := stores[0], stores[1]
	ctx := context.Background()
	run, err := w.StartRun(ctx, RunInfo{Command: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	if runs, _, _ := committed(t, r, run.ID); runs != 1 {
		t.Fatalf("StartRun returned, the run row is not committed")
	}
	run.Observe(engine.Event{Type: engine.EventProbed, Target: "web1"})
	run.Observe(engine.Event{Type: engine.EventOpStart, Target: "web1", Role: "files", Op: "write /etc/motd"})
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, hosts, events := committed(t, r, run.ID); hosts == 1 && events == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a minute after op.start, the host and its events are still not committed")
		}
	}
	run.Finish(nil)
	if rep, err := r.Report(ctx, run.ID); err != nil || rep.Run.Status != "ok" || len(rep.Hosts) != 1 {
		t.Fatalf("after Finish: %+v %v", rep, err)
	}
}

// Open does not wait for the database: a problem with it (here a schema newer than this chaos)
// comes from the first method that uses it, and a dry run, which uses it only at Finish, keeps it
// in Err.
func TestOpenErrorAtFirstUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "limani.db")
	schemaV5(t, path)
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = 999`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open waited for the database: %v", err)
	}
	defer s.Close()
	const want = "newer than this chaos knows"
	if _, err := s.Runs(ctx, 5); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Runs: %v", err)
	}
	if _, err := s.StartRun(ctx, RunInfo{Command: "apply"}); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("StartRun of an apply: %v", err)
	}
	dry, err := s.StartRun(ctx, RunInfo{Command: "apply --dry"})
	if err != nil {
		t.Fatalf("StartRun of a dry run: %v", err)
	}
	dry.Observe(engine.Event{Type: engine.EventProbed, Target: "web1"})
	dry.Finish(nil)
	if err := dry.Err(); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("dry run's Err after Finish: %v", err)
	}
}
