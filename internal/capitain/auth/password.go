package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argonParams are argon2id's cost parameters, stored in each hash's PHC string so that they can
// change later: a login with an older hash re-hashes the password with the current ones.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	keyLen  uint32
}

// currentParams are OWASP's first argon2id recommendation (Password Storage Cheat Sheet):
// 19 MiB, 2 passes, 1 lane, a 16-byte salt and a 32-byte hash.
var currentParams = argonParams{memory: 19 * 1024, time: 2, threads: 1, keyLen: 32}

const saltLen = 16

// Password lengths: NIST SP 800-63B asks for at least 8 (15 for a single factor); 12 is a middle
// that the bootstrap flow can live with. The maximum bounds the work one login can cause.
const (
	minPassword = 12
	maxPassword = 1024
)

func checkPassword(pw string) error {
	switch {
	case len(pw) < minPassword:
		return invalid("password", "at least %d characters", minPassword)
	case len(pw) > maxPassword:
		return invalid("password", "at most %d bytes", maxPassword)
	}
	return nil
}

// hashPassword returns pw's argon2id hash as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$SALT$HASH (unpadded standard base64).
func hashPassword(pw string) string {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt)
	p := currentParams
	key := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, p.keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// parsePHC reads an argon2id PHC string. Its parameters are bounded so that a corrupt or hostile
// row cannot make a login allocate gigabytes or loop for minutes.
func parsePHC(phc string) (argonParams, []byte, []byte, error) {
	var p argonParams
	f := strings.Split(phc, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("not an argon2id v=%d PHC string", argon2.Version)
	}
	for _, kv := range strings.Split(f[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, fmt.Errorf("argon2id parameter %q: %w", kv, err)
		}
		switch k {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > 255 {
				return p, nil, nil, fmt.Errorf("argon2id parameter %q out of range", kv)
			}
			p.threads = uint8(n)
		default:
			return p, nil, nil, fmt.Errorf("unknown argon2id parameter %q", kv)
		}
	}
	salt, err := base64.RawStdEncoding.DecodeString(f[4])
	if err != nil {
		return p, nil, nil, fmt.Errorf("argon2id salt: %w", err)
	}
	key, err := base64.RawStdEncoding.DecodeString(f[5])
	if err != nil {
		return p, nil, nil, fmt.Errorf("argon2id hash: %w", err)
	}
	p.keyLen = uint32(len(key))
	if p.memory < 8*uint32(p.threads) || p.memory > 1<<20 || p.time < 1 || p.time > 16 || p.threads < 1 ||
		p.threads > 16 || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, fmt.Errorf("argon2id parameters out of range")
	}
	return p, salt, key, nil
}

// verifyPassword reports whether pw matches the PHC string phc (in constant time over the hash),
// and whether phc was made with other parameters than the current ones (re-hash it then).
func verifyPassword(phc, pw string) (ok, rehash bool, err error) {
	p, salt, key, err := parsePHC(phc)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, p.keyLen)
	return subtle.ConstantTimeCompare(got, key) == 1, p != currentParams || len(salt) != saltLen, nil
}

// dummyHash is verified against when the user does not exist or has no password, so that a login
// costs the same whether or not the name is known (no user enumeration by timing).
var dummyHash = hashPassword("not a password: equalizes login timing")
