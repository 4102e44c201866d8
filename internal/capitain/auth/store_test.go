package auth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// openSQLite opens a SQLite file as the server does (internal/logbook's options).
func openSQLite(t testing.TB, path string) *sql.DB {
	t.Helper()
	q := "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate"
	db, err := sql.Open("sqlite", "file:"+path+q)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func openPostgres(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// backend is one real database, and a way to open more connections pools to it (a second
// replica).
type backend struct {
	dialect Dialect
	open    func(t testing.TB) *sql.DB
}

func backends(t *testing.T) map[string]backend {
	dir := t.TempDir()
	b := map[string]backend{
		"sqlite": {SQLite, func(t testing.TB) *sql.DB { return openSQLite(t, filepath.Join(dir, "capitain.db")) }},
	}
	if testing.Short() {
		return b
	}
	var once sync.Once
	var dsn string
	b["postgres"] = backend{Postgres, func(t testing.TB) *sql.DB {
		once.Do(func() { dsn = testenv.PostgreSQL(t) })
		return openPostgres(t, dsn)
	}}
	return b
}

// eachDB runs fn on a fresh, migrated store on SQLite and on PostgreSQL.
func eachDB(t *testing.T, fn func(t *testing.T, b backend, s *Store)) {
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			db := b.open(t)
			if err := Migrate(context.Background(), db, b.dialect); err != nil {
				t.Fatal(err)
			}
			fn(t, b, New(db, b.dialect))
		})
	}
}

// clock is a test's time: the store reads it, the test moves it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func withClock(s *Store) *clock {
	c := &clock{t: time.Now()}
	s.now = c.now
	return c
}

// TestMigrateConcurrent: replicas migrating one database at once, twice; then a current schema.
func TestMigrateConcurrent(t *testing.T) {
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make([]error, 4)
			dbs := make([]*sql.DB, len(errs))
			for i := range dbs {
				dbs[i] = b.open(t)
			}
			for i := range errs {
				wg.Add(1)
				go func() { defer wg.Done(); errs[i] = Migrate(ctx, dbs[i], b.dialect) }()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("replica %d: %v", i, err)
				}
			}
			var v int
			if err := dbs[0].QueryRow(`SELECT version FROM auth_schema_version`).Scan(&v); err != nil || v != len(migrations) {
				t.Fatalf("version %d, %v", v, err)
			}
			var rows int
			if err := dbs[0].QueryRow(`SELECT COUNT(*) FROM auth_schema_version`).Scan(&rows); err != nil || rows != 1 {
				t.Fatalf("%d version rows, %v", rows, err)
			}
			// A newer schema than this code is refused, not downgraded.
			if _, err := dbs[0].Exec(`UPDATE auth_schema_version SET version = 999`); err != nil {
				t.Fatal(err)
			}
			if err := Migrate(ctx, dbs[1], b.dialect); err == nil || !strings.Contains(err.Error(), "newer") {
				t.Fatalf("newer schema: %v", err)
			}
			if err := Migrate(ctx, dbs[1], "mysql"); err == nil {
				t.Fatal("unknown dialect accepted")
			}
		})
	}
}

// TestBootstrap: replicas starting at once create one admin and one token; later starts none.
func TestBootstrap(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		toks := make([]string, 4)
		errs := make([]error, len(toks))
		var wg sync.WaitGroup
		for i := range toks {
			st := New(b.open(t), b.dialect)
			wg.Add(1)
			go func() { defer wg.Done(); toks[i], errs[i] = st.Bootstrap(ctx) }()
		}
		wg.Wait()
		var tok string
		for i := range toks {
			if errs[i] != nil {
				t.Fatalf("replica %d: %v", i, errs[i])
			}
			if toks[i] != "" {
				if tok != "" {
					t.Fatal("two bootstrap tokens")
				}
				tok = toks[i]
			}
		}
		if tok == "" {
			t.Fatal("no bootstrap token")
		}
		if again, err := s.Bootstrap(ctx); again != "" || err != nil {
			t.Fatalf("second start: %q %v", again, err)
		}
		p, err := s.Authenticate(ctx, tok, "192.0.2.1")
		if err != nil || p.User != BootstrapUser || !p.Admin || p.Kind != KindAPIToken {
			t.Fatalf("bootstrap principal %+v %v", p, err)
		}
		if d := time.Until(p.Expires); d < BootstrapTokenTTL-time.Minute || d > BootstrapTokenTTL {
			t.Fatalf("bootstrap token expires in %s", d)
		}
		// The way back in when the token is lost: only for an enabled global admin.
		rec, err := s.RecoveryToken(ctx, "Admin")
		if err != nil {
			t.Fatal(err)
		}
		if rp, err := s.Authenticate(ctx, rec, ""); err != nil || rp.User != BootstrapUser || !rp.Admin || time.Until(rp.Expires) > RecoveryTokenTTL {
			t.Fatalf("recovery principal %+v %v", rp, err)
		}
		if _, err := s.CreateUser(ctx, p, NewUser{Name: "plain"}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"plain", "nobody"} {
			if _, err := s.RecoveryToken(ctx, name); err == nil {
				t.Errorf("recovery token for %s", name)
			}
		}
		if err := s.DeleteUser(ctx, p, "plain"); err != nil {
			t.Fatal(err)
		}
		users, err := s.Users(ctx, p)
		if err != nil || len(users) != 1 || users[0].Password {
			t.Fatalf("users %+v %v", users, err)
		}
		page, err := s.Audit(ctx, p, AuditQuery{})
		if err != nil || len(page.Entries) != 5 || page.Entries[2].Action != "token.create" || page.Entries[2].Actor != "system" ||
			page.Entries[3].Action != "token.create" || page.Entries[4].Action != "user.create" || page.Entries[4].Actor != "system" {
			t.Fatalf("audit %+v %v", page, err)
		}
	})
}

// setup bootstraps and returns the admin's principal.
func setup(t *testing.T, s *Store) *Principal {
	t.Helper()
	ctx := context.Background()
	tok, err := s.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Authenticate(ctx, tok, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustUser(t *testing.T, s *Store, by *Principal, name, pw string, admin bool) {
	t.Helper()
	if _, err := s.CreateUser(context.Background(), by, NewUser{Name: name, Password: pw, Admin: admin}); err != nil {
		t.Fatal(err)
	}
}

// TestTokens runs the token cases through the database: a table of tokens, each authenticated
// and authorized as the API would (expired and revoked ones refused, restrictions kept).
func TestTokens(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		clk := withClock(s)
		admin := setup(t, s)
		mustUser(t, s, admin, "Alice", "alice password 1", false)
		mustUser(t, s, admin, "bob", "", false)
		if err := s.SetRole(ctx, admin, "A", "alice", RoleOperator); err != nil {
			t.Fatal(err)
		}
		if err := s.SetRole(ctx, admin, "B", "alice", RoleViewer); err != nil {
			t.Fatal(err)
		}
		if err := s.SetRole(ctx, admin, "A", "bob", RoleViewer); err != nil {
			t.Fatal(err)
		}
		_, alice, err := s.Login(ctx, "alice", "alice password 1", "192.0.2.7")
		if err != nil {
			t.Fatal(err)
		}
		aliceP, err := s.Authenticate(ctx, alice.Token, "192.0.2.7")
		if err != nil || aliceP.Kind != KindSession || aliceP.Roles["A"] != RoleOperator {
			t.Fatalf("alice %+v %v", aliceP, err)
		}
		mk := func(by *Principal, nt NewToken) string {
			t.Helper()
			if nt.Expires.IsZero() {
				nt.Expires = clk.now().Add(24 * time.Hour)
			}
			tok, _, err := s.CreateToken(ctx, by, nt)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		runA := mk(aliceP, NewToken{Name: "ci", Scopes: []Scope{ScopeRead, ScopeRun}, Project: "A"})
		readAll := mk(aliceP, NewToken{Name: "dash", Scopes: []Scope{ScopeRead}})
		short := mk(aliceP, NewToken{Name: "short", Scopes: []Scope{ScopeRead, ScopeRun}, Expires: clk.now().Add(time.Hour)})
		revoked := mk(aliceP, NewToken{Name: "gone", Scopes: []Scope{ScopeRead, ScopeRun}})
		bobs := mk(admin, NewToken{User: "bob", Name: "bob's", Scopes: AllScopes})
		list, err := s.Tokens(ctx, aliceP, "")
		if err != nil || len(list) != 4 {
			t.Fatalf("alice's tokens %+v %v", list, err)
		}
		for _, tk := range list {
			if tk.Name == "gone" {
				if err := s.RevokeToken(ctx, aliceP, tk.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		clk.add(2 * time.Hour) // "short" has expired
		for _, c := range []struct {
			name, tok string
			action    Action
			project   string
			want      error
		}{
			{"operator token applies on its project", runA, ActionApply, "A", nil},
			{"token of A cannot read B (where alice is viewer)", runA, ActionReadProject, "B", ErrForbidden},
			{"read token reads B", readAll, ActionReadProject, "B", nil},
			{"read token cannot apply", readAll, ActionApply, "A", ErrForbidden},
			{"expired token refused for what it could do", short, ActionApply, "A", ErrUnauthenticated},
			{"expired token refused", short, ActionReadProject, "A", ErrUnauthenticated},
			{"revoked token refused", revoked, ActionReadProject, "A", ErrUnauthenticated},
			{"viewer cannot apply", bobs, ActionApply, "A", ErrForbidden},
			{"viewer reads", bobs, ActionReadProject, "A", nil},
			{"viewer cannot plan", bobs, ActionPlan, "A", ErrForbidden},
			{"user without a role on B", bobs, ActionReadProject, "B", ErrForbidden},
			{"malformed token", "chaos_pat_nope", ActionReadProject, "A", ErrUnauthenticated},
			{"unknown token", newToken(APITokenPrefix), ActionReadProject, "A", ErrUnauthenticated},
		} {
			p, err := s.Authenticate(ctx, c.tok, "192.0.2.8")
			if err == nil {
				err = authorizeAt(p, c.action, c.project, clk.now())
			}
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
		}
		// Last use is recorded, with the address.
		list, _ = s.Tokens(ctx, aliceP, "alice")
		for _, tk := range list {
			if tk.Name == "ci" && (tk.LastAddr != "192.0.2.8" || tk.LastUsed.IsZero()) {
				t.Errorf("ci token last used %v from %q", tk.LastUsed, tk.LastAddr)
			}
			if tk.Name == "gone" && tk.Revoked.IsZero() {
				t.Error("revoked token not marked")
			}
		}
		// Limits on creating tokens.
		ciP, err := s.Authenticate(ctx, runA, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			by   *Principal
			nt   NewToken
			want error
		}{
			{"no scope", aliceP, NewToken{}, ErrInvalid},
			{"unknown scope", aliceP, NewToken{Scopes: []Scope{"root"}}, ErrInvalid},
			{"past expiry", aliceP, NewToken{Scopes: []Scope{ScopeRead}, Expires: clk.now().Add(-time.Second)}, ErrInvalid},
			{"two years", aliceP, NewToken{Scopes: []Scope{ScopeRead}, Expires: clk.now().Add(2 * 365 * 24 * time.Hour)}, ErrInvalid},
			{"for another user", aliceP, NewToken{User: "bob", Scopes: []Scope{ScopeRead}}, ErrForbidden},
			{"a token without admin scope mints none", ciP, NewToken{Scopes: []Scope{ScopeRead}, Project: "A"}, ErrForbidden},
			{"unknown user", admin, NewToken{User: "carol", Scopes: []Scope{ScopeRead}}, ErrNotFound},
		} {
			nt := c.nt
			if nt.Expires.IsZero() {
				nt.Expires = clk.now().Add(time.Hour)
			}
			if _, _, err := s.CreateToken(ctx, c.by, nt); !errors.Is(err, c.want) {
				t.Errorf("create token, %s: %v, want %v", c.name, err, c.want)
			}
		}
		// A restricted admin-scope token makes only tokens restricted the same way, and none
		// that outlives it.
		restricted := mk(aliceP, NewToken{Scopes: []Scope{ScopeRead, ScopeAdmin}, Project: "A", Expires: clk.now().Add(2 * time.Hour)})
		rp, err := s.Authenticate(ctx, restricted, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CreateToken(ctx, rp, NewToken{Scopes: []Scope{ScopeRead}, Expires: clk.now().Add(time.Hour)}); !errors.Is(err, ErrForbidden) {
			t.Errorf("unrestricted token from a restricted one: %v", err)
		}
		if _, _, err := s.CreateToken(ctx, rp, NewToken{Scopes: []Scope{ScopeRead}, Project: "A", Expires: clk.now().Add(3 * time.Hour)}); !errors.Is(err, ErrInvalid) {
			t.Errorf("token outliving its creator: %v", err)
		}
		if _, _, err := s.CreateToken(ctx, rp, NewToken{Scopes: []Scope{ScopeRead, ScopeRun}, Project: "A", Expires: clk.now().Add(time.Hour)}); !errors.Is(err, ErrForbidden) {
			t.Errorf("token with a scope its creator lacks: %v", err)
		}
		// Others' tokens: only a global admin lists or revokes them.
		if _, err := s.Tokens(ctx, aliceP, "bob"); !errors.Is(err, ErrForbidden) {
			t.Errorf("alice lists bob's tokens: %v", err)
		}
		bobList, err := s.Tokens(ctx, admin, "bob")
		if err != nil || len(bobList) != 1 {
			t.Fatalf("bob's tokens %+v %v", bobList, err)
		}
		if err := s.RevokeToken(ctx, aliceP, bobList[0].ID); !errors.Is(err, ErrForbidden) {
			t.Errorf("alice revokes bob's token: %v", err)
		}
		if err := s.RevokeToken(ctx, admin, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("revoke unknown: %v", err)
		}
		// Disabling a user stops their tokens; deleting a project revokes the tokens pinned to it
		// and forgets its members.
		if _, err := s.UpdateUser(ctx, admin, "bob", UserUpdate{Disabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, bobs, ""); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("disabled user's token: %v", err)
		}
		if err := s.tx(ctx, func(tx *sql.Tx) error { return s.ForgetProject(ctx, tx, "A") }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, runA, ""); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("token of a deleted project: %v", err)
		}
		if p, err := s.Authenticate(ctx, readAll, ""); err != nil || p.Roles["A"] != "" || p.Roles["B"] != RoleViewer {
			t.Errorf("roles after forgetting A: %+v %v", p, err)
		}
		// Sessions: purged a day after they expire, API tokens kept.
		clk.add(DefaultSessionTTL + 25*time.Hour)
		if n, err := s.PurgeSessions(ctx); err != nil || n != 1 {
			t.Errorf("purged %d sessions, %v", n, err)
		}
		if list, _ := s.Tokens(ctx, admin, "alice"); len(list) != 5 {
			t.Errorf("alice has %d API tokens after the purge, want 5", len(list))
		}
	})
}

func ptr[T any](v T) *T { return &v }

// TestUsers: names, passwords, flags, memberships and the last admin.
func TestUsers(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		admin := setup(t, s)
		for _, bad := range []string{"", "Has Space", "-dash", "system", strings.Repeat("a", 65), "x/y"} {
			if _, err := s.CreateUser(ctx, admin, NewUser{Name: bad}); !errors.Is(err, ErrInvalid) {
				t.Errorf("user name %q: %v", bad, err)
			}
		}
		if _, err := s.CreateUser(ctx, admin, NewUser{Name: "carol", Password: "short"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("short password: %v", err)
		}
		mustUser(t, s, admin, "carol@example.org", "carol's password", false)
		if _, err := s.CreateUser(ctx, admin, NewUser{Name: "Carol@Example.org"}); !errors.Is(err, ErrConflict) {
			t.Errorf("same name, other case: %v", err)
		}
		_, lr, err := s.Login(ctx, "carol@example.org", "carol's password", "")
		if err != nil {
			t.Fatal(err)
		}
		carol, _ := s.Authenticate(ctx, lr.Token, "")
		if _, err := s.CreateUser(ctx, carol, NewUser{Name: "dave"}); !errors.Is(err, ErrForbidden) {
			t.Errorf("non-admin creates a user: %v", err)
		}
		if _, err := s.Users(ctx, carol); !errors.Is(err, ErrForbidden) {
			t.Errorf("non-admin lists users: %v", err)
		}
		if u, err := s.User(ctx, carol, "carol@example.org"); err != nil || u.Name != "carol@example.org" || !u.Password {
			t.Errorf("own user: %+v %v", u, err)
		}
		// Others' users and tokens: forbidden, whether the name exists or not (no enumeration).
		for _, name := range []string{"admin", "nobody"} {
			if _, err := s.User(ctx, carol, name); !errors.Is(err, ErrForbidden) {
				t.Errorf("user %s: %v", name, err)
			}
			if _, err := s.Tokens(ctx, carol, name); !errors.Is(err, ErrForbidden) {
				t.Errorf("tokens of %s: %v", name, err)
			}
			if _, _, err := s.CreateToken(ctx, carol, NewToken{User: name, Scopes: []Scope{ScopeRead}, Expires: time.Now().Add(time.Hour)}); !errors.Is(err, ErrForbidden) {
				t.Errorf("token for %s: %v", name, err)
			}
		}
		// Roles: only the project's admins set them.
		if err := s.SetRole(ctx, admin, "web", "carol@example.org", RoleAdmin); err != nil {
			t.Fatal(err)
		}
		carol, _ = s.Authenticate(ctx, lr.Token, "")
		mustUser(t, s, admin, "dave", "", false)
		if err := s.SetRole(ctx, carol, "web", "dave", RoleOperator); err != nil {
			t.Errorf("project admin sets a role: %v", err)
		}
		if err := s.SetRole(ctx, carol, "db", "dave", RoleOperator); !errors.Is(err, ErrForbidden) {
			t.Errorf("project admin sets a role elsewhere: %v", err)
		}
		if err := s.SetRole(ctx, carol, "web", "dave", "owner"); !errors.Is(err, ErrInvalid) {
			t.Errorf("unknown role: %v", err)
		}
		if err := s.SetRole(ctx, carol, "web", "nobody", RoleViewer); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown user: %v", err)
		}
		m, err := s.Members(ctx, carol, "web")
		if err != nil || len(m) != 2 || m[0] != (Member{"carol@example.org", RoleAdmin}) || m[1] != (Member{"dave", RoleOperator}) {
			t.Errorf("members %+v %v", m, err)
		}
		if err := s.SetRole(ctx, carol, "web", "dave", ""); err != nil {
			t.Fatal(err)
		}
		if m, _ := s.Members(ctx, carol, "web"); len(m) != 1 {
			t.Errorf("after removal: %+v", m)
		}
		// Passwords: one's own with the current one; an admin sets anyone's; sessions end.
		if err := s.SetPassword(ctx, carol, "carol@example.org", "wrong current", "a new password"); !errors.Is(err, ErrInvalid) {
			t.Errorf("wrong current password: %v", err)
		}
		if err := s.SetPassword(ctx, carol, "dave", "", "dave's new password"); !errors.Is(err, ErrForbidden) {
			t.Errorf("someone else's password: %v", err)
		}
		if err := s.SetPassword(ctx, carol, "carol@example.org", "carol's password", "a new password"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, lr.Token, ""); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("session after a password change: %v", err)
		}
		if _, _, err := s.Login(ctx, "carol@example.org", "carol's password", ""); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("old password: %v", err)
		}
		if _, _, err := s.Login(ctx, "carol@example.org", "a new password", ""); err != nil {
			t.Errorf("new password: %v", err)
		}
		if err := s.SetPassword(ctx, admin, "dave", "", "set by an admin"); err != nil {
			t.Fatal(err)
		}
		// The last enabled admin stays.
		if _, err := s.UpdateUser(ctx, admin, "admin", UserUpdate{Admin: ptr(false)}); !errors.Is(err, ErrConflict) {
			t.Errorf("demote the last admin: %v", err)
		}
		if err := s.DeleteUser(ctx, admin, "admin"); !errors.Is(err, ErrConflict) {
			t.Errorf("delete the last admin: %v", err)
		}
		if _, err := s.UpdateUser(ctx, admin, "dave", UserUpdate{Admin: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateUser(ctx, admin, "admin", UserUpdate{Disabled: ptr(true)}); err != nil {
			t.Errorf("disable one of two admins: %v", err)
		}
		if _, err := s.Authenticate(ctx, "", ""); !errors.Is(err, ErrUnauthenticated) {
			t.Error("empty token")
		}
		_, dl, _ := s.Login(ctx, "dave", "set by an admin", "")
		dave, _ := s.Authenticate(ctx, dl.Token, "")
		if err := s.DeleteUser(ctx, dave, "carol@example.org"); err != nil {
			t.Fatal(err)
		}
		if m, _ := s.Members(ctx, dave, "web"); len(m) != 0 {
			t.Errorf("members after deleting carol: %+v", m)
		}
		if err := s.DeleteUser(ctx, dave, "carol@example.org"); !errors.Is(err, ErrNotFound) {
			t.Errorf("delete twice: %v", err)
		}
		users, _ := s.Users(ctx, dave)
		if len(users) != 2 || !users[0].Disabled || !users[1].Admin {
			t.Errorf("users %+v", users)
		}
	})
}

// TestLastAdminRace: two admins demoting each other at once, from two replicas: one wins, one
// admin stays.
func TestLastAdminRace(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		admin := setup(t, s)
		mustUser(t, s, admin, "second", "", true)
		// Two replicas with their connections open, started together.
		replicas := []*Store{New(b.open(t), b.dialect), New(b.open(t), b.dialect)}
		for _, r := range replicas {
			if err := r.db.PingContext(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for round := 0; round < 20; round++ {
			errs := make([]error, 2)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, name := range []string{"admin", "second"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = replicas[i].UpdateUser(ctx, System(), name, UserUpdate{Admin: ptr(false)})
				}()
			}
			close(start)
			wg.Wait()
			if (errs[0] == nil) == (errs[1] == nil) {
				t.Fatalf("round %d: %v, %v: want exactly one refused", round, errs[0], errs[1])
			}
			for _, err := range errs {
				if err != nil && !errors.Is(err, ErrConflict) {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			for _, name := range []string{"admin", "second"} {
				if _, err := s.UpdateUser(ctx, System(), name, UserUpdate{Admin: ptr(true)}); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

// TestLoginRehash: a password hashed with older parameters is re-hashed at login.
func TestLoginRehash(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		admin := setup(t, s)
		mustUser(t, s, admin, "erin", "erin's password", false)
		old := currentParams
		currentParams.time = 1
		hashed := hashPassword("erin's password")
		currentParams = old
		if _, err := s.db.Exec(`UPDATE auth_users SET password = $1 WHERE name = 'erin'`, hashed); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Login(ctx, "erin", "erin's password", ""); err != nil {
			t.Fatal(err)
		}
		var now string
		if err := s.db.QueryRow(`SELECT password FROM auth_users WHERE name = 'erin'`).Scan(&now); err != nil {
			t.Fatal(err)
		}
		if now == hashed || !strings.HasPrefix(now, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Fatalf("not re-hashed: %q", now)
		}
		if _, _, err := s.Login(ctx, "erin", "erin's password", ""); err != nil {
			t.Fatalf("login after re-hash: %v", err)
		}
	})
}

// TestAudit: entries written with the change's transaction, filters and cursor pagination.
func TestAudit(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		clk := withClock(s)
		admin := setup(t, s)
		admin.Addr = "198.51.100.4"
		start := clk.now()
		// A change the server makes: committed with its entry, or rolled back with it.
		for i, commit := range []bool{true, false, true} {
			tx, err := s.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Record(ctx, tx, admin, Entry{Action: "project.update", Project: "web", Target: "project:web",
				Detail: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}); err != nil {
				t.Fatal(err)
			}
			if commit {
				err = tx.Commit()
			} else {
				err = tx.Rollback()
			}
			if err != nil {
				t.Fatal(err)
			}
			clk.add(time.Second)
		}
		for i := 0; i < 7; i++ {
			if err := s.Record(ctx, nil, admin, Entry{Action: "job.apply", Project: "db", Target: fmt.Sprintf("job:%d", i)}); err != nil {
				t.Fatal(err)
			}
			clk.add(time.Second)
		}
		if err := s.Record(ctx, nil, admin, Entry{Action: "x", Detail: json.RawMessage(`{bad`)}); !errors.Is(err, ErrInvalid) {
			t.Errorf("bad detail: %v", err)
		}
		if err := s.Record(ctx, nil, admin, Entry{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("no action: %v", err)
		}
		web, err := s.Audit(ctx, admin, AuditQuery{Project: "web"})
		if err != nil || len(web.Entries) != 2 || string(web.Entries[0].Detail) != `{"n":2}` || string(web.Entries[1].Detail) != `{"n":0}` ||
			web.Entries[0].Addr != "198.51.100.4" || web.Entries[0].Actor != "admin" || web.Entries[0].TokenID != admin.TokenID {
			t.Fatalf("web entries %+v %v", web, err)
		}
		// Pages of 3 over the 7 job entries: 3, 3, 1, in order, no repeats.
		var got []string
		q := AuditQuery{Action: "job.", Limit: 3}
		for pages := 0; ; pages++ {
			page, err := s.Audit(ctx, admin, q)
			if err != nil || pages > 3 {
				t.Fatalf("page %d: %v", pages, err)
			}
			for _, e := range page.Entries {
				got = append(got, e.Target)
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
		if strings.Join(got, " ") != "job:6 job:5 job:4 job:3 job:2 job:1 job:0" {
			t.Fatalf("paged %v", got)
		}
		for _, c := range []struct {
			q    AuditQuery
			want int
		}{
			{AuditQuery{Action: "job.apply"}, 7},
			{AuditQuery{Action: "job"}, 0},
			{AuditQuery{Action: "project."}, 2},
			{AuditQuery{Target: "job:3"}, 1},
			{AuditQuery{Actor: "admin"}, 9},
			{AuditQuery{Actor: "system"}, 2},
			{AuditQuery{Since: start.Add(2 * time.Second), Until: start.Add(5 * time.Second)}, 3}, // web:2, job:0, job:1
			{AuditQuery{Project: "db", Since: start.Add(8 * time.Second)}, 2},
		} {
			page, err := s.Audit(ctx, admin, c.q)
			if err != nil || len(page.Entries) != c.want {
				t.Errorf("%+v: %d entries, want %d (%v)", c.q, len(page.Entries), c.want, err)
			}
		}
		for _, bad := range []AuditQuery{{Cursor: "%%"}, {Cursor: "-5"}, {Limit: -1}, {Limit: MaxAuditLimit + 1}} {
			if _, err := s.Audit(ctx, admin, bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("%+v: %v", bad, err)
			}
		}
		// Who reads what: a project admin its project's entries, nobody else's.
		mustUser(t, s, admin, "frank", "frank's password", false)
		if err := s.SetRole(ctx, admin, "web", "frank", RoleAdmin); err != nil {
			t.Fatal(err)
		}
		_, fl, _ := s.Login(ctx, "frank", "frank's password", "")
		frank, _ := s.Authenticate(ctx, fl.Token, "")
		if page, err := s.Audit(ctx, frank, AuditQuery{Project: "web"}); err != nil || len(page.Entries) != 3 {
			t.Errorf("frank reads web's log: %d %v", len(page.Entries), err)
		}
		for _, q := range []AuditQuery{{}, {Project: "db"}} {
			if _, err := s.Audit(ctx, frank, q); !errors.Is(err, ErrForbidden) {
				t.Errorf("frank reads %+v: %v", q, err)
			}
		}
		// The changes of this package are in the log with their actor.
		page, err := s.Audit(ctx, admin, AuditQuery{Limit: 4})
		if err != nil || page.Entries[0].Action != "login" || page.Entries[0].Actor != "frank" ||
			page.Entries[1].Action != "member.set" || page.Entries[2].Action != "user.create" {
			t.Errorf("latest %+v %v", page.Entries, err)
		}
	})
}
