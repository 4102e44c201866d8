package souls_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestDotfilesSoul is the dotfiles Soul, installed by copying its directory, through the real
// chaos binary on a real Debian root, against a real repository served by git daemon: listed by
// `check roles`, keys validated with positions, planned, applied, a no-change rerun, a failure
// midway undone op by op, `chaos rollback`, and the logbook.
func TestDotfilesSoul(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	installSoul(t, filepath.Join(testenv.RepoRoot(t), "examples/souls/dotfiles"), "./examples/souls/dotfiles", "dotfiles")
	url, _ := gitServer(t, map[string]string{"bashrc": "# alice's bashrc\n", "nvim/init.vim": "set number\n"})
	root := testenv.DebianRootWith(t, "git")
	testenv.Chroot(t, root, "useradd", "-m", "-s", "/bin/bash", "alice")
	skel := testenv.ReadFile(t, root, "/home/alice/.bashrc")
	target := "@chroot" + root
	dir := t.TempDir()

	if out, code := chaosRun(t, "check", "roles"); code != 0 || !strings.Contains(out, "dotfiles") || !strings.Contains(out, "(Soul dotfiles)") {
		t.Fatalf("check roles (exit %d) does not list the Soul's role:\n%s", code, out)
	}

	// keys validated by the Soul's schema, at the value's position, without starting it
	bad := writeFile(t, dir, "bad.yml", "dotfiles:\n  - user: 7\n    url: "+url+"dots.git\n    colour: blue\n")
	out, code := chaosRun(t, "check", "chobolo", "-c", bad)
	if code != 1 || !strings.Contains(out, bad+":2:11: error: dotfiles[0].user: got number, want string") || !strings.Contains(out, bad+":2:5: error: dotfiles[0]: ") ||
		!strings.Contains(out, "colour") {
		t.Fatalf("check chobolo of a wrong type (exit %d):\n%s", code, out)
	}
	if out, code := chaosRun(t, "apply", "-c", bad, "--target", target, "-y"); code != 1 || !strings.Contains(out, bad+":2:11:") {
		t.Fatalf("apply of a wrong type (exit %d):\n%s", code, out)
	}

	// generation 1: no dotfiles yet (what rollback goes back to)
	gen1 := writeFile(t, dir, "gen1.yml", "hostname: box\ndotfiles: []\n")
	if out, code := chaosRun(t, "apply", "-c", gen1, "--target", target, "-y"); code != 0 {
		t.Fatalf("apply gen1 (exit %d):\n%s", code, out)
	}

	good := writeFile(t, dir, "good.yml", "hostname: box\ndotfiles:\n  - user: alice\n    url: "+url+"dots.git\n    links:\n"+
		"      - from: bashrc\n        to: .bashrc\n      - from: nvim\n        to: .config/nvim\n")
	out, code = chaosRun(t, "apply", "-c", good, "--target", target, "--dry")
	clone := "/home/alice/.dotfiles/chaos/dots"
	for _, want := range []string{"+ clone " + clone, "runuser -u alice -- git clone", "~ link /home/alice/.bashrc", "+ link /home/alice/.config/nvim",
		"mv -T -- /home/alice/.bashrc /home/alice/.bashrc.bak_chaos"} {
		if code != 2 || !strings.Contains(out, want) {
			t.Fatalf("--dry (exit %d) lacks %q:\n%s", code, want, out)
		}
	}
	// each change at the Ch-obolo value it comes from
	out, _ = chaosRun(t, "apply", "-c", good, "--target", target, "--dry", "--json")
	for _, want := range []string{`"pos":{"file":"` + good + `","line":4,"col":10}`, `"pos":{"file":"` + good + `","line":8,"col":9}`} {
		if !strings.Contains(out, want) {
			t.Fatalf("--dry --json lacks %s:\n%s", want, out)
		}
	}
	if testenv.Exists(t, root, clone) {
		t.Fatal("--dry cloned")
	}
	if out, code := chaosRun(t, "apply", "-c", good, "--target", target, "-y"); code != 0 {
		t.Fatalf("apply (exit %d):\n%s", code, out)
	}
	assertLink(t, root, "/home/alice/.bashrc", clone+"/bashrc")
	assertLink(t, root, "/home/alice/.config/nvim", clone+"/nvim")
	if got := testenv.ReadFile(t, root, "/home/alice/.bashrc.bak_chaos"); got != skel {
		t.Fatalf("the backup holds %q, want the skeleton's .bashrc", got)
	}
	if owner := testenv.Chroot(t, root, "stat", "-c", "%U", clone+"/.git"); strings.TrimSpace(owner) != "alice" {
		t.Fatalf("the clone belongs to %q, want alice (cloned as the user)", owner)
	}
	if out, code := chaosRun(t, "logbook", "show", "last"); code != 0 || !strings.Contains(out, "link /home/alice/.config/nvim") {
		t.Fatalf("logbook show last (exit %d) lacks the Soul's changes:\n%s", code, out)
	}
	// the rerun is empty (tagged by the Soul's alias: home -> dotfiles)
	if out, code := chaosRun(t, "apply", "home", "-c", good, "--target", target, "--dry"); code != 0 {
		t.Fatalf("the rerun is not empty (exit %d):\n%s", code, out)
	}

	// A failure midway: .profile is a file, so a link under it cannot be made; the link made before
	// it in the same apply is undone.
	broken := writeFile(t, dir, "broken.yml", strings.TrimSuffix(readText(t, good), "\n")+
		"\n      - from: nvim\n        to: .vim\n      - from: bashrc\n        to: .profile/bashrc\n")
	profile := testenv.ReadFile(t, root, "/home/alice/.profile")
	out, code = chaosRun(t, "apply", "-c", broken, "--target", target, "-y")
	if code == 0 || !strings.Contains(out, "/home/alice/.profile") {
		t.Fatalf("apply with an unwritable link (exit %d):\n%s", code, out)
	}
	if testenv.Exists(t, root, "/home/alice/.vim") {
		t.Fatalf("the failed apply left /home/alice/.vim behind:\n%s", out)
	}
	if testenv.ReadFile(t, root, "/home/alice/.profile") != profile {
		t.Fatal("the failed apply changed .profile")
	}
	assertLink(t, root, "/home/alice/.bashrc", clone+"/bashrc")

	// rollback to generation 1: the links go, the backup comes back; the clone stays (your work)
	out, code = chaosRun(t, "rollback", "--target", target, "-y")
	if code != 0 {
		t.Fatalf("rollback (exit %d):\n%s", code, out)
	}
	if fi, err := os.Lstat(filepath.Join(root, "home/alice/.bashrc")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("after rollback .bashrc is not a file again: %v %v\n%s", fi, err, out)
	}
	if got := testenv.ReadFile(t, root, "/home/alice/.bashrc"); got != skel {
		t.Fatalf("after rollback .bashrc holds %q", got)
	}
	if testenv.Exists(t, root, "/home/alice/.config/nvim") || testenv.Exists(t, root, "/home/alice/.bashrc.bak_chaos") {
		t.Fatal("after rollback a link or the backup is still there")
	}
	if out, code := chaosRun(t, "logbook", "list"); code != 0 || strings.Count(out, "rollback") < 1 {
		t.Fatalf("logbook list (exit %d) lacks the rollback:\n%s", code, out)
	}
}

func assertLink(t *testing.T, root, p, want string) {
	t.Helper()
	got, err := os.Readlink(filepath.Join(root, p))
	if err != nil || got != want {
		t.Fatalf("%s -> %q (%v), want -> %s", p, got, err, want)
	}
}

func readText(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
