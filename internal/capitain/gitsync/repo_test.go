package gitsync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

var firstFiles = map[string]string{
	"fleet/chobolo.yml": "users: []\n",
	"fleet/common.yml":  "->../shared/common.yml",
	"shared/common.yml": "packages: [vim]\n",
	"README.md":         "dots\n",
}

// TestSyncGitDaemon follows a branch served by a real `git daemon`: first sync, a new commit, a
// force-push, a rollback to a commit the shallow cache never had, a tag and a commit id ref.
func TestSyncGitDaemon(t *testing.T) {
	base := t.TempDir()
	up := newUpstream(t, filepath.Join(base, "dots.git"), firstFiles)
	c1 := up.git(up.work, "rev-parse", "HEAD")
	url := gitDaemon(t, base) + "dots.git"
	cache := newCache(t)
	ctx := context.Background()
	src := Source{URL: url, Ref: "main", Path: "fleet/chobolo.yml"}

	co1 := mustSync(t, cache, "web", src)
	if co1.Commit != c1 || co1.Chobolo != filepath.Join(co1.Dir, "fleet/chobolo.yml") {
		t.Fatalf("checkout %+v, want commit %s", co1, c1)
	}
	if got := readFile(t, co1.Chobolo); got != "users: []\n" {
		t.Fatalf("chobolo.yml = %q", got)
	}
	// the symlink to a sibling directory resolves inside the checkout
	if got := readFile(t, filepath.Join(co1.Dir, "fleet/common.yml")); got != "packages: [vim]\n" {
		t.Fatalf("common.yml through its symlink = %q", got)
	}
	for _, p := range []string{co1.Dir, co1.Chobolo, filepath.Join(co1.Dir, "fleet")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o222 != 0 {
			t.Errorf("%s is writable: %v", p, fi.Mode())
		}
	}

	c2 := up.commit("second", map[string]string{"fleet/chobolo.yml": "users: [ana]\n"})
	c3 := up.commit("third", map[string]string{"fleet/chobolo.yml": "users: [ana, bo]\n"})
	if got, err := cache.Resolve(ctx, "web", src); err != nil || got != c3 {
		t.Fatalf("Resolve = %s, %v; want %s", got, err, c3)
	}
	co3 := mustSync(t, cache, "web", src)
	if co3.Commit != c3 || co3.Dir == co1.Dir || readFile(t, co3.Chobolo) != "users: [ana, bo]\n" {
		t.Fatalf("after two commits: %+v", co3)
	}
	// the first checkout is untouched: jobs on c1 still read c1's files
	if got := readFile(t, co1.Chobolo); got != "users: []\n" {
		t.Fatalf("c1's checkout changed to %q", got)
	}

	// a rollback to c2, which the depth-1 fetch of c3 did not bring
	repo, err := openBare(filepath.Join(cache.projectDir("web"), "repo.git"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cache.projectDir("web"), "repo.git", "shallow")); err != nil || hasCommit(repo, c2) {
		t.Fatalf("the cache is not shallow (shallow file: %v; has c2: %v)", err, hasCommit(repo, c2))
	}
	rb := src
	rb.Commit = c2
	if co := mustSync(t, cache, "web", rb); co.Commit != c2 || readFile(t, co.Chobolo) != "users: [ana]\n" {
		t.Fatalf("rollback to c2: %+v", co)
	}

	// force-push: main now points at a commit that does not descend from c3
	f := up.forcePush(c1, "rewritten", map[string]string{"fleet/chobolo.yml": "users: [zed]\n"})
	if co := mustSync(t, cache, "web", src); co.Commit != f || readFile(t, co.Chobolo) != "users: [zed]\n" {
		t.Fatalf("after the force-push: %+v, want %s", co, f)
	}

	// an annotated tag is peeled to its commit
	up.git(up.work, "tag", "-a", "-m", "release", "v1", c1)
	up.git(up.work, "push", "-q", "origin", "v1")
	if co := mustSync(t, cache, "web", Source{URL: url, Ref: "v1"}); co.Commit != c1 {
		t.Fatalf("tag v1 -> %s, want %s", co.Commit, c1)
	}
	if got, err := cache.Resolve(ctx, "web", Source{URL: url, Ref: "refs/tags/v1"}); err != nil || got != c1 {
		t.Fatalf("Resolve(refs/tags/v1) = %s, %v", got, err)
	}
	// HEAD
	if got, err := cache.Resolve(ctx, "web", Source{URL: url}); err != nil || got != f {
		t.Fatalf("Resolve(HEAD) = %s, %v; want %s", got, err, f)
	}
	// in fresh caches, so that the fetch itself is exercised: the tag (fetched, then peeled) and HEAD
	if co := mustSync(t, cache, "tagged", Source{URL: url, Ref: "v1"}); co.Commit != c1 {
		t.Fatalf("fresh tag v1 -> %s, want %s", co.Commit, c1)
	}
	if co := mustSync(t, cache, "head", Source{URL: url, Path: "fleet"}); co.Commit != f ||
		readFile(t, filepath.Join(co.Chobolo, "chobolo.yml")) != "users: [zed]\n" {
		t.Fatalf("fresh HEAD: %+v, want %s", co, f)
	}

	// a commit id ref in a fresh project: every branch and tag fetched in full, c1 is in the tag's history
	if co := mustSync(t, cache, "pinned", Source{URL: url, Ref: c1}); co.Commit != c1 {
		t.Fatalf("pinned: %+v", co)
	}
	// c3 left every ref with the force-push: not found, with the project and URL in the message
	_, err = cache.Sync(ctx, "pinned", Source{URL: url, Ref: c3})
	if !errors.Is(err, ErrCommitNotFound) || !strings.Contains(err.Error(), "project pinned") ||
		!strings.Contains(err.Error(), url) {
		t.Fatalf("unreachable commit: %v", err)
	}
}

func TestSyncErrors(t *testing.T) {
	base := t.TempDir()
	up := newUpstream(t, filepath.Join(base, "dots.git"), map[string]string{"chobolo.yml": "x: 1\n"})
	url := gitDaemon(t, base) + "dots.git"
	cache := newCache(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		src  Source
		want string
	}{
		{"unknown branch", Source{URL: url, Ref: "nope"}, `ref "nope" not found on the remote`},
		{"missing path", Source{URL: url, Ref: "main", Path: "fleet/x.yml"}, "path fleet/x.yml not found at commit"},
		{"escaping path", Source{URL: url, Ref: "main", Path: "../x"}, `path "../x" is not a relative path`},
		{"short commit", Source{URL: url, Ref: "main", Commit: "abc"}, "not a full 40-hex commit id"},
		{"option-like ref", Source{URL: url, Ref: "--upload-pack=x"}, "not a valid git ref name"},
		{"ref climbing out", Source{URL: url, Ref: "refs/heads/../../../../tmp/x"}, "not a valid git ref name"},
		{"ref with a lock suffix", Source{URL: url, Ref: "main.lock"}, "not a valid git ref name"},
		{"no repository", Source{URL: url[:len(url)-len("dots.git")] + "none.git", Ref: "main"}, "listing refs"},
		{"ssh without known_hosts", Source{URL: "ssh://git@127.0.0.1:1/x.git", Auth: Credentials{SSHKey: []byte("k")}},
			"needs the server's host key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cache.Sync(ctx, "p1", tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "project p1") {
				t.Fatalf("err = %v, want it to name project p1 and contain %q", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Project != "p1" {
				t.Fatalf("not a *gitsync.Error: %#v", err)
			}
		})
	}
	_ = up
}

// TestSyncRefusesEscapingSymlinks: a repository cannot make a checkout reach outside itself, by a
// plain ../ link or through a link that resolves to a directory above its own name.
func TestSyncRefusesEscapingSymlinks(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"dotdot":   {"chobolo.yml": "x: 1\n", "etc": "->../../../../etc"},
		"absolute": {"chobolo.yml": "x: 1\n", "shadow": "->/etc/shadow"},
		"chained":  {"chobolo.yml": "x: 1\n", "sub/up": "->..", "a": "->sub/up/.."},
	} {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			newUpstream(t, filepath.Join(base, "dots.git"), files)
			url := gitDaemon(t, base) + "dots.git"
			cache := newCache(t)
			_, err := cache.Sync(context.Background(), "evil", Source{URL: url, Ref: "main"})
			if err == nil || !strings.Contains(err.Error(), "points outside the repository") {
				t.Fatalf("err = %v", err)
			}
			left, _ := filepath.Glob(filepath.Join(cache.dir, "evil", "checkouts", "*"))
			if len(left) != 0 {
				t.Fatalf("a refused checkout left %v", left)
			}
		})
	}
}

// TestSyncHTTPToken fetches through the real git-http-backend behind basic auth: a wrong token is
// refused without showing it, the right one works, and a poll that finds nothing new only lists refs.
func TestSyncHTTPToken(t *testing.T) {
	base := t.TempDir()
	up := newUpstream(t, filepath.Join(base, "dots.git"), map[string]string{"chobolo.yml": "x: 1\n"})
	const token = "glpat-s3cr3t-t0ken"
	srv := testenv.GitHTTPServer(t, base, "oauth2", token)
	url := srv.URL + "dots.git"
	cache := newCache(t)
	ctx := context.Background()

	bad := Source{URL: url, Ref: "main", Auth: Credentials{Username: "oauth2", Password: "wrong-" + token}}
	_, err := cache.Sync(ctx, "p", bad)
	if err == nil || strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), "authentication required") {
		t.Fatalf("wrong token: %v", err)
	}
	// a token pasted into the URL does not reach the message either
	inURL := Source{URL: strings.Replace(url, "http://", "http://oauth2:wrong-"+token+"@", 1), Ref: "main"}
	if _, err := cache.Sync(ctx, "p", inURL); err == nil || strings.Contains(err.Error(), token) {
		t.Fatalf("token in URL: %v", err)
	}

	src := Source{URL: url, Ref: "main", Path: "chobolo.yml", Auth: Credentials{Username: "oauth2", Password: token}}
	co := mustSync(t, cache, "p", src)
	if readFile(t, co.Chobolo) != "x: 1\n" {
		t.Fatal("wrong content")
	}
	srv.Requests()
	if got, err := cache.Resolve(ctx, "p", src); err != nil || got != co.Commit {
		t.Fatalf("Resolve = %s, %v", got, err)
	}
	// the same commit again: one listing, no upload-pack (no fetch)
	if again := mustSync(t, cache, "p", src); again.Dir != co.Dir {
		t.Fatalf("second sync moved to %s", again.Dir)
	}
	for _, r := range srv.Requests() {
		if strings.HasPrefix(r, "POST") {
			t.Fatalf("a sync with nothing new fetched: %s", r)
		}
	}
	c2 := up.commit("two", map[string]string{"chobolo.yml": "x: 2\n"})
	if co := mustSync(t, cache, "p", src); co.Commit != c2 || readFile(t, co.Chobolo) != "x: 2\n" {
		t.Fatalf("after a push: %+v", co)
	}
}

// TestConcurrentSyncs: jobs on different commits of one project sync at once, from two caches on
// one directory; each sees its own commit's files.
func TestConcurrentSyncs(t *testing.T) {
	base := t.TempDir()
	up := newUpstream(t, filepath.Join(base, "dots.git"), map[string]string{"chobolo.yml": "n: 0\n"})
	var commits []string
	for i := 1; i <= 6; i++ {
		commits = append(commits, up.commit(fmt.Sprint(i), map[string]string{"chobolo.yml": fmt.Sprintf("n: %d\n", i)}))
	}
	url := gitDaemon(t, base) + "dots.git"
	cache := newCache(t)
	// a second Cache on the same directory stands for another process: only flock orders the two
	other, err := NewCache(cache.dir)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(commits))
	for round, c := range []*Cache{cache, other} {
		for i, commit := range commits {
			wg.Add(1)
			go func() {
				defer wg.Done()
				co, err := c.Sync(context.Background(), "p", Source{URL: url, Ref: "main", Commit: commit, Path: "chobolo.yml"})
				if err != nil {
					errs <- err
					return
				}
				if b, err := os.ReadFile(co.Chobolo); err != nil || string(b) != fmt.Sprintf("n: %d\n", i+1) {
					errs <- fmt.Errorf("cache %d, commit %d: %q, %v", round, i+1, b, err)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := cache.Prune(context.Background(), "p", commits[0]); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(cache.dir, "p", "checkouts", "*"))
	if len(left) != 1 || filepath.Base(left[0]) != commits[0] {
		t.Fatalf("after Prune: %v", left)
	}
	if err := cache.Remove(context.Background(), "p"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cache.dir, "p")); !os.IsNotExist(err) {
		t.Fatalf("Remove left the project: %v", err)
	}
}
