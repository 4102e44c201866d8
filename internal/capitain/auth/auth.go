// Package auth is Capitain's users, API tokens, per-project roles, authorization and audit log, on
// the server's *sql.DB (SQLite through modernc.org/sqlite or PostgreSQL through pgx's stdlib driver).
//
// The server calls Migrate at start, then New, then Bootstrap (which creates the first admin and
// returns a one-time token to print). Every request goes through Store.Middleware, which puts the
// caller's *Principal in the request context (Bearer token or session cookie); handlers call
// Authorize(FromContext(ctx), action, projectID) before acting, and Store.Record in the same
// transaction as each change they make. Store.LoginHandler turns a user name and password into a
// short-lived session token.
//
// Secrets at rest: passwords as argon2id PHC strings, tokens as the SHA-256 of the token (a token
// is 256 random bits, so a fast hash is safe; the token itself is shown once and never stored).
package auth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Dialect says which database a *sql.DB talks to. Every query is written with $N placeholders,
// which both SQLite and PostgreSQL accept.
type Dialect string

const (
	// SQLite is modernc.org/sqlite (database/sql driver "sqlite").
	SQLite Dialect = "sqlite"
	// Postgres is PostgreSQL through pgx's stdlib driver ("pgx").
	Postgres Dialect = "postgres"
)

// Errors, matched with errors.Is; HTTPStatus maps them to status codes.
var (
	// ErrUnauthenticated: no credentials, or credentials that are not (or no longer) valid (401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: a valid principal that may not do this (403).
	ErrForbidden = errors.New("forbidden")
	// ErrRateLimited: too many failed logins from this user or address (429).
	ErrRateLimited = errors.New("too many failed attempts")
	// ErrInvalid: a malformed argument (400); see FieldError for which one.
	ErrInvalid = errors.New("invalid")
	// ErrNotFound: no such user, token or membership (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the name is taken, or the change would leave no enabled global admin (409).
	ErrConflict = errors.New("conflict")
)

// FieldError is an ErrInvalid about one input field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string        { return e.Field + ": " + e.Message }
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Store holds users, tokens, memberships and the audit log in db. Its methods are safe for
// concurrent use. Methods that change something take the acting *Principal: they authorize it
// themselves and write the audit entry in the same transaction as the change.
type Store struct {
	db      *sql.DB
	dialect Dialect
	// SessionTTL is how long a login session lasts (DefaultSessionTTL when zero).
	SessionTTL time.Duration
	// now is the clock (time.Now); tests move it to expire tokens and rate-limit windows.
	now     func() time.Time
	limiter *limiter
	// TrustedProxies are the addresses of reverse proxies whose X-Forwarded-For is believed (see
	// ClientAddr). Empty: the connection's address is the client's.
	TrustedProxies []netip.Prefix
}

// DefaultSessionTTL is the life of a session token from LoginHandler.
const DefaultSessionTTL = 12 * time.Hour

// New returns a Store on db, which Migrate has migrated. For SQLite, open db as internal/logbook
// does (WAL, busy_timeout, _txlock=immediate): a transaction here reads before it writes.
func New(db *sql.DB, dialect Dialect) *Store {
	return &Store{db: db, dialect: dialect, now: time.Now, limiter: newLimiter()}
}

func (s *Store) sessionTTL() time.Duration {
	if s.SessionTTL > 0 {
		return s.SessionTTL
	}
	return DefaultSessionTTL
}

// tx runs fn in a transaction, committed when fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("auth: commit: %w", err)
	}
	return nil
}

// newID is a random identifier for users, tokens and sessions (64 bits: unique, not secret).
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// fromNanos reads a time stored as Unix nanoseconds (0 is "never"), as internal/logbook stores them.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
