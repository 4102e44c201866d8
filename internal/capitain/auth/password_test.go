package auth

import (
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

func TestPasswordHash(t *testing.T) {
	h := hashPassword("correct horse battery")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("PHC string %q", h)
	}
	if h2 := hashPassword("correct horse battery"); h2 == h {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	ok, rehash, err := verifyPassword(h, "correct horse battery")
	if !ok || rehash || err != nil {
		t.Fatalf("right password: %v %v %v", ok, rehash, err)
	}
	if ok, _, err := verifyPassword(h, "correct horse batterz"); ok || err != nil {
		t.Fatalf("wrong password accepted: %v %v", ok, err)
	}
	// A hash made with other (older) parameters still verifies, and asks to be re-hashed.
	salt := []byte("0123456789abcdef")
	old := "$argon2id$v=19$m=8192,t=3,p=1$" + b64(salt) + "$" + b64(argon2.IDKey([]byte("pw"), salt, 3, 8192, 1, 32))
	if ok, rehash, err := verifyPassword(old, "pw"); !ok || !rehash || err != nil {
		t.Fatalf("old parameters: %v %v %v", ok, rehash, err)
	}
}

func TestPasswordPHCRefused(t *testing.T) {
	salt := b64([]byte("0123456789abcdef"))
	key := b64(make([]byte, 32))
	for _, phc := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2$" + salt + "$" + key + "$x",
		"$argon2id$v=19$m=99999999,t=2,p=1$" + salt + "$" + key, // 95 GiB
		"$argon2id$v=19$m=19456,t=1000,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=300$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1,x=3$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1$!!$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + b64(make([]byte, 4)),
	} {
		if ok, _, err := verifyPassword(phc, "pw"); ok || err == nil {
			t.Errorf("%q: ok=%v err=%v, want an error", phc, ok, err)
		}
	}
}

func FuzzParsePHC(f *testing.F) {
	f.Add(hashPassword("seed password"))
	f.Add("$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA")
	f.Fuzz(func(t *testing.T, phc string) {
		p, salt, key, err := parsePHC(phc)
		if err == nil && (p.memory > 1<<20 || p.time > 16 || len(salt) < 8 || len(key) < 16) {
			t.Fatalf("%q accepted with %+v", phc, p)
		}
	})
}

func TestCheckPassword(t *testing.T) {
	for pw, ok := range map[string]bool{"short": false, "twelve chars": true, strings.Repeat("x", 1025): false} {
		if err := checkPassword(pw); (err == nil) != ok {
			t.Errorf("%d bytes: %v", len(pw), err)
		}
	}
}
