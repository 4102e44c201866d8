package nixos

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`a\b`, `"a\\b"`},
		{`say "hi"`, `"say \"hi\""`},
		{"${x}", `"\${x}"`},
		{"$${x}", `"\$\${x}"`},
		{"$", `"\$"`},
		{"''${x}", `"''\${x}"`},
		{"a\nb", `"a\nb"`},
		{"a\r\nb", `"a\r\nb"`},
		{"a\tb", `"a\tb"`},
		{"\x01\x7f", "\"\x01\x7f\""}, // raw: Nix has no \x or \u escape ("\u0001" reads as "u0001")
		{"é😀\u2028", "\"é😀\u2028\""},
		{"*/ # x", `"*/ # x"`},
	} {
		got, err := String(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("String(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := String("x\x00y"); err == nil {
		t.Error("String accepted a NUL byte, which Nix would silently truncate")
	}
}

func TestAttr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"git", "git"},
		{"_1password-cli", "_1password-cli"},
		{"a'b-c_d", "a'b-c_d"},
		{"true", "true"}, // ordinary identifiers
		{"null", "null"},
		{"if", `"if"`}, // keywords
		{"or", `"or"`},
		{"inherit", `"inherit"`},
		{"", `""`},
		{"1abc", `"1abc"`},
		{"gtk+3", `"gtk+3"`},
		{"a.b", `"a.b"`},
		{"b\n", `"b\n"`}, // a full match: "$" must not accept a trailing newline
		{"${x}", `"\${x}"`},
		{"user_secrets/dex/password", `"user_secrets/dex/password"`},
	} {
		got, err := Attr(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Attr(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if got, _ := AttrPath("pkgs", "python3Packages", "pip"); got != "pkgs.python3Packages.pip" {
		t.Errorf("AttrPath: %s", got)
	}
	if got, _ := AttrPath("config", "sops", "secrets", "a/b", "path"); got != `config.sops.secrets."a/b".path` {
		t.Errorf("AttrPath: %s", got)
	}
}

// readString is a reference reader for the Nix double-quoted strings String writes: it returns the
// value and the rest of the input. It is stricter than Nix: an unescaped $ or a raw CR (which Nix
// reads as LF) is an error, since String never writes either.
func readString(s string) (string, string, error) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", errors.New("no opening quote")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 == len(s) {
				return "", "", errors.New("dangling backslash")
			}
			i++
			switch e := s[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(e)
			}
		case '$':
			return "", "", errors.New("unescaped $ (interpolation risk)")
		case '\r', 0:
			return "", "", errors.New("raw CR or NUL")
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("unterminated string")
}

// readAttr reads one attribute name written by Attr.
func readAttr(s string) (string, error) {
	if strings.HasPrefix(s, `"`) {
		v, rest, err := readString(s)
		if err == nil && rest != "" {
			err = errors.New("trailing text after the name")
		}
		return v, err
	}
	if !bareID.MatchString(s) || keywords[s] {
		return "", errors.New("not a bare identifier")
	}
	return s, nil
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"", "${x}", "''${", "\\\"$", "a\r\nb", "\x00", "é\x01", "$$${"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := String(s)
		if strings.IndexByte(s, 0) >= 0 {
			if err == nil {
				t.Fatalf("NUL accepted: %q", s)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(q, "\n\r") {
			t.Fatalf("String(%q) spans lines: %s", s, q)
		}
		v, rest, err := readString(q)
		if err != nil || rest != "" || v != s {
			t.Fatalf("String(%q) = %s reads back as %q (rest %q, %v)", s, q, v, rest, err)
		}
	})
}

func FuzzAttr(f *testing.F) {
	for _, s := range []string{"", "if", "or", "a-b", "1a", "b\n", "a.b", "${x}", "true"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Attr(s)
		if strings.IndexByte(s, 0) >= 0 {
			if err == nil {
				t.Fatalf("NUL accepted: %q", s)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		v, err := readAttr(a)
		if err != nil || v != s {
			t.Fatalf("Attr(%q) = %s reads back as %q (%v)", s, a, v, err)
		}
	})
}

// nixInstantiate runs nix-instantiate against the dummy store (no daemon, no /nix writes, works
// as any user), or skips the test when nix is not installed (scripts/deps.sh installs nix-bin).
func nixInstantiate(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	bin := testenv.RequireTool(t, "nix-bin", "nix-instantiate")
	var stderr bytes.Buffer
	cmd := exec.Command(bin, append([]string{"--store", "dummy://"}, args...)...)
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "NIX_PATH=", "HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		return out, errors.New(err.Error() + ": " + stderr.String())
	}
	return out, nil
}

// randomString mixes the characters that break naive escapers with ordinary text.
func randomString(r *rand.Rand) string {
	pieces := []string{"\\", `"`, "$", "{", "}", "${", "$${", "''", "'", "\n", "\r", "\t", "\r\n", "\x01", "\x1b", "\x7f",
		"#", "/*", "*/", ";", "a", "Z", "0", " ", "é", "😀", "\u2028", "\\n", "\\u0001", "or", "if"}
	var b strings.Builder
	for n := r.IntN(12); n > 0; n-- {
		if r.IntN(4) == 0 {
			b.WriteRune(rune(1 + r.IntN(0x2FF)))
		} else {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
	}
	return b.String()
}

// TestRoundTripNix puts a few thousand escaped strings and attribute names into one file and checks
// that the real Nix evaluator reads back exactly the inputs.
func TestRoundTripNix(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var strs, names []string
	seen := map[string]bool{}
	for len(strs) < 3000 {
		s := randomString(r)
		if !utf8.ValidString(s) {
			continue
		}
		strs = append(strs, s)
		if !seen[s] {
			seen[s] = true
			names = append(names, s)
		}
	}
	names = append(names, "if", "or", "in", "true", "null", "", "1x", "a.b", "b\n")
	var src strings.Builder
	src.WriteString("{\n  strings = [\n")
	for _, s := range strs {
		q, err := String(s)
		if err != nil {
			t.Fatal(err)
		}
		src.WriteString("    " + q + "\n")
	}
	src.WriteString("  ];\n  names = map builtins.attrNames [\n")
	for _, n := range names {
		a, err := Attr(n)
		if err != nil {
			t.Fatal(err)
		}
		src.WriteString("    { " + a + " = null; }\n")
	}
	src.WriteString("  ];\n  select = let pkgs = { \"gtk+3\" = 1; python3Packages.pip = 2; \"if\".\"then\" = 3; }; in [ " +
		must(pkgRefString("gtk+3")) + " " + must(pkgRefString("python3Packages.pip")) + " " + must(pkgRefString("if.then")) + " ];\n}\n")
	file := filepath.Join(t.TempDir(), "roundtrip.nix")
	if err := os.WriteFile(file, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := nixInstantiate(t, "--eval", "--strict", "--json", file)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Strings []string   `json:"strings"`
		Names   [][]string `json:"names"`
		Select  []int      `json:"select"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %.200s", err, out)
	}
	if len(got.Strings) != len(strs) || len(got.Names) != len(names) {
		t.Fatalf("got %d strings and %d names, want %d and %d", len(got.Strings), len(got.Names), len(strs), len(names))
	}
	for i := range strs {
		if got.Strings[i] != strs[i] {
			t.Errorf("string %d: wrote %q, Nix read %q", i, strs[i], got.Strings[i])
		}
	}
	for i := range names {
		if len(got.Names[i]) != 1 || got.Names[i][0] != names[i] {
			t.Errorf("name %d: wrote %q, Nix read %q", i, names[i], got.Names[i])
		}
	}
	if len(got.Select) != 3 || got.Select[0] != 1 || got.Select[1] != 2 || got.Select[2] != 3 {
		t.Errorf("pkgs selections read as %v", got.Select)
	}
}

func pkgRefString(attr string) (string, bool) {
	r, err := pkgRef(attr)
	return string(r), err == nil
}
