package transport

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newChroot(t *testing.T) (*Host, string) {
	t.Helper()
	dir := minimalRoot(t)
	h, err := NewChroot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h, dir
}

// A symlink inside the tree that points outside it must never let chaos read or write there.
func TestChrootConfinesFileOps(t *testing.T) {
	h, dir := newChroot(t)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("host data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../..", filepath.Join(dir, "up")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, p := range []string{"/escape/secret", "/up" + outside + "/secret"} {
		if fi, err := h.Stat(ctx, p); err == nil && fi.Exists {
			t.Errorf("Stat(%s) read outside the root: %q", p, fi.Content)
		}
		if err := h.WriteFile(ctx, p, []byte("pwned"), 0o644, -1, -1, nil); err == nil {
			t.Errorf("WriteFile(%s) succeeded outside the root", p)
		}
		if err := h.Remove(ctx, p, false); err == nil {
			if _, serr := os.Stat(secret); serr != nil {
				t.Errorf("Remove(%s) removed a file outside the root", p)
			}
		}
	}
	if data, _ := os.ReadFile(secret); string(data) != "host data" {
		t.Fatalf("file outside the root changed: %q", data)
	}
}

func TestWriteFileAtomicAndValidated(t *testing.T) {
	h, dir := newChroot(t)
	ctx := context.Background()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := h.WriteFile(ctx, "/etc/x", []byte("one"), 0o640, -1, -1, nil); err != nil {
		t.Fatal(err)
	}
	fi, err := h.Stat(ctx, "/etc/x")
	if err != nil || string(fi.Content) != "one" || fi.Mode.Perm() != 0o640 {
		t.Fatalf("Stat = %+v, %v", fi, err)
	}
	var seen string
	bad := errors.New("rejected")
	err = h.WriteFile(ctx, "/etc/x", []byte("two"), 0o644, -1, -1, func(tmp string) error {
		seen = tmp
		data, rerr := os.ReadFile(filepath.Join(dir, tmp))
		if rerr != nil || string(data) != "two" {
			t.Errorf("validator sees %q, %v", data, rerr)
		}
		return bad
	})
	if !errors.Is(err, bad) {
		t.Fatalf("want the validator's error, got %v", err)
	}
	if !strings.HasPrefix(filepath.Base(seen), ".chaos-") || !strings.Contains(filepath.Base(seen)[1:], ".") {
		t.Errorf("temp name %q must be hidden and dotted (sudo ignores such files in sudoers.d)", seen)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "etc"))
	if len(entries) != 2 { // x and the os-release that makes the tree a root
		t.Fatalf("temp file left behind: %v", entries)
	}
	if fi, _ := h.Stat(ctx, "/etc/x"); string(fi.Content) != "one" {
		t.Fatalf("rejected write replaced the file: %q", fi.Content)
	}
}

func TestSymlinkReplacesAtomically(t *testing.T) {
	h, dir := newChroot(t)
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Symlink(ctx, "/f", "/usr/share/zoneinfo/UTC"); err != nil {
		t.Fatal(err)
	}
	fi, err := h.Stat(ctx, "/f")
	if err != nil || fi.Target != "/usr/share/zoneinfo/UTC" {
		t.Fatalf("Stat = %+v, %v", fi, err)
	}
}

func TestMissingIsNotAnError(t *testing.T) {
	h, _ := newChroot(t)
	ctx := context.Background()
	if fi, err := h.Stat(ctx, "/no/such/file"); err != nil || fi.Exists {
		t.Fatalf("Stat = %+v, %v", fi, err)
	}
	if err := h.Remove(ctx, "/no/such/file", false); err != nil {
		t.Fatal(err)
	}
	if err := h.Remove(ctx, "/", true); err == nil {
		t.Fatal("Remove(/) must be refused")
	}
}

// Programs are looked up inside the tree, never on the host.
func TestChrootLooksUpProgramsInsideTheTree(t *testing.T) {
	h, _ := newChroot(t)
	_, err := h.Run(context.Background(), Cmd{Argv: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "command not found") {
		t.Fatalf("want command not found in a tree without true, got %v", err)
	}
}

func TestLocalRun(t *testing.T) {
	res, err := NewLocal().Run(context.Background(), Cmd{Argv: []string{"sh", "-c", `printf "%s" "$X"; cat; exit 3`},
		Env: []string{"X=a b"}, Stdin: []byte("in")})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "a bin" || res.Code != 3 {
		t.Fatalf("Run = %q, code %d", res.Stdout, res.Code)
	}
	if _, err := Check(context.Background(), NewLocal(), Cmd{Argv: []string{"false"}}); err == nil {
		t.Fatal("Check(false) must fail")
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	tr, err := Open(ctx, "@local")
	if err != nil || tr.Name() != "@local" {
		t.Fatalf("Open(@local) = %v, %v", tr, err)
	}
	dir := minimalRoot(t)
	tr, err = Open(ctx, "@chroot"+dir)
	if err != nil || tr.Name() != "@chroot"+dir {
		t.Fatalf("Open chroot = %v, %v", tr, err)
	}
	_ = tr.Close()
	for _, bad := range []string{"", "@lxc/x", "@chroot/no/such/dir", "web1"} {
		if _, err := Open(ctx, bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}
