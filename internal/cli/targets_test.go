package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTargetSpellings: every command that takes a target refuses the spellings that used to become
// @local (and so planned, or applied, changes to the machine chaos runs on), a bare path (which used
// to be an SSH host) and a directory that is not a root (which used to fail with fork/exec /bin/sh),
// each with a clear error, before anything runs.
func TestTargetSpellings(t *testing.T) {
	isolate(t)
	file := writeChobolo(t, "hostname: chaos-target-test\n")
	notRoot := t.TempDir()
	if err := os.MkdirAll(filepath.Join(notRoot, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"@chroot/":          `target "@chroot/": no directory after @chroot/ (an empty variable?); the machine chaos runs on is @local`,
		"@chroot//":         `target "@chroot//": the directory is /, the machine chaos runs on; a chroot must be another directory (say @local to mean this machine)`,
		"@chroot/.":         `target "@chroot/.": the directory is /`,
		"@chroot/..":        `target "@chroot/..": the directory is /`,
		"@localhost":        `target "@localhost": unknown connector (known: @local, @chroot/PATH, @pid/N, @podman/NAME, @docker/NAME, @dockerssh/HOST/NAME, @vagrant/BOX, @terraform/DIR[:OUTPUT], or [user@]host[:port] for SSH)`,
		"/mnt/root":         `target "/mnt/root": a path is not a target (an SSH host has no '/'); did you mean @chroot//mnt/root?`,
		"@chroot" + notRoot: "chroot " + notRoot + ": not a root file system: no /bin/sh (nor /usr/bin/sh) and no /etc/os-release in it",
	}
	// "$UNSET" is what a shell leaves of @chroot/$UNSET: the same as "@chroot/".
	unset := "@chroot/" + os.Getenv("CHAOS_TEST_SURELY_UNSET_VARIABLE")
	cases[unset] = cases["@chroot/"]
	for spec, want := range cases {
		// Only commands that change nothing even where the old parser fell back to @local: run
		// against a regression, `apply -y` or `recover` would change the machine running the test
		// (they share the parser with these).
		for _, args := range [][]string{
			{"apply", "-c", file, "--dry", "--target", spec},
			{"generations", "--target", spec},
			{"rollback", "--dry", "--target", spec},
			{"init", "chobolo", "--from", spec},
		} {
			r := run(t, "", args...)
			if r.code != 1 || !strings.Contains(r.stderr, want) {
				t.Errorf("%q: want exit 1 and %q\n%s", args, want, r)
			}
			if strings.Contains(r.stdout, "@local") || strings.Contains(r.stderr, "fork/exec") {
				t.Errorf("%q: ran anyway\n%s", args, r)
			}
		}
	}
}
