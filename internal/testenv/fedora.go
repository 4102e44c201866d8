package testenv

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/shell"
)

// The Fedora core's fixture: scripts/fedora-root.sh builds (once per recipe) a Debian bookworm root
// with Debian's dnf 4.14, rpm 4.18 (rpmbuild) and createrepo_c, whose /etc/os-release says ID=fedora
// VERSION_ID=39, whose rpm database lives at Fedora's /usr/lib/sysimage/rpm (/etc/rpm/macros.dbpath),
// with /etc/dnf/vars/releasever = 39, Fedora's default dnf.conf and an empty /etc/yum.repos.d. It is a
// real dnf/libdnf and rpm on a real root, not a Fedora system: rpm's database starts empty.

var fedoraBase struct {
	sync.Mutex
	dir string
}

// FedoraBaseRoot returns the cached, read-only Fedora-flavoured base root, building it first with
// scripts/fedora-root.sh when it is missing (about 1-2 minutes, once per machine and recipe).
func FedoraBaseRoot(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	fedoraBase.Lock()
	defer fedoraBase.Unlock()
	if fedoraBase.dir != "" {
		return fedoraBase.dir
	}
	script := filepath.Join(RepoRoot(t), "scripts", "fedora-root.sh")
	data, err := os.ReadFile(script)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	sum := sha256.Sum256(data)
	dir := filepath.Join(cacheDir(), "fedoraish-"+hex.EncodeToString(sum[:])[:12])
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Logf("testenv: building the Fedora-flavoured base root with %s (one-time)...", script)
		cmd := exec.Command("bash", script, cacheDir())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("testenv: %s failed: %v\n%s", script, err, tail(stderr.String(), 4000))
		}
		dir = strings.TrimSpace(stdout.String())
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Fatalf("testenv: %s printed %q, which is not a directory", script, dir)
		}
	}
	fedoraBase.dir = dir
	return dir
}

func cacheDir() string {
	if c := os.Getenv(CacheDirEnv); c != "" {
		return c
	}
	return DefaultCacheDir
}

// FedoraRoot returns a fresh writable Fedora-flavoured root (see FedoraBaseRoot): an overlay over the
// cached base, unmounted and removed when the test ends. dnf and rpm work in it (run them with
// Chroot); it has no dnf repositories until RpmRepo publishes one.
func FedoraRoot(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	lower := FedoraBaseRoot(t)
	return overlay(t, lower)
}

// RpmPkg describes a tiny noarch rpm for RpmRepo. It is built with rpmbuild with AutoReqProv: no, so
// it requires exactly what Requires says (nothing provides /bin/sh in the fixture's rpm database).
type RpmPkg struct {
	Name     string
	Version  string   // default "1.0"
	Release  string   // default "1"
	Requires []string // e.g. "chaos-lib >= 1.0"
	Provides []string // e.g. "chaos-virt"
	// Files maps absolute paths to contents; files in a bin/ directory or starting with "#!" are 0755.
	// Files under /etc/ are %config(noreplace).
	Files map[string]string
	// Dirs are directories the package owns (%dir), as Fedora's guidelines want of every directory
	// a package creates: rpm removes an owned directory with the package's last file, and leaves
	// one nobody owns.
	Dirs []string
	// Post and Preun are the %post and %preun scriptlets (sh; $1 is rpm's instance count).
	Post, Preun string
}

// ServiceRpmPkg is a package shipping /usr/lib/systemd/system/NAME.service (unit) and a preset
// enabling it, with the scriptlets Fedora's %systemd_post and %systemd_preun macros amount to: on a
// first install `systemctl --no-reload preset` (which enables what the presets say, as on Fedora for
// the units its presets list), on the last erase `systemctl --no-reload disable`. systemctl works
// offline in a root where systemd does not run.
func ServiceRpmPkg(name, unit string) RpmPkg {
	u := shell.Quote(name + ".service")
	return RpmPkg{Name: name,
		Files: map[string]string{"/usr/lib/systemd/system/" + name + ".service": unit,
			"/usr/lib/systemd/system-preset/80-" + name + ".preset": "enable " + name + ".service\n"},
		Post:  "if [ $1 -eq 1 ]; then systemctl --no-reload preset " + u + " || :; fi\n",
		Preun: "if [ $1 -eq 0 ]; then systemctl --no-reload disable " + u + " || :; fi\n",
	}
}

// RpmGroup is a comps group for RpmRepo: `dnf install @ID` installs its packages.
type RpmGroup struct {
	ID       string
	Name     string   // default ID
	Packages []string // mandatory packages
}

// RpmRepoID and RpmRepoDir are the repository RpmRepo publishes, as a dnf repo id and a path
// inside the root (baseurl=file:///srv/chaos-rpm-repo).
const (
	RpmRepoID   = "chaos-test"
	RpmRepoDir  = "/srv/chaos-rpm-repo"
	RpmRepoFile = "/etc/yum.repos.d/chaos-test.repo"
)

// RpmRepoConf is the .repo file RpmRepo writes (no signatures; metadata never considered fresh, so
// every dnf run sees a republished repository).
const RpmRepoConf = "[" + RpmRepoID + "]\nname=chaos test repository\nbaseurl=file://" + RpmRepoDir +
	"\nenabled=1\ngpgcheck=0\nmetadata_expire=0\n"

// RpmRepo builds pkgs (cached by their spec under the test cache directory), publishes them with
// createrepo_c (and groups as comps.xml) at RpmRepoDir inside root, replacing an earlier one, writes
// RpmRepoFile and runs `dnf makecache` in the root. It returns RpmRepoDir.
func RpmRepo(t testing.TB, root string, groups []RpmGroup, pkgs ...RpmPkg) string {
	t.Helper()
	RpmPublish(t, root, RpmRepoDir, groups, pkgs...)
	WriteFile(t, root, RpmRepoFile, RpmRepoConf)
	Chroot(t, root, "dnf", "-q", "-y", "makecache")
	return RpmRepoDir
}

// RpmPublish builds pkgs and publishes them (and groups) as a repository at dir (a path inside
// root), without any .repo file or dnf call.
func RpmPublish(t testing.TB, root, dir string, groups []RpmGroup, pkgs ...RpmPkg) {
	t.Helper()
	full := filepath.Join(root, dir)
	if err := os.RemoveAll(full); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := os.MkdirAll(full, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	cache := filepath.Join(cacheDir(), "rpms")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	// Build the missing ones in the root (its rpmbuild), in one chroot call.
	const build = "/var/tmp/chaos-rpmbuild"
	var script strings.Builder
	script.WriteString("set -e\n")
	type built struct{ cached, file string }
	var outs []built
	for i, p := range pkgs {
		spec, tree, err := rpmSpec(p, fmt.Sprintf("%s/trees/%d", build, i))
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		sum := sha256.Sum256([]byte(spec))
		key := hex.EncodeToString(sum[:])[:16]
		file := fmt.Sprintf("%s-%s-%s.noarch.rpm", p.Name, p.version(), p.release())
		cached := filepath.Join(cache, key+"-"+file)
		outs = append(outs, built{cached, file})
		if _, err := os.Stat(cached); err == nil {
			continue
		}
		for path, content := range tree {
			full := filepath.Join(root, build, "trees", fmt.Sprint(i), path)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatalf("testenv: %v", err)
			}
			mode := os.FileMode(0o644)
			if strings.HasPrefix(content, "#!") || strings.HasSuffix(filepath.Dir(path), "bin") {
				mode = 0o755
			}
			if err := os.WriteFile(full, []byte(content), mode); err != nil {
				t.Fatalf("testenv: %v", err)
			}
		}
		WriteFile(t, root, fmt.Sprintf("%s/SPECS/%d.spec", build, i), spec)
		fmt.Fprintf(&script, "rpmbuild --quiet --define '_topdir %s' --define '_rpmdir %s/out' --define '_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm' -bb %s/SPECS/%d.spec\n",
			build, build, build, i)
	}
	if strings.Count(script.String(), "\n") > 1 {
		Chroot(t, root, "sh", "-c", script.String())
		for _, o := range outs {
			if _, err := os.Stat(o.cached); err == nil {
				continue
			}
			data, err := os.ReadFile(filepath.Join(root, build, "out", o.file))
			if err != nil {
				t.Fatalf("testenv: rpmbuild output: %v", err)
			}
			tmp := o.cached + ".tmp" + fmt.Sprint(os.Getpid())
			if err := os.WriteFile(tmp, data, 0o644); err != nil {
				t.Fatalf("testenv: %v", err)
			}
			if err := os.Rename(tmp, o.cached); err != nil {
				t.Fatalf("testenv: %v", err)
			}
		}
	}
	os.RemoveAll(filepath.Join(root, build))
	for _, o := range outs {
		data, err := os.ReadFile(o.cached)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		if err := os.WriteFile(filepath.Join(full, o.file), data, 0o644); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	args := []string{"createrepo_c", "-q", "--no-database"}
	if len(groups) > 0 {
		WriteFile(t, root, filepath.Join(dir, "comps.xml"), compsXML(groups))
		args = append(args, "-g", filepath.Join(dir, "comps.xml"))
	}
	Chroot(t, root, append(args, dir)...)
}

func (p RpmPkg) version() string {
	if p.Version == "" {
		return "1.0"
	}
	return p.Version
}

func (p RpmPkg) release() string {
	if p.Release == "" {
		return "1"
	}
	return p.Release
}

// rpmSpec returns the spec file of p and the files to put into its tree (copied into the build root
// by %install).
func rpmSpec(p RpmPkg, treeDir string) (string, map[string]string, error) {
	if p.Name == "" {
		return "", nil, errors.New("RpmPkg: Name is required")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Name: %s\nVersion: %s\nRelease: %s\nSummary: chaos test package %s\nLicense: MIT\n", p.Name, p.version(), p.release(), p.Name)
	b.WriteString("BuildArch: noarch\nAutoReqProv: no\n")
	for _, r := range p.Requires {
		fmt.Fprintf(&b, "Requires: %s\n", r)
	}
	for _, r := range p.Provides {
		fmt.Fprintf(&b, "Provides: %s\n", r)
	}
	fmt.Fprintf(&b, "%%description\nchaos test package %s, built by internal/testenv.\n", p.Name)
	b.WriteString("%install\nmkdir -p %{buildroot}\n")
	for _, d := range p.Dirs {
		if clean := filepath.Clean("/" + d); clean != d || clean == "/" || strings.ContainsAny(d, " \t\n%'\"\\") {
			return "", nil, fmt.Errorf("RpmPkg %s: directory %q is not absolute, clean and plain", p.Name, d)
		}
		fmt.Fprintf(&b, "mkdir -p %%{buildroot}%s\n", d)
	}
	paths := make([]string, 0, len(p.Files))
	for path := range p.Files {
		clean := filepath.Clean("/" + path)
		if clean != path || clean == "/" || strings.ContainsAny(path, " \t\n%'\"\\") {
			return "", nil, fmt.Errorf("RpmPkg %s: file path %q is not absolute, clean and plain", p.Name, path)
		}
		paths = append(paths, path)
	}
	slices.Sort(paths)
	if len(paths) > 0 {
		fmt.Fprintf(&b, "cp -a %s/. %%{buildroot}/\n", treeDir)
	}
	for _, sc := range []struct{ name, body string }{{"post", p.Post}, {"preun", p.Preun}} {
		if sc.body != "" {
			fmt.Fprintf(&b, "%%%s\n%s\n", sc.name, strings.TrimRight(sc.body, "\n"))
		}
	}
	b.WriteString("%files\n")
	for _, d := range p.Dirs {
		b.WriteString("%dir " + d + "\n")
	}
	for _, path := range paths {
		if strings.HasPrefix(path, "/etc/") {
			b.WriteString("%config(noreplace) ")
		}
		b.WriteString(path + "\n")
	}
	// The contents are part of the cache key.
	for _, path := range paths {
		sum := sha256.Sum256([]byte(p.Files[path]))
		fmt.Fprintf(&b, "# %s %x\n", path, sum[:8])
	}
	return b.String(), p.Files, nil
}

func compsXML(groups []RpmGroup) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE comps PUBLIC \"-//Red Hat, Inc.//DTD Comps info//EN\" \"comps.dtd\">\n<comps>\n")
	for _, g := range groups {
		name := g.Name
		name = cmp.Or(name, g.ID)
		fmt.Fprintf(&b, "  <group>\n    <id>%s</id>\n    <name>%s</name>\n    <description>chaos test group</description>\n    <default>false</default>\n    <uservisible>true</uservisible>\n    <packagelist>\n", g.ID, name)
		for _, p := range g.Packages {
			fmt.Fprintf(&b, "      <packagereq type=\"mandatory\">%s</packagereq>\n", p)
		}
		b.WriteString("    </packagelist>\n  </group>\n")
	}
	b.WriteString("</comps>\n")
	return b.String()
}
