package server

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// queue is River, with the SQLite or the pgx driver (their clients differ in the type of a
// transaction).
type queue interface {
	// transact runs fn in a transaction of the store and inserts the queue jobs it returns in the
	// same transaction.
	transact(ctx context.Context, fn func(txExec) ([]river.InsertManyParams, error)) error
	start(ctx context.Context) error
	stop(ctx context.Context) error
}

// txExec runs statements (with ? placeholders) in a transaction of either driver.
type txExec interface {
	exec(ctx context.Context, q string, args ...any) error
	queryInt(ctx context.Context, q string, args ...any) (int64, error)
}

// riverQueue is a River client; an insert-only one (a replica without workers) is never started.
type riverQueue[TTx any] struct {
	c          *river.Client[TTx]
	insertOnly bool
	begin      func(ctx context.Context) (TTx, txExec, func(context.Context) error, func(context.Context) error, error)
}

func (q riverQueue[TTx]) transact(ctx context.Context, fn func(txExec) ([]river.InsertManyParams, error)) error {
	tx, ex, commit, rollback, err := q.begin(ctx)
	if err != nil {
		return err
	}
	defer rollback(context.WithoutCancel(ctx))
	params, err := fn(ex)
	if err != nil {
		return err
	}
	if _, err := q.c.InsertManyFastTx(ctx, tx, params); err != nil {
		return err
	}
	return commit(ctx)
}

// sqlTx runs statements in a database/sql transaction (SQLite).
type sqlTx struct{ tx *sql.Tx }

func (t sqlTx) exec(ctx context.Context, q string, args ...any) error {
	_, err := t.tx.ExecContext(ctx, q, args...)
	return err
}

func (t sqlTx) queryInt(ctx context.Context, q string, args ...any) (int64, error) {
	var n int64
	err := t.tx.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
}

// pgxTx runs statements in a pgx transaction (PostgreSQL), ? rewritten to $N.
type pgxTx struct {
	tx pgx.Tx
	s  *store
}

func (t pgxTx) exec(ctx context.Context, q string, args ...any) error {
	_, err := t.tx.Exec(ctx, t.s.q(q), args...)
	return err
}

func (t pgxTx) queryInt(ctx context.Context, q string, args ...any) (int64, error) {
	var n int64
	err := t.tx.QueryRow(ctx, t.s.q(q), args...).Scan(&n)
	return n, err
}

func (q riverQueue[TTx]) start(ctx context.Context) error {
	if q.insertOnly {
		return nil
	}
	return q.c.Start(ctx)
}

func (q riverQueue[TTx]) stop(ctx context.Context) error {
	if q.insertOnly {
		return nil
	}
	return q.c.Stop(ctx)
}

// newQueue migrates River's tables and makes its client: workers host jobs at once on this
// server, identified as node (what the rescue of a dead server's jobs reads).
func newQueue(ctx context.Context, s *store, srv *Server, node string, workers int) (queue, error) {
	ws := river.NewWorkers()
	if err := river.AddWorkerSafely(ws, &hostWorker{srv: srv}); err != nil {
		return nil, err
	}
	cfg := &river.Config{
		ID:      node,
		Workers: ws,
		// An apply takes as long as it takes; a dead server's jobs are rescued by rescueOrphans
		// (seconds after its heartbeat stops), not by River's timer.
		JobTimeout:           -1,
		RescueStuckJobsAfter: 7 * 24 * time.Hour,
		FetchPollInterval:    200 * time.Millisecond,
		Logger:               srv.log,
	}
	if workers > 0 {
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}}
	}
	if s.postgres {
		d := riverpgxv5.New(s.pool)
		if err := migrateRiver(ctx, s, d); err != nil {
			return nil, err
		}
		c, err := river.NewClient[pgx.Tx](d, cfg)
		if err != nil {
			return nil, err
		}
		begin := func(ctx context.Context) (pgx.Tx, txExec, func(context.Context) error, func(context.Context) error, error) {
			tx, err := s.pool.Begin(ctx)
			if err != nil {
				return nil, nil, nil, nil, err
			}
			return tx, pgxTx{tx, s}, tx.Commit, tx.Rollback, nil
		}
		return riverQueue[pgx.Tx]{c, workers <= 0, begin}, nil
	}
	d := riversqlite.New(s.db)
	if err := migrateRiver(ctx, s, d); err != nil {
		return nil, err
	}
	c, err := river.NewClient[*sql.Tx](d, cfg)
	if err != nil {
		return nil, err
	}
	begin := func(ctx context.Context) (*sql.Tx, txExec, func(context.Context) error, func(context.Context) error, error) {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		return tx, sqlTx{tx}, func(context.Context) error { return tx.Commit() }, func(context.Context) error { return tx.Rollback() }, nil
	}
	return riverQueue[*sql.Tx]{c, workers <= 0, begin}, nil
}

// migrateRiver brings River's tables up to date; on PostgreSQL under an advisory lock, so that
// replicas starting together migrate one after the other.
func migrateRiver[TTx any](ctx context.Context, s *store, d riverdriver.Driver[TTx]) error {
	if s.postgres {
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock+2); err != nil {
			return err
		}
		defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, migrationLock+2)
	}
	m, err := rivermigrate.New(d, nil)
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("queue migration: %w", err)
	}
	return nil
}

// heartbeat marks this server alive and, each time, rescues the host jobs of servers that are not:
// River leaves a job "running" when its server dies; put back as available, another server (or
// this one, restarted) runs it, and the host journal and the job's generation make that safe.
func (srv *Server) heartbeat(ctx context.Context) {
	every := srv.cfg.NodeTimeout / 3
	t := time.NewTicker(every)
	defer t.Stop()
	var purged time.Time
	for {
		if err := srv.beat(ctx); err != nil && ctx.Err() == nil {
			srv.log.Warn("heartbeat", "error", err)
		}
		if time.Since(purged) > time.Hour { // sessions long expired or revoked: rows nobody needs
			purged = time.Now()
			if _, err := srv.auth.PurgeSessions(ctx); err != nil && ctx.Err() == nil {
				srv.log.Warn("purge sessions", "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (srv *Server) beat(ctx context.Context) error {
	s := srv.store
	now := time.Now()
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO capitain_nodes (id, seen) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET seen = excluded.seen`),
		srv.node, now.UnixNano()); err != nil {
		return err
	}
	alive := now.Add(-srv.cfg.NodeTimeout).UnixNano()
	q := `UPDATE river_job SET state = 'available' WHERE state = 'running' AND kind = 'capitain_host'
		AND json_extract(attempted_by, '$[#-1]') NOT IN (SELECT id FROM capitain_nodes WHERE seen > ?)`
	if s.postgres {
		q = `UPDATE river_job SET state = 'available' WHERE state = 'running' AND kind = 'capitain_host'
		AND NOT (attempted_by[array_length(attempted_by, 1)] = ANY (ARRAY(SELECT id FROM capitain_nodes WHERE seen > $1)))`
	}
	res, err := s.db.ExecContext(ctx, q, alive)
	if err != nil {
		return fmt.Errorf("rescue: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		srv.log.Info("rescued the host jobs of a stopped server", "jobs", n)
	}
	_, err = s.db.ExecContext(ctx, s.q(`DELETE FROM capitain_nodes WHERE seen < ?`), now.Add(-24*time.Hour).UnixNano())
	return err
}
