package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/printable"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// hostileText is what a compromised host puts where the operator will read it: a window retitle, an
// erase of the line and a carriage return (to overwrite what was printed), an 8-bit CSI and a
// bidirectional override.
const hostileText = "\x1b]0;owned\x07\x1b[2K\r\u009b31m\u202e"

// TestHostileHostCannotWriteToTheTerminal: text from the target (a file's old content in the diff, a
// command's stderr in the error) reaches the operator escaped, in the plan, the apply's error and
// `logbook show`, on a real Debian root whose files and programs print terminal escape sequences.
func TestHostileHostCannotWriteToTheTerminal(t *testing.T) {
	isolate(t)
	root := testenv.DebianRoot(t)
	testenv.WriteFile(t, root, "/etc/motd", "welcome"+hostileText+"\n")
	evil := filepath.Join(root, "usr/local/bin/evil-check")
	if err := os.WriteFile(evil, []byte("#!/bin/sh\nprintf 'rejected \\033]0;owned\\007\\033[2K\\r' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	yml := writeChobolo(t, `files:
  - path: /etc/motd
    content: "managed\n"
  - path: /etc/evil.conf
    content: "x\n"
    validate: [/usr/local/bin/evil-check, "%s"]
`)
	target := "@chroot" + root

	dry := run(t, "", "apply", "--dry", "--no-color", "-c", yml, "--target", target)
	if dry.code != 2 || !strings.Contains(dry.stdout, `welcome\x1b]0;owned\x07\x1b[2K\r\u009b31m\u202e`) {
		t.Fatalf("the plan must show the old content with its escapes made visible:\n%s", dry)
	}
	applied := run(t, "", "apply", "-y", "-v", "--no-color", "-c", yml, "--target", target)
	if applied.code == 0 || !strings.Contains(applied.stdout+applied.stderr, `rejected \x1b]0;owned`) {
		t.Fatalf("the failed validation must show its stderr, escaped:\n%s", applied)
	}
	logs := run(t, "", "logbook", "show", "--no-color")
	for name, r := range map[string]result{"apply --dry": dry, "apply": applied, "logbook show": logs} {
		for stream, text := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
			if bad := printable.Unsafe(text); bad != "" {
				t.Errorf("%s: %s carries %s from the host:\n%q", name, stream, bad, text)
			}
		}
	}
}
