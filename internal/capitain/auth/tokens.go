package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Token describes an API token or a session (never the token itself, which is shown once).
type Token struct {
	ID       string    `json:"id"`
	User     string    `json:"user"`
	Kind     Kind      `json:"kind"`
	Name     string    `json:"name"`
	Hint     string    `json:"hint"` // the prefix and first characters, to tell tokens apart
	Scopes   []Scope   `json:"scopes"`
	Project  string    `json:"project,omitempty"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	LastUsed time.Time `json:"lastUsed,omitzero"`
	LastAddr string    `json:"lastAddr,omitempty"`
	Revoked  time.Time `json:"revoked,omitzero"`
}

// NewToken is what CreateToken needs.
type NewToken struct {
	// User owns the token: "" is the caller.
	User string
	Name string
	// Scopes are what the token may do; at least one, none beyond the caller's.
	Scopes []Scope
	// Project restricts the token to one project ("" for all the user's projects); a caller that
	// is itself restricted can only create tokens restricted the same way.
	Project string
	// Expires is required, in the future and at most MaxTokenLife away; a token cannot outlive
	// the API token that creates it.
	Expires time.Time
}

// MaxTokenLife is the longest an API token can live.
const MaxTokenLife = 366 * 24 * time.Hour

// CreateToken creates an API token and returns it (the only time it is shown) with its
// description. Users create their own; a global admin creates anyone's.
func (s *Store) CreateToken(ctx context.Context, by *Principal, nt NewToken) (string, Token, error) {
	now := s.now()
	if err := authorizeAt(by, ActionOwnTokens, "", now); err != nil {
		return "", Token{}, err
	}
	owner := by.User
	if nt.User != "" {
		owner = nt.User
	}
	if err := s.authorizeUser(by, owner, ActionManageTokens); err != nil {
		return "", Token{}, err
	}
	var tok string
	var t Token
	err := s.tx(ctx, func(tx *sql.Tx) error {
		u, err := userByName(ctx, tx, owner)
		if err != nil {
			return err
		}
		if len(nt.Scopes) == 0 {
			return invalid("scopes", "at least one of read, run, write, admin")
		}
		for _, sc := range nt.Scopes {
			if !sc.valid() {
				return invalid("scopes", "%q is not read, run, write or admin", sc)
			}
			if !slices.Contains(by.Scopes, sc) {
				return fmt.Errorf("%w: cannot grant scope %q, which this token does not have", ErrForbidden, sc)
			}
		}
		if by.Project != "" && nt.Project != by.Project {
			return fmt.Errorf("%w: this token is restricted to project %s: so must the new one be", ErrForbidden, by.Project)
		}
		switch {
		case !nt.Expires.After(now):
			return invalid("expires", "must be in the future")
		case nt.Expires.Sub(now) > MaxTokenLife:
			return invalid("expires", "at most %d days away", int(MaxTokenLife.Hours()/24))
		case by.Kind == KindAPIToken && !by.Expires.IsZero() && nt.Expires.After(by.Expires):
			return invalid("expires", "not after the expiry of the token that creates it (%s)", by.Expires.UTC().Format(time.RFC3339))
		}
		if len(nt.Name) > 200 {
			return invalid("name", "at most 200 bytes")
		}
		tok, t, err = s.insertToken(ctx, tx, by, u, nt, KindAPIToken)
		return err
	})
	if err != nil {
		return "", Token{}, err
	}
	return tok, t, nil
}

// insertToken stores a new token of kind for u and records it in the audit log.
func (s *Store) insertToken(ctx context.Context, tx *sql.Tx, by *Principal, u User, nt NewToken, kind Kind) (string, Token, error) {
	prefix := APITokenPrefix
	if kind == KindSession {
		prefix = SessionTokenPrefix
	}
	tok := newToken(prefix)
	t := Token{ID: newID(), User: u.Name, Kind: kind, Name: nt.Name, Hint: tokenHint(tok), Scopes: slices.Clone(nt.Scopes),
		Project: nt.Project, Created: s.now(), Expires: nt.Expires}
	_, err := tx.ExecContext(ctx, `INSERT INTO auth_tokens (id, user_id, kind, name, hash, hint, scopes, project, created, expires) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		t.ID, u.ID, string(kind), t.Name, tokenHash(tok), t.Hint, joinScopes(t.Scopes), t.Project, t.Created.UnixNano(), t.Expires.UnixNano())
	if err != nil {
		return "", Token{}, fmt.Errorf("auth: create token: %w", err)
	}
	action := "token.create"
	if kind == KindSession {
		action = "login"
	}
	err = s.Record(ctx, tx, by, Entry{Action: action, Project: t.Project, Target: "token:" + t.ID,
		Detail: detail(map[string]any{"user": u.Name, "name": t.Name, "scopes": t.Scopes, "expires": t.Expires.UTC()})})
	return tok, t, err
}

func joinScopes(sc []Scope) string {
	s := make([]string, len(sc))
	for i, x := range sc {
		s[i] = string(x)
	}
	return strings.Join(s, " ")
}

func splitScopes(s string) []Scope {
	var out []Scope
	for _, f := range strings.Fields(s) {
		out = append(out, Scope(f))
	}
	return out
}

// Tokens lists a user's API tokens ("" is the caller), newest first, revoked and expired ones
// included; sessions are not listed.
func (s *Store) Tokens(ctx context.Context, by *Principal, user string) ([]Token, error) {
	if by != nil && user == "" {
		user = by.User
	}
	if err := s.authorizeUser(by, user, ActionManageTokens); err != nil {
		return nil, err
	}
	u, err := userByName(ctx, s.db, user)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, hint, scopes, project, created, expires, last_used, last_addr, revoked
		FROM auth_tokens WHERE user_id = $1 AND kind = $2 ORDER BY created DESC, id`, u.ID, string(KindAPIToken))
	if err != nil {
		return nil, fmt.Errorf("auth: tokens: %w", err)
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		t := Token{User: u.Name, Kind: KindAPIToken}
		var scopes string
		var created, expires, used, revoked int64
		if err := rows.Scan(&t.ID, &t.Name, &t.Hint, &scopes, &t.Project, &created, &expires, &used, &t.LastAddr, &revoked); err != nil {
			return nil, fmt.Errorf("auth: tokens: %w", err)
		}
		t.Scopes, t.Created, t.Expires, t.LastUsed, t.Revoked = splitScopes(scopes), fromNanos(created), fromNanos(expires), fromNanos(used), fromNanos(revoked)
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes a token or session by ID: its owner's action, or a global admin's. It
// stops working at once (Authenticate reads it on every request).
func (s *Store) RevokeToken(ctx context.Context, by *Principal, id string) error {
	now := s.now()
	if err := authorizeAt(by, ActionOwnTokens, "", now); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var owner, project string
		err := tx.QueryRowContext(ctx, `SELECT user_id, project FROM auth_tokens WHERE id = $1`, id).Scan(&owner, &project)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: token %s", ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("auth: revoke token %s: %w", id, err)
		}
		if owner != by.UserID {
			if err := authorizeAt(by, ActionManageTokens, "", now); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE auth_tokens SET revoked = $1 WHERE id = $2 AND revoked = 0`, now.UnixNano(), id); err != nil {
			return fmt.Errorf("auth: revoke token %s: %w", id, err)
		}
		return s.Record(ctx, tx, by, Entry{Action: "token.revoke", Project: project, Target: "token:" + id})
	})
}

// lastUsedEvery is how stale a token's last-used time may get: a request writes it only when it
// is older, so that a busy token does not cost a write per request.
const lastUsedEvery = time.Minute

// Authenticate finds the principal of a token (API or session) presented from addr. A malformed,
// unknown, revoked or expired token, or one whose user is disabled, is ErrUnauthenticated (with
// the reason, for logs: tell the client only "unauthenticated").
func (s *Store) Authenticate(ctx context.Context, token, addr string) (*Principal, error) {
	if !wellFormed(token) {
		return nil, fmt.Errorf("%w: not a Capitain token", ErrUnauthenticated)
	}
	now := s.now()
	p := &Principal{Addr: addr}
	var kind, scopes string
	var expires, revoked, used int64
	var admin, disabled int
	err := s.db.QueryRowContext(ctx, `SELECT t.id, t.kind, t.scopes, t.project, t.expires, t.revoked, t.last_used, u.id, u.name, u.admin, u.disabled
		FROM auth_tokens t JOIN auth_users u ON u.id = t.user_id WHERE t.hash = $1`, tokenHash(token)).
		Scan(&p.TokenID, &kind, &scopes, &p.Project, &expires, &revoked, &used, &p.UserID, &p.User, &admin, &disabled)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	case err != nil:
		return nil, fmt.Errorf("auth: authenticate: %w", err)
	case revoked != 0:
		return nil, fmt.Errorf("%w: token %s was revoked", ErrUnauthenticated, p.TokenID)
	case !now.Before(fromNanos(expires)):
		return nil, fmt.Errorf("%w: token %s expired", ErrUnauthenticated, p.TokenID)
	case disabled != 0:
		return nil, fmt.Errorf("%w: user %s is disabled", ErrUnauthenticated, p.User)
	}
	p.Kind, p.Scopes, p.Expires, p.Admin = Kind(kind), splitScopes(scopes), fromNanos(expires), admin != 0
	rows, err := s.db.QueryContext(ctx, `SELECT project, role FROM auth_members WHERE user_id = $1`, p.UserID)
	if err != nil {
		return nil, fmt.Errorf("auth: authenticate: roles: %w", err)
	}
	defer rows.Close()
	p.Roles = map[string]Role{}
	for rows.Next() {
		var project, role string
		if err := rows.Scan(&project, &role); err != nil {
			return nil, fmt.Errorf("auth: authenticate: roles: %w", err)
		}
		p.Roles[project] = Role(role)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auth: authenticate: roles: %w", err)
	}
	rows.Close() // before the write: SQLite servers run one connection
	if now.Sub(fromNanos(used)) >= lastUsedEvery {
		if _, err := s.db.ExecContext(ctx, `UPDATE auth_tokens SET last_used = $1, last_addr = $2 WHERE id = $3 AND last_used < $4`,
			now.UnixNano(), addr, p.TokenID, now.Add(-lastUsedEvery).UnixNano()); err != nil {
			return nil, fmt.Errorf("auth: authenticate: last used: %w", err)
		}
	}
	return p, nil
}

// PurgeSessions deletes sessions that expired or were revoked more than a day ago (the server
// calls it now and then; API tokens stay, listed as expired or revoked, until their user goes).
func (s *Store) PurgeSessions(ctx context.Context) (int64, error) {
	cut := s.now().Add(-24 * time.Hour).UnixNano()
	res, err := s.db.ExecContext(ctx, `DELETE FROM auth_tokens WHERE kind = $1 AND (expires < $2 OR (revoked <> 0 AND revoked < $2))`, string(KindSession), cut)
	if err != nil {
		return 0, fmt.Errorf("auth: purge sessions: %w", err)
	}
	return res.RowsAffected()
}
