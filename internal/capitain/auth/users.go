package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// User is a local account (its password hash is never returned).
type User struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Admin    bool      `json:"admin"`
	Disabled bool      `json:"disabled"`
	Password bool      `json:"password"` // whether password login is set up
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// userName is what a user name may be: lower-case letters, digits and . _ @ + - (an e-mail works),
// starting with a letter or digit. Names are compared lower-cased.
var userName = regexp.MustCompile(`^[a-z0-9][a-z0-9._@+-]{0,63}$`)

func normName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if !userName.MatchString(n) || n == "system" || n == "anonymous" {
		return "", invalid("name", "%q is not a user name (letters, digits, . _ @ + -; at most 64)", name)
	}
	return n, nil
}

// NewUser is what CreateUser needs. An empty Password creates a user who logs in only with
// tokens until one is set.
type NewUser struct {
	Name     string
	Password string
	Admin    bool
}

// CreateUser adds a user (a global admin's action).
func (s *Store) CreateUser(ctx context.Context, by *Principal, nu NewUser) (User, error) {
	if err := authorizeAt(by, ActionManageUsers, "", s.now()); err != nil {
		return User{}, err
	}
	name, err := normName(nu.Name)
	if err != nil {
		return User{}, err
	}
	hash := ""
	if nu.Password != "" {
		if err := checkPassword(nu.Password); err != nil {
			return User{}, err
		}
		hash = hashPassword(nu.Password)
	}
	now := s.now()
	u := User{ID: newID(), Name: name, Admin: nu.Admin, Password: hash != "", Created: now, Updated: now}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockUsers(ctx, tx); err != nil { // a name taken meanwhile is a conflict, not a 500
			return err
		}
		if err := insertUser(ctx, tx, u, hash); err != nil {
			return err
		}
		return s.Record(ctx, tx, by, Entry{Action: "user.create", Target: "user:" + name,
			Detail: detail(map[string]any{"admin": nu.Admin, "password": hash != ""})})
	})
	return u, err
}

func insertUser(ctx context.Context, tx *sql.Tx, u User, hash string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM auth_users WHERE name = $1`, u.Name).Scan(&n); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("%w: user %s exists", ErrConflict, u.Name)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO auth_users (id, name, password, admin, created, updated) VALUES ($1, $2, $3, $4, $5, $5)`,
		u.ID, u.Name, hash, boolInt(u.Admin), u.Created.UnixNano())
	if err != nil {
		return fmt.Errorf("auth: create user %s: %w", u.Name, err)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

const userColumns = `id, name, admin, disabled, password <> '', created, updated`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var admin, disabled int
	var created, updated int64
	if err := row.Scan(&u.ID, &u.Name, &admin, &disabled, &u.Password, &created, &updated); err != nil {
		return User{}, err
	}
	u.Admin, u.Disabled, u.Created, u.Updated = admin != 0, disabled != 0, fromNanos(created), fromNanos(updated)
	return u, nil
}

// Users lists every user by name (a global admin's action).
func (s *Store) Users(ctx context.Context, by *Principal) ([]User, error) {
	if err := authorizeAt(by, ActionManageUsers, "", s.now()); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM auth_users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("auth: users: %w", err)
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("auth: users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// userByName reads one user (q is the database or a transaction).
func userByName(ctx context.Context, q queryer, name string) (User, error) {
	n, err := normName(name)
	if err != nil {
		return User{}, err
	}
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM auth_users WHERE name = $1`, n))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("%w: user %s", ErrNotFound, n)
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: user %s: %w", n, err)
	}
	return u, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// User reads one user: a global admin's action, or the user's own.
func (s *Store) User(ctx context.Context, by *Principal, name string) (User, error) {
	if err := s.authorizeUser(by, name, ActionManageUsers); err != nil {
		return User{}, err
	}
	return userByName(ctx, s.db, name)
}

// authorizeUser lets by act on name's things: their own (as ActionOwnTokens: any live principal
// whose token may manage tokens), or anyone's with action. It is checked before name is looked
// up, so that whoever may not learns nothing of which names exist.
func (s *Store) authorizeUser(by *Principal, name string, action Action) error {
	if n, err := normName(name); err == nil && by != nil && by.UserID != "" && n == by.User {
		return authorizeAt(by, ActionOwnTokens, "", s.now())
	}
	return authorizeAt(by, action, "", s.now())
}

// UserUpdate changes a user's flags; nil fields stay.
type UserUpdate struct {
	Admin    *bool
	Disabled *bool
}

// UpdateUser sets a user's global admin and disabled flags (a global admin's action). A disabled
// user's tokens and sessions stop working at once. The last enabled global admin can be neither
// demoted nor disabled: Capitain would have nobody to manage it.
func (s *Store) UpdateUser(ctx context.Context, by *Principal, name string, up UserUpdate) (User, error) {
	if err := authorizeAt(by, ActionManageUsers, "", s.now()); err != nil {
		return User{}, err
	}
	var u User
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockUsers(ctx, tx); err != nil {
			return err
		}
		var err error
		if u, err = userByName(ctx, tx, name); err != nil {
			return err
		}
		if up.Admin != nil {
			u.Admin = *up.Admin
		}
		if up.Disabled != nil {
			u.Disabled = *up.Disabled
		}
		u.Updated = s.now()
		if _, err := tx.ExecContext(ctx, `UPDATE auth_users SET admin = $1, disabled = $2, updated = $3 WHERE id = $4`,
			boolInt(u.Admin), boolInt(u.Disabled), u.Updated.UnixNano(), u.ID); err != nil {
			return fmt.Errorf("auth: update user %s: %w", u.Name, err)
		}
		if err := keepAnAdmin(ctx, tx); err != nil {
			return err
		}
		d := map[string]any{}
		if up.Admin != nil {
			d["admin"] = *up.Admin
		}
		if up.Disabled != nil {
			d["disabled"] = *up.Disabled
		}
		return s.Record(ctx, tx, by, Entry{Action: "user.update", Target: "user:" + u.Name, Detail: detail(d)})
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// lockUsers serializes, on PostgreSQL, the transactions that must see every other one's users:
// the bootstrap (one first admin) and the changes that check keepAnAdmin (two admins demoting each
// other at once would each still see the other, and leave none). SQLite needs nothing: a
// transaction there holds the database's write lock from its start (_txlock=immediate).
func (s *Store) lockUsers(ctx context.Context, tx *sql.Tx) error {
	if s.dialect != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
		return fmt.Errorf("auth: lock users: %w", err)
	}
	return nil
}

// keepAnAdmin fails when the transaction's changes left no enabled global admin.
func keepAnAdmin(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM auth_users WHERE admin <> 0 AND disabled = 0`).Scan(&n); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: that would leave no enabled global admin", ErrConflict)
	}
	return nil
}

// DeleteUser removes a user with their tokens, sessions and memberships (a global admin's action;
// not the last enabled global admin).
func (s *Store) DeleteUser(ctx context.Context, by *Principal, name string) error {
	if err := authorizeAt(by, ActionManageUsers, "", s.now()); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockUsers(ctx, tx); err != nil {
			return err
		}
		u, err := userByName(ctx, tx, name)
		if err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM auth_tokens WHERE user_id = $1`, `DELETE FROM auth_members WHERE user_id = $1`,
			`DELETE FROM auth_users WHERE id = $1`} {
			if _, err := tx.ExecContext(ctx, q, u.ID); err != nil {
				return fmt.Errorf("auth: delete user %s: %w", u.Name, err)
			}
		}
		if err := keepAnAdmin(ctx, tx); err != nil {
			return err
		}
		return s.Record(ctx, tx, by, Entry{Action: "user.delete", Target: "user:" + u.Name})
	})
}

// SetPassword sets name's password. Users change their own by giving the current one (when they
// have one); a global admin sets anyone's without it. Every session of the user ends: whoever
// logged in with the old password is logged out.
func (s *Store) SetPassword(ctx context.Context, by *Principal, name, current, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	if by == nil {
		return fmt.Errorf("%w: no credentials", ErrUnauthenticated)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		u, err := userByName(ctx, tx, name)
		if err != nil {
			return err
		}
		var hash string
		if err := tx.QueryRowContext(ctx, `SELECT password FROM auth_users WHERE id = $1`, u.ID).Scan(&hash); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		if by.UserID == u.ID && !by.Admin {
			if err := authorizeAt(by, ActionOwnTokens, "", s.now()); err != nil {
				return err
			}
			if hash != "" {
				ok, _, err := verifyPassword(hash, current)
				if err != nil {
					return fmt.Errorf("auth: user %s: stored password: %w", u.Name, err)
				}
				if !ok {
					return invalid("current", "the current password is wrong")
				}
			}
		} else if err := authorizeAt(by, ActionManageUsers, "", s.now()); err != nil {
			return err
		}
		now := s.now().UnixNano()
		if _, err := tx.ExecContext(ctx, `UPDATE auth_users SET password = $1, updated = $2 WHERE id = $3`, hashPassword(password), now, u.ID); err != nil {
			return fmt.Errorf("auth: set password of %s: %w", u.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE auth_tokens SET revoked = $1 WHERE user_id = $2 AND kind = $3 AND revoked = 0`, now, u.ID, string(KindSession)); err != nil {
			return fmt.Errorf("auth: end sessions of %s: %w", u.Name, err)
		}
		return s.Record(ctx, tx, by, Entry{Action: "user.password", Target: "user:" + u.Name})
	})
}

// Member is a user's role on a project.
type Member struct {
	User string `json:"user"`
	Role Role   `json:"role"`
}

// SetRole gives user role on project, or removes them from it when role is "" (the project
// admins' action).
func (s *Store) SetRole(ctx context.Context, by *Principal, project, user string, role Role) error {
	if err := authorizeAt(by, ActionManageMembers, project, s.now()); err != nil {
		return err
	}
	if role != "" && !role.Valid() {
		return invalid("role", "%q is not admin, operator or viewer", role)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		u, err := userByName(ctx, tx, user)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM auth_members WHERE project = $1 AND user_id = $2`, project, u.ID); err != nil {
			return fmt.Errorf("auth: set role: %w", err)
		}
		if role != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO auth_members (project, user_id, role) VALUES ($1, $2, $3)`, project, u.ID, string(role)); err != nil {
				return fmt.Errorf("auth: set role: %w", err)
			}
		}
		return s.Record(ctx, tx, by, Entry{Action: "member.set", Project: project, Target: "user:" + u.Name,
			Detail: detail(map[string]any{"role": role})})
	})
}

// Members lists a project's members by name (for anyone who may read the project).
func (s *Store) Members(ctx context.Context, by *Principal, project string) ([]Member, error) {
	if project == "" {
		return nil, invalid("project", "a project ID is needed")
	}
	if err := authorizeAt(by, ActionReadProject, project, s.now()); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT u.name, m.role FROM auth_members m JOIN auth_users u ON u.id = m.user_id WHERE m.project = $1 ORDER BY u.name`, project)
	if err != nil {
		return nil, fmt.Errorf("auth: members: %w", err)
	}
	defer rows.Close()
	out := []Member{}
	for rows.Next() {
		var m Member
		if err := rows.Scan(&m.User, &m.Role); err != nil {
			return nil, fmt.Errorf("auth: members: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// ForgetProject removes a deleted project's memberships and revokes the tokens restricted to it,
// in the server's transaction that deletes the project (so that a new project that reuses the ID
// inherits nothing).
func (s *Store) ForgetProject(ctx context.Context, tx *sql.Tx, project string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM auth_members WHERE project = $1`, project); err != nil {
		return fmt.Errorf("auth: forget project %s: %w", project, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE auth_tokens SET revoked = $1 WHERE project = $2 AND revoked = 0`, s.now().UnixNano(), project); err != nil {
		return fmt.Errorf("auth: forget project %s: %w", project, err)
	}
	return nil
}

// BootstrapUser is the name of the first admin that Bootstrap creates.
const BootstrapUser = "admin"

// BootstrapTokenTTL is how long the bootstrap token works: long enough to log in and create
// real users and tokens, short enough that a token printed to a log does not stay a key.
const BootstrapTokenTTL = 7 * 24 * time.Hour

// Bootstrap creates the first user, global admin "admin" without a password, and returns a
// one-time-shown API token for it with every scope (expiring after BootstrapTokenTTL), when the
// database has no user yet; otherwise it returns "". The server prints the token on first start.
// Replicas starting together create one admin: PostgreSQL serializes the check and the insert
// with an advisory lock, SQLite with its write lock (_txlock=immediate).
func (s *Store) Bootstrap(ctx context.Context) (string, error) {
	var tok string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockUsers(ctx, tx); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM auth_users`).Scan(&n); err != nil {
			return fmt.Errorf("auth: bootstrap: %w", err)
		}
		if n > 0 {
			return nil
		}
		now := s.now()
		u := User{ID: newID(), Name: BootstrapUser, Admin: true, Created: now, Updated: now}
		if err := insertUser(ctx, tx, u, ""); err != nil {
			return err
		}
		sys := System()
		if err := s.Record(ctx, tx, sys, Entry{Action: "user.create", Target: "user:" + u.Name,
			Detail: detail(map[string]any{"admin": true, "bootstrap": true})}); err != nil {
			return err
		}
		var err error
		tok, _, err = s.insertToken(ctx, tx, sys, u, NewToken{Name: "bootstrap", Scopes: AllScopes, Expires: now.Add(BootstrapTokenTTL)}, KindAPIToken)
		return err
	})
	return tok, err
}

// RecoveryTokenTTL is how long a RecoveryToken works.
const RecoveryTokenTTL = time.Hour

// RecoveryToken issues a new API token with every scope, valid for RecoveryTokenTTL, for the
// enabled global admin name: the way back in when the bootstrap token is lost or expired and no
// admin can log in. Only whoever can open the database (the server's host) can call it: there is
// no HTTP route to it. It is in the audit log as the system's.
func (s *Store) RecoveryToken(ctx context.Context, name string) (string, error) {
	var tok string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		u, err := userByName(ctx, tx, name)
		if err != nil {
			return err
		}
		if !u.Admin || u.Disabled {
			return invalid("user", "%s is not an enabled global admin", u.Name)
		}
		tok, _, err = s.insertToken(ctx, tx, System(), u, NewToken{Name: "recovery", Scopes: AllScopes,
			Expires: s.now().Add(RecoveryTokenTTL)}, KindAPIToken)
		return err
	})
	return tok, err
}
