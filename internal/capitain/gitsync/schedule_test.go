package gitsync

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// sqlSchedules is a ScheduleStore on a real database (an SQLite file or a PostgreSQL server),
// written the way the ScheduleStore documentation asks the server to write its own: Claim is one
// conditional UPDATE. The same statements run on both.
type sqlSchedules struct{ db *sql.DB }

// database names one: "sqlite" with a file path, or "pgx" with a DSN.
type database struct{ driver, dsn string }

func sqliteDB(t *testing.T) database {
	return database{"sqlite", "file:" + filepath.Join(t.TempDir(), "capitain.db") +
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)"}
}

// openSchedules opens a new handle on d: a restarted server, or another replica.
func openSchedules(t *testing.T, d database) *sqlSchedules {
	t.Helper()
	db, err := sql.Open(d.driver, d.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS schedules (id TEXT PRIMARY KEY, project TEXT NOT NULL,
		kind TEXT NOT NULL, cron TEXT NOT NULL, tz TEXT NOT NULL, last BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return &sqlSchedules{db}
}

func (s *sqlSchedules) add(t *testing.T, sc Schedule) {
	t.Helper()
	if _, err := s.db.Exec(`INSERT INTO schedules VALUES ($1, $2, $3, $4, $5, $6)`, sc.ID, sc.Project, sc.Kind, sc.Cron,
		sc.TimeZone, sc.Last.UnixNano()); err != nil {
		t.Fatal(err)
	}
}

func (s *sqlSchedules) Schedules(ctx context.Context) ([]Schedule, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, project, kind, cron, tz, last FROM schedules ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Schedule
	for rows.Next() {
		var sc Schedule
		var last int64
		if err := rows.Scan(&sc.ID, &sc.Project, &sc.Kind, &sc.Cron, &sc.TimeZone, &last); err != nil {
			return nil, err
		}
		sc.Last = time.Unix(0, last).UTC()
		out = append(out, sc)
	}
	return out, rows.Err()
}

func (s *sqlSchedules) Claim(ctx context.Context, id string, due time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE schedules SET last = $1 WHERE id = $2 AND last < $1`,
		due.UnixNano(), id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

type fired struct {
	mu   sync.Mutex
	runs []string
}

func (f *fired) fire(_ context.Context, s Schedule, due time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = append(f.runs, s.ID+"@"+due.UTC().Format("15:04"))
}

func (f *fired) take() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := strings.Join(f.runs, " ")
	f.runs = nil
	return r
}

// TestSchedulerSurvivesRestarts drives the scheduler through a day on a real SQLite file and a
// real PostgreSQL server: due runs fire once, a restart does not repeat one, a long stop is caught up
// with a single run, and two replicas on one database fire each due time once between them.
func TestSchedulerSurvivesRestarts(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { schedulerDay(t, sqliteDB(t)) })
	t.Run("postgresql", func(t *testing.T) { schedulerDay(t, database{"pgx", testenv.PostgreSQL(t)}) })
}

func schedulerDay(t *testing.T, d database) {
	ctx := context.Background()
	day := func(hm string) time.Time { return at(t, "2026-03-02T"+hm+":00Z") }
	store := openSchedules(t, d)
	store.add(t, Schedule{ID: "drift", Project: "web", Kind: "drift-check", Cron: "0 * * * *", Last: day("10:10")})
	store.add(t, Schedule{ID: "sync", Project: "web", Kind: "sync", Cron: "0 9 * * *", TimeZone: "Europe/Berlin",
		Last: day("10:10")})
	f := &fired{}
	sc := &Scheduler{Store: store, Fire: f.fire, OnError: func(err error) { t.Error(err) }}

	step := func(sc *Scheduler, hm, want string, wantNext string) {
		t.Helper()
		next, err := sc.RunDue(ctx, day(hm))
		if err != nil {
			t.Fatal(err)
		}
		if got := f.take(); got != want {
			t.Fatalf("at %s fired %q, want %q", hm, got, want)
		}
		if got := next.UTC().Format("15:04"); got != wantNext {
			t.Fatalf("at %s next is %s, want %s", hm, got, wantNext)
		}
	}
	step(sc, "10:30", "", "11:00")
	step(sc, "11:00", "drift@11:00", "12:00")
	step(sc, "11:00", "", "12:00") // the same instant again: already claimed
	// 09:00 in Berlin is 08:00 UTC: next day's
	if next, _ := (Schedule{Cron: "0 9 * * *", TimeZone: "Europe/Berlin", Last: day("11:00")}).Next(); !next.Equal(at(t, "2026-03-03T08:00:00Z")) {
		t.Fatalf("Berlin's 09:00 after 11:00 UTC is %s", next)
	}
	step(sc, "11:30", "", "12:00")

	// restart: a new process, a new database handle, the same file
	store.db.Close()
	store = openSchedules(t, d)
	sc = &Scheduler{Store: store, Fire: f.fire, OnError: func(err error) { t.Error(err) }}
	step(sc, "11:59", "", "12:00")
	// down from 11:59 to 14:15: 12:00, 13:00 and 14:00 were missed; one run catches up, for 14:00
	store.db.Close()
	store = openSchedules(t, d)
	sc = &Scheduler{Store: store, Fire: f.fire, OnError: func(err error) { t.Error(err) }}
	step(sc, "14:15", "drift@14:00", "15:00")
	step(sc, "14:16", "", "15:00")

	// two replicas on one database, at the same instant, many times: each due time fires once
	other := &Scheduler{Store: openSchedules(t, d), Fire: f.fire, OnError: func(err error) { t.Error(err) }}
	for h := 15; h <= 23; h++ {
		var wg sync.WaitGroup
		for _, s := range []*Scheduler{sc, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.RunDue(ctx, day(time.Date(0, 1, 1, h, 0, 0, 0, time.UTC).Format("15:04"))); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if got, want := f.take(), "drift@"+time.Date(0, 1, 1, h, 0, 0, 0, time.UTC).Format("15:04"); got != want {
			t.Fatalf("two replicas at %d:00 fired %q, want %q", h, got, want)
		}
	}
	// next morning: Berlin's 09:00 (08:00 UTC) fires the sync, and the drift check of 08:00
	next, err := sc.RunDue(ctx, at(t, "2026-03-03T08:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.take(); got != "drift@08:00 sync@08:00" {
		t.Fatalf("next morning fired %q", got)
	}
	if !next.Equal(at(t, "2026-03-03T09:00:00Z")) {
		t.Fatalf("next = %s", next)
	}
}

func TestSchedulerBadScheduleDoesNotStopOthers(t *testing.T) {
	store := openSchedules(t, sqliteDB(t))
	last := at(t, "2026-03-02T10:10:00Z")
	store.add(t, Schedule{ID: "a-bad", Project: "p", Cron: "61 * * * *", Last: last})
	store.add(t, Schedule{ID: "b-good", Project: "p", Cron: "@hourly", Last: last})
	f := &fired{}
	var errs []string
	sc := &Scheduler{Store: store, Fire: f.fire, OnError: func(err error) { errs = append(errs, err.Error()) }}
	if _, err := sc.RunDue(context.Background(), at(t, "2026-03-02T11:00:00Z")); err != nil {
		t.Fatal(err)
	}
	if got := f.take(); got != "b-good@11:00" {
		t.Fatalf("fired %q", got)
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "schedule a-bad of project p") {
		t.Fatalf("errors %q", errs)
	}
}

// TestSchedulerRun checks Run's wiring with the real clock: an overdue schedule fires at start, and
// Run returns when its context ends.
func TestSchedulerRun(t *testing.T) {
	store := openSchedules(t, sqliteDB(t))
	store.add(t, Schedule{ID: "overdue", Project: "p", Cron: "@hourly", Last: time.Now().Add(-3 * time.Hour)})
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan Schedule, 1)
	sc := &Scheduler{Store: store, Fire: func(_ context.Context, s Schedule, _ time.Time) { got <- s }}
	done := make(chan error, 1)
	go func() { done <- sc.Run(ctx) }()
	if s := <-got; s.ID != "overdue" {
		t.Fatalf("fired %+v", s)
	}
	sc.Wake()
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
}
