package cli_test

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestPlanReportsEveryHostError: on a real root, a package no repository has, a file owner that
// neither exists nor is declared and a unit nothing ships are three plan errors, each at its
// position, reported together by one `apply --dry` (exit 1, the root left exactly as it was); `apply
// -y` refuses the same plan and runs no op (it only takes the host lock and writes the probe's cache).
func TestPlanReportsEveryHostError(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, tinyPkgs...)
	target := "@chroot" + root
	file := writeChobolo(t, "packages:\n"+
		"  - chaos-tiny-a\n"+
		"  - chaos-tiny-zz\n"+
		"services:\n"+
		"  - name: chaos-nounit\n"+
		"files:\n"+
		"  - {path: /etc/chaos-owned, content: \"x\\n\", owner: ghost}\n")
	want := []string{
		file + ":3:5: error: packages[1]: no package chaos-tiny-zz in the configured repositories",
		file + ":5:11: error: unit chaos-nounit.service does not exist on the target",
		file + ":7:53: error: files[0].owner: user ghost does not exist on the target and is not declared under users",
	}
	before := snapshot(t, root, true)
	for _, args := range [][]string{
		{"apply", "-c", file, "--target", target, "--dry"},
		{"apply", "-c", file, "--target", target, "-y"},
	} {
		r := run(t, "", args...)
		if r.code != 1 {
			t.Fatalf("%v: want exit 1\n%s", args, r)
		}
		for _, w := range want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%v: stderr lacks %q\n%s", args, w, r)
			}
		}
		if strings.Contains(r.stdout, " ok ") || strings.Contains(r.stdout, "applied") {
			t.Errorf("%v: an op ran\n%s", args, r)
		}
		if args[len(args)-1] == "--dry" && !equalSnap(t, before, snapshot(t, root, true)) {
			t.Fatal("apply --dry changed the target (differences above)")
		}
	}
	if _, _, code := testenv.ChrootResult(t, root, "dpkg-query", "-W", "chaos-tiny-a"); code == 0 || testenv.Exists(t, root, "/etc/chaos-owned") {
		t.Error("apply -y ran ops of a refused plan")
	}
}
