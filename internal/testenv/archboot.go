package testenv

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Boot loader tests need what an overlay root cannot give: grub-probe resolves "/" and /boot to
// block devices (an overlay has none), grub-install writes an MBR and a BIOS boot partition, and
// bootctl copies EFI binaries to a FAT ESP. ArchBootDisk therefore makes a real disk image per test:
//
//   - a sparse image file with a GPT written by sfdisk: a 1 MiB BIOS boot partition, a 64 MiB ESP
//     and the root partition;
//   - one loop device for the whole disk (the MBR and GPT grub-install writes to), and one loop device
//     per partition at the partition's offset. `partx -a` partitions of a loop device (/dev/loopNpM)
//     do not answer HDIO_GETGEO, so GRUB cannot tell where they start ("cannot find a GRUB drive for
//     /dev/loop0p3"), and this kernel has no device-mapper for kpartx;
//   - the root partition made with `mkfs.ext4 -d` from the cached boot root (ArchBootBase), mounted,
//     with /dev, /proc and /sys mounted into it as arch-chroot does;
//   - the ESP made with mkfs.vfat -F 32; MountESP mounts it with the kernel's vfat or, where the kernel
//     has none (this machine kind), with fusefat (a FUSE FAT driver).

// bootPackages are the Debian packages ArchBootBase adds to the Arch-flavoured root: GRUB for BIOS
// and UEFI (grub-install, grub-mkconfig, grub-probe) and systemd-boot (bootctl and its EFI binary).
// rEFInd is left out: refind-install finds the ESP through /etc/mtab's "vfat" and registers itself
// with efibootmgr, neither of which a FUSE-mounted ESP without EFI variables can give.
var bootPackages = []string{"grub-common", "grub2-common", "grub-pc-bin", "grub-efi-amd64-bin", "systemd-boot", "systemd-boot-efi"}

// bootRecipe versions the way ArchBootBase is made; change it with the code below.
const bootRecipe = "archboot-v1"

var archBoot struct {
	sync.Mutex
	dir   string
	swept bool
}

// ArchBootBase returns a cached directory, /var/cache/chaos-test/archboot-<sha12>/: a copy of
// ArchBaseRoot with bootPackages and the libraries they need installed by the root's own dpkg. The
// .deb files are fetched once with `apt-get download` on this machine (the set is computed by apt
// against the root's dpkg status) and kept beside it in archboot-<sha12>.debs/. The key covers the
// Arch base, the package list and bootRecipe. Built in ~20-40 s, once per machine and key.
func ArchBootBase(t testing.TB) string {
	t.Helper()
	base := ArchBaseRoot(t)
	archBoot.Lock()
	defer archBoot.Unlock()
	if archBoot.dir != "" {
		return archBoot.dir
	}
	sum := sha256.Sum256([]byte(bootRecipe + "\n" + filepath.Base(base) + "\n" + strings.Join(bootPackages, " ")))
	dir := filepath.Join(cacheDir(), "archboot-"+hex.EncodeToString(sum[:])[:12])
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		archBoot.dir = dir
		return dir
	}
	lock, err := os.OpenFile(filepath.Join(cacheDir(), ".lock-archboot"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		archBoot.dir = dir
		return dir
	}
	t.Logf("testenv: building %s (one-time): the Arch root plus %s", dir, strings.Join(bootPackages, " "))
	debs := dir + ".debs"
	if err := fetchDebs(base, debs, bootPackages); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if out, err := exec.Command("cp", "-a", base, tmp).CombinedOutput(); err != nil {
		t.Fatalf("testenv: copying %s: %v\n%s", base, err, out)
	}
	inRoot := filepath.Join(tmp, "var/tmp/chaos-debs")
	if out, err := exec.Command("cp", "-a", debs, inRoot).CombinedOutput(); err != nil {
		t.Fatalf("testenv: %v\n%s", err, out)
	}
	// dpkg runs in the copy without /dev, /proc or /sys: no maintainer script can reach this machine's
	// disks (grub-pc's and refind's postinsts would; only the *-bin and systemd-boot packages are here).
	cmd := exec.Command("chroot", tmp, "sh", "-c", "dpkg -i /var/tmp/chaos-debs/*.deb && rm -rf /var/tmp/chaos-debs")
	cmd.Env = chrootEnv
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		t.Fatalf("testenv: dpkg -i in %s: %v\n%s", tmp, err, tail(string(out), 4000))
	}
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	archBoot.dir = dir
	return dir
}

// fetchDebs downloads into dir the packages (and the dependencies root's dpkg lacks), unless dir is
// there already. apt resolves against root's status file with this machine's package lists.
func fetchDebs(root, dir string, pkgs []string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	args := []string{"-o", "Dir::State::status=" + filepath.Join(root, "var/lib/dpkg/status"),
		"install", "--print-uris", "-qq", "--no-install-recommends"}
	out, err := exec.Command("apt-get", append(args, pkgs...)...).Output()
	if err != nil {
		return fmt.Errorf("apt-get --print-uris %s: %v", strings.Join(pkgs, " "), err)
	}
	var want []string
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasSuffix(f[1], ".deb") {
			continue
		}
		// name_version_arch.deb; the version's ':' (epoch) is "%3a" in the file name.
		parts := strings.Split(strings.TrimSuffix(f[1], ".deb"), "_")
		if len(parts) != 3 {
			return fmt.Errorf("apt-get --print-uris: unexpected file name %q", f[1])
		}
		want = append(want, parts[0]+"="+strings.ReplaceAll(parts[1], "%3a", ":"))
	}
	if len(want) == 0 {
		return fmt.Errorf("apt-get --print-uris %s: nothing to download (are the package lists there? run apt-get update)", strings.Join(pkgs, " "))
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	cmd := exec.Command("apt-get", append([]string{"download", "-qq"}, want...)...)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get download %s: %v\n%s", strings.Join(want, " "), err, out)
	}
	return os.Rename(tmp, dir)
}

// BootDisk is a disk image for boot loader tests (see ArchBootDisk).
type BootDisk struct {
	// Root is the mounted root file system: ext4 on RootDev, holding ArchBootBase, with /dev, /proc
	// and /sys mounted as arch-chroot does. Use it as a chroot target.
	Root string
	// Disk is the whole disk's loop device (MBR, GPT, BIOS boot partition); ESPDev and RootDev are
	// the loop devices of the ESP and of the root partition.
	Disk, ESPDev, RootDev string
	// FuseESP is true when MountESP used fusefat (the kernel has no vfat).
	FuseESP bool
	image   string
}

// Partition layout of ArchBootDisk, in 512-byte sectors.
const (
	bootDiskSize = 1 << 30
	espStart     = 4096
	espSectors   = 64 << 11 // 64 MiB
	rootStart    = espStart + espSectors
)

// ArchBootDisk makes a fresh disk image with the cached boot root on it (see the comment above) and
// removes everything (mounts, loop devices, image) when the test ends. ~3-8 s, most of it mkfs.
func ArchBootDisk(t testing.TB) *BootDisk {
	t.Helper()
	RequireRoot(t)
	src := ArchBootBase(t)
	for _, tool := range []string{"sfdisk", "losetup", "mkfs.ext4", "mkfs.vfat"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("testenv: %s is missing: run scripts/deps.sh (packages fdisk, mount, e2fsprogs, dosfstools)", tool)
		}
	}
	sweepStaleLoops()
	dir := os.TempDir()
	var st syscall.Statfs_t
	if syscall.Statfs("/dev/shm", &st) == nil && uint64(st.Bavail)*uint64(st.Bsize) > 4*bootDiskSize {
		dir = "/dev/shm" // the image is written in full by mkfs: keep it off the disk when RAM allows
	}
	work, err := os.MkdirTemp(dir, fmt.Sprintf("%s%d-", bootPrefix, os.Getpid()))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	d := &BootDisk{image: filepath.Join(work, "disk.img"), Root: filepath.Join(work, "root")}
	var cleanups []func() error
	t.Cleanup(func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			if err := cleanups[i](); err != nil {
				t.Errorf("testenv: boot disk cleanup: %v", err)
			}
		}
		if err := os.RemoveAll(work); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	must := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("testenv: %s %s: %v\n%s", name, strings.Join(args, " "), err, tail(string(out), 4000))
		}
		return strings.TrimSpace(string(out))
	}
	f, err := os.Create(d.image)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	err = f.Truncate(bootDiskSize)
	f.Close()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	table := fmt.Sprintf("label: gpt\n"+
		"start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649, name=bios\n"+
		"start=%d, size=%d, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp\n"+
		"start=%d, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=archroot\n", espStart, espSectors, rootStart)
	sf := exec.Command("sfdisk", "-q", d.image)
	sf.Stdin = strings.NewReader(table)
	if out, err := sf.CombinedOutput(); err != nil {
		t.Fatalf("testenv: sfdisk: %v\n%s", err, out)
	}
	loop := func(args ...string) string {
		t.Helper()
		dev := must("losetup", append([]string{"-f", "--show"}, append(args, d.image)...)...)
		cleanups = append(cleanups, func() error {
			if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
				return fmt.Errorf("losetup -d %s: %v: %s", dev, err, out)
			}
			return nil
		})
		return dev
	}
	d.Disk = loop()
	d.ESPDev = loop("-o", strconv.Itoa(espStart*512), "--sizelimit", strconv.Itoa(espSectors*512))
	d.RootDev = loop("-o", strconv.Itoa(rootStart*512))
	must("mkfs.vfat", "-F", "32", "-n", "ESP", d.ESPDev)
	must("mkfs.ext4", "-q", "-L", "archroot", "-d", src, d.RootDev)
	if err := os.Mkdir(d.Root, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	mount := func(args ...string) {
		t.Helper()
		mp := args[len(args)-1]
		must("mount", args...)
		cleanups = append(cleanups, func() error { return unmount(mp) })
	}
	mount(d.RootDev, d.Root)
	mount("--bind", "/dev", filepath.Join(d.Root, "dev"))
	mount("-t", "proc", "proc", filepath.Join(d.Root, "proc"))
	mount("--bind", "/sys", filepath.Join(d.Root, "sys"))
	return d
}

// MountESP mounts the ESP at at (a path inside the root, e.g. /boot or /efi), with the kernel's vfat
// when it has one, else with fusefat (package fusefat) named after the device, so that grub-probe
// finds the device in /proc/self/mountinfo. Unmounted at cleanup, before the root.
func (d *BootDisk) MountESP(t testing.TB, at string) {
	t.Helper()
	mp := filepath.Join(d.Root, at)
	if err := os.MkdirAll(mp, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	fsys, _ := os.ReadFile("/proc/filesystems")
	var cmd *exec.Cmd
	if bytes.Contains(fsys, []byte("\tvfat\n")) {
		cmd = exec.Command("mount", "-t", "vfat", d.ESPDev, mp)
	} else {
		if _, err := exec.LookPath("fusefat"); err != nil {
			t.Fatalf("testenv: this kernel cannot mount vfat and fusefat is missing: apt-get install fusefat (scripts/deps.sh)")
		}
		d.FuseESP = true
		cmd = exec.Command("fusefat", "-o", "rw+,fsname="+d.ESPDev, d.ESPDev, mp)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: mounting the ESP: %v\n%s", err, tail(string(out), 2000))
	}
	t.Cleanup(func() {
		if err := unmount(mp); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
}

// bootPrefix names the per-test work directories; the pid lets a later process detach the loop
// devices of a killed one.
const bootPrefix = "chaos-bootdisk-"

// sweepStaleLoops unmounts and detaches what a killed test process left: loop devices whose backing
// file is in a bootPrefix directory of a dead pid. Once per process.
func sweepStaleLoops() {
	archBoot.Lock()
	defer archBoot.Unlock()
	if archBoot.swept {
		return
	}
	archBoot.swept = true
	out, err := exec.Command("losetup", "-n", "-O", "NAME,BACK-FILE", "-l").Output()
	if err != nil {
		return
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		base := filepath.Base(filepath.Dir(f[1]))
		rest, ok := strings.CutPrefix(base, bootPrefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || alive(pid) {
			continue
		}
		work := filepath.Dir(f[1])
		_ = unmount(filepath.Join(work, "root"))
		_ = exec.Command("losetup", "-d", f[0]).Run()
		if len(mountsUnder(work)) == 0 {
			os.RemoveAll(work)
		}
	}
}
