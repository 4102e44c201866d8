package shell

import (
	"os/exec"
	"slices"
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

func TestSplit(t *testing.T) {
	for _, argv := range [][]string{
		{"_run", "-", "echo", "it's", "", "a b", "x\ny", "'", "''", `\`, `\'`, "$(id)"},
		{""}, {"plain"}, {"é", "ü x"},
	} {
		got, err := Split(Join(argv))
		if err != nil || !slices.Equal(got, argv) {
			t.Errorf("Split(Join(%q)) = %q, %v", argv, got, err)
		}
	}
	for _, bad := range []string{"'open", "a  b", "a ", "$x", "a\"b", "a\\b"} {
		if got, err := Split(bad); err == nil {
			t.Errorf("Split(%q) = %q, want an error", bad, got)
		}
	}
}

// FuzzSplit: whatever Join writes, Split reads back exactly (NUL aside, which Quote drops).
func FuzzSplit(f *testing.F) {
	f.Add("a", "it's", "")
	f.Add("x\ny", `\'`, "'''")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		argv := []string{a, b, c}
		for i := range argv {
			argv[i] = strings.ReplaceAll(argv[i], "\x00", "")
		}
		got, err := Split(Join(argv))
		if err != nil || !slices.Equal(got, argv) {
			t.Fatalf("Split(Join(%q)) = %q, %v", argv, got, err)
		}
	})
}
