package styx

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(content, "#!") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// Packing is reproducible: the same tree packed twice, with other mtimes, modes and a .git
// directory in between, gives the same bytes.
func TestPackReproducible(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"soul.yaml": "name: x\n", "bin/run": "#!/bin/sh\n", "b/c/d.txt": "d", ".git/HEAD": "ref"})
	os.Symlink("bin/run", filepath.Join(dir, "run"))
	var one, two bytes.Buffer
	if err := PackGzip(dir, &one); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error { return os.Chtimes(p, later, later) })
	os.Chmod(filepath.Join(dir, "soul.yaml"), 0o600)
	os.WriteFile(filepath.Join(dir, ".git", "index"), []byte("other"), 0o644)
	if err := PackGzip(dir, &two); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(one.Bytes(), two.Bytes()) {
		t.Fatal("two packs of the same tree differ")
	}
	zr, _ := gzip.NewReader(bytes.NewReader(one.Bytes()))
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || !h.ModTime.Equal(packTime) {
			t.Errorf("%s: uid %d gid %d %q mtime %v", h.Name, h.Uid, h.Gid, h.Uname, h.ModTime)
		}
		names = append(names, h.Name)
	}
	if got := strings.Join(names, " "); got != "b/ b/c/ b/c/d.txt bin/ bin/run run soul.yaml" {
		t.Fatalf("entries = %s", got)
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := Unpack(bytes.NewReader(one.Bytes()), out, DefaultLimits); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(out, "bin/run")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("bin/run = %v %v", fi, err)
	}
	a, _ := TreeDigest(dir)
	b, _ := TreeDigest(out)
	if a != b || !strings.HasPrefix(a, "sha256:") {
		t.Fatalf("tree digests %s %s", a, b)
	}
	os.WriteFile(filepath.Join(out, "b/c/d.txt"), []byte("e"), 0o644)
	if c, _ := TreeDigest(out); c == a {
		t.Fatal("a changed tree has the same digest")
	}
	os.Symlink("/etc/passwd", filepath.Join(dir, "abs"))
	if err := PackGzip(dir, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "only relative links") {
		t.Fatalf("an absolute link was packed: %v", err)
	}
}

type tarEntry struct {
	h    tar.Header
	body string
}

func hostile(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := e.h
		if h.Typeflag == tar.TypeReg && h.Size == 0 {
			h.Size = int64(len(e.body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if e.body != "" {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func file(name, body string) tarEntry {
	return tarEntry{h: tar.Header{Name: name, Typeflag: tar.TypeReg}, body: body}
}

func link(name, target string) tarEntry {
	return tarEntry{h: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target}}
}

// Hostile tarballs are refused, and nothing of them is left: not in the target, not beside it.
func TestUnpackRefusesHostileArtifacts(t *testing.T) {
	huge := tarEntry{h: tar.Header{Name: "huge", Typeflag: tar.TypeReg, Size: 1 << 40}}
	many := make([]tarEntry, 0, 20)
	for i := range 20 {
		many = append(many, file(strings.Repeat("f", i+1), "x"))
	}
	cases := map[string]struct {
		entries []tarEntry
		want    string
	}{
		"dotdot":           {[]tarEntry{file("ok", "x"), file("../escaped", "x")}, "leaves the directory"},
		"nested dotdot":    {[]tarEntry{file("a/../../escaped", "x")}, "leaves the directory"},
		"absolute":         {[]tarEntry{file("/tmp/escaped", "x")}, "absolute path"},
		"absolute symlink": {[]tarEntry{link("passwd", "/etc/passwd")}, "only relative links"},
		"symlink out":      {[]tarEntry{link("a/up", "../../etc")}, "points out of the tree"},
		"through symlink":  {[]tarEntry{link("d", "."), file("d/x", "x")}, "not a directory"},
		"device node":      {[]tarEntry{{h: tar.Header{Name: "null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}}, "character device"},
		"fifo":             {[]tarEntry{{h: tar.Header{Name: "p", Typeflag: tar.TypeFifo}}}, "FIFO"},
		"hard link":        {[]tarEntry{file("a", "x"), {h: tar.Header{Name: "b", Typeflag: tar.TypeLink, Linkname: "a"}}}, "hard link"},
		"huge file":        {[]tarEntry{huge}, "larger than"},
		"too many files":   {many, "more than 10 entries"},
		"duplicate":        {[]tarEntry{file("a", "x"), file("a", "y")}, "appears twice"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "soul")
			err := Unpack(bytes.NewReader(hostile(t, c.entries...)), dir, Limits{MaxBytes: 1 << 20, MaxFiles: 10})
			if !errors.Is(err, ErrUnsafeArtifact) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			left, _ := os.ReadDir(parent)
			if len(left) != 0 {
				t.Fatalf("left behind: %v", left)
			}
			if _, err := os.Lstat(filepath.Join(filepath.Dir(parent), "escaped")); err == nil {
				t.Fatal("a file was written outside")
			}
		})
	}
	// What the refusals leave possible: relative links inside, directories not listed.
	dir := filepath.Join(t.TempDir(), "ok")
	if err := Unpack(bytes.NewReader(hostile(t, file("a/b/c", "x"), link("a/l", "b/c"), link("top", "a"))), dir, DefaultLimits); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "a/l")); err != nil || string(data) != "x" {
		t.Fatalf("a/l = %q %v", data, err)
	}
}
