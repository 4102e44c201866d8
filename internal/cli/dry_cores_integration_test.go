package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// dryLeavesRoot runs `chaos apply --dry` (plain and --json) on root and fails unless every path,
// mode, size, mtime and content of the root is as before, and unless the plan has changes. It
// returns the plain plan.
func dryLeavesRoot(t *testing.T, root, yml string) string {
	t.Helper()
	file := writeChobolo(t, yml)
	target := "@chroot" + root
	before := rootSnapshot(t, root)
	var plan string
	for _, args := range [][]string{{"--dry"}, {"--dry", "--json"}} {
		r := run(t, "", append([]string{"apply", "-c", file, "--target", target}, args...)...)
		if r.code != 2 {
			t.Fatalf("apply %v: want exit 2 (changes pending)\n%s", args, r)
		}
		t.Logf("apply %v:\n%s", args, r.stdout)
		if plan == "" {
			plan = r.stdout
		}
	}
	if !equalSnap(t, before, rootSnapshot(t, root)) {
		t.Fatal("a dry run wrote to the target (differences above)")
	}
	return plan
}

// rootSnapshot is snapshot of the root without the proc file system mounted in it, and without the
// mtime of /tmp itself: the pacman probe's throwaway sync database (pacman.ForeignProbeFor) lives in
// a temp directory it removes. Everything under /tmp is still compared.
func rootSnapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]string{}
	if fi, err := os.Lstat(root); err == nil {
		all["/"] = fmt.Sprintf("%v %d", fi.Mode(), fi.ModTime().UnixNano())
	}
	for _, e := range entries {
		if e.Name() == "proc" {
			continue
		}
		for p, v := range snapshot(t, filepath.Join(root, e.Name()), true) {
			all["/"+e.Name()+p] = v
		}
	}
	delete(all, "/tmp")
	return all
}

// TestDryWritesNothingArch: --dry on an Arch-flavoured root with every Arch role (the pacman probe's
// throwaway sync included: a managed pacman.conf that differs from the host's) writes nothing.
func TestDryWritesNothingArch(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	root := testenv.ArchRoot(t)
	testenv.PacmanRepo(t, root, testenv.PacPkg{Name: "arch-a"}, testenv.PacPkg{Name: "arch-b"}, testenv.PacPkg{Name: "arch-junk"})
	testenv.Chroot(t, root, "pacman", "--noconfirm", "-S", "arch-junk")
	// The aur role plans only where makepkg could run: with /proc, as arch-chroot mounts it.
	proc := filepath.Join(root, "proc")
	if err := syscall.Mount("proc", proc, "proc", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(proc, syscall.MNT_DETACH) })
	dryLeavesRoot(t, root, `hostname: dry-arch
repos:
  managed: {core: false, extra: false}
  third_party:
    - {name: chaos-test, url: "file:///srv/chaos-pacman-repo", siglevel: Never}
packages: [arch-a, arch-b]
aurPackages:
  base_url: file:///srv/aur
  packages: [aur-x]
mirrors:
  countries: [BR]
  count: 5
users:
  - {name: alice, groups: [wheel]}
region:
  timezone: UTC
  locale: [en_US.UTF-8]
  keymap: us
services:
  - ssh
bootloader: {name: grub, firmware: bios}
partitioning: {disk: /dev/sda}
files:
  - path: /etc/motd
    content: "arch\n"
`)
}

// TestDryWritesNothingFedora: --dry (plain and --json), rollback --dry, generations and init chobolo
// --from on a Fedora-flavoured root (real dnf and rpm) with every Fedora role write nothing: no dnf
// log, no hawkey.log, no expired_repos.json, no SQLite -shm/-wal file of the rpm database or of dnf's
// history. The root has been applied to (a group installed, so dnf's history database exists), so
// that every role plans something, removals included, and the new-package query runs; the plan
// shows that the probe read the copies right (install reasons, the installed group, langpacks).
func TestDryWritesNothingFedora(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	root := testenv.FedoraRoot(t)
	testenv.RpmRepo(t, root, []testenv.RpmGroup{{ID: "chaos-tools", Packages: []string{"chaos-grp"}}},
		testenv.RpmPkg{Name: "chaos-a"}, testenv.RpmPkg{Name: "chaos-b"}, testenv.RpmPkg{Name: "chaos-grp"},
		testenv.RpmPkg{Name: "chaos-junk"}, testenv.RpmPkg{Name: "glibc-langpack-en"})
	target := "@chroot" + root
	first := writeChobolo(t, `packages: [chaos-a, chaos-junk, "@chaos-tools"]
users:
  - {name: bob}
files:
  - path: /etc/chaos-first
    content: first
`)
	if r := run(t, "", "apply", "-c", first, "--target", target, "-y"); r.code != 0 {
		t.Fatalf("first apply -y\n%s", r)
	}
	if !testenv.Exists(t, root, "/var/lib/dnf/history.sqlite") {
		t.Fatal("no dnf history database after the first apply: the dry runs below would not read one")
	}
	plan := dryLeavesRoot(t, root, `hostname: dry-fedora
repos:
  dnf:
    - name: extra
      baseurl: file:///srv/chaos-rpm-repo
      gpgcheck: false
packages: [chaos-a, chaos-b, "@chaos-tools"]
users:
  - {name: alice, groups: [wheel]}
region:
  timezone: UTC
  locale: [en_US.UTF-8]
  keymap: us
services:
  - sshd
files:
  - path: /etc/motd
    content: "fedora\n"
`)
	for _, want := range []string{"dry-fedora", "chaos-extra.repo", "+ package chaos-b", "- package chaos-junk: user-installed",
		"user alice", "+ locales glibc-langpack-en", "/etc/motd"} {
		if !strings.Contains(plan, want) {
			t.Errorf("the plan does not mention %q", want)
		}
	}
	if strings.Contains(plan, "chaos-tools") {
		t.Error("the plan changes the installed group chaos-tools: the dry probe did not read dnf's history")
	}
	before := rootSnapshot(t, root)
	if r := run(t, "", "rollback", "--target", target, "--dry", "--to", "1"); r.code != 0 {
		t.Fatalf("rollback --dry: want exit 0\n%s", r)
	}
	if r := run(t, "", "generations", "--target", target); r.code != 0 {
		t.Fatalf("generations: want exit 0\n%s", r)
	}
	if r := run(t, "", "init", "chobolo", "--from", target, "-o", filepath.Join(t.TempDir(), "c.yml")); r.code != 0 {
		t.Fatalf("init chobolo --from: want exit 0\n%s", r)
	}
	if !equalSnap(t, before, rootSnapshot(t, root)) {
		t.Fatal("rollback --dry, generations or init chobolo --from wrote to the target (differences above)")
	}
}
