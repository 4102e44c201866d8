package guix

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`back\slash`, `"back\\slash"`},
		{`say "hi"`, `"say \"hi\""`},
		{"a\nb\tc\rd", `"a\nb\tc\rd"`},
		{"nul\x00x", `"nul\x00x"`},
		{"bell\x07", `"bell\x07"`},
		{"esc\x1b[0m", `"esc\x1b[0m"`},
		{"del\x7f", `"del\x7f"`},
		{"\x41;", `"A;"`},      // a literal semicolon is just a character
		{"é", `"\u00e9"`},      // U+0080..U+FFFF: \u and four digits
		{"\u2028", `"\u2028"`}, // line separator stays escaped
		{"\uffff", `"\uffff"`},
		{"😀", `"\U01f600"`}, // above U+FFFF: \U and exactly six digits
		{"\U0010ffff", `"\U10ffff"`},
		{`)) (system "rm -rf /") ;`, `")) (system \"rm -rf /\") ;"`},
		{"#| not a comment |#", `"#| not a comment |#"`},
	} {
		got, err := Quote(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Quote(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := Quote("bad\xffutf8"); err == nil {
		t.Error("Quote accepted invalid UTF-8")
	}
}

func TestSymbol(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"guix", "guix"},
		{"chimera-etc", "chimera-etc"},
		{"", "#{}#"},
		{"1abc", "#{1abc}#"},
		{"-x", "#{-x}#"},
		{"a b", `#{a\x20;b}#`},
		{"}#", `#{\x7d;\x23;}#`},
		{"a\nb", `#{a\xa;b}#`},
		{"UP", `#{\x55;\x50;}#`},
		{"é", `#{\xe9;}#`},
	} {
		got, err := Symbol(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Symbol(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := Symbol("\xc3"); err == nil {
		t.Error("Symbol accepted invalid UTF-8")
	}
}

// checkQuote is the fuzz property: Quote is total on UTF-8, its output is printable ASCII, and the
// reference reader gives back exactly the input, consuming the whole literal.
func checkQuote(t *testing.T, s string) {
	q, err := Quote(s)
	if !utf8.ValidString(s) {
		if err == nil {
			t.Fatalf("Quote(%q) accepted invalid UTF-8", s)
		}
		return
	}
	if err != nil {
		t.Fatalf("Quote(%q): %v", s, err)
	}
	for i := 0; i < len(q); i++ {
		if q[i] < 0x20 || q[i] > 0x7e {
			t.Fatalf("Quote(%q) = %q has byte %#x", s, q, q[i])
		}
	}
	got, rest, err := readString(q)
	if err != nil || rest != "" || got != s {
		t.Fatalf("Quote(%q) = %s reads back as %q (rest %q, %v)", s, q, got, rest, err)
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a", "\x00", "\\x41;", "😀00", "\r\n", "\"", "é\u2028\U0010ffff", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(checkQuote)
}

func FuzzSymbol(f *testing.F) {
	for _, s := range []string{"", "guix", "a b", "}#", "\\", "é", "1", "-", "\x00;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sym, err := Symbol(s)
		if !utf8.ValidString(s) {
			if err == nil {
				t.Fatalf("Symbol(%q) accepted invalid UTF-8", s)
			}
			return
		}
		if got, err := readSymbol(sym); err != nil || got != s {
			t.Fatalf("Symbol(%q) = %s reads back as %q, %v", s, sym, got, err)
		}
	})
}

// randomString draws from the characters that matter to Scheme's reader: controls, the escape
// characters, ASCII, the BMP (not surrogates) and the astral planes.
func randomString(r *rand.Rand) string {
	n := r.IntN(24)
	var b strings.Builder
	for range n {
		switch r.IntN(8) {
		case 0:
			b.WriteRune(rune(r.IntN(0x20)))
		case 1:
			b.WriteByte(`\";#|(){}x0U `[r.IntN(13)])
		case 2, 3:
			b.WriteRune(rune(0x20 + r.IntN(0x60)))
		case 4:
			b.WriteRune(rune(0x7f + r.IntN(0x80)))
		case 5:
			c := rune(0x100 + r.IntN(0xfeff))
			if c >= 0xd800 && c <= 0xdfff {
				c = 0xfffd
			}
			b.WriteRune(c)
		case 6:
			b.WriteRune(rune(0x10000 + r.IntN(0x100000)))
		default:
			b.WriteString([]string{"\x41;", "\\x41;", "\\U0001f600", "\r\n", "\u2028"}[r.IntN(5)])
		}
	}
	return b.String()
}

func TestQuoteRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		checkQuote(t, randomString(r))
	}
}

// guile returns the guile binary, or skips (fails under CHAOS_REQUIRE_ALL=1): scripts/deps.sh
// installs guile-3.0.
func guile(t testing.TB) string {
	t.Helper()
	return testenv.RequireTool(t, "guile-3.0", "guile")
}

// runGuile runs a script under LANG=C (so that nothing depends on the locale) and returns stdout.
func runGuile(t testing.TB, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(guile(t), append([]string{"--no-auto-compile", "-s"}, args...)...)
	cmd.Env = append(os.Environ(), "LANG=C", "LC_ALL=C", "GUILE_AUTO_COMPILE=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("guile %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

// The real reader: thousands of quoted strings and symbols in one file, read by Guile 3.0 with
// `read`, printed back as code points and compared with the inputs.
func TestQuoteGuileRoundTrip(t *testing.T) {
	guile(t)
	r := rand.New(rand.NewPCG(3, 4))
	var strs []string
	for range 4000 {
		strs = append(strs, randomString(r))
	}
	strs = append(strs, "", "\x00", "\x00;", "\x7f", "😀00", "\U0010ffff", "a\\", "\"", "#|", "\r")
	var data bytes.Buffer
	data.WriteString("(\n")
	for _, s := range strs {
		q, err := Quote(s)
		if err != nil {
			t.Fatal(err)
		}
		data.WriteString(q + "\n")
	}
	data.WriteString(")\n(\n")
	for _, s := range strs {
		sym, err := Symbol(s)
		if err != nil {
			t.Fatal(err)
		}
		data.WriteString(sym + "\n")
	}
	data.WriteString(")\n")
	dir := t.TempDir()
	dataFile := filepath.Join(dir, "data.scm")
	script := filepath.Join(dir, "print.scm")
	os.WriteFile(dataFile, data.Bytes(), 0o644)
	os.WriteFile(script, []byte(`
(define (codes s) (string-join (map (lambda (c) (number->string (char->integer c) 16)) (string->list s)) " "))
(call-with-input-file (cadr (command-line))
  (lambda (port)
    (set-port-encoding! port "UTF-8")
    (let* ((strs (read port)) (syms (read port)))
      (for-each (lambda (s) (display (codes s)) (newline)) strs)
      (for-each (lambda (s) (display (codes (symbol->string s))) (newline)) syms))))
`), 0o644)
	lines := strings.Split(strings.TrimSuffix(string(runGuile(t, script, dataFile)), "\n"), "\n")
	if len(lines) != 2*len(strs) {
		t.Fatalf("guile printed %d lines for %d strings and symbols", len(lines), 2*len(strs))
	}
	for i, line := range lines {
		s := strs[i%len(strs)]
		var want []string
		for _, c := range s {
			want = append(want, strconv.FormatInt(int64(c), 16))
		}
		if line != strings.Join(want, " ") {
			kind := "string"
			if i >= len(strs) {
				kind = "symbol"
			}
			t.Errorf("%s %q: guile read code points [%s], want [%s]", kind, s, line, strings.Join(want, " "))
		}
	}
	t.Logf("%d strings and %d symbols read back byte-exact by guile", len(strs), len(strs))
}

func TestHexOnly(t *testing.T) {
	for s, want := range map[string]bool{
		"":                       false,
		"0123456789abcdef":       true,
		strings.Repeat("a", 128): true,
		strings.Repeat("a", 129): false,
		"ABCDEF":                 false,
		"12g4":                   false,
		"ab cd":                  false,
	} {
		if got := hexOnly(s); got != want {
			t.Errorf("hexOnly(%q) = %v, want %v", s, got, want)
		}
	}
}
