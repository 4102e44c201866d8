package installer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// A disk image holding a file system or a partition table is refused without --wipe, naming
// what the real wipefs and sfdisk found; an empty or missing one is not.
func TestImageFactsRefuseData(t *testing.T) {
	testenv.RequireTool(t, "util-linux", "wipefs")
	testenv.RequireTool(t, "fdisk", "sfdisk")
	mkfs := testenv.RequireTool(t, "e2fsprogs", "mkfs.ext4")
	ctx := context.Background()
	local := transport.NewLocal()
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")

	f, err := GatherImage(ctx, local, img, 64<<20)
	if err != nil || f.Refusal(false) != nil || f.Size != 64<<20 {
		t.Fatalf("missing image: %+v, %v, refusal %v", f, err, f.Refusal(false))
	}
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	if f, err = GatherImage(ctx, local, img, 64<<20); err != nil || f.Refusal(false) != nil {
		t.Fatalf("empty image: %+v, %v", f, err)
	}
	if out, err := exec.Command(mkfs, "-q", "-F", "-L", "OLDDATA", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	f, err = GatherImage(ctx, local, img, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Refusal(false); err == nil || !strings.Contains(err.Error(), "ext4 signature at offset 0x438 (label OLDDATA); pass --wipe") {
		t.Errorf("ext4 image: %v", err)
	}
	if err := f.Refusal(true); err != nil {
		t.Errorf("--wipe: %v", err)
	}
	sfdisk := exec.Command("sfdisk", "-q", img)
	sfdisk.Stdin = strings.NewReader("label: gpt\nstart=2048, size=4096\n")
	if out, err := sfdisk.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v: %s", err, out)
	}
	if f, err = GatherImage(ctx, local, img, 64<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Refusal(false); err == nil || !strings.Contains(err.Error(), "gpt signature") || !strings.Contains(f.Table, "label: gpt") {
		t.Errorf("partitioned image: %v\n%s", err, f.Table)
	}
}

// An image attached to a loop device is in use: refused even with --wipe.
func TestAttachedImageRefused(t *testing.T) {
	testenv.RequireRoot(t)
	losetup := testenv.RequireTool(t, "mount", "losetup")
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, make([]byte, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(losetup, "--find", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command(losetup, "-d", dev).Run() })
	f, err := GatherImage(context.Background(), transport.NewLocal(), img, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Refusal(true); err == nil || !strings.Contains(err.Error(), "is in use: attached to "+dev) {
		t.Errorf("attached image: %v", err)
	}
}

// A disk (--disk) with a mounted file system is in use: refused even with --wipe, naming the
// mount, at plan time (before anything is written).
func TestMountedDiskRefused(t *testing.T) {
	testenv.RequireRoot(t)
	losetup := testenv.RequireTool(t, "mount", "losetup")
	testenv.RequireTools(t, "util-linux", "wipefs", "blockdev")
	mkfs := testenv.RequireTool(t, "e2fsprogs", "mkfs.ext4")
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 32<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	out, err := exec.Command(losetup, "--find", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command(losetup, "-d", dev).Run() })
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", dev, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	f, err := Gather(context.Background(), transport.NewLocal(), dev)
	if err != nil {
		t.Fatal(err)
	}
	if f.Size != 32<<20 {
		t.Errorf("size %d", f.Size)
	}
	if err := f.Refusal(true); err == nil || !strings.Contains(err.Error(), dev+" is in use: "+dev+" on "+mnt+"; unmount it first") {
		t.Errorf("mounted disk: %v", err)
	}
}

// KernelPartitions sees the partitions partx gives a loop device, and none after partx -d (which
// the kernel does not do by itself on a detach).
func TestKernelPartitions(t *testing.T) {
	testenv.RequireRoot(t)
	losetup := testenv.RequireTool(t, "mount", "losetup")
	partx := testenv.RequireTool(t, "util-linux", "partx")
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	sfdisk := exec.Command("sfdisk", "-q", img)
	sfdisk.Stdin = strings.NewReader("label: dos\nstart=2048, size=4096\nstart=8192, size=4096\n")
	if out, err := sfdisk.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v: %s", err, out)
	}
	out, err := exec.Command(losetup, "--find", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command(partx, "-d", dev).Run(); _ = exec.Command(losetup, "-d", dev).Run() })
	_ = exec.Command(partx, "-d", dev).Run() // a previous user's leftovers
	if got := KernelPartitions(dev); len(got) != 0 {
		t.Fatalf("before partx -a: %v", got)
	}
	if out, err := exec.Command(partx, "-a", dev).CombinedOutput(); err != nil {
		t.Fatalf("partx -a: %v: %s", err, out)
	}
	name := filepath.Base(dev)
	if got := strings.Join(KernelPartitions(dev), " "); got != name+"p1 "+name+"p2" {
		t.Errorf("after partx -a: %q", got)
	}
	if out, err := exec.Command(partx, "-d", dev).CombinedOutput(); err != nil {
		t.Fatalf("partx -d: %v: %s", err, out)
	}
	if got := KernelPartitions(dev); len(got) != 0 {
		t.Errorf("after partx -d: %v", got)
	}
}
