package styx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// fixture is a Styx world on this machine: an index git repository (file://), artifacts served
// over loopback HTTP, and a client installing into temporary directories.
type fixture struct {
	t          testing.TB
	index      string // the index repository
	artifacts  string // what the HTTP server serves
	srv        *httptest.Server
	indexKey   *Signer
	pins       MemPins
	dir, souls string
}

func newFixture(t *testing.T) *fixture { return newFixtureTB(t) }

func newFixtureTB(t testing.TB) *fixture {
	f := &fixture{t: t, index: t.TempDir(), artifacts: t.TempDir(), indexKey: testSigner(t, "index"), pins: MemPins{},
		dir: t.TempDir(), souls: t.TempDir()}
	f.srv = httptest.NewServer(http.FileServer(http.Dir(f.artifacts)))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) client(mod ...func(*Options)) *Client {
	o := Options{Registry: "file://" + f.index, IndexKeys: []PublicKey{f.indexKey.Public()}, Dir: f.dir, SoulDir: f.souls, Pins: f.pins}
	for _, m := range mod {
		m(&o)
	}
	return New(o)
}

// soulDir writes a minimal Soul.
func soulDir(t testing.TB, name, version string, extra map[string]string) string {
	dir := t.TempDir()
	files := map[string]string{
		"soul.yaml": "name: " + name + "\nversion: " + version + "\nprotocol: 1\nexec: [./run]\nabout: says hello\n" +
			"roles:\n  - name: hello\n    summary: hello\n    keys: [hello]\n",
		"run":       "#!/bin/sh\nexit 0\n",
		"README.md": "# " + name + "\n\nSays *hello*.\n",
	}
	for k, v := range extra {
		files[k] = v
	}
	writeTree(t, dir, files)
	return dir
}

// publish packs dir into the served directory, adds it to the index and signs the index.
func (f *fixture) publish(dir string, signer *Signer) *Published {
	f.t.Helper()
	p, err := Publish(ctx, dir, f.artifacts, f.srv.URL, signer)
	if err != nil {
		f.t.Fatal(err)
	}
	f.add(p)
	return p
}

func (f *fixture) add(p *Published) {
	f.t.Helper()
	if _, err := p.AddToIndex(f.index); err != nil {
		f.t.Fatal(err)
	}
	if _, err := SignIndex(f.index, f.indexKey); err != nil {
		f.t.Fatal(err)
	}
}

// raw publishes an artifact made by hand (a hostile tarball), signed by signer.
func (f *fixture) raw(name, version string, kind Kind, data []byte, signer *Signer) *Published {
	f.t.Helper()
	file := dirName(name) + "-" + version + ".tar.gz"
	if err := os.WriteFile(filepath.Join(f.artifacts, file), data, 0o644); err != nil {
		f.t.Fatal(err)
	}
	sig, err := signer.Sign(NamespaceArtifact, data)
	if err != nil {
		f.t.Fatal(err)
	}
	p := &Published{
		Entry:   &Entry{Name: name, Kind: kind, Key: signer.Public().String()},
		Version: &Version{Version: version, URL: f.srv.URL + "/" + file, SHA256: sumHex(data), Sig: sig},
	}
	f.add(p)
	return p
}

func installed(t testing.TB, c *Client) map[string]string {
	t.Helper()
	rs, err := c.Installed()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rs {
		out[r.Name] = r.Version
	}
	return out
}

var ctx = context.Background()
