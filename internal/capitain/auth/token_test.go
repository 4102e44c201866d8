package auth

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
)

func b64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

func TestTokenFormat(t *testing.T) {
	re := regexp.MustCompile(`^` + TokenPattern + `$`)
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		for _, prefix := range []string{APITokenPrefix, SessionTokenPrefix} {
			tok := newToken(prefix)
			if !re.MatchString(tok) || !strings.HasPrefix(tok, prefix) || !wellFormed(tok) {
				t.Fatalf("%q: pattern %v, well-formed %v", tok, re.MatchString(tok), wellFormed(tok))
			}
			if seen[tok] {
				t.Fatalf("%q twice", tok)
			}
			seen[tok] = true
		}
	}
	tok := newToken(APITokenPrefix)
	if h := tokenHint(tok); !strings.HasPrefix(tok, strings.TrimSuffix(h, "…")) || len(h) > 20 {
		t.Fatalf("hint %q of %q", h, tok)
	}
	if len(tokenHash(tok)) != 64 || tokenHash(tok) == tokenHash(newToken(APITokenPrefix)) {
		t.Fatal("token hash")
	}
	// One character changed anywhere fails the checksum (or the alphabet); so do other prefixes
	// and lengths.
	for i := len(APITokenPrefix); i < len(tok); i++ {
		b := []byte(tok)
		b[i] = base62[(strings.IndexByte(base62, b[i])+1)%62]
		if wellFormed(string(b)) {
			t.Fatalf("%q with character %d changed is well-formed", tok, i)
		}
	}
	for _, bad := range []string{"", tok[:len(tok)-1], tok + "0", "ghp_" + tok[len(APITokenPrefix):],
		APITokenPrefix + strings.Repeat("-", 49)} {
		if wellFormed(bad) {
			t.Errorf("%q is well-formed", bad)
		}
	}
}
