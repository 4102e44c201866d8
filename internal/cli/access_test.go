package cli_test

import (
	"strings"
	"testing"
)

// A negative --confirm-timeout is refused before any target is contacted (the chroot does not
// exist: reaching it would be another error).
func TestConfirmTimeoutRefused(t *testing.T) {
	isolate(t)
	file := writeChobolo(t, "files:\n  - {path: /etc/motd, content: \"x\\n\"}\n")
	for _, args := range [][]string{
		{"apply", "-c", file, "--target", "@chroot/nonexistent-root", "--confirm-timeout", "-1s"},
		{"rollback", "--target", "@chroot/nonexistent-root", "--confirm-timeout", "-5s", "-y"},
	} {
		r := run(t, "", args...)
		if r.code != 1 || !strings.Contains(r.stderr, "--confirm-timeout must be positive") {
			t.Errorf("%q: %s", args, r)
		}
	}
}
