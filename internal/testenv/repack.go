package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// InstalledDebPkg rebuilds package name as installed in root (its regular files, docs left out, at
// its installed version, without maintainer scripts) as a DebPkg for AptRepo, so that a test can
// purge a package the base root has and have apt install the same files again, offline: a root
// "without locales" or "without sudo" that a role must bring the tool to.
func InstalledDebPkg(t testing.TB, root, name string, depends ...string) DebPkg {
	t.Helper()
	version := strings.TrimSpace(Chroot(t, root, "dpkg-query", "-W", "-f", "${Version}", name))
	files := map[string]string{}
	for p := range strings.SplitSeq(Chroot(t, root, "dpkg", "-L", name), "\n") {
		if p == "" || strings.HasPrefix(p, "/usr/share/doc/") {
			continue
		}
		if st, err := os.Stat(filepath.Join(root, p)); err != nil || !st.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		files[p] = string(b)
	}
	if len(files) == 0 {
		t.Fatalf("testenv: package %s has no files in %s", name, root)
	}
	return DebPkg{Name: name, Version: version, Depends: depends, Files: files}
}
