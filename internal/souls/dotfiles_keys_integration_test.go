package souls_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestDotfilesBranchPullOpenPrune is the rest of the dotfiles keys through the real chaos binary
// on a real Debian root, against git daemon: `branch` (the clone is of that branch), `open` links
// (the directory first, each child once the clone exists), `pull` (a commit pushed to the branch
// is fast-forwarded; a failing apply resets the clone to the commit it was on), and full state (a
// link dropped from the Ch-obolo is removed and what was in its way put back).
func TestDotfilesBranchPullOpenPrune(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	installSoul(t, filepath.Join(testenv.RepoRoot(t), "examples/souls/dotfiles"), "./examples/souls/dotfiles", "dotfiles")
	url, work := gitServer(t, map[string]string{"bashrc": "# main\n"})
	testenv.Git(t, work, "checkout", "-q", "-b", "laptop")
	writeFile(t, work, "bashrc", "# laptop\n")
	writeFile(t, work, "bin/a", "a\n")
	writeFile(t, work, "bin/b", "b\n")
	testenv.Git(t, work, "add", ".")
	testenv.Git(t, work, "commit", "-q", "-m", "laptop")
	testenv.Git(t, work, "push", "-q", "origin", "laptop")

	root := testenv.DebianRootWith(t, "git")
	testenv.Chroot(t, root, "useradd", "-m", "-s", "/bin/bash", "alice")
	skel := testenv.ReadFile(t, root, "/home/alice/.bashrc")
	target := "@chroot" + root
	clone := "/home/alice/.dotfiles/chaos/dots"
	asAlice := func(argv ...string) string {
		return strings.TrimSpace(testenv.Chroot(t, root, append([]string{"runuser", "-u", "alice", "--"}, argv...)...))
	}
	apply := func(file string, args ...string) (string, int) {
		return chaosRun(t, append([]string{"apply", "-c", file, "--target", target}, args...)...)
	}

	dir := t.TempDir()
	entry := "dotfiles:\n  - user: alice\n    url: " + url + "dots.git\n    branch: laptop\n    pull: true\n    links:\n"
	bashrcLink := "      - from: bashrc\n        to: .bashrc\n"
	binLink := "      - from: bin\n        to: .local/bin\n        open: true\n"
	full := writeFile(t, dir, "full.yml", entry+bashrcLink+binLink)

	// 1: the clone of branch laptop, .bashrc linked, .local/bin made; its children wait for the clone
	out, code := apply(full, "-y")
	if code != 0 || !strings.Contains(out, "the children of bin are linked on the next apply") {
		t.Fatalf("first apply (exit %d):\n%s", code, out)
	}
	if got := asAlice("git", "-C", clone, "rev-parse", "--abbrev-ref", "HEAD"); got != "laptop" {
		t.Fatalf("the clone is on %q, want branch laptop", got)
	}
	assertLink(t, root, "/home/alice/.bashrc", clone+"/bashrc")
	if got := testenv.Chroot(t, root, "cat", "/home/alice/.bashrc"); got != "# laptop\n" {
		t.Fatalf(".bashrc reads %q, want the laptop branch's", got)
	}
	if owner := strings.TrimSpace(testenv.Chroot(t, root, "stat", "-c", "%U", "/home/alice/.local/bin")); owner != "alice" {
		t.Fatalf(".local/bin belongs to %q, want alice", owner)
	}

	// 2: each child of bin linked on its own
	if out, code := apply(full, "-y"); code != 0 || !strings.Contains(out, "/home/alice/.local/bin/a") {
		t.Fatalf("second apply (exit %d):\n%s", code, out)
	}
	assertLink(t, root, "/home/alice/.local/bin/a", clone+"/bin/a")
	assertLink(t, root, "/home/alice/.local/bin/b", clone+"/bin/b")
	if out, code := apply(full, "--dry"); code != 0 {
		t.Fatalf("rerun after the open links is not empty (exit %d):\n%s", code, out)
	}

	// a commit pushed to laptop: the dry run plans the pull
	before := asAlice("git", "-C", clone, "rev-parse", "HEAD")
	writeFile(t, work, "bin/c", "c\n")
	testenv.Git(t, work, "add", ".")
	testenv.Git(t, work, "commit", "-q", "-m", "c")
	testenv.Git(t, work, "push", "-q", "origin", "laptop")
	if out, code := apply(full, "--dry"); code != 2 || !strings.Contains(out, "~ pull "+clone) {
		t.Fatalf("--dry after a push (exit %d) does not plan the pull:\n%s", code, out)
	}
	// a failure after the pull (a link under the file .profile) resets the clone to where it was
	broken := writeFile(t, dir, "broken.yml", entry+bashrcLink+binLink+"      - from: bashrc\n        to: .profile/bashrc\n")
	if out, code := apply(broken, "-y"); code == 0 || !strings.Contains(out, "/home/alice/.profile") || !strings.Contains(out, "rolled back") {
		t.Fatalf("apply with an unwritable link (exit %d):\n%s", code, out)
	}
	if got := asAlice("git", "-C", clone, "rev-parse", "HEAD"); got != before {
		t.Fatalf("after the failed apply the clone is at %s, want %s (the pull undone)", got, before)
	}
	// the pull, then the new child on the next apply, then nothing
	if out, code := apply(full, "-y"); code != 0 {
		t.Fatalf("apply with the pull (exit %d):\n%s", code, out)
	}
	if got := asAlice("git", "-C", clone, "rev-parse", "HEAD"); got == before {
		t.Fatal("the clone was not fast-forwarded")
	}
	if out, code := apply(full, "-y"); code != 0 || !strings.Contains(out, "/home/alice/.local/bin/c") {
		t.Fatalf("apply after the pull (exit %d) does not link bin/c:\n%s", code, out)
	}
	assertLink(t, root, "/home/alice/.local/bin/c", clone+"/bin/c")
	if out, code := apply(full, "--dry"); code != 0 {
		t.Fatalf("rerun after the pull is not empty (exit %d):\n%s", code, out)
	}

	// full state: both links dropped; the links go, the skeleton's .bashrc comes back, the clone stays
	none := writeFile(t, dir, "none.yml", strings.TrimSuffix(entry, "    links:\n")+"\n")
	out, code = apply(none, "--dry")
	for _, want := range []string{"- link /home/alice/.bashrc", "backup put back", "- link /home/alice/.local/bin/a"} {
		if code != 2 || !strings.Contains(out, want) {
			t.Fatalf("--dry of the dropped links (exit %d) lacks %q:\n%s", code, want, out)
		}
	}
	if out, code := apply(none, "-y"); code != 0 {
		t.Fatalf("apply of the dropped links (exit %d):\n%s", code, out)
	}
	if fi, err := os.Lstat(filepath.Join(root, "home/alice/.bashrc")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf(".bashrc is not a file again: %v %v", fi, err)
	}
	if got := testenv.ReadFile(t, root, "/home/alice/.bashrc"); got != skel {
		t.Fatalf(".bashrc holds %q, want the skeleton's", got)
	}
	for _, p := range []string{"/home/alice/.bashrc.bak_chaos", "/home/alice/.local/bin/a", "/home/alice/.local/bin/b", "/home/alice/.local/bin/c"} {
		if testenv.Exists(t, root, p) {
			t.Errorf("%s is still there after its link was dropped", p)
		}
	}
	if !testenv.Exists(t, root, clone+"/.git") {
		t.Error("the prune removed the clone")
	}
	if out, code := apply(none, "--dry"); code != 0 {
		t.Fatalf("rerun after the prune is not empty (exit %d):\n%s", code, out)
	}
}
