package engine_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// btrfsRoot makes a Debian root that is a btrfs subvolume on a loop-mounted image, with the host's
// btrfs tool copied in (the cached root has no btrfs-progs).
func btrfsRoot(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "btrfs-progs", "mkfs.btrfs", "btrfs")
	testenv.RequireTool(t, "mount", "losetup")
	base := testenv.BaseRoot(t)
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	sh := func(argv ...string) string {
		t.Helper()
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
		return string(out)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	sh("truncate", "-s", "1G", img)
	sh("mkfs.btrfs", "-q", img)
	sh("mount", "-o", "loop", img, mnt)
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	root := filepath.Join(mnt, "root")
	sh("btrfs", "subvolume", "create", root)
	sh("cp", "-a", base+"/.", root+"/")
	bin, _ := exec.LookPath("btrfs")
	sh("cp", bin, filepath.Join(root, "usr/bin/btrfs"))
	for _, l := range strings.Fields(sh("sh", "-c", "ldd "+bin+" | awk '/=>/ {print $3}'")) {
		if _, err := os.Stat(filepath.Join(root, l)); err != nil {
			sh("cp", "-L", l, filepath.Join(root, l))
		}
	}
	return root
}

// TestSnapshot: apply --snapshot on a btrfs root takes a read-only snapshot of / before the first
// op (it holds the old content), records it in the generation, and is refused on other filesystems.
func TestSnapshot(t *testing.T) {
	root := btrfsRoot(t)
	tr := enginetest.Chroot(t, root)
	ctx := context.Background()
	e := &engine.Engine{Registry: builtin.Registry()}
	testenv.WriteFile(t, root, "/etc/motd", "before\n")
	c := load(t, "files:\n  - path: /etc/motd\n    content: \"after\\n\"\n")
	req := engine.Request{Chobolo: c, Assume: true, Snapshot: true}
	hp, err := e.Plan(ctx, tr, req)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Apply(ctx, tr, hp, req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Snapshot, engine.SnapshotDir+"/pre-") {
		t.Fatalf("snapshot %q", res.Snapshot)
	}
	snap := filepath.Join(root, res.Snapshot)
	if got := testenv.ReadFile(t, root, res.Snapshot+"/etc/motd"); got != "before\n" {
		t.Fatalf("snapshot holds %q", got)
	}
	if got := testenv.ReadFile(t, root, "/etc/motd"); got != "after\n" {
		t.Fatalf("root holds %q", got)
	}
	out, err := exec.Command("btrfs", "property", "get", "-ts", snap, "ro").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ro=true" {
		t.Fatalf("snapshot not read-only: %s %v", out, err)
	}
	gens, err := engine.ReadGenerations(ctx, tr)
	if err != nil || len(gens) != 1 || gens[0].Snapshot != res.Snapshot {
		t.Fatalf("generation: %+v %v", gens, err)
	}
	// Restore: a writable copy of the snapshot becomes the filesystem's default subvolume.
	restored, err := engine.RestoreSnapshot(ctx, tr, res.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	dst, id := restored.Path, restored.ID
	if got := testenv.ReadFile(t, root, dst+"/etc/motd"); got != "before\n" {
		t.Fatalf("restored subvolume holds %q", got)
	}
	out, err = exec.Command("btrfs", "subvolume", "get-default", filepath.Dir(root)).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ID "+id+" ") || !strings.Contains(string(out), "restored-") {
		t.Fatalf("default subvolume: %s %v (want id %s)", out, err, id)
	}
	if out, err := exec.Command("btrfs", "property", "get", "-ts", filepath.Join(root, dst), "ro").CombinedOutput(); err != nil ||
		strings.TrimSpace(string(out)) != "ro=false" {
		t.Fatalf("restored subvolume must be writable: %s %v", out, err)
	}
	if _, err := engine.RestoreSnapshot(ctx, tr, "/etc"); err == nil {
		t.Fatal("restoring a path outside the snapshot directory must be refused")
	}
	// Not btrfs: refused before anything changes.
	other := testenv.DebianRoot(t)
	otr := enginetest.Chroot(t, other)
	hp, err = e.Plan(ctx, otr, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Apply(ctx, otr, hp, req); err == nil || !strings.Contains(err.Error(), "needs / on btrfs") {
		t.Fatalf("--snapshot on a non-btrfs root: %v", err)
	}
	if strings.Contains(testenv.ReadFile(t, other, "/etc/motd"), "after") {
		t.Fatal("applied despite the refused snapshot")
	}
}

// TestSnapshotRestoreBoots: the default subvolume only decides what boots when nothing names the
// root subvolume. An fstab that names it (subvol=, subvolid=, as installers write) is pointed at the
// restored copy inside the copy; a kernel command line that pins it (rootflags=subvol=, as GRUB
// writes when / is a subvolume) is refused before anything is made, naming the file and line.
func TestSnapshotRestoreBoots(t *testing.T) {
	root := btrfsRoot(t)
	top := filepath.Dir(root) // the filesystem's top level, mounted by btrfsRoot
	tr := enginetest.Chroot(t, root)
	ctx := context.Background()
	e := &engine.Engine{Registry: builtin.Registry()}
	fstab := "UUID=0b5e / btrfs defaults,subvol=/root,compress=zstd 0 0\nUUID=0b5e /home btrfs subvol=/home 0 0\n"
	testenv.WriteFile(t, root, "/etc/fstab", fstab)
	testenv.WriteFile(t, root, "/etc/motd", "before\n")
	req := engine.Request{Chobolo: load(t, "files:\n  - path: /etc/motd\n    content: \"after\\n\"\n"), Assume: true, Snapshot: true}
	hp, err := e.Plan(ctx, tr, req)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Apply(ctx, tr, hp, req)
	if err != nil {
		t.Fatal(err)
	}
	defaultID := func() string {
		out, err := exec.Command("btrfs", "subvolume", "get-default", top).CombinedOutput()
		if err != nil {
			t.Fatalf("get-default: %v: %s", err, out)
		}
		return strings.Fields(string(out))[1]
	}

	// GRUB pins the subvolume: refused, nothing made, the default unchanged.
	before := defaultID()
	grub := "menuentry 'Debian' {\n\tlinux /root/boot/vmlinuz root=UUID=0b5e ro rootflags=subvol=root quiet\n}\n"
	testenv.WriteFile(t, root, "/boot/grub/grub.cfg", grub)
	_, err = engine.RestoreSnapshot(ctx, tr, res.Snapshot)
	if err == nil || !strings.Contains(err.Error(), "/boot/grub/grub.cfg:2: rootflags=subvol=root") {
		t.Fatalf("a pinned root subvolume must be refused naming grub.cfg:2: %v", err)
	}
	if matches, _ := filepath.Glob(filepath.Join(root, engine.SnapshotDir, "restored-*")); len(matches) > 0 || defaultID() != before {
		t.Fatalf("the refused restore made %v or changed the default subvolume", matches)
	}

	// Without the pin: the copy's fstab mounts the copy, the running root's fstab is untouched, and a
	// mount with the copy's own fstab options gets the default subvolume, holding the old state.
	if err := os.Remove(filepath.Join(root, "boot/grub/grub.cfg")); err != nil {
		t.Fatal(err)
	}
	r, err := engine.RestoreSnapshot(ctx, tr, res.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	want := "subvol=/root" + r.Path
	if !strings.Contains(r.Fstab, "subvol=/root -> "+want) {
		t.Fatalf("fstab change %q, want subvol=/root -> %s", r.Fstab, want)
	}
	if got := testenv.ReadFile(t, root, r.Path+"/etc/fstab"); got != strings.Replace(fstab, "subvol=/root,", want+",", 1) {
		t.Fatalf("restored fstab:\n%s", got)
	}
	if got := testenv.ReadFile(t, root, "/etc/fstab"); got != fstab {
		t.Fatalf("the running root's fstab changed:\n%s", got)
	}
	if defaultID() != r.ID {
		t.Fatalf("default subvolume %s, want %s", defaultID(), r.ID)
	}
	src, err := exec.Command("findmnt", "-no", "SOURCE", top).Output()
	if err != nil {
		t.Fatalf("findmnt %s: %v", top, err)
	}
	img := strings.TrimSpace(string(src))
	next := t.TempDir()
	if out, err := exec.Command("mount", "-o", want, img, next).CombinedOutput(); err != nil {
		t.Fatalf("mount with the restored fstab's subvol: %v: %s", err, out)
	}
	defer exec.Command("umount", next).Run()
	if got := testenv.ReadFile(t, next, "/etc/motd"); got != "before\n" {
		t.Fatalf("the subvolume the restored fstab names holds motd %q, want the state before the apply", got)
	}
	def := t.TempDir()
	if out, err := exec.Command("mount", img, def).CombinedOutput(); err != nil {
		t.Fatalf("mount without subvol=: %v: %s", err, out)
	}
	defer exec.Command("umount", def).Run()
	if got := testenv.ReadFile(t, def, "/etc/fstab"); got != testenv.ReadFile(t, next, "/etc/fstab") {
		t.Fatal("the default subvolume is not the one the restored fstab names")
	}
}
