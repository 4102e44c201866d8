package auth

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkPasswordVerify is the CPU cost of one login's argon2id (19 MiB, t=2, p=1).
func BenchmarkPasswordVerify(b *testing.B) {
	h := hashPassword("benchmark password")
	for b.Loop() {
		if ok, _, _ := verifyPassword(h, "benchmark password"); !ok {
			b.Fatal("mismatch")
		}
	}
}

// BenchmarkAuthenticate is what every API request pays for its token on SQLite: the token's row,
// the user's roles (20 projects), and no write (last-used is fresh).
func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	db := openSQLite(b, filepath.Join(b.TempDir(), "bench.db"))
	if err := Migrate(ctx, db, SQLite); err != nil {
		b.Fatal(err)
	}
	s := New(db, SQLite)
	tok, err := s.Bootstrap(ctx)
	if err != nil {
		b.Fatal(err)
	}
	admin, _ := s.Authenticate(ctx, tok, "")
	if _, err := s.CreateUser(ctx, admin, NewUser{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	for i := range 20 {
		if err := s.SetRole(ctx, admin, "p"+string(rune('a'+i)), "bench", RoleOperator); err != nil {
			b.Fatal(err)
		}
	}
	user, _, err := s.CreateToken(ctx, admin, NewToken{User: "bench", Scopes: AllScopes, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		p, err := s.Authenticate(ctx, user, "127.0.0.1")
		if err != nil || len(p.Roles) != 20 {
			b.Fatal(p, err)
		}
	}
}
