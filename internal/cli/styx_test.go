package cli_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// styxWorld is an index repository (file://), an HTTP server for artifacts on loopback, and a
// config.yml that trusts the test index key, with chaos's data and Soul path in temporary
// directories.
type styxWorld struct {
	index, artifacts, url, config, souls string
}

const (
	testPublisherKey = "../styx/testdata/alice.key"
	testIndexKey     = "../styx/testdata/index.key"
)

func newStyxWorld(t *testing.T) *styxWorld {
	t.Helper()
	w := &styxWorld{index: t.TempDir(), artifacts: t.TempDir(), config: isolate(t), souls: t.TempDir()}
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("CHAOS_SOUL_PATH", w.souls)
	t.Setenv("CHAOS_STYX_REGISTRY", "")
	srv := httptest.NewServer(http.FileServer(http.Dir(w.artifacts)))
	t.Cleanup(srv.Close)
	w.url = srv.URL
	pub, err := os.ReadFile(testIndexKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	cfg := "styx:\n  registry: file://" + w.index + "\n  index_keys: [\"" + strings.TrimSpace(string(pub)) + "\"]\n"
	if err := os.WriteFile(filepath.Join(w.config, "config.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// publish runs chaos styx publish into the index clone, then signs the index as its maintainers.
func (w *styxWorld) publish(t *testing.T, dir string) string {
	t.Helper()
	r := run(t, "", "styx", "publish", dir, "--key", testPublisherKey, "--url", w.url, "-o", w.artifacts, "--index", w.index)
	if r.code != 0 {
		t.Fatalf("publish: %s", r)
	}
	if r := run(t, "", "styx", "sign-index", w.index, "--key", testIndexKey); r.code != 0 {
		t.Fatalf("sign-index: %s", r)
	}
	return r.stdout
}

func TestStyxCLIBundle(t *testing.T) {
	w := newStyxWorld(t)
	bundle := t.TempDir()
	for name, text := range map[string]string{
		"styx.yaml":   "name: alice/base\nversion: 1.0.0\nabout: a base for every machine\nlicense: MIT\ntags: [base, motd]\n",
		"chobolo.yml": "imports: [motd.yml]\nhostname: base\n",
		"motd.yml":    "files:\n  - path: /etc/motd\n    content: \"managed\\n\"\n",
		"README.md":   "# base\n\nA *base*.\n",
	} {
		os.WriteFile(filepath.Join(bundle, name), []byte(text), 0o644)
	}
	entry := w.publish(t, bundle)
	for _, want := range []string{"alice/base:\n  kind: chobolo\n", "sha256: ", "-----BEGIN SSH SIGNATURE-----", "key: ssh-ed25519 "} {
		if !strings.Contains(entry, want) {
			t.Fatalf("publish printed no %q:\n%s", want, entry)
		}
	}
	// Reproducible: publishing again writes the same bytes.
	art := filepath.Join(w.artifacts, "alice.base-1.0.0.tar.gz")
	first, _ := os.ReadFile(art)
	if r := run(t, "", "styx", "publish", bundle, "--key", testPublisherKey, "--url", w.url, "-o", w.artifacts); r.code != 0 {
		t.Fatal(r)
	}
	if second, _ := os.ReadFile(art); string(first) != string(second) || len(first) == 0 {
		t.Fatal("publishing twice gave different artifacts")
	}

	r := run(t, "", "styx", "list", "--json")
	var ls []map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ls) != nil || len(ls) != 1 || ls[0]["name"] != "alice/base" || ls[0]["kind"] != "chobolo" {
		t.Fatalf("list --json: %s", r)
	}
	if r := run(t, "", "styx", "search", "motd"); r.code != 0 || !strings.Contains(r.stdout, "alice/base") {
		t.Fatalf("search: %s", r)
	}
	if r := run(t, "", "styx", "info", "alice/base"); r.code != 0 || !strings.Contains(r.stdout, "trust:     not pinned yet") ||
		!strings.Contains(r.stdout, "SHA256:") {
		t.Fatalf("info: %s", r)
	}
	if r := run(t, "", "styx", "invoke", "alice/base@1.0.0"); r.code != 0 || !strings.Contains(r.stdout, "alice/base@1.0.0") || !strings.Contains(r.stdout, "installed") {
		t.Fatalf("invoke: %s", r)
	}
	if r := run(t, "", "styx", "info", "alice/base"); !strings.Contains(r.stdout, "trust:     pinned (alice in ") || !strings.Contains(r.stdout, "installed: 1.0.0") {
		t.Fatalf("info after invoke: %s", r)
	}
	cfg, _ := os.ReadFile(filepath.Join(w.config, "config.yml"))
	if !strings.Contains(string(cfg), "publishers:") || !strings.Contains(string(cfg), "alice: ssh-ed25519 ") {
		t.Fatalf("the key is not pinned in config.yml:\n%s", cfg)
	}
	m := writeChobolo(t, "imports: [{styx: alice/base@1.0.0}]\nhostname: mine\n")
	if r := run(t, "", "check", "chobolo", "-c", m); r.code != 0 {
		t.Fatalf("check chobolo importing the bundle: %s", r)
	}
	if r := run(t, "", "styx", "verify"); r.code != 0 || !strings.Contains(r.stdout, "alice/base@1.0.0") || !strings.Contains(r.stdout, " ok") {
		t.Fatalf("verify: %s", r)
	}
	if r := run(t, "", "styx", "lock", "-c", m); r.code != 0 {
		t.Fatalf("lock: %s", r)
	}
	lock, _ := os.ReadFile(filepath.Join(filepath.Dir(m), "styx.lock"))
	if !strings.Contains(string(lock), "alice/base:\n    version: 1.0.0\n    kind: chobolo\n") {
		t.Fatalf("styx.lock:\n%s", lock)
	}
	site := t.TempDir()
	if r := run(t, "", "styx", "site", "-o", site); r.code != 0 {
		t.Fatalf("site: %s", r)
	}
	page, err := os.ReadFile(filepath.Join(site, "e", "alice.base.html"))
	if err != nil || !strings.Contains(string(page), "A <em>base</em>.") || !strings.Contains(string(page), "imports: [{styx: alice/base@1.0.0}]") {
		t.Fatalf("site page: %v\n%s", err, page)
	}
	// A hostile mirror: the same index signed by another key is refused, even offline later.
	if r := run(t, "", "styx", "sign-index", w.index, "--key", "../styx/testdata/mallory.key"); r.code != 0 {
		t.Fatal(r)
	}
	if r := run(t, "", "styx", "update"); r.code != 1 || !strings.Contains(r.stderr, "is not a trusted index key") {
		t.Fatalf("update from a hostile mirror: %s", r)
	}
	if r := run(t, "", "styx", "destroy", "alice/base"); r.code != 0 || !strings.Contains(r.stdout, "removed alice/base@1.0.0") {
		t.Fatalf("destroy: %s", r)
	}
	if r := run(t, "", "check", "chobolo", "-c", m); r.code != 1 || !strings.Contains(r.stdout+r.stderr, "the Styx bundle alice/base@1.0.0 is not installed") {
		t.Fatalf("check chobolo without the bundle: %s", r)
	}
}

// A bundle published from a git tag: nothing to upload, the entry names the tag, invoke fetches it.
func TestStyxCLIGitTag(t *testing.T) {
	w := newStyxWorld(t)
	repo := t.TempDir()
	os.WriteFile(filepath.Join(repo, "styx.yaml"), []byte("name: alice/tagged\nversion: 1.0.0\nkind: chobolo\nabout: from a tag\n"), 0o644)
	os.WriteFile(filepath.Join(repo, "chobolo.yml"), []byte("hostname: tagged\n"), 0o644)
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"commit", "-q", "-m", "one"}, {"tag", "v1.0.0"}} {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.org"}, args...)...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	src := "git+file://" + repo + "#v1.0.0"
	r := run(t, "", "styx", "publish", src, "--key", testPublisherKey, "--index", w.index)
	if r.code != 0 || !strings.Contains(r.stderr, "nothing to upload") || !strings.Contains(r.stdout, "url: "+src) {
		t.Fatalf("publish: %s", r)
	}
	if r := run(t, "", "styx", "sign-index", w.index, "--key", testIndexKey); r.code != 0 {
		t.Fatal(r)
	}
	if r := run(t, "", "styx", "invoke", "alice/tagged"); r.code != 0 || !strings.Contains(r.stdout, "alice/tagged@1.0.0") {
		t.Fatalf("invoke: %s", r)
	}
	if r := run(t, "", "styx", "verify"); r.code != 0 || !strings.Contains(r.stdout, " ok") {
		t.Fatalf("verify: %s", r)
	}
}

// The original's registry.yaml, served as a raw file through $CHAOS_STYX_REGISTRY as the original
// did: it lists, and invoke says what the Go chaos offers instead.
func TestStyxCLIOriginalRegistry(t *testing.T) {
	w := newStyxWorld(t)
	data, err := os.ReadFile("../styx/testdata/original-registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(w.index, "registry.yaml"), data, 0o644)
	if r := run(t, "", "styx", "sign-index", w.index, "--key", testIndexKey); r.code != 0 {
		t.Fatal(r)
	}
	for _, f := range []string{"registry.yaml", "registry.yaml.sig"} {
		b, _ := os.ReadFile(filepath.Join(w.index, f))
		os.WriteFile(filepath.Join(w.artifacts, f), b, 0o644)
	}
	t.Setenv("CHAOS_STYX_REGISTRY", w.url+"/registry.yaml")
	r := run(t, "", "styx", "list", "--kind", "wheel")
	if r.code != 0 || strings.Count(r.stdout, " wheel ") != 3 || !strings.Contains(r.stdout, "chaos-dots") {
		t.Fatalf("list: %s", r)
	}
	r = run(t, "", "styx", "invoke", "chaos-dots")
	if r.code != 1 || !strings.Contains(r.stderr, "Python wheel for the original Ch-aOS") || !strings.Contains(r.stderr, "the dotfiles Soul") {
		t.Fatalf("invoke chaos-dots: %s", r)
	}
	// Which index: --registry, else $CHAOS_STYX_REGISTRY, else config.yml (the index repository).
	t.Setenv("CHAOS_STYX_REGISTRY", w.url+"/missing.yaml")
	if r := run(t, "", "styx", "update"); r.code != 1 || !strings.Contains(r.stderr, "/missing.yaml") {
		t.Fatalf("the variable before the config: %s", r)
	}
	if r := run(t, "", "styx", "update", "--registry", "file://"+w.index); r.code != 0 {
		t.Fatalf("--registry before the variable: %s", r)
	}
	t.Setenv("CHAOS_STYX_REGISTRY", "")
	if r := run(t, "", "styx", "update"); r.code != 0 {
		t.Fatalf("the config's registry: %s", r)
	}
}

// chaos styx serve serves the site on loopback until interrupted.
func TestStyxServe(t *testing.T) {
	w := newStyxWorld(t)
	bundle := t.TempDir()
	os.WriteFile(filepath.Join(bundle, "styx.yaml"), []byte("name: alice/base\nversion: 1.0.0\nabout: served\n"), 0o644)
	os.WriteFile(filepath.Join(bundle, "chobolo.yml"), []byte("hostname: base\n"), 0o644)
	w.publish(t, bundle)
	cmd := exec.Command(testenv.ChaosBinary(t), "styx", "serve", "--addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	_, url, ok := strings.Cut(strings.TrimSpace(line), " on ")
	if err != nil || !ok {
		t.Fatalf("serve said %q (%v): %s", line, err, stderr.String())
	}
	url = strings.Fields(url)[0]
	for path, want := range map[string]string{"": "alice/base", "e/alice.base.html": "chaos styx invoke alice/base@1.0.0", "search.json": `"about":"served"`} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("GET %s%s: %s\n%s", url, path, resp.Status, body)
		}
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after an interrupt: %v %s", err, stderr.String())
	}
}
