package repos

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/packages"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

func updates(hp *engine.HostPlan) int {
	n := 0
	for _, rp := range hp.Roles {
		for _, st := range rp.Steps {
			for _, op := range st.Ops {
				if op.Kind == engine.OpExec && op.Argv[0] == "apt-get" && op.Argv[len(op.Argv)-1] == "update" {
					n++
				}
			}
		}
	}
	return n
}

func ledger(t *testing.T, root string) []string {
	t.Helper()
	if !testenv.Exists(t, root, engine.LedgerPath) {
		return nil
	}
	l, err := engine.ParseLedger([]byte(testenv.ReadFile(t, root, engine.LedgerPath)))
	if err != nil {
		t.Fatal(err)
	}
	return l[LedgerDomain]
}

// armoredKey exports a real public key from the host's Debian keyring, or "" without gpg.
func armoredKey(t *testing.T) string {
	kr := "/usr/share/keyrings/debian-archive-bookworm-stable.gpg"
	out, err := exec.Command("gpg", "--batch", "--no-default-keyring", "--homedir", t.TempDir(), "--keyring", kr,
		"--export", "--armor").Output()
	if err != nil || !strings.Contains(string(out), "BEGIN PGP PUBLIC KEY BLOCK") {
		return ""
	}
	return string(out)
}

// TestIntegration adds, changes and removes a chaos-managed repository on a real Debian root (a flat
// file: repository inside it), with apt-get update only when a file changed, and then installs a
// package from it with the packages role in the same run.
func TestIntegration(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, testenv.DebPkg{Name: "chaos-from-two", Version: "1.0"})
	// A second repository directory for chaos to manage; testenv's own chaos-test.sources (not in the
	// ledger) must be left alone throughout.
	if out, err := exec.Command("cp", "-a", filepath.Join(root, testenv.RepoDir), filepath.Join(root, "srv/chaos-repo2")).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	foreign := testenv.ReadFile(t, root, testenv.SourcesFile)
	tr := enginetest.Chroot(t, root)

	repo := chobolo.AptRepo{Name: "two", URIs: []string{"file:/srv/chaos-repo2"}, Suites: []string{"./"}, Trusted: true}
	if k := armoredKey(t); k != "" {
		repo.Key = k
	} else {
		t.Log("gpg not available: the keyring is not exercised")
	}
	c := ch(repo)
	hp := enginetest.ApplyTwice(t, tr, c, New())
	if n := updates(hp); n != 1 {
		t.Errorf("first apply ran apt-get update %d times, want 1:\n%s", n, enginetest.Render(hp))
	}
	src := testenv.ReadFile(t, root, SourcesPath("two"))
	if !strings.Contains(src, "URIs: file:/srv/chaos-repo2\n") {
		t.Errorf("sources file:\n%s", src)
	}
	if repo.Key != "" && (!strings.Contains(src, "Signed-By: "+KeyringPath("two")) || testenv.ReadFile(t, root, KeyringPath("two")) != repo.Key) {
		t.Errorf("keyring not written or not referenced:\n%s", src)
	}
	lists, _ := filepath.Glob(filepath.Join(root, "var/lib/apt/lists/*chaos-repo2*Packages"))
	if len(lists) == 0 {
		t.Error("apt-get update did not fetch the new repository")
	}
	if policy := testenv.Chroot(t, root, "apt-cache", "policy", "chaos-from-two"); !strings.Contains(policy, "/srv/chaos-repo2") {
		t.Errorf("apt does not see the repository:\n%s", policy)
	}
	if l := ledger(t, root); !slices.Contains(l, SourcesPath("two")) {
		t.Errorf("ledger: %v", l)
	}

	// A change (disable it) rewrites the file and updates once.
	repo.Enabled = new(bool)
	c = ch(repo)
	hp = enginetest.ApplyTwice(t, tr, c, New())
	if n := updates(hp); n != 1 || !strings.Contains(testenv.ReadFile(t, root, SourcesPath("two")), "Enabled: no\n") {
		t.Errorf("disable: %d updates\n%s", n, enginetest.Render(hp))
	}

	// Repos and packages together: the repo is re-enabled, then the package installed from it.
	repo.Enabled = nil
	c = ch(repo)
	c.Packages = []chobolo.Package{{Name: "chaos-from-two"}}
	c.SetKey("users", chobolo.Pos{}) // run packages without declaring `packages` (no prune)
	enginetest.ApplyTwice(t, tr, c, New(), packages.New())
	if st := testenv.Chroot(t, root, "dpkg-query", "-W", "-f=${db:Status-Abbrev}", "chaos-from-two"); st != "ii " {
		t.Errorf("chaos-from-two: %q", st)
	}

	// Removing the entry removes chaos's files (and only them) and updates once.
	c = ch()
	hp = enginetest.ApplyTwice(t, tr, c, New())
	if n := updates(hp); n != 1 {
		t.Errorf("removal: %d updates", n)
	}
	if testenv.Exists(t, root, SourcesPath("two")) || testenv.Exists(t, root, KeyringPath("two")) {
		t.Error("chaos's files were not removed")
	}
	if testenv.ReadFile(t, root, testenv.SourcesFile) != foreign {
		t.Error("a file chaos did not create was touched")
	}
	if l := ledger(t, root); len(l) != 0 {
		t.Errorf("ledger after removal: %v", l)
	}
	if lists, _ := filepath.Glob(filepath.Join(root, "var/lib/apt/lists/*chaos-repo2*")); len(lists) != 0 {
		t.Errorf("apt still has the removed repository's lists: %v", lists)
	}
}
