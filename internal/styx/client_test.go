package styx

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/souls"
)

func TestInvokeUpdateDestroyLock(t *testing.T) {
	f := newFixture(t)
	alice := testSigner(t, "alice")
	bundle := t.TempDir()
	writeTree(t, bundle, map[string]string{"styx.yaml": "name: alice/base\nversion: 1.0.0\nabout: a base\ntags: [base]\n",
		"chobolo.yml": "hostname: base\n"})
	f.publish(bundle, alice)
	f.publish(soulDir(t, "alice/hello", "1.0.0", nil), alice)
	f.publish(soulDir(t, "alice/hello", "1.1.0", map[string]string{"styx.yaml": "requires: {alice/base: ^1.0}\nlicense: MIT\n"}), alice)

	c := f.client()
	res, err := c.Invoke(ctx, []string{"alice/hello"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := installed(t, c); got["alice/hello"] != "1.1.0" || got["alice/base"] != "1.0.0" || len(res) != 2 {
		t.Fatalf("installed %v, results %+v", got, res)
	}
	found, errs := souls.Discover([]string{f.souls})
	if len(errs) > 0 || len(found) != 1 || found[0].Manifest.Name != "alice/hello" || found[0].Manifest.Version != "1.1.0" {
		t.Fatalf("discovered %v %v", found, errs)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "chobolos", "alice.base@1.0.0", "chobolo.yml")); err != nil {
		t.Fatal(err)
	}
	if k, ok := f.pins["alice"]; !ok || k != alice.Public().String() {
		t.Fatalf("pins = %v", f.pins)
	}
	// Again: nothing to do, from the cache, offline (the index server is gone).
	os.Rename(f.index, f.index+".gone")
	res, err = c.Invoke(ctx, []string{"alice/hello"}, nil)
	os.Rename(f.index+".gone", f.index)
	if err != nil || res[0].Action != "unchanged" || res[1].Action != "unchanged" {
		t.Fatalf("second invoke: %+v %v", res, err)
	}
	res, err = c.Invoke(ctx, []string{"alice/hello@1.0.0"}, nil)
	if err != nil || res[0].Action != "downgraded from 1.1.0" {
		t.Fatalf("pinned invoke: %+v %v", res, err)
	}
	stores, _ := os.ReadDir(filepath.Join(f.souls, storeDir))
	if len(stores) != 1 {
		t.Fatalf("old versions left in the store: %v", stores)
	}
	res, err = c.Update(ctx)
	if err != nil || len(res) != 2 || res[1].Action != "upgraded from 1.0.0" {
		t.Fatalf("update: %+v %v", res, err)
	}

	lock, err := c.Lock()
	if err != nil {
		t.Fatal(err)
	}
	lockFile := filepath.Join(t.TempDir(), LockFile)
	if err := lock.Write(lockFile); err != nil {
		t.Fatal(err)
	}
	lock, err = ReadLock(lockFile)
	if err != nil || lock.Entries["alice/hello"].Version != "1.1.0" {
		t.Fatalf("lock %+v %v", lock, err)
	}
	discovered := func() []InstalledSoul {
		found, _ := souls.Discover([]string{f.souls})
		var out []InstalledSoul
		for _, s := range found {
			out = append(out, InstalledSoul{s.Manifest.Name, s.Manifest.Version, s.Dir})
		}
		return out
	}
	if err := lock.Check(discovered(), filepath.Join(f.dir, "chobolos")); err != nil {
		t.Fatal(err)
	}
	// A Soul changed after install: verify and the lock say so.
	run := filepath.Join(f.souls, "alice.hello", "run")
	os.WriteFile(run, []byte("#!/bin/sh\necho evil\n"), 0o755)
	checks, err := c.Verify()
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, ch := range checks {
		if !ch.OK {
			bad = append(bad, ch.Ref+": "+ch.Problem)
		}
	}
	if len(bad) != 1 || !strings.Contains(bad[0], "alice/hello@1.1.0: ") || !strings.Contains(bad[0], "changed after it was installed") {
		t.Fatalf("verify: %v", bad)
	}
	if err := lock.Check(discovered(), filepath.Join(f.dir, "chobolos")); err == nil || !strings.Contains(err.Error(), "differs from the lock") {
		t.Fatalf("lock check of a changed Soul: %v", err)
	}
	// Invoking from the lock repairs it.
	if _, err := c.Invoke(ctx, nil, lock); err != nil {
		t.Fatal(err)
	}
	if err := lock.Check(discovered(), filepath.Join(f.dir, "chobolos")); err != nil {
		t.Fatal(err)
	}
	// A bundle changed after the lock, too.
	os.WriteFile(filepath.Join(f.dir, "chobolos", "alice.base@1.0.0", "chobolo.yml"), []byte("hostname: evil\n"), 0o644)
	if err := lock.Check(discovered(), filepath.Join(f.dir, "chobolos")); err == nil || !strings.Contains(err.Error(), "the bundle alice/base@1.0.0 at ") {
		t.Fatalf("lock check of a changed bundle: %v", err)
	}
	if _, err := c.Invoke(ctx, nil, lock); err != nil {
		t.Fatal(err)
	}
	gone, err := c.Destroy("alice/hello")
	if err != nil || len(gone) != 1 {
		t.Fatalf("destroy: %v %v", gone, err)
	}
	if found, _ := souls.Discover([]string{f.souls}); len(found) != 0 {
		t.Fatalf("still discovered: %v", found)
	}
	if err := lock.Check(discovered(), filepath.Join(f.dir, "chobolos")); err == nil || !strings.Contains(err.Error(), "locked but not installed") {
		t.Fatalf("lock check without the Soul: %v", err)
	}
	if _, err := c.Destroy("alice/hello"); err == nil {
		t.Fatal("destroying what is not installed succeeded")
	}
}

// Each trust failure is refused with its reason, and nothing is installed.
func TestInvokeRefusals(t *testing.T) {
	alice, mallory := testSigner(t, "alice"), testSigner(t, "mallory")
	good := func(f *fixture) []byte {
		p, err := Publish(ctx, soulDir(t, "x", "1.0.0", nil), t.TempDir(), f.srv.URL, alice)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(p.File)
		return data
	}
	cases := map[string]struct {
		setup func(f *fixture)
		want  string
	}{
		"tampered artifact": {func(f *fixture) {
			f.raw("x", "1.0.0", KindSoul, good(f), alice)
			data, _ := os.ReadFile(filepath.Join(f.artifacts, "x-1.0.0.tar.gz"))
			data[len(data)/2] ^= 1
			os.WriteFile(filepath.Join(f.artifacts, "x-1.0.0.tar.gz"), data, 0o644)
		}, "hash mismatch"},
		"wrong signature": {func(f *fixture) {
			f.raw("x", "1.0.0", KindSoul, good(f), mallory)
			// The index says alice's key, the signature is mallory's.
			data, _ := os.ReadFile(filepath.Join(f.index, IndexFile))
			os.WriteFile(filepath.Join(f.index, IndexFile), []byte(strings.Replace(string(data), mallory.Public().String(), alice.Public().String(), 1)), 0o644)
			if _, err := SignIndex(f.index, f.indexKey); err != nil {
				t.Fatal(err)
			}
		}, "bad signature: made by"},
		"changed publisher key": {func(f *fixture) {
			f.pins["x"] = alice.Public().String()
			f.raw("x", "1.0.0", KindSoul, good(f), mallory)
		}, "the publisher key of x changed"},
		"unsigned artifact": {func(f *fixture) {
			f.raw("x", "1.0.0", KindSoul, good(f), alice)
			data, _ := os.ReadFile(filepath.Join(f.index, IndexFile))
			s := string(data)
			i := strings.Index(s, "sig: |")
			j := strings.Index(s[i:], "-----END SSH SIGNATURE-----") + i + len("-----END SSH SIGNATURE-----\n")
			os.WriteFile(filepath.Join(f.index, IndexFile), []byte(s[:i]+s[j:]), 0o644)
			SignIndex(f.index, f.indexKey)
		}, "the artifact is unsigned"},
		"dotdot tarball": {func(f *fixture) {
			f.raw("x", "1.0.0", KindSoul, hostile(t, file("soul.yaml", "name: x\n"), file("../evil", "x")), alice)
		}, "leaves the directory"},
		"absolute symlink tarball": {func(f *fixture) {
			f.raw("x", "1.0.0", KindSoul, hostile(t, link("soul.yaml", "/etc/passwd")), alice)
		}, "only relative links"},
		"hostile index mirror": {func(f *fixture) {
			f.raw("x", "1.0.0", KindSoul, good(f), alice)
			if _, err := SignIndex(f.index, mallory); err != nil {
				t.Fatal(err)
			}
		}, "is not a trusted index key"},
		"index changed after signing": {func(f *fixture) {
			f.raw("x", "1.0.0", KindSoul, good(f), alice)
			data, _ := os.ReadFile(filepath.Join(f.index, IndexFile))
			os.WriteFile(filepath.Join(f.index, IndexFile), append(data, []byte("  y: {version: 1.0.0}\n")...), 0o644)
			commitFiles(f.index, "sneak", IndexFile)
		}, "the index's signature: bad signature"},
		"not the entry's Soul": {func(f *fixture) {
			p, _ := Publish(ctx, soulDir(t, "y", "1.0.0", nil), t.TempDir(), f.srv.URL, alice)
			data, _ := os.ReadFile(p.File)
			f.raw("x", "1.0.0", KindSoul, data, alice)
		}, "the artifact is the Soul y 1.0.0, not x 1.0.0"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			tc.setup(f)
			c := f.client()
			_, err := c.Invoke(ctx, []string{"x"}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if got := installed(t, c); len(got) != 0 {
				t.Fatalf("installed: %v", got)
			}
			left, _ := os.ReadDir(f.souls)
			for _, e := range left {
				if e.Name() != storeDir {
					t.Fatalf("left in the Soul path: %s", e.Name())
				}
			}
			store, _ := os.ReadDir(filepath.Join(f.souls, storeDir))
			if len(store) != 0 {
				t.Fatalf("left in the store: %v", store)
			}
			if name == "unsigned artifact" {
				if _, err := f.client(func(o *Options) { o.AllowUnsigned = true }).Invoke(ctx, []string{"x"}, nil); err != nil {
					t.Fatalf("--allow-unsigned: %v", err)
				}
			}
			if name == "tampered artifact" && !errors.Is(err, ErrRefused) {
				t.Fatalf("not ErrRefused: %v", err)
			}
		})
	}
}

// An install that fails midway (a hostile tarball of the next version) leaves the previous
// version installed and intact.
func TestFailedInstallKeepsPreviousVersion(t *testing.T) {
	f := newFixture(t)
	alice := testSigner(t, "alice")
	f.publish(soulDir(t, "x", "1.0.0", nil), alice)
	c := f.client()
	if _, err := c.Invoke(ctx, []string{"x"}, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := TreeDigest(filepath.Join(f.souls, "x"))
	f.raw("x", "2.0.0", KindSoul, hostile(t, file("soul.yaml", "name: x\nversion: 2.0.0\n"), file("run", "x"), file("a/../../b", "x")), alice)
	c = f.client()
	if _, err := c.UpdateIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Invoke(ctx, []string{"x"}, nil); err == nil {
		t.Fatal("the hostile version installed")
	}
	after, _ := TreeDigest(filepath.Join(f.souls, "x"))
	found, _ := souls.Discover([]string{f.souls})
	if after != before || len(found) != 1 || found[0].Manifest.Version != "1.0.0" || installed(t, c)["x"] != "1.0.0" {
		t.Fatalf("previous version damaged: %s %s %v", before, after, found)
	}
	checks, _ := c.Verify()
	if len(checks) != 1 || !checks[0].OK {
		t.Fatalf("verify: %+v", checks)
	}
}

func TestYankedAndConflicts(t *testing.T) {
	f := newFixture(t)
	alice := testSigner(t, "alice")
	for _, v := range []string{"1.0.0", "1.1.0"} {
		f.publish(soulDir(t, "lib", v, nil), alice)
	}
	f.publish(soulDir(t, "a", "1.0.0", map[string]string{"styx.yaml": "requires: {lib: \">=1.1\"}\n"}), alice)
	f.publish(soulDir(t, "b", "1.0.0", map[string]string{"styx.yaml": "requires: {lib: <1.1}\n"}), alice)
	data, _ := os.ReadFile(filepath.Join(f.index, IndexFile))
	// Yank lib 1.1.0.
	s := strings.Replace(string(data), "version: 1.1.0\n", "version: 1.1.0\n        yanked: broken\n", 1)
	os.WriteFile(filepath.Join(f.index, IndexFile), []byte(s), 0o644)
	if _, err := SignIndex(f.index, f.indexKey); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	ix, err := c.Index(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v := ix.Entries["lib"].Latest(); v == nil || v.Version != "1.0.0" {
		t.Fatalf("latest = %v\n%s", v, s)
	}
	picks, err := Resolve(ix, []Request{{Name: "lib"}}, nil, nil)
	if err != nil || picks[0].Version.Version != "1.0.0" {
		t.Fatalf("lib: %v %v", picks, err)
	}
	// Pinned in a lock, the yanked version installs.
	picks, err = Resolve(ix, []Request{{Name: "lib", Range: "1.1.0"}}, map[string]string{"lib": "1.1.0"}, nil)
	if err != nil || picks[0].Version.Version != "1.1.0" {
		t.Fatalf("locked lib: %v %v", picks, err)
	}
	_, err = Resolve(ix, []Request{{Name: "a"}}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "lib: no version satisfies >=1.1 (from a@1.0.0); the index has 1.1.0, 1.0.0; left out: 1.1.0 (yanked: broken)") {
		t.Fatalf("a: %v", err)
	}
	_, err = Resolve(ix, []Request{{Name: "a"}, {Name: "b"}}, map[string]string{"lib": "1.1.0"}, nil)
	if err == nil || !strings.Contains(err.Error(), ">=1.1 (from a@1.0.0) and <1.1 (from b@1.0.0)") {
		t.Fatalf("a and b: %v", err)
	}
	if _, err := c.Invoke(ctx, []string{"a"}, nil); err == nil || installed(t, c)["a"] != "" {
		t.Fatalf("invoke a: %v", err)
	}
}

// The original's entries list, and invoking one says what the Go chaos offers instead.
func TestWheelEntries(t *testing.T) {
	f := newFixture(t)
	data, _ := os.ReadFile("testdata/original-registry.yaml")
	os.WriteFile(filepath.Join(f.index, IndexFile), data, 0o644)
	if _, err := SignIndex(f.index, f.indexKey); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	for ref, want := range map[string]string{
		"chaos-dots":    "the dotfiles Soul",
		"chaos-secrets": "secrets templates are built in",
		"ch-aronte":     "the Arch core and its roles",
	} {
		_, err := c.Invoke(ctx, []string{ref}, nil)
		if err == nil || !strings.Contains(err.Error(), "is a Python wheel for the original Ch-aOS") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", ref, err)
		}
	}
	// The original's $CHAOS_STYX_REGISTRY named the raw file: served over HTTP with its .sig.
	os.WriteFile(filepath.Join(f.artifacts, "registry.yaml"), data, 0o644)
	sig, _ := os.ReadFile(filepath.Join(f.index, IndexSigFile))
	os.WriteFile(filepath.Join(f.artifacts, "registry.yaml.sig"), sig, 0o644)
	ix, err := f.client(func(o *Options) { o.Registry = f.srv.URL + "/registry.yaml" }).UpdateIndex(ctx)
	if err != nil || len(ix.Entries) != 3 {
		t.Fatalf("raw registry over HTTP: %v", err)
	}
}

// Two invokes at once (a terminal and a server) both land: installing is serialised.
func TestConcurrentInvokes(t *testing.T) {
	f := newFixture(t)
	alice := testSigner(t, "alice")
	names := []string{"a", "b", "c", "d"}
	for _, n := range names {
		f.publish(soulDir(t, n, "1.0.0", nil), alice)
	}
	errs := make(chan error, len(names))
	for _, n := range names {
		go func() {
			_, err := f.client().Invoke(ctx, []string{n}, nil)
			errs <- err
		}()
	}
	for range names {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := installed(t, f.client()); len(got) != len(names) {
		t.Fatalf("installed %v", got)
	}
}
