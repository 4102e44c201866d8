// Package sqlmigrate brings a SQLite or PostgreSQL schema up to date: numbered steps, the number
// applied kept in a one-row version table, all of them in one transaction. The logbook, Capitain's
// store and its auth tables each keep their own version table, so they migrate independently.
package sqlmigrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Schema is one set of migrations.
type Schema struct {
	// Table is the version table's name (one INTEGER row).
	Table string
	// Steps are the statements, in order, already written for the database's dialect.
	Steps []string
	// Postgres: the database is PostgreSQL, and Lock is the advisory lock key that serializes
	// processes migrating it at once.
	Postgres bool
	Lock     int64
}

// Migrate applies the steps past the recorded version. A schema newer than the steps is an error
// (an older chaos on a newer database).
func (s Schema) Migrate(ctx context.Context, db *sql.DB) error {
	// The common case, a current schema, is one read and no write transaction (nothing for a WAL
	// or its checkpoint on every run). Anything else takes the locked path, which reads it again.
	var cur int
	if err := db.QueryRowContext(ctx, `SELECT version FROM `+s.Table).Scan(&cur); err == nil && cur == len(s.Steps) {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.Postgres {
		// Two processes migrating a new database at once: the second waits, from before the
		// CREATE TABLE (PostgreSQL's IF NOT EXISTS is not safe against a concurrent create).
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, s.Lock); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+s.Table+` (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	var v int
	switch err := tx.QueryRowContext(ctx, `SELECT version FROM `+s.Table).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+s.Table+` (version) VALUES (0)`); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if v > len(s.Steps) {
		return fmt.Errorf("the schema is version %d, newer than this chaos knows (%d): upgrade chaos", v, len(s.Steps))
	}
	for i := v; i < len(s.Steps); i++ {
		if _, err := tx.ExecContext(ctx, s.Steps[i]); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	// $1 is understood by both drivers (modernc's SQLite takes $N parameters too).
	if _, err := tx.ExecContext(ctx, `UPDATE `+s.Table+` SET version = $1`, len(s.Steps)); err != nil {
		return err
	}
	return tx.Commit()
}
