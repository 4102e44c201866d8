package shell

import (
	"os/exec"
	"strings"
	"testing"
)

// roundTrip asks the real sh to print the quoted word back.
func roundTrip(t testing.TB, s string) string {
	t.Helper()
	out, err := exec.Command("/bin/sh", "-c", "printf '%s' "+Quote(s)).Output()
	if err != nil {
		t.Fatalf("sh failed for %q (quoted %s): %v", s, Quote(s), err)
	}
	return string(out)
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{
		"", "plain", "with space", "it's", "''", `"dq"`, "$(id)", "`id`", "a;b", "a\nb", "a\tb",
		"-rf", "~root", "a=b", "*", "?", "[a]", "!x", "#c", "\\", "\\'", "é ü", "$HOME", "${x}", "a|b", "a&b", ">x", "<x",
	} {
		if got := roundTrip(t, s); got != s {
			t.Errorf("Quote(%q) = %s: sh printed %q", s, Quote(s), got)
		}
	}
}

func TestJoin(t *testing.T) {
	got := Join([]string{"apt-get", "install", "-y", "it's", "a b"})
	want := `apt-get install -y 'it'\''s' 'a b'`
	if got != want {
		t.Fatalf("Join = %s, want %s", got, want)
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a", "it's", "$(x)", "a\nb", "'\\''"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := strings.ReplaceAll(s, "\x00", "")
		if got := roundTrip(t, s); got != want {
			t.Fatalf("Quote(%q) = %s: sh printed %q", s, Quote(s), got)
		}
	})
}
