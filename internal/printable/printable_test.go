package printable

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscapes(t *testing.T) {
	for _, tc := range []struct{ in, line, text string }{
		{"plain text", "plain text", "plain text"},
		{"tab\tand\nnewline", `tab	and\nnewline`, "tab\tand\nnewline"},
		{"utf-8: açaí ✓", "utf-8: açaí ✓", "utf-8: açaí ✓"},
		{"\x1b]0;owned\x07title", `\x1b]0;owned\x07title`, `\x1b]0;owned\x07title`},
		{"erase\x1b[2K\rfake", `erase\x1b[2K\rfake`, `erase\x1b[2K\rfake`},
		{"csi\u009b31m", `csi\u009b31m`, `csi\u009b31m`},
		{"del\x7f", `del\x7f`, `del\x7f`},
		{"nul\x00", `nul\x00`, `nul\x00`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`, `bidi \u202egnp.exe`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`, `bad \xff\xfe utf8`},
		{"cut \xe2\x9c", `cut \xe2\x9c`, `cut \xe2\x9c`},
	} {
		if got := Line(tc.in); got != tc.line {
			t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.line)
		}
		if got := Text(tc.in); got != tc.text {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.text)
		}
	}
}

// FuzzText: whatever goes in, what comes out is valid UTF-8 a terminal shows as is, and text that
// needed nothing is unchanged.
func FuzzText(f *testing.F) {
	for _, s := range []string{"", "ok", "a\x1b[2Kb", "\xff", "\u202e", "\r\n", "é\u0085"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, out := range map[string]string{"Line": Line(s), "Text": Text(s)} {
			if !utf8.ValidString(out) {
				t.Fatalf("%s(%q) = %q: not UTF-8", name, s, out)
			}
			if bad := Unsafe(out); bad != "" {
				t.Fatalf("%s(%q) = %q carries %s", name, s, out, bad)
			}
			if Unsafe(s) == "" && name == "Text" && out != s {
				t.Fatalf("Text changed safe text %q to %q", s, out)
			}
		}
		if strings.Contains(Line(s), "\n") {
			t.Fatalf("Line(%q) keeps a newline", s)
		}
	})
}
