package styx

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/souls"
)

// What Capitain does with Styx, as the library gives it: an admin pins exact versions per
// project, PinLock locks them and what they require, and each project's sync installs exactly
// that into the project's own directories, whatever the index gains later.
func TestProjectPinsAndSync(t *testing.T) {
	f := newFixture(t)
	alice := testSigner(t, "alice")
	for _, v := range []string{"1.0.0", "1.1.0"} {
		f.publish(soulDir(t, "alice/lib", v, nil), alice)
		f.publish(soulDir(t, "alice/app", v, map[string]string{"styx.yaml": "requires: {alice/lib: \">=1.0\"}\n"}), alice)
	}
	bundle := t.TempDir()
	writeTree(t, bundle, map[string]string{"styx.yaml": "name: alice/base\nversion: 1.0.0\nabout: a base\n", "chobolo.yml": "hostname: base\n"})
	f.publish(bundle, alice)
	ix, err := f.client().Index(ctx)
	if err != nil {
		t.Fatal(err)
	}

	lock, err := PinLock(ix, f.client().Registry(), map[string]string{"alice/app": "1.0.0"}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, app10, _ := ix.Lookup("alice/app", "1.0.0")
	if len(lock.Entries) != 2 || lock.Entries["alice/app"].Version != "1.0.0" || lock.Entries["alice/lib"].Version != "1.1.0" ||
		lock.Entries["alice/app"].SHA256 != app10.SHA256 || lock.Entries["alice/app"].Kind != KindSoul {
		t.Fatalf("lock %+v", lock.Entries)
	}
	for _, bad := range []map[string]string{{"alice/app": "^1.0"}, {"alice/nope": "1.0.0"}} {
		if _, err := PinLock(ix, "", bad, ""); err == nil {
			t.Errorf("PinLock(%v) succeeded", bad)
		}
	}

	// Two projects, each with its own directories on the server.
	project := func() (*Client, string) {
		root := t.TempDir()
		return f.client(func(o *Options) {
			o.Dir, o.SoulDir = filepath.Join(root, "styx"), filepath.Join(root, "souls")
		}), filepath.Join(root, "souls")
	}
	a, aSouls := project()
	b, _ := project()
	os.MkdirAll(filepath.Join(aSouls, "mine"), 0o755) // a Soul the project keeps by hand
	check := func(c *Client, soulDir string, l *Lock) {
		t.Helper()
		found, errs := souls.Discover([]string{soulDir})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		var ss []InstalledSoul
		for _, s := range found {
			ss = append(ss, InstalledSoul{s.Manifest.Name, s.Manifest.Version, s.Dir})
		}
		if err := l.Check(ss, filepath.Join(c.opts.Dir, "chobolos")); err != nil {
			t.Fatal(err)
		}
	}
	synced, err := a.Sync(ctx, lock)
	if err != nil {
		t.Fatal(err)
	}
	if got := installed(t, a); len(got) != 2 || got["alice/app"] != "1.0.0" || got["alice/lib"] != "1.1.0" {
		t.Fatalf("project a: %v", got)
	}
	check(a, aSouls, synced.Lock)
	if got := installed(t, b); len(got) != 0 {
		t.Fatalf("project b got %v", got)
	}

	// The index gains alice/lib 1.2.0 and yanks the pinned alice/app 1.0.0: a sync changes nothing.
	f.publish(soulDir(t, "alice/lib", "1.2.0", nil), alice)
	data, _ := os.ReadFile(filepath.Join(f.index, IndexFile))
	at := strings.Index(string(data), "alice/app:")
	os.WriteFile(filepath.Join(f.index, IndexFile), []byte(string(data[:at])+strings.Replace(string(data[at:]), "version: 1.0.0\n", "version: 1.0.0\n        yanked: broken\n", 1)), 0o644)
	if _, err := SignIndex(f.index, f.indexKey); err != nil {
		t.Fatal(err)
	}
	if ix, err := a.UpdateIndex(ctx); err != nil || ix.Entries["alice/app"].Latest().Version != "1.1.0" {
		t.Fatal(err)
	} else if _, v, _ := ix.Lookup("alice/app", "1.0.0"); v.Yanked == "" {
		t.Fatal("alice/app 1.0.0 is not yanked")
	}
	synced, err = a.Sync(ctx, lock)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range synced.Results {
		if r.Action != "unchanged" {
			t.Fatalf("second sync: %+v", synced.Results)
		}
	}
	// A new machine of the same project gets the same, the yanked pin included.
	if _, err := b.Sync(ctx, lock); err != nil {
		t.Fatal(err)
	}
	if got := installed(t, b); got["alice/app"] != "1.0.0" || got["alice/lib"] != "1.1.0" {
		t.Fatalf("project b: %v", got)
	}

	// The admin pins the bundle instead: the Souls go, the bundle comes, the hand-made Soul stays.
	ix, _ = a.Index(ctx)
	lock2, err := PinLock(ix, a.Registry(), map[string]string{"alice/base": "1.0.0"}, "")
	if err != nil {
		t.Fatal(err)
	}
	synced, err = a.Sync(ctx, lock2)
	if err != nil {
		t.Fatal(err)
	}
	if got := installed(t, a); len(got) != 1 || got["alice/base"] != "1.0.0" || len(synced.Removed) != 2 {
		t.Fatalf("after repinning: %v, removed %v", got, synced.Removed)
	}
	if _, err := os.Stat(filepath.Join(aSouls, "mine")); err != nil {
		t.Fatal("a directory Styx did not install was removed")
	}
	check(a, aSouls, synced.Lock)

	// A lock that leaves out what a pinned version requires is refused, nothing installed.
	c, _ := project()
	partial := &Lock{Entries: map[string]LockEntry{"alice/app": lock.Entries["alice/app"]}}
	if _, err := c.Sync(ctx, partial); err == nil || !strings.Contains(err.Error(), "alice/lib is required (by alice/app@1.0.0) but not pinned") {
		t.Fatalf("partial lock: %v", err)
	}
	// The index changes the sha256 of a pinned version: refused.
	data, _ = os.ReadFile(filepath.Join(f.index, IndexFile))
	sha := lock.Entries["alice/lib"].SHA256
	os.WriteFile(filepath.Join(f.index, IndexFile), []byte(strings.Replace(string(data), sha, strings.Repeat("0", 64), 1)), 0o644)
	if _, err := SignIndex(f.index, f.indexKey); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(ctx, lock); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "styx.lock pins sha256") {
		t.Fatalf("changed sha256: %v", err)
	}
	if got := installed(t, c); got["alice/lib"] != "" {
		t.Fatalf("installed %v", got)
	}
}

// SiteHandler serves the pages BuildSite writes, byte for byte, and a search API; Update swaps in
// a newer index.
func TestSiteHandler(t *testing.T) {
	data, _ := os.ReadFile("testdata/original-registry.yaml")
	ix, err := ParseIndex("registry.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewSiteHandler(ix, "file:///srv/index")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/styx", h))
	defer srv.Close()
	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/styx" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
	}
	dir := t.TempDir()
	if err := BuildSite(ix, "file:///srv/index", dir); err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"index.html", "e/chaos-dots.html", "search.json", "style.css"} {
		want, _ := os.ReadFile(filepath.Join(dir, page))
		if code, _, body := get("/" + page); code != 200 || body != string(want) {
			t.Errorf("%s: %d, differs from the static site: %v", page, code, body != string(want))
		}
	}
	if code, ctype, body := get("/"); code != 200 || !strings.HasPrefix(ctype, "text/html") || !strings.Contains(body, "chaos-dots") {
		t.Errorf("/: %d %s", code, ctype)
	}
	var hits []SiteEntry
	code, ctype, body := get("/api/search?q=dotfle")
	if err := json.Unmarshal([]byte(body), &hits); err != nil || code != 200 || ctype != "application/json" || len(hits) != 1 ||
		hits[0].Name != "chaos-dots" || hits[0].Page != "e/chaos-dots.html" {
		t.Errorf("search: %d %s %v %v", code, body, hits, err)
	}
	if _, _, body := get("/api/search?q=zzzz"); strings.TrimSpace(body) != "[]" {
		t.Errorf("no hit: %s", body)
	}
	if code, _, _ := get("/e/../../etc/passwd"); code != 404 {
		t.Errorf("traversal: %d", code)
	}
	if resp, err := http.Post(srv.URL+"/styx/", "text/plain", nil); err != nil || resp.StatusCode != 405 {
		t.Errorf("POST: %v %v", resp, err)
	}
	ix2, err := ParseIndex("registry.yaml", append(data, []byte("  newcomer:\n    name: newcomer\n    repo: https://example.org/n\n    about: new\n    version: v1.0.0\n")...))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Update(ix2, "file:///srv/index"); err != nil {
		t.Fatal(err)
	}
	if code, _, body := get("/e/newcomer.html"); code != 200 || !strings.Contains(body, "newcomer") {
		t.Errorf("after Update: %d", code)
	}
}
