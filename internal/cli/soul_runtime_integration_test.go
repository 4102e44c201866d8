package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestSoulConnector: the machines example (a connector Soul in sh, installed by copying its
// directory) reaches a throwaway Debian root as @machines/NAME by chroot(8), through the chaos
// binary: dry run (nothing written), apply, no-change rerun, a second apply and rollback to the
// first, generations, --target completion; check chobolo accepts it as a fleet host and places a connector no Soul
// provides; a name the Soul refuses applies nothing, with the Soul's message.
func TestSoulConnector(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "coreutils", "chroot")
	root := testenv.DebianRoot(t)
	souls := filepath.Join(t.TempDir(), "souls")
	os.MkdirAll(souls, 0o755)
	if out, err := exec.Command("cp", "-r", filepath.Join(exampleSouls(t), "machines"), souls).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(souls, "machines", "base"), []byte(filepath.Dir(root)+"\n"), 0o644)
	dir := t.TempDir()
	env := []string{"CHAOS_CONFIG_DIR=" + dir, "CHAOS_LIMANI=" + filepath.Join(dir, "limani.db"), "HOME=" + dir,
		"CHAOS_SOUL_PATH=" + souls, "NO_COLOR=1"}
	target := "@machines/" + filepath.Base(root)
	write := func(text string) string {
		p := filepath.Join(t.TempDir(), "machine.yml")
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	first := write("files:\n  - path: /etc/motd\n    content: \"first\\n\"\n")
	second := write("hostname: chrooted\nfiles:\n  - path: /etc/motd\n    content: \"second\\n\"\n")
	motd := func() string { return testenv.ReadFile(t, root, "/etc/motd") }
	before := motd()

	if code, out := chaosExec(t, env, "apply", "-c", first, "--target", target, "--dry"); code != 2 || !strings.Contains(out, "/etc/motd") || motd() != before {
		t.Fatalf("--dry: exit %d, motd %q\n%s", code, motd(), out)
	}
	if code, out := chaosExec(t, env, "apply", "-c", first, "--target", target, "-y"); code != 0 || motd() != "first\n" {
		t.Fatalf("apply: exit %d, motd %q\n%s", code, motd(), out)
	}
	if code, out := chaosExec(t, env, "apply", "-c", first, "--target", target, "--dry"); code != 0 {
		t.Fatalf("no-change rerun: exit %d\n%s", code, out)
	}
	if code, out := chaosExec(t, env, "apply", "-c", second, "--target", target, "-y"); code != 0 || motd() != "second\n" ||
		testenv.ReadFile(t, root, "/etc/hostname") != "chrooted\n" {
		t.Fatalf("second apply: exit %d\n%s", code, out)
	}
	if code, out := chaosExec(t, env, "rollback", "--target", target, "-y"); code != 0 || motd() != "first\n" ||
		testenv.ReadFile(t, root, "/etc/hostname") == "chrooted\n" {
		t.Fatalf("rollback: exit %d, motd %q\n%s", code, motd(), out)
	}
	if code, out := chaosExec(t, env, "generations", "--target", target); code != 0 || !strings.Contains(out, "rollback") {
		t.Fatalf("generations: exit %d\n%s", code, out)
	}

	if code, out := chaosExec(t, env, "__complete", "apply", "--target", "@"); code != 0 || !strings.Contains(out, "@machines/\t@machines/NAME: chroot") {
		t.Fatalf("completion: exit %d\n%s", code, out)
	}
	fleet := write("fleet:\n  hosts:\n    \"" + target + "\": {}\n    \"@nosuch/x\": {}\n")
	if code, out := chaosExec(t, env, "check", "chobolo", "-c", fleet); code != 1 ||
		!strings.Contains(out, fleet+`:4:5: error: fleet.hosts: host target "@nosuch/x": unknown connector`) ||
		!strings.Contains(out, `no installed Soul provides the connector "nosuch" (installed: machines)`) || strings.Contains(out, ":3:5:") {
		t.Fatalf("check chobolo: exit %d\n%s", code, out)
	}
	if code, out := chaosExec(t, env, "apply", "-c", first, "--target", "@machines/..", "-y"); code == 0 ||
		!strings.Contains(out, "NAME must be a plain name") {
		t.Fatalf("a name the Soul refuses: exit %d\n%s", code, out)
	}
}

// TestOneSoulProcessPerRunCLI: through the chaos binary, one run that uses a Soul's boat (the
// fleet's only host), its connector (to reach that host), its role and its logbook sink starts
// the Soul once (it writes its pid at each start).
func TestOneSoulProcessPerRunCLI(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	path, sd := testenv.AllKindsSoul(t, filepath.Dir(root))
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.yml"), []byte("limanis: [tape]\n"), 0o600)
	env := []string{"CHAOS_CONFIG_DIR=" + dir, "CHAOS_LIMANI=off", "HOME=" + dir, "CHAOS_SOUL_PATH=" + path, "NO_COLOR=1"}
	file := filepath.Join(t.TempDir(), "machine.yml")
	os.WriteFile(file, []byte("stamp: {text: one process}\nfleet:\n  boats:\n    - soul: here\n      config: {names: ["+filepath.Base(root)+"]}\n"), 0o644)
	code, out := chaosExec(t, env, "apply", "-f", "-c", file, "-y")
	if code != 0 || testenv.ReadFile(t, root, "/etc/stamp") != "one process\n" {
		t.Fatalf("apply -f: exit %d\n%s", code, out)
	}
	if n, pids := testenv.SoulStarts(t, sd); n != 1 {
		t.Fatalf("one run started the Soul %d times (pids %s); want 1\n%s", n, pids, out)
	}
	if tape := testenv.ReadFile(t, sd, "tape"); !strings.HasPrefix(tape, "run.start\n") || !strings.HasSuffix(tape, "run.done\n") {
		t.Errorf("the sink got:\n%s", tape)
	}
}

// TestPythonSoulLikeABuiltin is issue 18's "done when" for a Soul in another language than Go: the
// allkinds Soul (python3, installed by copying its directory) shows up in check roles, its keys are
// checked by its schema at FILE:LINE:COL without starting it, and on a throwaway Debian root it
// plans (exit 2, nothing written), applies, reruns empty, is undone when a later op of its plan
// fails, rolls back, and every run is in the logbook.
func TestPythonSoulLikeABuiltin(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	path, sd := testenv.AllKindsSoul(t, filepath.Dir(root))
	dir := t.TempDir()
	env := []string{"CHAOS_CONFIG_DIR=" + dir, "CHAOS_LIMANI=" + filepath.Join(dir, "limani.db"), "HOME=" + dir, "CHAOS_SOUL_PATH=" + path, "NO_COLOR=1"}
	write := func(text string) string {
		p := filepath.Join(t.TempDir(), "machine.yml")
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	target := "@chroot" + root
	stamp := func() string { return testenv.ReadFile(t, root, "/etc/stamp") }

	if code, out := chaosExec(t, env, "check", "roles"); code != 0 || !strings.Contains(out, "writes stamp.text to /etc/stamp (Soul allkinds)") {
		t.Fatalf("check roles: exit %d\n%s", code, out)
	}
	bad := write("hostname: box\nstamp:\n  text: 3\n")
	if code, out := chaosExec(t, env, "check", "chobolo", "-c", bad); code != 1 || !strings.Contains(out, bad+":3:9: error: stamp.text: got number, want string (schema of the Soul allkinds)") {
		t.Fatalf("check chobolo: exit %d\n%s", code, out)
	}
	if n, _ := testenv.SoulStarts(t, sd); n != 0 {
		t.Fatalf("checking keys started the Soul %d times", n)
	}
	first, second, failing := write("stamp: {text: first}\n"), write("stamp: {text: second}\n"), write("stamp: {text: fail midway}\n")
	// the change is placed at the Ch-obolo value it comes from
	if code, out := chaosExec(t, env, "apply", "-c", first, "--target", target, "--dry", "--json"); code != 2 ||
		!strings.Contains(out, `"pos":{"file":"`+first+`","line":1,"col":15}`) || testenv.Exists(t, root, "/etc/stamp") {
		t.Fatalf("--dry: exit %d\n%s", code, out)
	}
	if code, out := chaosExec(t, env, "apply", "-c", first, "--target", target, "-y"); code != 0 || stamp() != "first\n" {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	if code, out := chaosExec(t, env, "apply", "-c", first, "--target", target, "--dry"); code != 0 {
		t.Fatalf("rerun: exit %d\n%s", code, out)
	}
	if code, out := chaosExec(t, env, "apply", "-c", failing, "--target", target, "-y"); code == 0 || stamp() != "first\n" || !strings.Contains(out, "undo") {
		t.Fatalf("a failing op after the write: exit %d, stamp %q\n%s", code, stamp(), out)
	}
	if code, out := chaosExec(t, env, "apply", "-c", second, "--target", target, "-y"); code != 0 || stamp() != "second\n" {
		t.Fatalf("second apply: exit %d\n%s", code, out)
	}
	if code, out := chaosExec(t, env, "rollback", "--target", target, "-y"); code != 0 || stamp() != "first\n" {
		t.Fatalf("rollback: exit %d, stamp %q\n%s", code, stamp(), out)
	}
	code, out := chaosExec(t, env, "logbook", "list")
	if code != 0 || strings.Count(out, "apply") < 3 || !strings.Contains(out, "rollback") || !strings.Contains(out, "failed") {
		t.Fatalf("logbook list: exit %d\n%s", code, out)
	}
	if code, out := chaosExec(t, env, "logbook", "show", "last"); code != 0 || !strings.Contains(out, "/etc/stamp") {
		t.Fatalf("logbook show last: exit %d\n%s", code, out)
	}
}
