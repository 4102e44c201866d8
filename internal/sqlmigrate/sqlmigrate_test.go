package sqlmigrate_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/sqlmigrate"
	_ "modernc.org/sqlite"
)

func open(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func version(t *testing.T, db *sql.DB) int {
	t.Helper()
	var v int
	if err := db.QueryRow(`SELECT version FROM v`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Steps apply once, in order; later steps apply on top of a recorded version; a failing step
// leaves the schema as it was; a schema newer than the steps is refused.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	s := sqlmigrate.Schema{Table: "v", Steps: []string{`CREATE TABLE a (x INTEGER)`}}
	for range 2 {
		if err := s.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	if v := version(t, db); v != 1 {
		t.Fatalf("version %d, want 1", v)
	}

	s.Steps = append(s.Steps, `CREATE TABLE b (y INTEGER)`, `INSERT INTO nowhere VALUES (1)`)
	err := s.Migrate(ctx, db)
	if err == nil || !strings.Contains(err.Error(), "migration 3") {
		t.Fatalf("a failing third step: %v", err)
	}
	if v := version(t, db); v != 1 {
		t.Fatalf("after a failed migration the version is %d, want 1", v)
	}
	if _, err := db.Exec(`SELECT * FROM b`); err == nil {
		t.Fatal("the failed migration's second step stayed")
	}

	s.Steps = s.Steps[:2]
	if err := s.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if v := version(t, db); v != 2 {
		t.Fatalf("version %d, want 2", v)
	}

	s.Steps = s.Steps[:1]
	if err := s.Migrate(ctx, db); err == nil || !strings.Contains(err.Error(), "newer than this chaos knows") {
		t.Fatalf("a newer schema: %v", err)
	}
}
