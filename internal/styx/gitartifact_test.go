package styx

import (
	"bytes"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitRepo is a work tree whose commits are pushed to a bare repository served over git's smart
// HTTP protocol by the real git-http-backend.
type gitRepo struct {
	t          *testing.T
	work, bare string
	url        string // http://127.0.0.1:PORT/x.git
}

func newGitRepo(t *testing.T) *gitRepo {
	base := t.TempDir()
	g := &gitRepo{t: t, work: t.TempDir(), bare: filepath.Join(base, "x.git")}
	g.git("", "init", "-q", "--bare", g.bare)
	g.git(g.work, "init", "-q", "-b", "main")
	srv := httptest.NewServer(&cgi.Handler{Path: "/usr/lib/git-core/git-http-backend",
		Env: []string{"GIT_PROJECT_ROOT=" + base, "GIT_HTTP_EXPORT_ALL=1"}})
	t.Cleanup(srv.Close)
	g.url = srv.URL + "/x.git"
	return g
}

func (g *gitRepo) git(dir string, args ...string) {
	g.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "tag.gpgSign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		g.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// commit writes files (a value starting with "->" is a symbolic link), commits, tags and pushes.
func (g *gitRepo) commit(files map[string]string, tag string, annotated bool) {
	g.t.Helper()
	for name, content := range files {
		p := filepath.Join(g.work, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.Remove(p)
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				g.t.Fatal(err)
			}
			continue
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(content, "#!") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			g.t.Fatal(err)
		}
	}
	g.git(g.work, "add", "-A")
	g.git(g.work, "commit", "-q", "-m", tag)
	if annotated {
		g.git(g.work, "tag", "-f", "-a", "-m", "release "+tag, tag)
	} else {
		g.git(g.work, "tag", "-f", tag)
	}
	g.git(g.work, "push", "-q", "-f", g.bare, "main", tag)
}

// A version whose artifact is a git tag: publish signs the tag's tree as a checkout of it packs,
// invoke fetches it over HTTP and installs it (lightweight and annotated tags); a tag moved after
// publishing is refused as a hash mismatch, and a tag with a link out of its tree is refused.
func TestGitTagArtifacts(t *testing.T) {
	f := newFixture(t)
	alice := testSigner(t, "alice")
	g := newGitRepo(t)
	soul := func(v string) map[string]string {
		return map[string]string{
			"soul.yaml": "name: x\nversion: " + v + "\nprotocol: 1\nexec: [./bin/run]\nabout: from a tag\n" +
				"roles:\n  - name: hello\n    summary: hello\n    keys: [hello]\n",
			"bin/run":   "#!/bin/sh\nexit 0\n",
			"README.md": "# x " + v + "\n",
			"run":       "->bin/run",
		}
	}
	g.commit(soul("1.0.0"), "v1.0.0", false)
	p1, err := Publish(ctx, "git+"+g.url+"#v1.0.0", t.TempDir(), f.srv.URL, alice)
	if err != nil {
		t.Fatal(err)
	}
	if p1.File != "" || p1.Version.URL != "git+"+g.url+"#v1.0.0" || p1.Entry.Readme != "# x 1.0.0\n" {
		t.Fatalf("published %+v %+v", p1, p1.Version)
	}
	// The signed bytes are what the checkout packs to, so anyone can check them from a clone.
	var checkout bytes.Buffer
	if err := Pack(g.work, &checkout); err != nil {
		t.Fatal(err)
	}
	if sumHex(checkout.Bytes()) != p1.Version.SHA256 {
		t.Fatalf("the checkout packs to %s, the tag's artifact is %s", sumHex(checkout.Bytes()), p1.Version.SHA256)
	}
	if data, err := PackGitTag(ctx, "file://"+g.bare, "v1.0.0", DefaultLimits); err != nil || sumHex(data) != p1.Version.SHA256 {
		t.Fatalf("over file:// %v", err)
	}
	f.add(p1)
	g.commit(soul("1.1.0"), "v1.1.0", true)
	p2, err := Publish(ctx, "git+"+g.url+"#v1.1.0", "", "", alice)
	if err != nil {
		t.Fatal(err)
	}
	f.add(p2)

	c := f.client()
	if _, err := c.Invoke(ctx, []string{"x"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := installed(t, c)["x"]; got != "1.1.0" {
		t.Fatalf("installed %q", got)
	}
	if fi, err := os.Lstat(filepath.Join(f.souls, "x", "run")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link in the tag: %v %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(f.souls, "x", "bin", "run")); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("the executable in the tag: %v %v", fi, err)
	}
	if res, err := c.Invoke(ctx, []string{"x@1.0.0"}, nil); err != nil || res[0].Action != "downgraded from 1.1.0" {
		t.Fatalf("the lightweight tag: %+v %v", res, err)
	}

	// The publisher moves v1.1.0 to another tree: a fresh machine refuses it.
	g.commit(map[string]string{"bin/run": "#!/bin/sh\necho moved\n"}, "v1.1.0", true)
	fresh := f.client(func(o *Options) { o.Dir, o.SoulDir = t.TempDir(), t.TempDir() })
	if _, err := fresh.Invoke(ctx, []string{"x@1.1.0"}, nil); err == nil || !strings.Contains(err.Error(), "hash mismatch") {
		t.Fatalf("moved tag: %v", err)
	}
	if got := installed(t, fresh); len(got) != 0 {
		t.Fatalf("installed after a refusal: %v", got)
	}
	// The machine that has it cached keeps installing the signed bytes.
	if _, err := c.Invoke(ctx, []string{"x@1.1.0"}, nil); err != nil {
		t.Fatalf("from the cache: %v", err)
	}

	g.commit(map[string]string{"evil": "->../../etc/passwd"}, "v2.0.0", false)
	if _, err := PackGitTag(ctx, g.url, "v2.0.0", DefaultLimits); err == nil || !strings.Contains(err.Error(), "points out of the tree") {
		t.Fatalf("a link out of the tag's tree: %v", err)
	}
	if _, err := PackGitTag(ctx, g.url, "v9.9.9", DefaultLimits); err == nil {
		t.Fatal("a missing tag packed")
	}
	for _, bad := range []string{"https://x/y.tar.gz", "git+https://x/y", "git+#v1"} {
		if _, _, ok := GitArtifact(bad); ok {
			t.Errorf("GitArtifact(%q) ok", bad)
		}
	}
}
