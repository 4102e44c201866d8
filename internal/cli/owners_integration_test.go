package cli_test

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestOwnershipConflictOnRoot: without `core:` the core is only known from the probe; the engine then
// refuses two roles on one path right after the probe, before any op: --dry and -y exit 1 with both
// positions and the root is unchanged (not even the path no one else claims is written).
func TestOwnershipConflictOnRoot(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	root := testenv.DebianRoot(t)
	target := "@chroot" + root
	file := writeChobolo(t, "hostname: forge\nfiles:\n"+
		"  - {path: /etc/motd, content: \"chaos\\n\"}\n"+
		"  - {path: /etc/hostname, content: \"other\\n\"}\n")
	hostname, motd := testenv.ReadFile(t, root, "/etc/hostname"), testenv.ReadFile(t, root, "/etc/motd")
	for _, args := range [][]string{
		{"apply", "-c", file, "--target", target, "--dry"},
		{"apply", "-c", file, "--target", target, "-y"},
	} {
		r := run(t, "", args...)
		if r.code != 1 {
			t.Fatalf("%v: want exit 1\n%s", args, r)
		}
		for _, want := range []string{
			file + ":4:12: error: role files and role hostname both manage /etc/hostname",
			"    " + file + ":1:11: role hostname manages /etc/hostname",
			"    " + file + ":4:12: role files manages /etc/hostname",
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%v: stderr lacks %q\n%s", args, want, r)
			}
		}
	}
	if got := testenv.ReadFile(t, root, "/etc/hostname"); got != hostname {
		t.Errorf("/etc/hostname changed: %q", got)
	}
	if got := testenv.ReadFile(t, root, "/etc/motd"); got != motd {
		t.Errorf("/etc/motd changed: %q", got)
	}
	if testenv.Exists(t, root, "/var/lib/chaos/generations") {
		t.Error("a generation was recorded")
	}
}
