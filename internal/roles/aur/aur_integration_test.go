package aur

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// makepkg dominates these tests: each build is ~1,400 process spawns of makepkg's own (its PKGBUILD
// lint greps every schema variable per architecture, twice: before and under fakeroot), ~20 s of CPU
// where a spawn costs ~15 ms, as in this sandbox. Every package version is therefore built once, and
// the two tests below, which share nothing, run in parallel in their own roots.

// withProc mounts /proc in root, which makepkg needs (as under arch-chroot); testenv unmounts it with
// the root.
func withProc(t *testing.T, root string) {
	t.Helper()
	if err := syscall.Mount("proc", filepath.Join(root, "proc"), "proc", 0, ""); err != nil {
		t.Fatal(err)
	}
}

// checkBuilder: the packages were built by the dedicated build user (a system account with no login
// shell, made by the role), never root or nobody, in a directory it alone owned (0700), which is gone.
func checkBuilder(t *testing.T, root string, pkgs ...string) {
	t.Helper()
	pw := strings.Split(strings.TrimSpace(testenv.Chroot(t, root, "getent", "passwd", BuildUser)), ":")
	if len(pw) != 7 || pw[5] != BuildHome || pw[6] != "/usr/sbin/nologin" {
		t.Fatalf("build user: %q", pw)
	}
	if uid, _ := strconv.Atoi(pw[2]); uid == 0 || uid >= 1000 {
		t.Errorf("build user uid %s: want a system account", pw[2])
	}
	for _, p := range pkgs {
		want := BuildUser + " " + pw[2] + " " + BuildUser + " 700\n"
		if got := testenv.ReadFile(t, root, "/usr/share/"+p+"/builder"); got != want {
			t.Errorf("%s was built by/in %q, want %q (user uid dir-owner dir-mode)", p, got, want)
		}
	}
	// Each build started `sleep` in the background (testenv.AURCommit): nothing of the build user may
	// still run in this root (other roots' builders have the same uid: their own tests look).
	if left := rootProcs(t, root, pw[2]); len(left) > 0 {
		t.Errorf("processes of %s left running in the root: %v", BuildUser, left)
	}
	if left, _ := filepath.Glob(filepath.Join(root, CacheDir, "*")); len(left) > 0 {
		t.Errorf("build directories left behind: %v", left)
	}
	if out := testenv.Chroot(t, root, "stat", "-c", "%U %a", CacheDir); out != "root 755\n" {
		t.Errorf("%s: %s", CacheDir, out)
	}
}

// rootProcs lists the command lines of the processes of uid whose root directory is root.
func rootProcs(t *testing.T, root, uid string) []string {
	t.Helper()
	want, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []string
	for _, d := range dirs {
		fi, err := os.Stat(d + "/root")
		if err != nil || !os.SameFile(fi, want) {
			continue
		}
		status, _ := os.ReadFile(d + "/status")
		for _, l := range strings.Split(string(status), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" && f[1] == uid {
				cmd, _ := os.ReadFile(d + "/cmdline")
				out = append(out, d+": "+strings.ReplaceAll(string(cmd), "\x00", " "))
			}
		}
	}
	return out
}

// TestIntegration builds an AUR package with an AUR dependency of its own and an official one from
// local git repositories standing in for the AUR, with the real makepkg as the build user, proves the second
// run changes nothing, then rebuilds it once at a newer AUR version with upgrade: true (and not
// without), leaving its dependency alone. Three builds.
func TestIntegration(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	root := testenv.ArchRoot(t)
	testenv.PacmanRepo(t, root, testenv.PacPkg{Name: "core-x"})
	testenv.AURCommit(t, root, "aur-lib", "1.0")
	testenv.AURCommit(t, root, "aur-app", "1.0", "aur-lib>=1.0", "core-x")

	c := chob(t, map[string]string{"aurPackages": "{base_url: 'file:///srv/aur', packages: [aur-app]}"})
	tr := enginetest.Chroot(t, root)
	if _, err := New().Plan(&engine.Env{}, c, engine.Facts{}); err == nil || !strings.Contains(err.Error(), "needs /proc") {
		t.Errorf("building without /proc: err = %v", err)
	}
	withProc(t, root)
	start := time.Now()
	hp := enginetest.ApplyTwice(t, tr, c, New())
	t.Logf("apply + re-plan: %v\n%s", time.Since(start).Round(time.Millisecond), enginetest.Render(hp))

	explicit := strings.Fields(testenv.Chroot(t, root, "pacman", "-Qqe"))
	deps := strings.Fields(testenv.Chroot(t, root, "pacman", "-Qqd"))
	if !slices.Equal(explicit, []string{"aur-app"}) {
		t.Errorf("explicit = %v", explicit)
	}
	if !slices.Equal(deps, []string{"aur-lib", "core-x"}) {
		t.Errorf("dependencies = %v", deps)
	}
	if got := testenv.ReadFile(t, root, "/usr/share/aur-app/stamp"); got != "built-by-makepkg 1.0\n" {
		t.Errorf("stamp = %q", got)
	}
	checkBuilder(t, root, "aur-app", "aur-lib")

	// A newer version in the AUR: plain apply leaves it (no surprise rebuilds); upgrade: true rebuilds
	// it once, then nothing; its AUR dependency, not newer, is not rebuilt.
	testenv.AURCommit(t, root, "aur-app", "1.1", "aur-lib>=1.0", "core-x")
	if hp := enginetest.Plan(t, tr, c, New()); !hp.Empty() {
		t.Errorf("a newer AUR version without upgrade: true plans:\n%s", enginetest.Render(hp))
	}
	up := chob(t, map[string]string{"aurPackages": "{base_url: 'file:///srv/aur', upgrade: true, packages: [aur-app]}"})
	start = time.Now()
	hp = enginetest.ApplyTwice(t, tr, up, New())
	plan := enginetest.Render(hp)
	t.Logf("upgrade apply + re-plan: %v\n%s", time.Since(start).Round(time.Millisecond), plan)
	if !strings.Contains(plan, "~ package aur-app: AUR upgrade 1.0-1 -> 1.1-1") || strings.Contains(plan, "package aur-lib") {
		t.Errorf("upgrade plan:\n%s", plan)
	}
	if got := strings.TrimSpace(testenv.Chroot(t, root, "pacman", "-Q", "aur-app")); got != "aur-app 1.1-1" {
		t.Errorf("after the upgrade: %q", got)
	}
	if got := testenv.ReadFile(t, root, "/usr/share/aur-app/stamp"); got != "built-by-makepkg 1.1\n" {
		t.Errorf("stamp = %q", got)
	}
	if got := strings.Fields(testenv.Chroot(t, root, "pacman", "-Qqe")); !slices.Equal(got, []string{"aur-app"}) {
		t.Errorf("explicit after the upgrade = %v", got)
	}

	// Declaring nothing AUR at all prunes nothing.
	if hp := enginetest.Plan(t, tr, &chobolo.Chobolo{}, New()); !hp.Empty() {
		t.Errorf("a Ch-obolo without AUR keys plans:\n%s", enginetest.Render(hp))
	}
}

// TestIntegrationHelper builds an AUR helper not listed in aurPackages (makepkg as the build user), prunes an
// undeclared foreign package while keeping a declared one that is already installed (not rebuilt),
// and proves the second run changes nothing: the helper is not pruned (the original flapped here),
// and with upgrade: true nothing up to date is rebuilt. One build.
func TestIntegrationHelper(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	root := testenv.ArchRoot(t)
	testenv.PacmanRepo(t, root, testenv.PacPkg{Name: "core-x"}) // a sync database: foreign means "in none"
	testenv.AURCommit(t, root, "yay", "1.0")
	testenv.AURCommit(t, root, "aur-kept", "1.0")
	for _, n := range []string{"aur-kept", "aur-old"} {
		testenv.Chroot(t, root, "pacman", "--noconfirm", "-U", testenv.PacmanPackage(t, root, "/tmp", testenv.PacPkg{Name: n}))
	}
	withProc(t, root)
	c := chob(t, map[string]string{
		"aurHelpers":  "[yay]",
		"aurPackages": "{base_url: 'file:///srv/aur', packages: [aur-kept]}",
	})
	tr := enginetest.Chroot(t, root)
	start := time.Now()
	hp := enginetest.ApplyTwice(t, tr, c, New())
	plan := enginetest.Render(hp)
	t.Logf("apply + re-plan: %v\n%s", time.Since(start).Round(time.Millisecond), plan)
	if !strings.Contains(plan, "+ user chaos-build: system user for AUR builds") ||
		!strings.Contains(plan, "+ package yay: AUR helper built by makepkg as chaos-build") || !strings.Contains(plan, "- package aur-old") || strings.Contains(plan, "package aur-kept") {
		t.Errorf("plan:\n%s", plan)
	}
	if got := strings.Fields(testenv.Chroot(t, root, "pacman", "-Qq")); !slices.Equal(got, []string{"aur-kept", "yay"}) {
		t.Errorf("installed = %v", got)
	}
	if got := testenv.ReadFile(t, root, "/usr/share/yay/stamp"); got != "built-by-makepkg 1.0\n" {
		t.Errorf("stamp = %q", got)
	}
	checkBuilder(t, root, "yay")
	up := chob(t, map[string]string{
		"aurHelpers":  "[yay]",
		"aurPackages": "{base_url: 'file:///srv/aur', upgrade: true, packages: [aur-kept]}",
	})
	if hp := enginetest.Plan(t, tr, up, New()); !hp.Empty() || strings.Contains(enginetest.Render(hp), "note:") {
		t.Errorf("upgrade: true with everything up to date plans:\n%s", enginetest.Render(hp))
	}
}
