package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/ch-aos-ch/chaos/internal/logbook"
	"github.com/ch-aos-ch/chaos/internal/sqlmigrate"
)

// store is Capitain's database: its own tables and River's, in one SQLite file or one
// PostgreSQL database.
type store struct {
	db       *sql.DB
	pool     *pgxpool.Pool // PostgreSQL only: River's pgx driver and LISTEN use it
	postgres bool
	where    string // the file or the DSN without its password, for messages
	lock     *os.File
}

// openStore opens and migrates the database: dsn is a PostgreSQL DSN or a SQLite file path.
// A SQLite file is held by one server at a time (an exclusive lock on FILE.lock), which is what
// lets a restarted server take over the jobs its predecessor was running at once.
func openStore(ctx context.Context, dsn string) (*store, error) {
	s := &store{}
	if logbook.IsPostgres(dsn) {
		s.postgres, s.where = true, logbook.RedactDSN(dsn)
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("database %s: %w", s.where, err)
		}
		cfg.MaxConns = 20
		if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
			return nil, fmt.Errorf("database %s: %w", s.where, err)
		}
		s.db = stdlib.OpenDBFromPool(s.pool)
	} else {
		path := strings.TrimPrefix(dsn, "sqlite:")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("database %s: %w", path, err)
		}
		s.where = path
		lock, err := lockFile(path + ".lock")
		if err != nil {
			return nil, fmt.Errorf("database %s: %w", path, err)
		}
		s.lock = lock
		// WAL, a busy timeout, and immediate transactions (a transaction takes the write lock when
		// it begins rather than failing with SQLITE_BUSY when it first writes).
		q := "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate"
		if s.db, err = sql.Open("sqlite", "file:"+path+q); err != nil {
			_ = lock.Close()
			return nil, fmt.Errorf("database %s: %w", path, err)
		}
		// One connection: SQLite has one writer, and River's SQLite driver asks for this to avoid
		// SQLITE_BUSY between its own concurrent operations.
		s.db.SetMaxOpenConns(1)
	}
	if err := s.migrate(ctx); err != nil {
		s.close()
		return nil, fmt.Errorf("database %s: %w", s.where, err)
	}
	return s, nil
}

func (s *store) close() {
	_ = s.db.Close()
	if s.pool != nil {
		s.pool.Close()
	}
	if s.lock != nil {
		_ = s.lock.Close()
	}
}

// q rewrites ? placeholders to $N for PostgreSQL.
func (s *store) q(query string) string {
	if !s.postgres {
		return query
	}
	return logbook.Numbered(query)
}

// migrations are applied in order; capitain_schema holds how many ran. {{SERIAL}} is the
// auto-increment primary key of each dialect.
var migrations = []string{
	`CREATE TABLE capitain_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
	`CREATE TABLE capitain_nodes (id TEXT PRIMARY KEY, seen BIGINT NOT NULL)`,
	`CREATE TABLE capitain_projects (
		name TEXT PRIMARY KEY,
		repo TEXT NOT NULL,
		ref TEXT NOT NULL DEFAULT '',
		path TEXT NOT NULL,
		poll_interval_s BIGINT NOT NULL DEFAULT 0,
		sync_policy TEXT NOT NULL DEFAULT 'manual',
		prune INTEGER NOT NULL DEFAULT 0,
		self_heal INTEGER NOT NULL DEFAULT 0,
		commit_sha TEXT NOT NULL DEFAULT '',
		refreshed BIGINT NOT NULL DEFAULT 0,
		problems TEXT NOT NULL DEFAULT '[]',
		created BIGINT NOT NULL
	)`,
	`CREATE TABLE capitain_hosts (
		project TEXT NOT NULL REFERENCES capitain_projects(name) ON DELETE CASCADE,
		name TEXT NOT NULL,
		address TEXT NOT NULL,
		groups_json TEXT NOT NULL DEFAULT '[]',
		probed BIGINT NOT NULL DEFAULT 0,
		core TEXT NOT NULL DEFAULT '',
		os TEXT NOT NULL DEFAULT '',
		generation INTEGER NOT NULL DEFAULT 0,
		synced_commit TEXT NOT NULL DEFAULT '',
		status TEXT NOT NULL DEFAULT 'Unknown',
		pending_plan TEXT NOT NULL DEFAULT '',
		error TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (project, name)
	)`,
	`CREATE INDEX capitain_hosts_status ON capitain_hosts (status, name)`,
	`CREATE INDEX capitain_hosts_address ON capitain_hosts (address)`,
	`CREATE TABLE capitain_jobs (
		id {{SERIAL}},
		project TEXT NOT NULL REFERENCES capitain_projects(name) ON DELETE CASCADE,
		kind TEXT NOT NULL,
		limit_pattern TEXT NOT NULL DEFAULT '',
		trigger TEXT NOT NULL,
		actor TEXT NOT NULL DEFAULT '',
		commit_sha TEXT NOT NULL DEFAULT '',
		to_generation INTEGER NOT NULL DEFAULT 0,
		state TEXT NOT NULL DEFAULT 'queued',
		cancel INTEGER NOT NULL DEFAULT 0,
		hosts INTEGER NOT NULL DEFAULT 0,
		created BIGINT NOT NULL,
		started BIGINT NOT NULL DEFAULT 0,
		finished BIGINT NOT NULL DEFAULT 0
	)`,
	`CREATE INDEX capitain_jobs_project ON capitain_jobs (project, id)`,
	`CREATE TABLE capitain_job_hosts (
		job_id BIGINT NOT NULL REFERENCES capitain_jobs(id) ON DELETE CASCADE,
		host TEXT NOT NULL,
		state TEXT NOT NULL DEFAULT 'queued',
		changes INTEGER NOT NULL DEFAULT 0,
		ops INTEGER NOT NULL DEFAULT 0,
		generation INTEGER NOT NULL DEFAULT 0,
		duration_ns BIGINT NOT NULL DEFAULT 0,
		error TEXT NOT NULL DEFAULT '',
		started BIGINT NOT NULL DEFAULT 0,
		finished BIGINT NOT NULL DEFAULT 0,
		PRIMARY KEY (job_id, host)
	)`,
	`CREATE TABLE capitain_events (
		job_id BIGINT NOT NULL REFERENCES capitain_jobs(id) ON DELETE CASCADE,
		seq BIGINT NOT NULL,
		host TEXT NOT NULL DEFAULT '',
		type TEXT NOT NULL,
		at BIGINT NOT NULL,
		data TEXT NOT NULL,
		PRIMARY KEY (job_id, seq)
	)`,
	// A project's fleet naming a host another project owns: the claim is refused and shown on both.
	`CREATE TABLE capitain_claims (
		project TEXT NOT NULL REFERENCES capitain_projects(name) ON DELETE CASCADE,
		host TEXT NOT NULL,
		address TEXT NOT NULL,
		owner TEXT NOT NULL,
		owner_host TEXT NOT NULL,
		PRIMARY KEY (project, host)
	)`,
	// Host lists are sorted by name across projects.
	`CREATE INDEX capitain_hosts_name ON capitain_hosts (name, project)`,
	// GitOps (gitops.go): a project's settings (credentials named, never stored; windows;
	// retention), cron schedules, a rollback's commit, and the hosts a drift check found newly
	// drifted (notified once, when the job ends).
	`ALTER TABLE capitain_projects ADD COLUMN settings TEXT NOT NULL DEFAULT '{}'`,
	`CREATE TABLE capitain_schedules (
		id {{SERIAL}},
		project TEXT NOT NULL REFERENCES capitain_projects(name) ON DELETE CASCADE,
		kind TEXT NOT NULL,
		cron TEXT NOT NULL,
		time_zone TEXT NOT NULL DEFAULT '',
		last BIGINT NOT NULL
	)`,
	`ALTER TABLE capitain_jobs ADD COLUMN to_commit TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE capitain_job_hosts ADD COLUMN new_drift INTEGER NOT NULL DEFAULT 0`,
	// Notifications the dispatcher gave up on (notify.DeadLetter as JSON).
	`CREATE TABLE capitain_dead_letters (id {{SERIAL}}, at BIGINT NOT NULL, data TEXT NOT NULL)`,
}

// migrationLock is the PostgreSQL advisory lock key that serializes migrations ("capit" in ASCII).
const migrationLock = 0x6361706974

func (s *store) migrate(ctx context.Context) error {
	serial := "INTEGER PRIMARY KEY AUTOINCREMENT"
	if s.postgres {
		serial = "BIGSERIAL PRIMARY KEY"
	}
	steps := make([]string, len(migrations))
	for i, m := range migrations {
		steps[i] = strings.ReplaceAll(m, "{{SERIAL}}", serial)
	}
	return sqlmigrate.Schema{Table: "capitain_schema", Steps: steps, Postgres: s.postgres, Lock: migrationLock}.Migrate(ctx, s.db)
}

// setting reads a value of capitain_settings ("" when absent).
func (s *store) setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT value FROM capitain_settings WHERE key = ?`), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// setSettingOnce stores a value unless the key has one; it reports whether it stored it (two
// replicas starting at once: one wins).
func (s *store) setSettingOnce(ctx context.Context, key, value string) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO capitain_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`), key, value)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
