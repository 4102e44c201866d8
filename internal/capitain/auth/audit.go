package auth

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Entry is one line of the audit log: who did what, to what, when, and from where.
type Entry struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"` // user name, or "system"
	ActorID string    `json:"actorId,omitempty"`
	TokenID string    `json:"tokenId,omitempty"` // the token or session used
	Addr    string    `json:"addr,omitempty"`    // the client's address
	Action  string    `json:"action"`            // "user.create", "project.update", "job.apply", ...
	Project string    `json:"project,omitempty"`
	Target  string    `json:"target,omitempty"` // what was changed: "user:alice", "token:ID", "job:ID"
	// Detail is a JSON object with what changed (never a secret).
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Record appends an entry to the audit log for a change by p: the actor, token and address come
// from p (nil is recorded as "anonymous"); Action, Project, Target and Detail from e. With a
// non-nil tx the entry is written in that transaction, so that it exists exactly when the change
// does; with nil it is written on its own.
func (s *Store) Record(ctx context.Context, tx *sql.Tx, p *Principal, e Entry) error {
	q, args, err := s.AuditStatement(p, e)
	if err != nil {
		return err
	}
	if tx != nil {
		_, err = tx.ExecContext(ctx, q, args...)
	} else {
		_, err = s.db.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return fmt.Errorf("auth: audit %s: %w", e.Action, err)
	}
	return nil
}

// AuditStatement is the INSERT (with $N placeholders) and its arguments that Record runs, for a
// caller whose transaction is not a *sql.Tx (the server queues jobs in a pgx transaction on
// PostgreSQL) and must still write the entry in it.
func (s *Store) AuditStatement(p *Principal, e Entry) (string, []any, error) {
	if e.Action == "" {
		return "", nil, invalid("action", "an audit entry needs an action")
	}
	actor, actorID, tokenID, addr := "anonymous", "", "", ""
	if p != nil {
		actor, actorID, tokenID, addr = p.User, p.UserID, p.TokenID, p.Addr
	}
	if e.Actor != "" { // a failed login names who was tried
		actor = e.Actor
	}
	detail := string(e.Detail)
	if detail != "" && !json.Valid(e.Detail) {
		return "", nil, invalid("detail", "not JSON")
	}
	const q = `INSERT INTO auth_audit (at, actor, actor_id, token_id, addr, action, project, target, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	return q, []any{s.now().UnixNano(), actor, actorID, tokenID, addr, e.Action, e.Project, e.Target, detail}, nil
}

// detail marshals v for Entry.Detail.
func detail(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// AuditQuery filters the audit log; zero fields do not filter.
type AuditQuery struct {
	Project string
	Actor   string
	// Action matches exactly, or every action under a prefix that ends in "." ("user.").
	Action string
	Target string
	Since  time.Time // inclusive
	Until  time.Time // exclusive
	// Cursor is AuditPage.Next of the previous page.
	Cursor string
	// Limit is the page size: DefaultAuditLimit when zero, at most MaxAuditLimit.
	Limit int
}

const (
	DefaultAuditLimit = 50
	MaxAuditLimit     = 500
)

// AuditPage is one page of the log, newest first; Next is the cursor of the next page ("" at the end).
type AuditPage struct {
	Entries []Entry `json:"entries"`
	Next    string  `json:"next,omitempty"`
}

// Audit reads the log, newest first. A project's admins read its entries (q.Project set); the
// whole log is for global admins.
func (s *Store) Audit(ctx context.Context, by *Principal, q AuditQuery) (AuditPage, error) {
	if err := authorizeAt(by, ActionReadAudit, q.Project, s.now()); err != nil {
		return AuditPage{}, err
	}
	limit := q.Limit
	switch {
	case limit == 0:
		limit = DefaultAuditLimit
	case limit < 0 || limit > MaxAuditLimit:
		return AuditPage{}, invalid("limit", "between 1 and %d", MaxAuditLimit)
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if q.Cursor != "" {
		id, err := strconv.ParseInt(q.Cursor, 36, 64)
		if err != nil || id <= 0 {
			return AuditPage{}, invalid("cursor", "not a cursor from this log")
		}
		add("id < ?", id)
	}
	if q.Project != "" {
		add("project = ?", q.Project)
	}
	if q.Actor != "" {
		add("actor = ?", q.Actor)
	}
	if prefix, ok := strings.CutSuffix(q.Action, "."); ok {
		// A range instead of LIKE: no escaping, and both databases use the index order.
		add("action >= ?", prefix+".")
		add("action < ?", prefix+"/") // '/' follows '.' in ASCII
	} else if q.Action != "" {
		add("action = ?", q.Action)
	}
	if q.Target != "" {
		add("target = ?", q.Target)
	}
	if !q.Since.IsZero() {
		add("at >= ?", q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		add("at < ?", q.Until.UnixNano())
	}
	query := `SELECT id, at, actor, actor_id, token_id, addr, action, project, target, detail FROM auth_audit`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT " + strconv.Itoa(limit+1)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return AuditPage{}, fmt.Errorf("auth: audit: %w", err)
	}
	defer rows.Close()
	page := AuditPage{Entries: []Entry{}}
	for rows.Next() {
		var e Entry
		var at int64
		var d string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.ActorID, &e.TokenID, &e.Addr, &e.Action, &e.Project, &e.Target, &d); err != nil {
			return AuditPage{}, fmt.Errorf("auth: audit: %w", err)
		}
		e.At = fromNanos(at)
		if d != "" {
			e.Detail = json.RawMessage(d)
		}
		page.Entries = append(page.Entries, e)
	}
	if err := rows.Err(); err != nil {
		return AuditPage{}, fmt.Errorf("auth: audit: %w", err)
	}
	if len(page.Entries) > limit {
		page.Entries = page.Entries[:limit]
		page.Next = strconv.FormatInt(page.Entries[limit-1].ID, 36)
	}
	return page, nil
}
