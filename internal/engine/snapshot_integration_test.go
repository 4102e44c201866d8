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
	dst, id, err := engine.RestoreSnapshot(ctx, tr, res.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
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
	if _, _, err := engine.RestoreSnapshot(ctx, tr, "/etc"); err == nil {
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
