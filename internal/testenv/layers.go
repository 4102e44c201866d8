package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// layerRecipe versions BaseRootWith's build steps: change it when they change.
const layerRecipe = "apt-install-v1"

// BaseRootWith returns a cached, read-only root: the base root (BaseRoot) plus the given Debian
// packages, installed from this machine's Debian mirror configuration
// (/etc/apt/sources.list.d/debian.sources, else deb.debian.org) the first time, and kept under the
// cache directory keyed by the base, the package list and the recipe. The result has no apt
// sources and no package lists. Benchmarks use it to give SSH test hosts what a peer tool needs on
// its targets (python3 for Ansible); tests should prefer AptRepo, which needs no network.
func BaseRootWith(t testing.TB, pkgs ...string) string {
	t.Helper()
	base := BaseRoot(t)
	pkgs = slices.Sorted(slices.Values(pkgs))
	sum := sha256.Sum256([]byte(filepath.Base(base) + "\x00" + layerRecipe + "\x00" + strings.Join(pkgs, " ")))
	dir := base + "-with-" + hex.EncodeToString(sum[:])[:12]
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return dir
	}
	// Parallel test processes build it once.
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return dir
	}
	t.Logf("testenv: building %s (base + %s; one-time, needs the Debian mirror)", dir, strings.Join(pkgs, " "))
	tmp := fmt.Sprintf("%s.tmp-%d", dir, os.Getpid())
	_ = os.RemoveAll(tmp)
	if out, err := exec.Command("cp", "-a", "--reflink=auto", base, tmp).CombinedOutput(); err != nil {
		t.Fatalf("testenv: copying the base root: %v\n%s", err, out)
	}
	defer os.RemoveAll(tmp)
	sources, err := os.ReadFile("/etc/apt/sources.list.d/debian.sources")
	if err != nil {
		sources = []byte("Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n" +
			"Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
	}
	list := filepath.Join(tmp, "etc/apt/sources.list.d/chaos-layer.sources")
	if err := os.WriteFile(list, sources, 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if resolv, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		_ = os.Remove(filepath.Join(tmp, "etc/resolv.conf"))
		_ = os.WriteFile(filepath.Join(tmp, "etc/resolv.conf"), resolv, 0o644)
	}
	steps := [][]string{
		{"apt-get", "-q", "update"},
		append([]string{"apt-get", "-q", "-y", "--no-install-recommends", "install"}, pkgs...),
		{"apt-get", "clean"},
	}
	for _, argv := range steps {
		if _, stderr, code := ChrootResult(t, tmp, argv...); code != 0 {
			t.Fatalf("testenv: building %s: %s: exit %d\n%s", dir, strings.Join(argv, " "), code, tail(stderr, 3000))
		}
	}
	_ = os.Remove(list)
	lists, _ := filepath.Glob(filepath.Join(tmp, "var/lib/apt/lists/*_*"))
	for _, l := range lists {
		_ = os.Remove(l)
	}
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return dir
}

// rootOn is DebianRoot over lower ("" for the base root).
func rootOn(t testing.TB, lower string) string {
	t.Helper()
	if lower == "" {
		return DebianRoot(t)
	}
	RequireRoot(t)
	return overlay(t, lower)
}

// DebianRootWith is a fresh writable root over BaseRootWith(pkgs...): the base root plus those
// Debian packages (git for a test that clones), removed when the test ends.
func DebianRootWith(t testing.TB, pkgs ...string) string {
	t.Helper()
	return rootOn(t, BaseRootWith(t, pkgs...))
}
