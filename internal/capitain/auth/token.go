package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"math/big"
	"strings"
)

// A token is PREFIX + 43 base62 characters of 256 random bits + 6 base62 characters of their
// CRC-32. The prefix names the kind, so that secret scanners (GitHub's, gitleaks, trufflehog)
// can match leaked ones with TokenPattern and check the checksum without calling us, and a typo
// is refused without a database read.
const (
	// APITokenPrefix starts an API token (created by CreateToken, used by scripts and the CLI).
	APITokenPrefix = "chaos_pat_"
	// SessionTokenPrefix starts a session token (created by a login, short-lived).
	SessionTokenPrefix = "chaos_ses_"
	// TokenPattern is a regular expression that matches every token.
	TokenPattern = `chaos_(pat|ses)_[0-9A-Za-z]{49}`

	randLen  = 43 // base62 digits of 256 bits: 62^43 > 2^256
	checkLen = 6  // base62 digits of a CRC-32: 62^6 > 2^32
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// encode62 writes n in base62 with exactly width digits (n must fit).
func encode62(n *big.Int, width int) string {
	out := make([]byte, width)
	n = new(big.Int).Set(n)
	d, m := big.NewInt(62), new(big.Int)
	for i := width - 1; i >= 0; i-- {
		n.DivMod(n, d, m)
		out[i] = base62[m.Int64()]
	}
	return string(out)
}

func checksum(body string) string {
	return encode62(new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(body)))), checkLen)
}

// newToken returns a fresh token with prefix.
func newToken(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	body := encode62(new(big.Int).SetBytes(b[:]), randLen)
	return prefix + body + checksum(body)
}

// wellFormed reports whether tok has a known prefix, the right length and alphabet, and a valid
// checksum.
func wellFormed(tok string) bool {
	var body string
	switch {
	case strings.HasPrefix(tok, APITokenPrefix):
		body = tok[len(APITokenPrefix):]
	case strings.HasPrefix(tok, SessionTokenPrefix):
		body = tok[len(SessionTokenPrefix):]
	default:
		return false
	}
	if len(body) != randLen+checkLen {
		return false
	}
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(base62, body[i]) < 0 {
			return false
		}
	}
	return checksum(body[:randLen]) == body[randLen:]
}

// tokenHash is what the database stores for a token: its SHA-256 in hex. A token carries 256
// random bits, so no salt or slow hash is needed: nobody can search that space, and a stolen
// table gives nothing to replay.
func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// tokenHint is the part of a token shown in lists so that its owner can tell tokens apart: the
// prefix and the first 4 random characters (24 bits of 256).
func tokenHint(tok string) string {
	return tok[:len(APITokenPrefix)+4] + "…"
}
