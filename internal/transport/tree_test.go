package transport

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestTreeResolvesInsideRoot: a chroot's tree resolves absolute symlinks and ".." inside the
// chroot, as a process chrooted there does, and a TreeDir looks up names, never paths.
func TestTreeResolvesInsideRoot(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin", "etc", "srv/d"} {
		must(os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	must(os.WriteFile(filepath.Join(dir, "bin/sh"), nil, 0o755))
	must(os.WriteFile(filepath.Join(dir, "etc/os-release"), []byte("ID=debian\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "srv/d/f"), []byte("inside\n"), 0o644))
	must(os.Symlink("/srv/d", filepath.Join(dir, "srv/abs")))           // absolute: the chroot's /srv/d
	must(os.Symlink("../../../../../..", filepath.Join(dir, "srv/up"))) // clamped at the chroot's /
	must(os.Symlink("/etc/passwd", filepath.Join(dir, "srv/d/host")))   // never the machine's
	h, err := NewChroot(dir)
	must(err)
	defer h.Close()
	tree, ok := h.Tree()
	if !ok {
		t.Fatal("no tree on a chroot")
	}
	for _, p := range []string{"/srv/abs/f", "/srv/up/srv/d/f", "/srv/abs/../abs/f"} {
		data, err := tree.ReadFile(p)
		if err != nil || string(data) != "inside\n" {
			t.Errorf("%s: %q, %v", p, data, err)
		}
	}
	if _, err := tree.ReadFile("/srv/d/host"); err == nil {
		t.Error("/srv/d/host: read the machine's /etc/passwd through an absolute symlink")
	}
	d, err := tree.OpenDir("/srv/abs/")
	must(err)
	defer d.Close()
	if st, err := d.Lstat("host"); err != nil || st.Mode&0o170000 != 0o120000 {
		t.Errorf("Lstat(host) = %+v, %v: want the symlink itself", st, err)
	}
	if st, err := d.Lstat(""); err != nil || st.Mode&0o170000 != 0o040000 {
		t.Errorf("Lstat(\"\") = %+v, %v: want the directory", st, err)
	}
	if target, err := d.Readlink("host"); err != nil || target != "/etc/passwd" {
		t.Errorf("Readlink(host) = %q, %v", target, err)
	}
	if _, err := d.Open("host"); err == nil {
		t.Error("Open followed a symlink")
	}
	r, err := d.Open("f")
	must(err)
	data, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil || string(data) != "inside\n" {
		t.Errorf("Open(f): %q, %v", data, err)
	}
	if n, err := d.Entries(""); err != nil || n != 2 {
		t.Errorf("Entries = %d, %v, want 2", n, err)
	}
	for _, bad := range []string{"..", ".", "a/b"} {
		if _, err := d.Lstat(bad); err == nil {
			t.Errorf("Lstat(%q): no error", bad)
		}
	}
	if _, err := tree.OpenDir("/srv/d/f"); err == nil {
		t.Error("OpenDir of a file: no error")
	}
	if _, ok := (&Host{ns: &nsTarget{}}).Tree(); ok {
		t.Error("an nsenter target must not offer a tree")
	}
}
