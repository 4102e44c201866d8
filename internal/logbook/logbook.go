// Package logbook records every chaos run in a Limani: the run, each host and every event (probe,
// op start/end with duration and error, undo, host done), in SQLite (default,
// ~/.local/share/chaos/limani.db, pure-Go driver, WAL) or PostgreSQL (a postgres:// DSN). It
// answers `chaos logbook list|show|export`: a summary, per host, per op, and p50/p90/p95/p99 op
// durations. It never holds a secret: events carry op strings, which render secret data as
// "(secret)", and output tails, which the engine leaves empty for ops with secret data and from
// which it redacts known secret values.
package logbook

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"

	"github.com/ch-aos-ch/chaos/internal/datadir"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/sqlmigrate"
)

// Store is an open Limani.
type Store struct {
	db       *sql.DB
	postgres bool
	// Where is the DSN or file, with any password removed, for messages.
	Where string
	// opened waits for the first connection and the migration check, which Open starts and leaves
	// running (a plan's probe runs meanwhile): everything that uses db waits for it first.
	opened func() error
}

// DefaultPath is $XDG_DATA_HOME/chaos/limani.db, else ~/.local/share/chaos/limani.db.
func DefaultPath() (string, error) { return datadir.Path("limani.db") }

// IsPostgres reports whether dsn names a PostgreSQL server.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") ||
		strings.Contains(dsn, "host=") && strings.Contains(dsn, "dbname=")
}

// Open opens (creating and migrating) the Limani at dsn: a postgres:// URL or libpq key=value
// string for PostgreSQL, else a SQLite file path ("" is DefaultPath; a "sqlite:" prefix is allowed).
// The connection and the migration check go on in the background (about a millisecond of SQLite
// work, and a dry run needs the database only at its end): their error, if any, is returned by the
// first method that uses the database.
func Open(ctx context.Context, dsn string) (*Store, error) {
	s := &Store{}
	var err error
	if IsPostgres(dsn) {
		s.postgres, s.Where = true, RedactDSN(dsn)
		if s.db, err = sql.Open("pgx", dsn); err != nil {
			return nil, fmt.Errorf("limani %s: %w", s.Where, err)
		}
		s.db.SetMaxOpenConns(4)
	} else {
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			if path, err = DefaultPath(); err != nil {
				return nil, err
			}
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("limani %s: %w", path, err)
		}
		s.Where = path
		// _txlock=immediate: a transaction takes the write lock when it begins, waiting (busy_timeout)
		// for another process's; a deferred one that read first and then writes gets SQLITE_BUSY at
		// once when another connection wrote meanwhile (two chaos migrating a new limani at once).
		q := "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate"
		if s.db, err = sql.Open("sqlite", "file:"+path+q); err != nil {
			return nil, fmt.Errorf("limani %s: %w", path, err)
		}
		// One writer: SQLite serializes writes anyway, and this avoids SQLITE_BUSY between our own
		// connections.
		s.db.SetMaxOpenConns(1)
		if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
			_ = f.Close()
		}
	}
	s.opened = sync.OnceValue(func() error {
		if err := s.migrate(ctx); err != nil {
			return fmt.Errorf("limani %s: %w", s.Where, err)
		}
		return nil
	})
	go s.opened()
	return s, nil
}

// RedactDSN hides the password of a DSN (URL or key=value), for messages.
func RedactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if at := strings.Index(dsn[i+3:], "@"); at >= 0 {
			cred := dsn[i+3 : i+3+at]
			if u, _, ok := strings.Cut(cred, ":"); ok {
				return dsn[:i+3] + u + ":***" + dsn[i+3+at:]
			}
		}
	}
	if strings.Contains(dsn, "password=") {
		var out []string
		for _, f := range strings.Fields(dsn) {
			if strings.HasPrefix(f, "password=") {
				f = "password=***"
			}
			out = append(out, f)
		}
		return strings.Join(out, " ")
	}
	return dsn
}

// Close closes the store (after Open's work on it).
func (s *Store) Close() error {
	_ = s.opened()
	return s.db.Close()
}

// walLeaveLimit is the largest SQLite WAL that Leave leaves behind. The next process to open the
// limani reads all of it back (SQLite's WAL recovery: ~10 µs per 4 KiB page on the development
// VM, in Open's background work), and never restarts it (the recovery forgets what a checkpoint
// copied), so Leave closes the store, which checkpoints and removes the WAL, once it passes 1 MiB:
// every 20 or so no-change dry runs.
const walLeaveLimit = 1 << 20

// Leave ends the store's use in a process that exits right after, as the CLI does after a dry run:
// it waits for Open's work and, for a SQLite limani whose WAL is small, leaves the connection to
// the process's exit instead of closing it. Closing SQLite's last connection checkpoints the WAL
// into the database and removes it: two fsyncs, and the next run's first commit creates the WAL
// again and syncs its header and directory, 2-12 ms per run on a shared disk (docs/performance.md).
// What was committed stays in the WAL, which SQLite reads back when the limani is next opened (the
// WAL keeps the database consistent through a process exit, as through a crash). Elsewhere (a
// large WAL, PostgreSQL) Leave is Close.
func (s *Store) Leave() error {
	if err := s.opened(); err != nil || s.postgres {
		return s.Close()
	}
	if fi, err := os.Stat(s.Where + "-wal"); err != nil || fi.Size() > walLeaveLimit {
		return s.Close()
	}
	return nil
}

// q rewrites ? placeholders to $N for PostgreSQL.
func (s *Store) q(query string) string {
	if !s.postgres {
		return query
	}
	return Numbered(query)
}

// Numbered rewrites the ? placeholders of a query to PostgreSQL's $1, $2, ...
func Numbered(query string) string {
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// migrations are applied in order; schema_version holds how many ran. Both dialects accept them.
var migrations = []string{
	`CREATE TABLE runs (
		id TEXT PRIMARY KEY,
		started BIGINT NOT NULL,
		ended BIGINT,
		command TEXT NOT NULL,
		chobolo TEXT NOT NULL DEFAULT '',
		controller TEXT NOT NULL DEFAULT '',
		username TEXT NOT NULL DEFAULT '',
		status TEXT NOT NULL DEFAULT 'running',
		error TEXT NOT NULL DEFAULT ''
	)`,
	`CREATE TABLE hosts (
		run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		target TEXT NOT NULL,
		started BIGINT NOT NULL,
		ended BIGINT,
		status TEXT NOT NULL DEFAULT 'running',
		changed INTEGER NOT NULL DEFAULT 0,
		ops INTEGER NOT NULL DEFAULT 0,
		rolled_back INTEGER NOT NULL DEFAULT 0,
		generation INTEGER NOT NULL DEFAULT 0,
		probe_ns BIGINT NOT NULL DEFAULT 0,
		error TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (run_id, target)
	)`,
	`CREATE TABLE events (
		run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		seq INTEGER NOT NULL,
		at BIGINT NOT NULL,
		type TEXT NOT NULL,
		target TEXT NOT NULL DEFAULT '',
		role TEXT NOT NULL DEFAULT '',
		op TEXT NOT NULL DEFAULT '',
		duration_ns BIGINT NOT NULL DEFAULT 0,
		changed INTEGER NOT NULL DEFAULT 0,
		error TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (run_id, seq)
	)`,
	`CREATE INDEX events_run_type ON events (run_id, type)`,
	`CREATE INDEX runs_started ON runs (started)`,
	// The tails of what each op printed (engine.OutputTail bytes each, secrets redacted).
	`ALTER TABLE events ADD COLUMN stdout TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE events ADD COLUMN stderr TEXT NOT NULL DEFAULT ''`,
}

// migrationLock is the PostgreSQL advisory lock key that serializes migrations ("chaos" in ASCII).
const migrationLock = 0x6368616f73

func (s *Store) migrate(ctx context.Context) error {
	return sqlmigrate.Schema{Table: "schema_version", Steps: migrations, Postgres: s.postgres, Lock: migrationLock}.Migrate(ctx, s.db)
}

// SchemaVersion is the number of migrations applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	if err := s.opened(); err != nil {
		return 0, err
	}
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	return v, err
}

// RunInfo describes a run when it starts.
type RunInfo struct {
	// Command is "apply", "rollback", "recover"; the CLI records a dry run as "apply --dry" or
	// "rollback --dry", and such a run is written in one transaction at Finish (see Run).
	Command string
	Chobolo string // the Ch-obolo's path
}

// dry reports whether the run changes nothing (Command ends in " --dry"): it is only a plan, so
// losing its record in a crash loses nothing, and a no-change plan is run often enough that its
// record should cost one transaction rather than one per batch plus the run's own insert.
func (i RunInfo) dry() bool { return strings.HasSuffix(i.Command, " --dry") }

// Run records one run. Its methods are safe for concurrent use (hosts applied in parallel) and
// never wait for the database. A run that changes machines is written as it goes, so that a crash
// leaves its record up to the op it was running: its row is inserted by StartRun, and every later
// statement is queued, in order, to a writer that commits them in batches (one transaction per
// batch), so that a fleet's hosts never queue behind one another's inserts. A dry run is held in
// memory and written by Finish in one transaction, its run row included. Finish writes the rest.
// Write errors do not stop the apply: the first one is kept in Err.
type Run struct {
	ID string
	s  *Store
	mu sync.Mutex
	// seq numbers the events.
	seq int
	// probe times by target, for the host rows.
	probe map[string]time.Duration

	queue   chan stmt
	written chan struct{} // closed when the writer has written everything queued
	// held is a dry run's statements, written by Finish (queue and written are then nil).
	held     []stmt
	dry      bool
	errMu    sync.Mutex
	err      error
	finished bool
}

// stmt is one queued statement.
type stmt struct {
	query string
	args  []any
}

// writeBatch is the most statements one transaction takes.
const writeBatch = 512

// StartRun records a new run.
func (s *Store) StartRun(ctx context.Context, info RunInfo) (*Run, error) {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	id := time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(rnd[:])
	host, _ := os.Hostname()
	user := os.Getenv("SUDO_USER")
	user = cmp.Or(user, os.Getenv("USER"))
	r := &Run{ID: id, s: s, probe: map[string]time.Duration{}, dry: info.dry()}
	const insert = `INSERT INTO runs (id, started, command, chobolo, controller, username) VALUES (?, ?, ?, ?, ?, ?)`
	args := []any{id, time.Now().UnixNano(), info.Command, info.Chobolo, host, user}
	if r.dry {
		r.exec(insert, args...)
		return r, nil
	}
	if err := s.opened(); err != nil {
		return nil, err
	}
	if _, err := s.db.ExecContext(ctx, s.q(insert), args...); err != nil {
		return nil, fmt.Errorf("limani %s: %w", s.Where, err)
	}
	r.queue, r.written = make(chan stmt, 4*writeBatch), make(chan struct{})
	go r.write()
	return r, nil
}

// exec queues a statement, or holds it for a dry run (called with r.mu held, which keeps the
// order).
func (r *Run) exec(query string, args ...any) {
	switch {
	case r.finished:
	case r.dry:
		r.held = append(r.held, stmt{r.s.q(query), args})
	default:
		r.queue <- stmt{r.s.q(query), args}
	}
}

// write commits the queued statements in batches until the queue is closed.
func (r *Run) write() {
	defer close(r.written)
	for first := range r.queue {
		batch := []stmt{first}
	more:
		for len(batch) < writeBatch {
			select {
			case st, ok := <-r.queue:
				if !ok {
					break more
				}
				batch = append(batch, st)
			default:
				break more
			}
		}
		r.keep(r.commit(batch))
	}
}

// keep records err as the run's write error unless one is already kept.
func (r *Run) keep(err error) {
	if err == nil {
		return
	}
	r.errMu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.errMu.Unlock()
}

// commit writes a batch in one transaction; when that fails, statement by statement, so that one
// bad statement loses only itself. It returns the first error.
func (r *Run) commit(batch []stmt) error {
	if err := r.s.opened(); err != nil {
		return err // a dry run's: a real apply's StartRun waited for it
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := func() error {
		tx, err := r.s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for _, st := range batch {
			if _, err := tx.ExecContext(ctx, st.query, st.args...); err != nil {
				return err
			}
		}
		return tx.Commit()
	}()
	if err == nil || len(batch) == 1 {
		return err
	}
	err = nil
	for _, st := range batch {
		if _, e := r.s.db.ExecContext(ctx, st.query, st.args...); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// Err is the first write error, if any (all of them once Finish returned).
func (r *Run) Err() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err
}

// Observe records an engine event. Chain it with the terminal or JSON observer.
func (r *Run) Observe(ev engine.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ev.Type == engine.EventProbed {
		if _, ok := r.probe[ev.Target]; !ok {
			r.exec(`INSERT INTO hosts (run_id, target, started) VALUES (?, ?, ?)`, r.ID, ev.Target, time.Now().UnixNano())
		}
		r.probe[ev.Target] = ev.Duration
		r.exec(`UPDATE hosts SET probe_ns = ? WHERE run_id = ? AND target = ?`, int64(ev.Duration), r.ID, ev.Target)
	}
	if ev.Type == engine.EventDone {
		r.hostDone(ev)
	}
	r.seq++
	changed := 0
	if ev.Type == engine.EventOpEnd && ev.Error == "" {
		changed = 1
	}
	r.exec(`INSERT INTO events (run_id, seq, at, type, target, role, op, duration_ns, changed, error, stdout, stderr) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.seq, time.Now().UnixNano(), string(ev.Type), ev.Target, ev.Role, ev.Op, int64(ev.Duration), changed, tail(ev.Error, 4000),
		tail(ev.Stdout, engine.OutputTail), tail(ev.Stderr, engine.OutputTail))
}

// hostDone fills a host's row from its events when it is done.
func (r *Run) hostDone(ev engine.Event) {
	if _, ok := r.probe[ev.Target]; !ok {
		r.probe[ev.Target] = 0
		r.exec(`INSERT INTO hosts (run_id, target, started) VALUES (?, ?, ?)`, r.ID, ev.Target, time.Now().UnixNano())
	}
	status := "ok"
	if ev.Error != "" {
		status = "failed"
	}
	r.exec(`UPDATE hosts SET ended = ?, status = CASE WHEN ? = 'failed' AND EXISTS (SELECT 1 FROM events e WHERE e.run_id = ? AND e.target = ? AND e.type = 'undo') THEN 'rolled back' ELSE ? END,
		rolled_back = CASE WHEN EXISTS (SELECT 1 FROM events e WHERE e.run_id = ? AND e.target = ? AND e.type = 'undo') THEN 1 ELSE 0 END,
		ops = (SELECT COUNT(*) FROM events e WHERE e.run_id = ? AND e.target = ? AND e.type = 'op.end' AND e.error = ''),
		changed = (SELECT COUNT(*) FROM events e WHERE e.run_id = ? AND e.target = ? AND e.type = 'op.end' AND e.error = ''),
		generation = ?, error = ? WHERE run_id = ? AND target = ?`,
		time.Now().UnixNano(), status, r.ID, ev.Target, status, r.ID, ev.Target, r.ID, ev.Target, r.ID, ev.Target,
		ev.Generation, tail(ev.Error, 4000), r.ID, ev.Target)
}

// HostDone records a host's outcome: res may be nil (failed before applying), err nil on success.
func (r *Run) HostDone(target string, res *engine.Result, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.probe[target]; !ok {
		r.probe[target] = 0
		r.exec(`INSERT INTO hosts (run_id, target, started) VALUES (?, ?, ?)`, r.ID, target, time.Now().UnixNano())
	}
	status, msg := "ok", ""
	if err != nil {
		status, msg = "failed", err.Error()
	}
	var changed, ops, gen, rb int
	if res != nil {
		changed, ops, gen = res.Changed, res.Ops, res.Generation
		if res.RolledBack {
			rb, status = 1, "rolled back"
		}
	}
	r.exec(`UPDATE hosts SET ended = ?, status = ?, changed = ?, ops = ?, rolled_back = ?, generation = ?, error = ? WHERE run_id = ? AND target = ?`,
		time.Now().UnixNano(), status, changed, ops, rb, gen, tail(msg, 4000), r.ID, target)
}

// Finish records the end of the run.
func (r *Run) Finish(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	status, msg := "ok", ""
	if err != nil {
		status, msg = "failed", err.Error()
	}
	now := time.Now().UnixNano()
	// Hosts without a host.done event were only planned (--dry, nothing to do) or failed before
	// applying.
	r.exec(`UPDATE hosts SET ended = ?, status = ? WHERE run_id = ? AND status = 'running'`, now, map[bool]string{true: "planned", false: "failed"}[err == nil], r.ID)
	r.exec(`UPDATE runs SET ended = ?, status = ?, error = ? WHERE id = ?`, now, status, tail(msg, 4000), r.ID)
	switch {
	case r.finished:
	case r.dry:
		r.finished = true
		r.keep(r.commit(r.held))
		r.held = nil
	default:
		r.finished = true
		close(r.queue)
	}
	if !r.dry {
		<-r.written
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
