package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestXSuggestions: a mistyped role tag or explain topic/subtopic gets "did you mean" (as a mistyped
// Ch-obolo key does), and the role tag is refused before the target is contacted.
func TestXSuggestions(t *testing.T) {
	isolate(t)
	file := writeChobolo(t, "hostname: box\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"apply", "pakages", "-c", file, "--dry", "--target", "@chroot/nonexistent-chaos-root"},
			`unknown role or alias "pakages"; did you mean packages?`},
		{[]string{"explain", "pakages"}, `no explanation for "pakages"; did you mean packages?`},
		{[]string{"explain", "users.securty"}, `topic users has no subtopic "securty"; did you mean security?`},
	} {
		r := run(t, "", tc.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: want exit 1 and %q\n%s", tc.args, tc.want, r)
		}
		if strings.Contains(r.stderr, "nonexistent-chaos-root") {
			t.Errorf("%v: the target was contacted before the tag was refused\n%s", tc.args, r)
		}
	}
	// No suggestion for a name nothing resembles.
	if r := run(t, "", "explain", "zzz"); r.code != 1 || strings.Contains(r.stderr, "did you mean") {
		t.Errorf("explain zzz: want exit 1 without a suggestion\n%s", r)
	}
}

// TestXConfigAliasSuggestions: the aliases of config.yml are names too. A mistyped one gets "did
// you mean"; a role mistyped in an alias's expansion is reported at its place in config.yml. Both
// before the target is contacted.
func TestXConfigAliasSuggestions(t *testing.T) {
	dir := isolate(t)
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte("aliases:\n  workstation: users packages\n  desktop: users   pakages\n  all: workstation desktop\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := writeChobolo(t, "hostname: box\n")
	for _, tc := range []struct {
		tag, want string
	}{
		{"workstaton", `unknown role or alias "workstaton"; did you mean workstation?`},
		{"desktop", cfg + `:3:12: alias "desktop": unknown role or alias "pakages"; did you mean packages?`},
		{"all", cfg + `:3:12: alias "desktop": unknown role or alias "pakages"; did you mean packages?`},
	} {
		r := run(t, "", "apply", tc.tag, "-c", file, "--dry", "--target", "@chroot/nonexistent-chaos-root")
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "nonexistent-chaos-root") {
			t.Errorf("apply %s: want exit 1 and %q, before the target is contacted\n%s", tc.tag, tc.want, r)
		}
	}
}
