package pacmanconf_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/pacman"
	"github.com/ch-aos-ch/chaos/internal/roles/pacmanconf"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestIntegration generates pacman.conf on the Arch-flavoured root with "official" core and extra
// served by the fixture's mirrorlist and a third-party repository, syncs, installs from all three
// with the packages role in the same run, and proves the second run changes nothing (no second sync).
func TestIntegration(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.ArchRoot(t)
	testenv.PacmanMirror(t, root, "core", testenv.PacPkg{Name: "core-a"})
	testenv.PacmanMirror(t, root, "extra", testenv.PacPkg{Name: "extra-a", Depends: []string{"core-a"}})
	testenv.PacmanMirror(t, root, "multilib", testenv.PacPkg{Name: "lib32-a"})
	testenv.PacmanMirror(t, root, "third", testenv.PacPkg{Name: "third-a"}) // a third-party repo, by URL
	repo := testenv.PacmanMirrorDir + "/third"
	stock := testenv.ReadFile(t, root, "/etc/pacman.conf")

	c := &chobolo.Chobolo{Repos: chobolo.Repos{
		Managed:    map[string]bool{"multilib": true},
		ThirdParty: []chobolo.PacmanRepo{{Name: "third", URL: "file://" + repo, SigLevel: "Never"}},
		// Test packages are unsigned.
		Options: "[options]\nArchitecture = auto\nCheckSpace\nSigLevel = Never\nLocalFileSigLevel = Never\n",
	}, Packages: []chobolo.Package{{Name: "extra-a"}, {Name: "third-a"}, {Name: "lib32-a"}}, BaseOverride: []chobolo.Package{{Name: "core-a"}}}
	c.SetKey("repos", chobolo.Pos{})
	c.SetKey("packages", chobolo.Pos{})
	c.SetKey("baseOverride", chobolo.Pos{})
	tr := enginetest.Chroot(t, root)
	hp := enginetest.ApplyTwice(t, tr, c, pacmanconf.New(), pacman.New())
	plan := enginetest.Render(hp)
	t.Logf("first plan:\n%s", plan)

	conf := testenv.ReadFile(t, root, pacmanconf.ConfPath)
	if !strings.HasPrefix(conf, pacmanconf.Header) {
		t.Errorf("pacman.conf:\n%s", conf)
	}
	if got := testenv.ReadFile(t, root, pacmanconf.BackupPath); got != stock {
		t.Errorf("backup = %q, want the stock file", got)
	}
	repos := strings.Fields(testenv.Chroot(t, root, "pacman-conf", "--repo-list"))
	if !slices.Equal(repos, []string{"core", "extra", "multilib", "third"}) {
		t.Errorf("repositories = %v (official first)", repos)
	}
	if got := strings.Fields(testenv.Chroot(t, root, "pacman", "-Qqe")); !slices.Equal(got, []string{"core-a", "extra-a", "lib32-a", "third-a"}) {
		t.Errorf("explicit = %v", got)
	}
	if !strings.Contains(plan, "repositories: none -> core extra multilib third") {
		t.Error("the change does not list the repositories")
	}

	// Dropping multilib rewrites and syncs once; the backup stays the stock file.
	c.Repos.Managed = map[string]bool{"extras": false, "extra": true}
	c.Packages = c.Packages[:2]
	hp = enginetest.ApplyTwice(t, tr, c, pacmanconf.New(), pacman.New())
	t.Logf("second plan:\n%s", enginetest.Render(hp))
	if repos := strings.Fields(testenv.Chroot(t, root, "pacman-conf", "--repo-list")); !slices.Equal(repos, []string{"core", "extra", "third"}) {
		t.Errorf("repositories = %v", repos)
	}
	if got := testenv.ReadFile(t, root, pacmanconf.BackupPath); got != stock {
		t.Error("the backup was overwritten")
	}
}

// TestIntegrationPruneAfterReposChange: packages installed while their repository was not configured
// are foreign until the repos role adds it and syncs. The packages role must judge them against the
// repositories the apply will have, so one apply prunes the undeclared one (it took two runs).
func TestIntegrationPruneAfterReposChange(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.ArchRoot(t)
	a, b := testenv.PacPkg{Name: "core-a"}, testenv.PacPkg{Name: "core-b"}
	testenv.PacmanMirror(t, root, "core", a, b)
	testenv.PacmanRepo(t, root, testenv.PacPkg{Name: "other"}) // a configured, synced repository without them
	testenv.Chroot(t, root, "pacman", "-U", "--noconfirm", testenv.PacmanPackage(t, root, "/var/tmp", a), testenv.PacmanPackage(t, root, "/var/tmp", b))
	if got := strings.Fields(testenv.Chroot(t, root, "pacman", "-Qqm")); !slices.Equal(got, []string{"core-a", "core-b"}) {
		t.Fatalf("before: foreign = %v", got)
	}
	c := &chobolo.Chobolo{Repos: chobolo.Repos{
		Managed:    map[string]bool{"core": true, "extra": false},
		ThirdParty: []chobolo.PacmanRepo{{Name: testenv.PacmanRepoName, URL: "file://" + testenv.PacmanRepoDir, SigLevel: "Never"}},
		Options:    "[options]\nArchitecture = auto\nCheckSpace\nSigLevel = Never\nLocalFileSigLevel = Never\n",
	}, Packages: []chobolo.Package{{Name: "other"}}, BaseOverride: []chobolo.Package{{Name: "core-a"}}}
	c.SetKey("repos", chobolo.Pos{})
	c.SetKey("packages", chobolo.Pos{})
	c.SetKey("baseOverride", chobolo.Pos{})
	hp := enginetest.ApplyTwice(t, enginetest.Chroot(t, root), c, pacmanconf.New(), pacman.New())
	if plan := enginetest.Render(hp); !strings.Contains(plan, "- package core-b") {
		t.Errorf("first plan does not prune core-b:\n%s", plan)
	}
	if got := strings.Fields(testenv.Chroot(t, root, "pacman", "-Qq")); !slices.Equal(got, []string{"core-a", "other"}) {
		t.Errorf("installed = %v", got)
	}
}

// gpgKey makes a throwaway signing key in its own GnuPG home on this machine and returns the home
// and the key's fingerprint. Its gpg-agent is stopped at cleanup.
func gpgKey(t *testing.T, name string) (home, fpr string) {
	t.Helper()
	home, err := os.MkdirTemp("", "chaos-gpg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	gpg := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("gpg", append([]string{"--homedir", home, "--batch", "--quiet"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("gpg %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	gpg("--passphrase", "", "--quick-gen-key", name+" <"+name+"@chaos.invalid>", "ed25519", "sign", "never")
	for line := range strings.SplitSeq(gpg("--with-colons", "--list-secret-keys"), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" {
			return home, f[9]
		}
	}
	t.Fatal("gpg: no fingerprint")
	return "", ""
}

// signRepo signs every package and the database of the repository at dir (inside root) with the key,
// as repo-add --sign and makepkg --sign do: detached binary signatures beside the files.
func signRepo(t *testing.T, root, dir, home, fpr string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, dir, "*"))
	for _, f := range files {
		if strings.HasSuffix(f, ".sig") {
			continue
		}
		if out, err := exec.Command("gpg", "--homedir", home, "--batch", "--yes", "-u", fpr, "--detach-sign", "--no-armor", f).CombinedOutput(); err != nil {
			t.Fatalf("signing %s: %v\n%s", f, err, out)
		}
	}
}

// keyserver serves the public keys of the given GnuPG homes over HKP (GET /pks/lookup?op=get&
// search=0xFINGERPRINT), as keyserver.ubuntu.com does, and counts the requests.
func keyserver(t *testing.T, homes ...string) (url string, requests *atomic.Int32) {
	t.Helper()
	keys := map[string][]byte{}
	for _, h := range homes {
		out, err := exec.Command("gpg", "--homedir", h, "--batch", "--with-colons", "--list-keys").Output()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(string(out), "\n") {
			if f := strings.Split(line, ":"); f[0] == "fpr" {
				armored, err := exec.Command("gpg", "--homedir", h, "--batch", "--armor", "--export", f[9]).Output()
				if err != nil {
					t.Fatal(err)
				}
				keys[f[9]] = armored
			}
		}
	}
	requests = &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		q := r.URL.Query()
		key, ok := keys[strings.ToUpper(strings.TrimPrefix(q.Get("search"), "0x"))]
		if r.URL.Path != "/pks/lookup" || q.Get("op") != "get" || !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/pgp-keys")
		_, _ = w.Write(key)
	}))
	t.Cleanup(srv.Close)
	return "hkp://" + strings.TrimPrefix(srv.URL, "http://"), requests
}

// TestIntegrationSignedRepo imports a third-party repository's key with the real pacman-key (--init,
// --recv-keys from a local HKP keyserver through dirmngr, --lsign-key), then installs from the
// repository with SigLevel = Required; a repository signed by another key fails.
func TestIntegrationSignedRepo(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.ArchRoot(t)
	// gpg-agent and dirmngr started in the root must go before it is unmounted (cleanups run last
	// registered first); the role stops them itself in a chroot, this is for a failing test.
	t.Cleanup(func() { testenv.ChrootResult(t, root, "gpgconf", "--homedir", pacmanconf.Keyring, "--kill", "all") })
	homeA, fprA := gpgKey(t, "repo-a")
	homeB, fprB := gpgKey(t, "repo-b")
	url, requests := keyserver(t, homeA, homeB)
	// Where Arch users set a keyserver too; pacman-key --init leaves dirmngr.conf alone.
	testenv.WriteFile(t, root, pacmanconf.Keyring+"/dirmngr.conf", "keyserver "+url+"\n")

	testenv.PacmanMirror(t, root, "signed", testenv.PacPkg{Name: "signed-a"})
	signRepo(t, root, testenv.PacmanMirrorDir+"/signed", homeA, fprA)
	opts := "[options]\nArchitecture = auto\nSigLevel = Required DatabaseOptional\nLocalFileSigLevel = Optional\n"
	c := &chobolo.Chobolo{Repos: chobolo.Repos{
		Managed:    map[string]bool{"core": false, "extra": false},
		ThirdParty: []chobolo.PacmanRepo{{Name: "signed", URL: "file://" + testenv.PacmanMirrorDir + "/signed", SigLevel: "Required", Key: fprA}},
		Options:    opts,
	}, BaseOverride: []chobolo.Package{{Name: "signed-a"}}}
	c.SetKey("repos", chobolo.Pos{})
	c.SetKey("packages", chobolo.Pos{})
	c.SetKey("baseOverride", chobolo.Pos{})
	tr := enginetest.Chroot(t, root)
	hp := enginetest.ApplyTwice(t, tr, c, pacmanconf.New(), pacman.New())
	plan := enginetest.Render(hp)
	for _, want := range []string{"$ pacman-key --init", "$ pacman-key --recv-keys -- " + fprA, "$ pacman-key --lsign-key -- " + fprA, "$ gpgconf --homedir /etc/pacman.d/gnupg --kill all"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	if got := strings.Fields(testenv.Chroot(t, root, "pacman", "-Qq")); !slices.Equal(got, []string{"signed-a"}) {
		t.Errorf("installed = %v", got)
	}
	// Locally signed: gpg trusts it fully in pacman's keyring.
	if out := testenv.Chroot(t, root, "gpg", "--homedir", pacmanconf.Keyring, "--with-colons", "--list-keys", fprA); !strings.Contains(out, "pub:f:") {
		t.Errorf("key %s is not trusted in pacman's keyring:\n%s", fprA, out)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("keyserver asked %d times, want once", n)
	}
	if out, _, _ := testenv.ChrootResult(t, root, "sh", "-c", "ps -eo comm | grep -E 'dirmngr|gpg-agent'"); out != "" {
		t.Errorf("gpg daemons left running in the chroot: %s", out)
	}

	// A repository whose packages and database are signed by another key than the declared one.
	testenv.PacmanMirror(t, root, "forged", testenv.PacPkg{Name: "forged-a"})
	signRepo(t, root, testenv.PacmanMirrorDir+"/forged", homeB, fprB)
	c.Repos.ThirdParty = append(c.Repos.ThirdParty, chobolo.PacmanRepo{Name: "forged", URL: "file://" + testenv.PacmanMirrorDir + "/forged", SigLevel: "Required", Key: fprA})
	c.Packages = append(c.Packages, chobolo.Package{Name: "forged-a"})
	e := &engine.Engine{Registry: engine.NewRegistry(pacmanconf.New(), pacman.New())}
	req := engine.Request{Chobolo: c, Assume: true}
	hp, err := e.Plan(context.Background(), tr, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Apply(context.Background(), tr, hp, req); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("a repository signed by an undeclared key: err = %v", err)
	}
	if _, _, code := testenv.ChrootResult(t, root, "pacman", "-Q", "forged-a"); code == 0 {
		t.Error("forged-a was installed")
	}
}
