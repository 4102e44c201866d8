package textdiff

import (
	"slices"
	"strings"
	"testing"
)

func TestLines(t *testing.T) {
	for _, tc := range []struct {
		a, b, want string // lines separated by ","
	}{
		{"", "", ""},
		{"a", "a", " a"},
		{"", "a,b", "+a,+b"},
		{"a,b", "", "-a,-b"},
		{"a,b,c", "a,c,d", " a,-b, c,+d"},
		{"a,b", "b,a", "-a, b,+a"},
		{"x", "y", "-x,+y"}, // a replacement: the removal first
		{"a,x,b,x", "a,b,y", " a,-x, b,-x,+y"},
	} {
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, ",")
		}
		if got := strings.Join(Lines(split(tc.a), split(tc.b)), ","); got != tc.want {
			t.Errorf("Lines(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestLinesTooLarge: past the table's bound the diff is every old line removed, then every new one
// added, so a huge file costs no quadratic memory.
func TestLinesTooLarge(t *testing.T) {
	a := make([]string, 2001)
	b := make([]string, 2000)
	for i := range a {
		a[i] = "same"
	}
	for i := range b {
		b[i] = "same"
	}
	got := Lines(a, b)
	if len(got) != len(a)+len(b) || !strings.HasPrefix(got[0], "-") || !strings.HasPrefix(got[len(got)-1], "+") {
		t.Fatalf("%d lines, first %q", len(got), got[0])
	}
	if got := Lines(a[:2000], b[:1000]); slices.ContainsFunc(got, func(l string) bool { return l[0] == '+' }) || len(got) != 2000 {
		t.Fatalf("under the bound the diff is exact: %d lines", len(got))
	}
}
