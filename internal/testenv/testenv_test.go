package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDebianRootWritableAndIsolated(t *testing.T) {
	RequireRoot(t)
	start := time.Now()
	a := DebianRoot(t)
	t.Logf("first DebianRoot: %v", time.Since(start))
	start = time.Now()
	b := DebianRoot(t)
	t.Logf("second DebianRoot: %v", time.Since(start))

	if got := strings.TrimSpace(ReadFile(t, a, "/etc/hostname")); got != "localhost" {
		t.Errorf("hostname = %q, want localhost", got)
	}
	if !strings.Contains(ReadFile(t, a, "/etc/os-release"), "VERSION_CODENAME=bookworm") {
		t.Error("not a bookworm root")
	}
	// No network sources, no SSH host keys shared between copies.
	if ents, _ := os.ReadDir(filepath.Join(a, "etc/apt/sources.list.d")); len(ents) != 0 {
		t.Errorf("sources.list.d not empty: %v", ents)
	}
	if keys, _ := filepath.Glob(filepath.Join(a, "etc/ssh/ssh_host_*")); len(keys) != 0 {
		t.Errorf("ssh host keys present: %v", keys)
	}
	// Tools the roles rely on are there.
	for _, bin := range []string{"/usr/sbin/useradd", "/usr/sbin/visudo", "/usr/sbin/locale-gen", "/usr/bin/systemctl", "/usr/bin/apt-get", "/usr/sbin/sshd"} {
		if !Exists(t, a, bin) {
			t.Errorf("%s missing", bin)
		}
	}
	if !Exists(t, a, "/usr/share/i18n/SUPPORTED") || !Exists(t, a, "/usr/share/locale/locale.alias") {
		t.Error("locale-gen inputs missing")
	}
	if !Exists(t, a, "/usr/share/zoneinfo/Europe/Berlin") {
		t.Error("zoneinfo missing")
	}

	// Writes in one root are invisible in the sibling and in the base.
	Chroot(t, a, "useradd", "-m", "alice")
	WriteFile(t, a, "/etc/chaos-marker", "a\n")
	if !strings.Contains(Chroot(t, a, "getent", "passwd", "alice"), "alice:") {
		t.Error("alice not created")
	}
	if _, _, code := ChrootResult(t, b, "getent", "passwd", "alice"); code != 2 {
		t.Errorf("alice visible in sibling root (getent exit %d)", code)
	}
	if Exists(t, b, "/etc/chaos-marker") || Exists(t, BaseRoot(t), "/etc/chaos-marker") {
		t.Error("marker leaked out of its root")
	}
	if Exists(t, b, "/home/alice") {
		t.Error("home leaked")
	}
}

func TestDebianRootCleanup(t *testing.T) {
	RequireRoot(t)
	var root string
	t.Run("inner", func(t *testing.T) {
		root = DebianRoot(t)
		WriteFile(t, root, "/x", "x")
	})
	if len(mountsUnder(root)) != 0 {
		t.Errorf("%s still mounted after the test", root)
	}
	if _, err := os.Stat(filepath.Dir(root)); !os.IsNotExist(err) {
		t.Errorf("%s not removed: %v", filepath.Dir(root), err)
	}
}

func TestAptRepoInstallUpgradeRemove(t *testing.T) {
	RequireRoot(t)
	root := DebianRoot(t)
	pkgs := []DebPkg{
		{Name: "chaos-hello", Version: "1.0", Depends: []string{"chaos-lib"},
			Files:    map[string]string{"/usr/bin/chaos-hello": "#!/bin/sh\necho hello 1.0\n", "/etc/chaos-hello.conf": "greeting=hi\n"},
			Postinst: "echo configured > /var/lib/chaos-hello.stamp\n"},
		{Name: "chaos-lib", Version: "2.3-1", Section: "libs", Files: map[string]string{"/usr/share/chaos-lib/data": "data\n"}},
		{Name: "chaos-important", Version: "1", Priority: "important"},
	}
	start := time.Now()
	if dir := AptRepo(t, root, pkgs...); dir != RepoDir {
		t.Fatalf("AptRepo = %q", dir)
	}
	t.Logf("AptRepo with %d packages: %v", len(pkgs), time.Since(start))
	if !strings.Contains(ReadFile(t, root, SourcesFile), "file:/srv/chaos-test-repo") {
		t.Error("sources file")
	}
	Chroot(t, root, "apt-get", "install", "-y", "-q", "--no-install-recommends", "chaos-hello", "chaos-important")
	if got := Chroot(t, root, "chaos-hello"); got != "hello 1.0\n" {
		t.Errorf("chaos-hello printed %q", got)
	}
	if got := ReadFile(t, root, "/var/lib/chaos-hello.stamp"); got != "configured\n" {
		t.Errorf("postinst stamp %q", got)
	}
	q := Chroot(t, root, "dpkg-query", "-W", "-f=${Package} ${Version} ${Priority} ${db:Status-Abbrev}\n", "chaos-hello", "chaos-lib", "chaos-important")
	for _, want := range []string{"chaos-hello 1.0 optional ii", "chaos-lib 2.3-1 optional ii", "chaos-important 1 important ii"} {
		if !strings.Contains(q, want) {
			t.Errorf("dpkg-query missing %q in:\n%s", want, q)
		}
	}
	if auto := Chroot(t, root, "apt-mark", "showauto"); !strings.Contains(auto, "chaos-lib") {
		t.Errorf("chaos-lib should be auto-installed: %q", auto)
	}

	// Publish a new version: the repo is replaced and apt sees it.
	pkgs[0].Version = "1.1"
	pkgs[0].Files["/usr/bin/chaos-hello"] = "#!/bin/sh\necho hello 1.1\n"
	AptRepo(t, root, pkgs...)
	Chroot(t, root, "apt-get", "install", "-y", "-q", "chaos-hello")
	if got := Chroot(t, root, "chaos-hello"); got != "hello 1.1\n" {
		t.Errorf("after upgrade chaos-hello printed %q", got)
	}

	// /etc files are conffiles: remove leaves "rc", purge removes them.
	Chroot(t, root, "apt-get", "remove", "-y", "-q", "chaos-hello")
	if st := Chroot(t, root, "dpkg-query", "-W", "-f=${db:Status-Abbrev}", "chaos-hello"); st != "rc " {
		t.Errorf("after remove status %q, want rc", st)
	}
	if !Exists(t, root, "/etc/chaos-hello.conf") {
		t.Error("conffile removed by remove")
	}
	Chroot(t, root, "apt-get", "purge", "-y", "-q", "chaos-hello")
	if Exists(t, root, "/etc/chaos-hello.conf") {
		t.Error("conffile kept after purge")
	}
}

func TestAptRepoOfflineOnly(t *testing.T) {
	RequireRoot(t)
	root := DebianRoot(t)
	AptRepo(t, root, DebPkg{Name: "chaos-one", Version: "1"})
	// Only the local repo is known: a mirror package has no candidate.
	if _, _, code := ChrootResult(t, root, "apt-get", "install", "-y", "-q", "hello"); code == 0 {
		t.Error("installing from the mirror should fail: the root must have no network sources")
	}
	if got := Chroot(t, root, "apt-cache", "policy", "chaos-one"); !strings.Contains(got, "Candidate: 1") {
		t.Errorf("policy:\n%s", got)
	}
}

// BenchmarkDebianRoot measures one overlay root: mount, remove the apt sources, unmount, remove.
func BenchmarkDebianRoot(b *testing.B) {
	RequireRoot(b)
	lower := BaseRoot(b)
	for b.Loop() {
		root, cleanup, err := newRoot(lower)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.Remove(filepath.Join(root, "etc/apt/sources.list.d/0000debian.sources")); err != nil {
			b.Fatal(err)
		}
		if err := cleanup(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAptRepo3 measures AptRepo with three packages on an existing root (build, index, apt-get update).
func BenchmarkAptRepo3(b *testing.B) {
	RequireRoot(b)
	root := DebianRoot(b)
	pkgs := []DebPkg{
		{Name: "bench-a", Version: "1", Files: map[string]string{"/usr/bin/bench-a": "#!/bin/sh\n"}},
		{Name: "bench-b", Version: "1", Depends: []string{"bench-a"}},
		{Name: "bench-c", Version: "1", Files: map[string]string{"/etc/bench-c.conf": "x\n"}, Postinst: "true"},
	}
	for b.Loop() {
		AptRepo(b, root, pkgs...)
	}
}
