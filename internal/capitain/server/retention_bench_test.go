package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// simHosts is the simulated fleet of BenchmarkRetention30Days; figures are scaled to 10,000 hosts
// (a host-run's bytes do not depend on the fleet's size).
const simHosts = 100

// BenchmarkRetention30Days simulates 30 days of drift checks every 30 minutes on a project with
// `retention: {max_age: 168h}`, and measures the database's used size at the end. Each simulated
// host-run is a copy of a real one: a drift check through the server on a real SSH host (nothing
// to change), whose job host row and events are inserted again for simHosts simulated hosts and
// 1,440 jobs with their simulated times; the project's retention runs after each simulated day,
// as the server runs it (on PostgreSQL followed by a VACUUM, as autovacuum would in a real day).
// River's rows are not simulated (River deletes completed jobs after 24 h).
// Reported: the bytes per host-run (growth over the first 7 days, before anything expires), and
// the size at day 30 with the 7-day retention, scaled to 10,000 hosts.
//
//	go test -run '^$' -bench Retention30Days -benchtime 1x ./internal/capitain/server/
func BenchmarkRetention30Days(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchRetention(b, "") })
	b.Run("postgres", func(b *testing.B) { benchRetention(b, testenv.PostgreSQL(b)) })
}

func benchRetention(b *testing.B, dsn string) {
	ctx := context.Background()
	hs := testenv.StartSSHHosts(b, 1)
	yml := fmt.Sprintf("files:\n  - path: /etc/motd\n    content: \"x\\n\"\nfleet:\n  ssh: {known_hosts: %s, config: none}\n  hosts:\n    h0: {ssh_hostname: %s, ssh_user: root, ssh_key: %s}\n",
		hs.KnownHosts, hs.Hosts[0].Addr, hs.KeyFile)
	url, _ := testenv.GitServer(b, "fleet", map[string]string{"chobolo.yml": yml})
	srv, err := New(ctx, Config{Data: b.TempDir(), DB: dsn, Workers: 1}, io.Discard, nil)
	if err != nil {
		b.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(sctx, l) }()
	defer func() { stop(); <-done }()
	p := &Project{Name: "p", Repo: url + "fleet.git", Path: "chobolo.yml",
		ProjectSettings: ProjectSettings{Retention: Retention{MaxAge: "168h"}}}
	if err := p.validate(); err != nil {
		b.Fatal(err)
	}
	if err := srv.createProjectTx(ctx, p); err != nil {
		b.Fatal(err)
	}
	if _, err := srv.Refresh(ctx, "p"); err != nil {
		b.Fatal(err)
	}
	run := func(kind string) int64 {
		j, err := srv.CreateJob(ctx, JobRequest{Project: "p", Kind: kind}, "bench")
		if err != nil {
			b.Fatal(err)
		}
		for range 3000 {
			if j, err = srv.store.job(ctx, j.ID); err != nil {
				b.Fatal(err)
			}
			if j.Finished != nil {
				if j.State != StateSucceeded {
					b.Fatalf("job %+v", j)
				}
				return j.ID
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.Fatal("the job did not finish")
		return 0
	}
	run(KindApply)
	template := run(KindDriftCheck)
	s := srv.store
	type event struct{ typ, data string }
	var events []event
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT type, at, data FROM capitain_events WHERE job_id = ? ORDER BY seq`), template)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var typ, data string
		var at int64
		if err := rows.Scan(&typ, &at, &data); err != nil {
			b.Fatal(err)
		}
		events = append(events, event{typ, data})
	}
	rows.Close()
	var state, errText string
	var changes, ops, dur int64
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT state, changes, ops, duration_ns, error FROM capitain_job_hosts WHERE job_id = ?`), template).
		Scan(&state, &changes, &ops, &dur, &errText); err != nil {
		b.Fatal(err)
	}
	used := func() int64 {
		var n int64
		var err error
		if s.postgres {
			err = s.db.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&n)
		} else if _, err = s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err == nil {
			var pages, size int64
			err = s.db.QueryRowContext(ctx, `SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count()),
				(SELECT page_size FROM pragma_page_size())`).Scan(&pages, &size)
			n = pages * size
		}
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	// insert writes one simulated job at t: its row, one host row and the template's events per host.
	insert := func(t time.Time) {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer tx.Rollback()
		var id int64
		ns := t.UnixNano()
		if err := tx.QueryRowContext(ctx, s.q(`INSERT INTO capitain_jobs (project, kind, trigger, actor, commit_sha, state, hosts, created, started, finished)
			VALUES ('p', 'drift-check', 'schedule', 'schedule', '', 'succeeded', ?, ?, ?, ?) RETURNING id`), simHosts, ns, ns, ns).Scan(&id); err != nil {
			b.Fatal(err)
		}
		var q strings.Builder
		var args []any
		flush := func() {
			if len(args) > 0 {
				if _, err := tx.ExecContext(ctx, s.q(q.String()), args...); err != nil {
					b.Fatal(err)
				}
			}
			q.Reset()
			args = args[:0]
		}
		for h := range simHosts {
			if h%100 == 0 {
				flush()
				q.WriteString(`INSERT INTO capitain_job_hosts (job_id, host, state, changes, ops, duration_ns, error, started, finished) VALUES `)
			} else {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, id, fmt.Sprintf("h%05d", h), state, changes, ops, dur, errText, ns, ns)
		}
		flush()
		seq := 0
		for h := range simHosts {
			for _, e := range events {
				if seq%400 == 0 {
					flush()
					q.WriteString(`INSERT INTO capitain_events (job_id, seq, host, type, at, data) VALUES `)
				} else {
					q.WriteString(", ")
				}
				seq++
				q.WriteString("(?, ?, ?, ?, ?, ?)")
				args = append(args, id, seq, fmt.Sprintf("h%05d", h), e.typ, ns, e.data)
			}
		}
		flush()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		start := time.Now().Add(-30 * 24 * time.Hour)
		base := used()
		var week int64
		for day := range 30 {
			for slot := range 48 {
				insert(start.Add(time.Duration(day*48+slot) * 30 * time.Minute))
			}
			now := start.Add(time.Duration(day+1) * 24 * time.Hour)
			if err := s.prune(ctx, "p", now); err != nil {
				b.Fatal(err)
			}
			if s.postgres {
				// What autovacuum does in a real day (a simulated one is seconds long): the
				// deleted rows' space becomes reusable; the files do not shrink.
				if _, err := s.db.ExecContext(ctx, `VACUUM capitain_events, capitain_job_hosts, capitain_jobs`); err != nil {
					b.Fatal(err)
				}
			}
			if day == 6 {
				week = used() - base
			}
		}
		final := used() - base
		perRun := float64(week) / float64(7*48*simHosts)
		scale := 10000.0 / simHosts
		b.ReportMetric(perRun, "bytes/host-run")
		b.ReportMetric(float64(final)*scale/(1<<30), "GiB-day30-7d-retention-10k")
		b.ReportMetric(perRun*30*48*10000/(1<<30), "GiB-30d-no-retention-10k")
		b.ReportMetric(float64(len(events)), "events/host-run")
	}
}
