package cli_test

import (
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
