package release_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/release"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// installed checks, inside root, what every package installs: chaos runs and reports the release's
// version, the completions, man pages, Capitain unit and sysusers.d file are where the
// distribution looks for them, and the post-install step created the capitain system user.
func installed(t *testing.T, root, zshDir string) {
	t.Helper()
	out := testenv.Chroot(t, root, "chaos", "version", "--json")
	var v struct{ Version, Arch string }
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Version != testVersion || v.Arch != "amd64" {
		t.Errorf("chaos version --json in the root = %s (%v), want version %s", out, err, testVersion)
	}
	if p := strings.TrimSpace(testenv.Chroot(t, root, "sh", "-c", "command -v chaos")); p != "/usr/bin/chaos" {
		t.Errorf("chaos is at %q, want /usr/bin/chaos", p)
	}
	for _, p := range []string{
		"/usr/share/bash-completion/completions/chaos",
		zshDir + "/_chaos",
		"/usr/share/fish/vendor_completions.d/chaos.fish",
		"/usr/share/man/man1/chaos.1.gz",
		"/usr/share/man/man1/chaos-apply.1.gz",
		"/usr/lib/systemd/system/chaos-capitain.service",
		"/usr/lib/sysusers.d/chaos-capitain.conf",
	} {
		if !testenv.Exists(t, root, p) {
			t.Errorf("%s is not installed", p)
		}
	}
	if s := testenv.ReadFile(t, root, "/usr/share/bash-completion/completions/chaos"); !strings.Contains(s, "__start_chaos") {
		t.Errorf("the bash completion is not cobra's script for chaos:\n%.300s", s)
	}
	unit := testenv.ReadFile(t, root, "/usr/lib/systemd/system/chaos-capitain.service")
	for _, want := range []string{"ExecStart=/usr/bin/chaos capitain serve", "User=capitain", "ProtectSystem=strict", "StateDirectory=capitain"} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
	pw := testenv.Chroot(t, root, "getent", "passwd", "capitain")
	if f := strings.Split(strings.TrimSpace(pw), ":"); len(f) < 7 || f[5] != "/var/lib/capitain" {
		t.Errorf("capitain user = %q, want home /var/lib/capitain", pw)
	}
}

// copyIn puts the package file into root's /tmp and returns its path inside the root.
func copyIn(t *testing.T, root, pkg string) string {
	t.Helper()
	data, err := os.ReadFile(pkg)
	if err != nil {
		t.Fatal(err)
	}
	in := "/tmp/" + filepath.Base(pkg)
	if err := os.WriteFile(filepath.Join(root, in), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return in
}

// TestDebInstall: the .deb installs into a Debian root with apt (dpkg underneath), and removes.
func TestDebInstall(t *testing.T) {
	testenv.RequireRoot(t)
	_, a, _ := fullRelease(t)
	root := testenv.DebianRoot(t)
	pkg := copyIn(t, root, a.Packages["deb"]["amd64"])
	testenv.Chroot(t, root, "apt-get", "install", "-y", "-q", "--no-install-recommends", pkg)
	if st := testenv.Chroot(t, root, "dpkg-query", "-W", "-f=${Status} ${Version}", "chaos"); st != "install ok installed 1.2.3~rc.1-1" {
		t.Errorf("dpkg-query chaos = %q", st)
	}
	installed(t, root, "/usr/share/zsh/vendor-completions")
	testenv.Chroot(t, root, "dpkg", "-r", "chaos")
	if testenv.Exists(t, root, "/usr/bin/chaos") {
		t.Error("dpkg -r left /usr/bin/chaos")
	}
}

// TestRpmInstall: the .rpm installs into the Fedora-flavoured root with dnf, and removes.
func TestRpmInstall(t *testing.T) {
	testenv.RequireRoot(t)
	_, a, _ := fullRelease(t)
	root := testenv.FedoraRoot(t)
	pkg := copyIn(t, root, a.Packages["rpm"]["amd64"])
	testenv.Chroot(t, root, "dnf", "-y", "-q", "--disablerepo=*", "install", pkg)
	if q := testenv.Chroot(t, root, "rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}", "chaos"); q != "1.2.3~rc.1-1" {
		t.Errorf("rpm -q chaos = %q", q)
	}
	installed(t, root, "/usr/share/zsh/site-functions")
	testenv.Chroot(t, root, "dnf", "-y", "-q", "--disablerepo=*", "remove", "chaos")
	if testenv.Exists(t, root, "/usr/bin/chaos") {
		t.Error("dnf remove left /usr/bin/chaos")
	}
}

// TestArchInstall: the Arch package installs into the Arch-flavoured root with pacman -U, and
// removes.
func TestArchInstall(t *testing.T) {
	testenv.RequireRoot(t)
	_, a, _ := fullRelease(t)
	root := testenv.ArchRoot(t)
	// Arch's /bin/sh is bash, and nfpm writes the .INSTALL's post_install with bash's `function`
	// keyword; this root is Debian's, whose libalpm runs scriptlets with /bin/sh, dash, which rejects it.
	testenv.Chroot(t, root, "ln", "-sf", "bash", "/bin/sh")
	pkg := copyIn(t, root, a.Packages["archlinux"]["amd64"])
	testenv.Chroot(t, root, "pacman", "-U", "--noconfirm", pkg)
	if q := strings.TrimSpace(testenv.Chroot(t, root, "pacman", "-Q", "chaos")); q != "chaos 1.2.3rc.1-1" {
		t.Errorf("pacman -Q chaos = %q", q)
	}
	installed(t, root, "/usr/share/zsh/site-functions")
	testenv.Chroot(t, root, "pacman", "-R", "--noconfirm", "chaos")
	if testenv.Exists(t, root, "/usr/bin/chaos") {
		t.Error("pacman -R left /usr/bin/chaos")
	}
}

// TestPKGBUILDInstall: the release's PKGBUILD builds the Arch package with makepkg (as an
// unprivileged user, from the release's amd64 tarball, its SHA-256 checked by makepkg), pacman -U
// installs it, and it installs the same files as the release's own Arch package.
func TestPKGBUILDInstall(t *testing.T) {
	testenv.RequireRoot(t)
	_, a, _ := fullRelease(t)
	root := testenv.ArchRoot(t)
	// makepkg reads /dev/fd (a link into /proc), as under arch-chroot.
	proc := filepath.Join(root, "proc")
	if err := syscall.Mount("proc", proc, "proc", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(proc, syscall.MNT_DETACH) })
	testenv.Chroot(t, root, "useradd", "--system", "--create-home", "builder")
	build := filepath.Join(root, "home", "builder", "chaos")
	if err := os.Mkdir(build, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{a.PKGBUILD, filepath.Join(filepath.Dir(a.PKGBUILD), "chaos.install"), a.Tarballs["amd64"]} {
		copyIn(t, root, f)
		testenv.Chroot(t, root, "install", "-o", "builder", "-m", "0644", "/tmp/"+filepath.Base(f), "/home/builder/chaos/")
	}
	testenv.Chroot(t, root, "chown", "builder", "/home/builder/chaos")
	testenv.Chroot(t, root, "runuser", "-u", "builder", "--", "sh", "-c",
		"cd /home/builder/chaos && PKGEXT=.pkg.tar.gz makepkg --noconfirm --nodeps")
	// .pkg.tar.gz: the Arch-flavoured root has no zstd (makepkg's default on Arch is .pkg.tar.zst).
	built := "/home/builder/chaos/chaos-" + release.PacmanVersion(testVersion) + "-1-x86_64.pkg.tar.gz"
	testenv.Chroot(t, root, "pacman", "-U", "--noconfirm", built)
	installed(t, root, "/usr/share/zsh/site-functions")
	fromPKGBUILD := files(testenv.Chroot(t, root, "pacman", "-Qlq", "chaos"))
	// The release's own Arch package over it (a reinstall of the same version): the same files.
	testenv.Chroot(t, root, "pacman", "-U", "--noconfirm", copyIn(t, root, a.Packages["archlinux"]["amd64"]))
	fromNfpm := files(testenv.Chroot(t, root, "pacman", "-Qlq", "chaos"))
	if !slices.Equal(fromPKGBUILD, fromNfpm) {
		t.Errorf("the PKGBUILD's package installs\n%s\nthe release's Arch package\n%s", strings.Join(fromPKGBUILD, "\n"), strings.Join(fromNfpm, "\n"))
	}
}

// files are the lines of pacman -Qlq that name files, not directories, sorted.
func files(listing string) []string {
	var out []string
	for l := range strings.Lines(listing) {
		if l = strings.TrimSpace(l); l != "" && !strings.HasSuffix(l, "/") {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}
