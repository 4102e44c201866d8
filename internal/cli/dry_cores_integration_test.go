package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// dryLeavesRoot runs `chaos apply --dry` (plain and --json) on root and fails unless every path,
// mode, size, mtime and content of the root is as before, and unless the plan has changes.
func dryLeavesRoot(t *testing.T, root, yml string) {
	t.Helper()
	file := writeChobolo(t, yml)
	target := "@chroot" + root
	before := rootSnapshot(t, root)
	for _, args := range [][]string{{"--dry"}, {"--dry", "--json"}} {
		r := run(t, "", append([]string{"apply", "-c", file, "--target", target}, args...)...)
		if r.code != 2 {
			t.Fatalf("apply %v: want exit 2 (changes pending)\n%s", args, r)
		}
		t.Logf("apply %v:\n%s", args, r.stdout)
	}
	if !equalSnap(t, before, rootSnapshot(t, root)) {
		t.Fatal("a dry run wrote to the target (differences above)")
	}
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
