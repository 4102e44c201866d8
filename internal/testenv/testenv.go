// Package testenv gives integration tests real Debian roots to work on.
//
// DebianRoot returns a fresh, writable Debian bookworm root per test: an overlayfs over a cached,
// read-only base built once by scripts/debian-root.sh (mmdebstrap), so a call costs milliseconds and
// tests never see each other's changes. AptRepo publishes tiny .deb packages built on the fly into a
// file: apt repository inside such a root, so package tests never depend on the network or the mirror.
// Chroot and friends run assertions inside the root.
//
// Everything here needs root (mount, chroot); call RequireRoot first, or let DebianRoot do it.
package testenv

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/shell"
)

// CacheDirEnv overrides where the base root is cached (default DefaultCacheDir).
const CacheDirEnv = "CHAOS_TEST_CACHE"

// NoOverlayEnv, when set to anything, makes DebianRoot copy the base instead of mounting an overlay.
const NoOverlayEnv = "CHAOS_TEST_NO_OVERLAY"

// DefaultCacheDir is where scripts/debian-root.sh keeps the base root and its tarball.
const DefaultCacheDir = "/var/cache/chaos-test"

// mountPrefix names the per-root directories, so that roots left mounted by a killed test process
// can be recognised (by the dead pid in the name) and cleaned up by the next one.
const mountPrefix = "chaos-testenv-"

// RequireRoot skips the test unless it runs as root (CI does; under CHAOS_REQUIRE_ALL=1 it fails).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "testenv: needs root (mount, chroot); run the suite as root, e.g. `make test` in CI")
	}
}

// RepoRoot returns the repository root: the nearest directory at or above the working directory
// (a Go test runs in its package's directory) that holds go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := repoRoot()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return dir
}

func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if dir == filepath.Dir(dir) {
			return "", fmt.Errorf("no go.mod at or above %s", wd)
		}
	}
}

var base struct {
	sync.Mutex
	dir   string
	swept bool
}

// BaseRoot returns the cached, read-only base root, building it first with scripts/debian-root.sh
// when it is missing (about 30-90 s, once per machine and recipe). Never write into it; use
// DebianRoot for a writable copy.
func BaseRoot(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	base.Lock()
	defer base.Unlock()
	if base.dir != "" {
		return base.dir
	}
	repo := RepoRoot(t)
	script := filepath.Join(repo, "scripts", "debian-root.sh")
	data, err := os.ReadFile(script)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	sum := sha256.Sum256(data)
	cache := os.Getenv(CacheDirEnv)
	cache = cmp.Or(cache, DefaultCacheDir)
	// The script keys the cache on the sha256 of its own text; so do we, to skip running it.
	dir := filepath.Join(cache, "bookworm-"+hex.EncodeToString(sum[:])[:12])
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Logf("testenv: building the Debian base root with %s (one-time)...", script)
		cmd := exec.Command("bash", script, cache)
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
	base.dir = dir
	return dir
}

// overlay returns a fresh writable overlay over lower, unmounted and removed when the test ends.
func overlay(t testing.TB, lower string) string {
	t.Helper()
	sweepStale(t)
	root, cleanup, err := newRoot(lower)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if err := cleanup(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return root
}

// DebianRoot returns a fresh writable Debian bookworm root (minbase plus sudo, locales, tzdata,
// systemd, systemd-sysv, systemd-timesyncd, dbus, procps, iproute2, openssh-server, adduser, apt-utils;
// no docs or man pages; no SSH host keys; hostname "localhost"). It is an overlayfs over the cached
// base (or, if overlayfs is unavailable, a reflink/plain copy of it). It has no apt sources at all:
// use AptRepo to give it packages. /proc, /sys and /dev/pts are not mounted. It is unmounted and
// removed when the test ends.
func DebianRoot(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	root := overlay(t, BaseRoot(t))

	// No network sources: tests must not depend on the mirror (AptRepo adds a local one).
	if err := os.Remove(filepath.Join(root, "etc/apt/sources.list")); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("testenv: %v", err)
	}
	srcDir := filepath.Join(root, "etc/apt/sources.list.d")
	entries, _ := os.ReadDir(srcDir)
	for _, e := range entries {
		if err := os.Remove(filepath.Join(srcDir, e.Name())); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	return root
}

// newRoot makes a writable copy of lower: an overlay (upper and work dirs beside it), or a copy when
// overlayfs is not available. cleanup unmounts and removes it.
func newRoot(lower string) (root string, cleanup func() error, err error) {
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", mountPrefix, os.Getpid()))
	if err != nil {
		return "", nil, err
	}
	root = filepath.Join(dir, "root")
	upper := filepath.Join(dir, "upper")
	work := filepath.Join(dir, "work")
	for _, d := range []string{root, upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
	}
	cleanup = func() error {
		if err := unmount(root); err != nil {
			return err
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("removing %s: %v", dir, err)
		}
		return nil
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	err = errors.New(NoOverlayEnv + " is set")
	if os.Getenv(NoOverlayEnv) == "" {
		err = syscall.Mount("overlay", root, "overlay", 0, opts)
	}
	if err != nil {
		overlayFallback.Do(func() {
			fmt.Fprintf(os.Stderr, "testenv: overlay mount failed (%v); copying the base instead (slower)\n", err)
		})
		out, err := exec.Command("cp", "-a", "--reflink=auto", lower+"/.", root).CombinedOutput()
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("copying %s: %v\n%s", lower, err, out)
		}
	}
	return root, cleanup, nil
}

var overlayFallback sync.Once

// unmount detaches the overlay at dir, lazily if it is busy (a process still has its cwd there).
// Submounts a test made below it (proc, sys, ...) are detached too.
func unmount(dir string) error {
	for _, m := range mountsUnder(dir) { // deepest first
		if err := syscall.Unmount(m, 0); err != nil {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
				return fmt.Errorf("unmounting %s: %v", m, err)
			}
		}
	}
	return nil
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return []string{dir}
	}
	defer f.Close()
	var ms []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			ms = append(ms, mp)
		}
	}
	// Reverse order of mounting detaches children before parents.
	for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
		ms[i], ms[j] = ms[j], ms[i]
	}
	return ms
}

// unescapeMount decodes the octal escapes (\040 for space, ...) of /proc/self/mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// sweepStale unmounts and removes roots left behind by test processes that died without cleaning up
// (a -timeout panic, a kill). It runs once per process.
func sweepStale(t testing.TB) {
	base.Lock()
	defer base.Unlock()
	if base.swept {
		return
	}
	base.swept = true
	removeDeadPidDirs(binPrefix)
	for _, dir := range deadPidDirs(mountPrefix) {
		if err := unmount(filepath.Join(dir, "root")); err != nil {
			t.Logf("testenv: stale %s: %v", dir, err)
			continue
		}
		if len(mountsUnder(dir)) == 0 {
			os.RemoveAll(dir)
		}
	}
}

// DebPkg describes a tiny Debian package for AptRepo.
type DebPkg struct {
	Name     string
	Version  string   // e.g. "1.0"
	Depends  []string // each entry one dependency, e.g. "libc6 (>= 2.36)" or "a | b"
	Priority string   // optional (default), important, required, standard, extra
	Section  string   // default "misc"
	// Files maps absolute paths to contents. Files whose content starts with "#!" or that live in a
	// bin/ or sbin/ directory are 0755, the rest 0644. Files under /etc/ are conffiles, as debhelper
	// would make them (so `apt-get remove` leaves the package in state "rc" until purged).
	Files    map[string]string
	Preinst  string // optional maintainer scripts (a "#!/bin/sh" line is added if missing)
	Postinst string
	Prerm    string
	Postrm   string
	Arch     string // default "all"
}

// RepoDir is where AptRepo publishes packages, as a path inside the root.
const RepoDir = "/srv/chaos-test-repo"

// SourcesFile is the deb822 sources file AptRepo writes, as a path inside the root.
const SourcesFile = "/etc/apt/sources.list.d/chaos-test.sources"

// AptRepo builds pkgs, publishes them as a trusted file: repository at RepoDir inside root (replacing
// whatever an earlier call published there), points apt at it with SourcesFile, and runs
// `apt-get update` in the root. It returns RepoDir. Several versions of one package may be given.
func AptRepo(t testing.TB, root string, pkgs ...DebPkg) string {
	t.Helper()
	build := t.TempDir()
	repo := filepath.Join(root, RepoDir)
	if err := os.RemoveAll(repo); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	for i, p := range pkgs {
		src := filepath.Join(build, strconv.Itoa(i))
		if err := writePkgTree(src, p); err != nil {
			t.Fatalf("testenv: package %s: %v", p.Name, err)
		}
		deb := filepath.Join(repo, fmt.Sprintf("%s_%s_%s.deb", p.Name, strings.ReplaceAll(p.Version, ":", "%3a"), archOf(p)))
		// gzip -1: these are tiny; xz (the default) only costs time.
		out, err := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", src, deb).CombinedOutput()
		if err != nil {
			t.Fatalf("testenv: dpkg-deb --build %s: %v\n%s", p.Name, err, out)
		}
	}
	scan := exec.Command("dpkg-scanpackages", "--multiversion", ".", "/dev/null")
	scan.Dir = repo
	var stdout, stderr bytes.Buffer
	scan.Stdout, scan.Stderr = &stdout, &stderr
	if err := scan.Run(); err != nil {
		t.Fatalf("testenv: dpkg-scanpackages: %v\n%s", err, stderr.String())
	}
	if err := os.WriteFile(filepath.Join(repo, "Packages"), stdout.Bytes(), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	WriteFile(t, root, SourcesFile, "Types: deb\nURIs: file:"+RepoDir+"\nSuites: ./\nTrusted: yes\n")
	// apt may take a rewritten Packages file of the same size and second for unchanged: forget the old one.
	lists, _ := filepath.Glob(filepath.Join(root, "var/lib/apt/lists", "*chaos-test-repo*"))
	for _, l := range lists {
		os.Remove(l)
	}
	Chroot(t, root, "apt-get", "update", "-q")
	return RepoDir
}

func archOf(p DebPkg) string {
	if p.Arch == "" {
		return "all"
	}
	return p.Arch
}

func writePkgTree(dir string, p DebPkg) error {
	if p.Name == "" || p.Version == "" {
		return errors.New("Name and Version are required")
	}
	if err := os.MkdirAll(filepath.Join(dir, "DEBIAN"), 0o755); err != nil {
		return err
	}
	prio, sect := p.Priority, p.Section
	prio = cmp.Or(prio, "optional")
	sect = cmp.Or(sect, "misc")
	var c strings.Builder
	fmt.Fprintf(&c, "Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: Ch-aOS tests <tests@chaos.invalid>\n", p.Name, p.Version, archOf(p))
	fmt.Fprintf(&c, "Priority: %s\nSection: %s\n", prio, sect)
	if len(p.Depends) > 0 {
		fmt.Fprintf(&c, "Depends: %s\n", strings.Join(p.Depends, ", "))
	}
	fmt.Fprintf(&c, "Description: chaos test package %s\n built by internal/testenv.\n", p.Name)
	if err := os.WriteFile(filepath.Join(dir, "DEBIAN/control"), []byte(c.String()), 0o644); err != nil {
		return err
	}
	var conffiles []string
	for path, content := range p.Files {
		clean := filepath.Clean("/" + path)
		if clean != path || clean == "/" {
			return fmt.Errorf("file path %q is not absolute and clean", path)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(content, "#!") || strings.HasSuffix(filepath.Dir(clean), "bin") {
			mode = 0o755
		}
		dst := filepath.Join(dir, clean)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, []byte(content), mode); err != nil {
			return err
		}
		if strings.HasPrefix(clean, "/etc/") {
			conffiles = append(conffiles, clean)
		}
	}
	if len(conffiles) > 0 {
		if err := os.WriteFile(filepath.Join(dir, "DEBIAN/conffiles"), []byte(strings.Join(conffiles, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	for name, s := range map[string]string{"preinst": p.Preinst, "postinst": p.Postinst, "prerm": p.Prerm, "postrm": p.Postrm} {
		if s == "" {
			continue
		}
		if !strings.HasPrefix(s, "#!") {
			s = "#!/bin/sh\nset -e\n" + s
		}
		if !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, "DEBIAN", name), []byte(s), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// chrootEnv is the environment of commands run in a root: predictable, no host leakage.
var chrootEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"LC_ALL=C",
	"DEBIAN_FRONTEND=noninteractive",
	"DEBCONF_NONINTERACTIVE_SEEN=true",
}

// ChrootResult runs argv inside root with chroot and returns its stdout, stderr and exit code. The
// test fails only if the command could not be run at all; use it to assert that something fails.
func ChrootResult(t testing.TB, root string, argv ...string) (stdout, stderr string, code int) {
	t.Helper()
	if len(argv) == 0 {
		t.Fatal("testenv: Chroot needs a command")
	}
	// apt and dpkg close every fd up to the soft RLIMIT_NOFILE in each child they fork: with this
	// machine's 20000 that doubles the time of a small `apt-get install`. 1024 is plenty in a root.
	cmd := exec.Command("prlimit", append([]string{"--nofile=1024:", "chroot", root}, argv...)...)
	cmd.Env = chrootEnv
	cmd.Dir = "/"
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		code = ee.ExitCode()
	default:
		t.Fatalf("testenv: chroot %s %q: %v\n%s", root, argv, err, e.String())
	}
	return o.String(), e.String(), code
}

// Chroot runs argv inside root with chroot, fails the test if it exits non-zero (showing its
// stderr), and returns its stdout.
func Chroot(t testing.TB, root string, argv ...string) string {
	t.Helper()
	start := time.Now()
	out, errOut, code := ChrootResult(t, root, argv...)
	if code != 0 {
		t.Fatalf("testenv: chroot %s %q exited %d after %v\nstdout:\n%s\nstderr:\n%s", root, argv, code,
			time.Since(start).Round(time.Millisecond), tail(out, 4000), tail(errOut, 4000))
	}
	return out
}

// ReadFile returns the content of path (absolute, inside root), failing the test if it is missing.
func ReadFile(t testing.TB, root, path string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return string(data)
}

// WriteFile writes content to path (absolute, inside root) with mode 0644, creating parent
// directories. It does not follow the root's symlinks safely: use it only on paths the test controls.
func WriteFile(t testing.TB, root, path, content string) {
	t.Helper()
	full := filepath.Join(root, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// Exists reports whether path (absolute, inside root) exists, without following a final symlink.
func Exists(t testing.TB, root, path string) bool {
	t.Helper()
	_, err := os.Lstat(filepath.Join(root, path))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("testenv: %v", err)
	}
	return err == nil
}

var chaosBin struct {
	once sync.Once
	path string
	err  error
}

// binPrefix names the directory ChaosBinary builds into; the pid in it lets a later process remove it.
const binPrefix = "chaos-testbin-"

// ChaosBinary builds ./cmd/chaos (CGO_ENABLED=0, -trimpath) once per test process and returns the
// binary's path. The directory is under os.TempDir() and is removed by a later process once this
// one has exited.
func ChaosBinary(t testing.TB) string {
	t.Helper()
	chaosBin.once.Do(func() {
		removeDeadPidDirs(binPrefix)
		repo, err := repoRoot()
		if err != nil {
			chaosBin.err = err
			return
		}
		dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", binPrefix, os.Getpid()))
		if err != nil {
			chaosBin.err = err
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = "/usr/local/go/bin/go"
		}
		// The native SSH worker is embedded into chaos (internal/transport/workerbin).
		gen := exec.Command(goTool, "generate", "./internal/transport/workerbin")
		gen.Dir = repo
		if out, err := gen.CombinedOutput(); err != nil {
			chaosBin.err = fmt.Errorf("go generate ./internal/transport/workerbin: %v\n%s", err, out)
			return
		}
		bin := filepath.Join(dir, "chaos")
		cmd := exec.Command(goTool, "build", "-trimpath", "-o", bin, "./cmd/chaos")
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			chaosBin.err = fmt.Errorf("go build ./cmd/chaos: %v\n%s", err, out)
			return
		}
		chaosBin.path = bin
	})
	if chaosBin.err != nil {
		t.Fatalf("testenv: %v", chaosBin.err)
	}
	return chaosBin.path
}

// deadPidDirs lists the directories in os.TempDir() named prefix+PID+"-..." whose process is gone.
func deadPidDirs(prefix string) []string {
	tmp := os.TempDir()
	entries, _ := os.ReadDir(tmp)
	var dirs []string
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, prefix) {
			continue
		}
		pidStr, _, ok := strings.Cut(strings.TrimPrefix(name, prefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
			continue // still running
		}
		dirs = append(dirs, filepath.Join(tmp, name))
	}
	return dirs
}

func removeDeadPidDirs(prefix string) {
	for _, d := range deadPidDirs(prefix) {
		os.RemoveAll(d)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// ServiceDebPkg is a package shipping /lib/systemd/system/NAME.service (unit) with the maintainer
// scripts debhelper's dh_installsystemd generates: the postinst enables the unit with
// deb-systemd-helper (which works offline in a chroot) on a first install and starts it where
// systemd runs; prerm stops it, postrm masks on remove and purges the links on purge. So installing
// it enables a unit the way real Debian packages (nginx, ...) do.
func ServiceDebPkg(name, version, unit string) DebPkg {
	u := shell.Quote(name + ".service")
	return DebPkg{Name: name, Version: version,
		Files: map[string]string{"/lib/systemd/system/" + name + ".service": unit},
		Postinst: `if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
	deb-systemd-helper unmask ` + u + ` >/dev/null || true
	if deb-systemd-helper --quiet was-enabled ` + u + `; then
		deb-systemd-helper enable ` + u + ` >/dev/null || true
	else
		deb-systemd-helper update-state ` + u + ` >/dev/null || true
	fi
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		deb-systemd-invoke start ` + u + ` >/dev/null || true
	fi
fi
`,
		Prerm: `if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	deb-systemd-invoke stop ` + u + ` >/dev/null || true
fi
`,
		Postrm: `if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = remove ] && [ -x /usr/bin/deb-systemd-helper ]; then
	deb-systemd-helper mask ` + u + ` >/dev/null || true
fi
if [ "$1" = purge ] && [ -x /usr/bin/deb-systemd-helper ]; then
	deb-systemd-helper purge ` + u + ` >/dev/null || true
	deb-systemd-helper unmask ` + u + ` >/dev/null || true
fi
`,
	}
}
