package chaos_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/installer"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// installChobolo is the original's layout (legacy spellings included) on btrfs subvolumes with a
// swap partition, and a machine: hostname, a user, a package, and a serial console that logs root
// in by itself (the boot test runs chaos inside the booted system over it).
const installChobolo = `hostname: forge
users:
  - name: alice
    shell: bash
packages:
  - hello
files:
  - path: /etc/systemd/system/serial-getty@ttyS0.service.d
    state: directory
  - path: /etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf
    content: |
      [Service]
      ExecStart=
      ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
bootloader:
  name: grub
  firmware: bios
particoes:
  partitions:
    - name: ROOT
      important: root
      type: btrfs
      subvolumes:
        - {name: "@", mountpoint: /, options: [compress=zstd, noatime]}
        - {name: "@home", mountpoint: /home}
    - name: SWAP
      important: swap
      size: 256M
      type: linux-swap
`

func run(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// TestInstallDebianImage installs the Ch-obolo onto a loop-device image with the real tools
// (sfdisk, partx, mkfs, btrfs, mmdebstrap's cached core, the roles through @chroot, grub-install
// from the new root), then reads the image back: partition table, labels and UUIDs (blkid), fstab,
// hostname, user, package, GRUB's files and boot code, the new system's first generation. A dry
// run before it changes nothing; a second install onto the same image is refused without --wipe,
// and with --wipe starts over. Then (TestInstallDebianImage/boot) the reinstalled image boots in
// qemu to the login prompt of the declared hostname, and chaos apply --dry inside finds nothing to do.
func TestInstallDebianImage(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "fdisk", "sfdisk")
	testenv.RequireTools(t, "util-linux", "partx", "wipefs", "blkid", "blockdev")
	testenv.RequireTools(t, "mount", "losetup")
	testenv.RequireTools(t, "btrfs-progs", "mkfs.btrfs", "btrfs")
	testenv.RequireTools(t, "mmdebstrap", "mmdebstrap")
	testenv.RequireTools(t, "zstd", "zstd")
	ctx := context.Background()
	c := writeChobolo(t, installChobolo)
	ctl := newController(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	var mu sync.Mutex
	var events []chaos.Event
	req := chaos.InstallRequest{Chobolo: c, Image: img, ImageSize: 3 << 30, CacheDir: testenv.InstallCache(),
		StateDir: filepath.Join(dir, "state"), Events: func(ev chaos.Event) { mu.Lock(); events = append(events, ev); mu.Unlock() }}

	dry := req
	dry.Dry = true
	res, err := ctl.Install(ctx, dry)
	if err != nil {
		t.Fatalf("dry install: %v", err)
	}
	if !res.Run.Pending() || len(res.Run.Hosts) != 3 {
		t.Fatalf("dry run: %+v", res.Run.Hosts)
	}
	if _, err := os.Stat(img); !os.IsNotExist(err) {
		t.Fatalf("a dry run made the image: %v", err)
	}
	rolesPlan := res.Run.Plans[res.Run.Hosts[1].Name]
	if rolesPlan == nil || !strings.Contains(engine.Summary(rolesPlan), "to add") {
		t.Fatalf("the roles' plan on the new root: %+v", res.Run.Hosts[1])
	}

	// Refused at the disk's plan: nothing is written (the image exists, empty and detached).
	refuse := req
	refuse.Approve = func(context.Context, *chaos.Plan) (chaos.Approval, error) { return chaos.Refuse, nil }
	if _, err := ctl.Install(ctx, refuse); err == nil || !strings.Contains(err.Error(), "not approved: nothing was written to /dev/loop") {
		t.Fatalf("refused install: %v", err)
	}
	if out, _ := exec.Command("wipefs", "--no-act", img).Output(); len(out) > 0 {
		t.Fatalf("a refused install wrote to the image:\n%s", out)
	}

	req.Yes = true
	start := time.Now()
	res, err = ctl.Install(ctx, req)
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	t.Logf("installed in %s: %+v", time.Since(start).Round(time.Millisecond), res.Steps)
	if res.Run.Failed() > 0 {
		t.Fatalf("install: %+v", res.Run.Hosts)
	}
	if out := run(t, "losetup", "--associated", img); out != "" {
		t.Errorf("the image is still attached: %s", out)
	}
	if mounts, _ := os.ReadFile("/proc/self/mounts"); bytes.Contains(mounts, []byte(res.Disk.Root)) {
		t.Errorf("still mounted under %s", res.Disk.Root)
	}

	// The partition table: MBR, the btrfs root taking the rest, then the swap.
	dump := run(t, "sfdisk", "--dump", img)
	for _, want := range []string{"label: dos", "start=        2048, size=     5763072, type=83, bootable", "start=     5765120, size=      524288, type=82"} {
		if !strings.Contains(dump, want) {
			t.Errorf("partition table lacks %q:\n%s", want, dump)
		}
	}
	// GRUB's boot code in the MBR.
	mbr := make([]byte, 512)
	if f, err := os.Open(img); err == nil {
		_, _ = io.ReadFull(f, mbr)
		f.Close()
	}
	if !bytes.Contains(mbr, []byte("GRUB")) || mbr[510] != 0x55 || mbr[511] != 0xaa {
		t.Error("no GRUB boot code in the MBR")
	}

	loop, detach := attach(t, img, "--read-only")
	for i, p := range res.Disk.Parts {
		dev := loop + "p" + string(rune('1'+i))
		got := run(t, "blkid", "-p", "-o", "export", dev)
		fs := map[string]string{"swap": "swap", "btrfs": "btrfs"}[p.FS]
		for _, want := range []string{"LABEL=" + p.Name, "UUID=" + p.UUID, "TYPE=" + fs} {
			if !strings.Contains(got, want+"\n") {
				t.Errorf("%s: blkid lacks %s:\n%s", dev, want, got)
			}
		}
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "mount", "-o", "ro,subvol=@", loop+"p1", mnt)
	unmounted := false
	unmount := func() {
		if !unmounted {
			unmounted = true
			run(t, "umount", mnt)
		}
	}
	t.Cleanup(unmount)
	read := func(p string) string {
		data, err := os.ReadFile(filepath.Join(mnt, p))
		if err != nil {
			t.Errorf("the new root: %v", err)
		}
		return string(data)
	}
	if got := read("etc/fstab"); got != res.Disk.Fstab || !strings.Contains(got, "UUID="+res.Disk.Parts[0].UUID+"\t/\tbtrfs\tsubvol=@,compress=zstd,noatime") {
		t.Errorf("fstab:\n%s\nplanned:\n%s", got, res.Disk.Fstab)
	}
	if got := read("etc/hostname"); got != "forge\n" {
		t.Errorf("hostname %q", got)
	}
	if !strings.Contains(read("etc/passwd"), "\nalice:x:1000:1000::/home/alice:/bin/bash\n") {
		t.Error("no user alice in the new root")
	}
	if !strings.Contains(read("var/lib/dpkg/status"), "Package: hello\nStatus: install ok installed\n") {
		t.Error("package hello is not installed in the new root")
	}
	cfg := read("boot/grub/grub.cfg")
	for _, want := range []string{"root=UUID=" + res.Disk.Parts[0].UUID, "rootflags=subvol=@", "linux /@/boot/vmlinuz-"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("grub.cfg lacks %q:\n%s", want, cfg)
		}
	}
	if !testenv.Exists(t, mnt, "/boot/grub/i386-pc/core.img") || !testenv.Exists(t, mnt, "/boot/grub/i386-pc/normal.mod") {
		t.Error("grub-install left no core.img or modules in /boot/grub/i386-pc")
	}
	if !testenv.Exists(t, mnt, engine.GenerationDir(1)) {
		t.Error("the new system has no generation 1")
	}
	unmount()

	// The disk holds a system now: a second install is refused at the Ch-obolo's partitioning.
	detach()
	again := req
	again.Events = nil
	_, err = ctl.Install(ctx, again)
	if err == nil || !strings.Contains(err.Error(), "machine.yml:19:3: "+img+" is not empty: dos signature at offset 0x1fe") ||
		!strings.Contains(err.Error(), "pass --wipe") {
		t.Errorf("second install: %v", err)
	}
	// With --wipe it starts over on the installed disk; the boot below boots this second install.
	again.Wipe = true
	start = time.Now()
	if res, err := ctl.Install(ctx, again); err != nil || res.Run.Failed() > 0 {
		t.Fatalf("install --wipe over the installed system: %v", err)
	}
	t.Logf("installed again with --wipe in %s", time.Since(start).Round(time.Millisecond))

	t.Run("boot", func(t *testing.T) {
		bootAndCheck(t, img, mnt, c.File, guest{hostname: "forge", mount: []string{"-o", "subvol=@"}})
	})
}

// guest is how bootAndCheck boots an installed image: the declared hostname, the root file
// system's mount options (partition 1, else part), and qemu's firmware arguments (none: BIOS).
type guest struct {
	hostname string
	mount    []string
	part     string
	firmware []string
}

// bootAndCheck boots the installed image in qemu (TCG, serial console), waits for the login
// prompt with the declared hostname (root logs in by itself on the serial console, as the
// Ch-obolo says) and runs chaos apply --dry inside: nothing to do.
func bootAndCheck(t *testing.T, img, mnt, chobolo string, g guest) {
	qemu := testenv.RequireTool(t, "qemu-system-x86", "qemu-system-x86_64")
	// chaos itself and the Ch-obolo go into the new root; neither is a path chaos manages.
	loop, detach := attach(t, img)
	run(t, append(append([]string{"mount"}, g.mount...), loop+"p"+cmp.Or(g.part, "1"), mnt)...)
	run(t, "install", "-m", "0755", testenv.ChaosBinary(t), filepath.Join(mnt, "usr/local/bin/chaos"))
	run(t, "install", "-m", "0644", chobolo, filepath.Join(mnt, "root/machine.yml"))
	run(t, "umount", mnt)
	detach()

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	args := append([]string{"-accel", "tcg", "-m", "1024", "-smp", "2", "-display", "none",
		"-serial", "stdio", "-monitor", "none", "-nic", "none", "-drive", "file=" + img + ",format=raw,if=virtio"}, g.firmware...)
	cmd := exec.CommandContext(ctx, qemu, args...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	console := &bytes.Buffer{}
	lines := make(chan string, 1024)
	go func() {
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				lines <- line
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	start := time.Now()
	wait := func(what string, timeout time.Duration) string {
		deadline := time.After(timeout)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("qemu ended before %q:\n%s", what, tail(console.String()))
				}
				console.WriteString(line)
				if strings.Contains(line, what) {
					return line
				}
			case <-deadline:
				t.Fatalf("no %q after %s:\n%s", what, timeout, tail(console.String()))
			}
		}
	}
	wait(g.hostname+" login: root (automatic login)", 10*time.Minute)
	t.Logf("login prompt of %s after %s", g.hostname, time.Since(start).Round(time.Second))
	// The shell's prompt has no newline: the marker comes from the command's own output.
	time.Sleep(2 * time.Second)
	// The marker is split in what is typed, so the terminal's echo of the command does not match.
	_, _ = io.WriteString(stdin, "chaos apply -c /root/machine.yml --dry --no-color; echo CHAOS\"\"-DONE rc=$?\n")
	line := wait("CHAOS-DONE", 5*time.Minute)
	if !strings.Contains(line, "CHAOS-DONE rc=0") || !strings.Contains(console.String(), "@local: no changes") {
		t.Errorf("chaos apply --dry inside the installed system: %s\n%s", strings.TrimSpace(line), tail(console.String()))
	}
	t.Logf("chaos apply --dry inside after %s:\n%s", time.Since(start).Round(time.Second), tail(console.String()))
}

// installUEFIChobolo is a UEFI machine: GPT, an ESP (FAT32, mounted at /boot/efi: with fusefat
// on this machine, whose kernel has no vfat), an ext4 root and an xfs /srv, GRUB EFI.
const installUEFIChobolo = `hostname: efi-forge
files:
  - path: /etc/systemd/system/serial-getty@ttyS0.service.d
    state: directory
  - path: /etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf
    content: |
      [Service]
      ExecStart=
      ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
bootloader:
  name: grub
  firmware: uefi
partitioning:
  partitions:
    - {name: ESP, important: boot, type: fat32, size: 128M, mountpoint: /boot/efi}
    - {name: ROOT, important: root, type: ext4}
    - {name: SRV, type: xfs, size: 320M, mountpoint: /srv}
`

// TestInstallDebianUEFI installs a UEFI machine onto a loop-device image (GPT, the ESP written
// through fusefat, GRUB EFI at the removable-media path, an xfs /srv), reads the image back (the
// partition types, the ESP's files with fsck.fat, the file systems, fstab, GRUB's EFI modules),
// then boots it with OVMF in qemu to the login prompt of the declared hostname (every fstab entry
// mounted: a failed one stops the boot short of it), and chaos apply --dry inside finds nothing to do.
func TestInstallDebianUEFI(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "fdisk", "sfdisk")
	testenv.RequireTools(t, "util-linux", "partx", "wipefs", "blkid", "blockdev")
	testenv.RequireTools(t, "mount", "losetup")
	testenv.RequireTools(t, "dosfstools", "mkfs.vfat", "fsck.fat")
	testenv.RequireTools(t, "fusefat", "fusefat")
	testenv.RequireTools(t, "xfsprogs", "mkfs.xfs")
	testenv.RequireTools(t, "mmdebstrap", "mmdebstrap")
	testenv.RequireTools(t, "zstd", "zstd")
	const ovmf = "/usr/share/ovmf/OVMF.fd"
	if _, err := os.Stat(ovmf); err != nil {
		testenv.Missing(t, "testenv: %s is not installed (scripts/deps.sh installs ovmf)", ovmf)
	}
	ctx := context.Background()
	c := writeChobolo(t, installUEFIChobolo)
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	start := time.Now()
	res, err := newController(t).Install(ctx, chaos.InstallRequest{Chobolo: c, Image: img, ImageSize: 5 << 29, Yes: true,
		CacheDir: testenv.InstallCache(), StateDir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	t.Logf("installed in %s: %+v", time.Since(start).Round(time.Millisecond), res.Steps)
	if res.Run.Failed() > 0 {
		t.Fatalf("install: %+v", res.Run.Hosts)
	}
	if mounts, _ := os.ReadFile("/proc/self/mounts"); bytes.Contains(mounts, []byte(res.Disk.Root)) {
		t.Errorf("still mounted under %s", res.Disk.Root)
	}
	dump := run(t, "sfdisk", "--dump", img)
	for _, want := range []string{"label: gpt", "start=        2048, size=      262144, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B", `name="ESP"`, `name="ROOT"`} {
		if !strings.Contains(dump, want) {
			t.Errorf("partition table lacks %q:\n%s", want, dump)
		}
	}
	loop, detach := attach(t, img, "--read-only")
	esp, rootPart := res.Disk.Parts[0], res.Disk.Parts[1]
	if got := run(t, "blkid", "-p", "-o", "export", loop+"p1"); !strings.Contains(got, "LABEL=ESP\n") || !strings.Contains(got, "UUID="+esp.UUID+"\n") || !strings.Contains(got, "TYPE=vfat\n") {
		t.Errorf("the ESP: %s", got)
	}
	if got := run(t, "blkid", "-p", "-o", "export", loop+"p3"); !strings.Contains(got, "LABEL=SRV\n") || !strings.Contains(got, "UUID="+res.Disk.Parts[2].UUID+"\n") || !strings.Contains(got, "TYPE=xfs\n") {
		t.Errorf("/srv: %s", got)
	}
	// The ESP as firmware reads it: a consistent FAT with GRUB at the removable-media path.
	if got := run(t, "fsck.fat", "-n", "-l", loop+"p1"); !strings.Contains(got, "/EFI/BOOT/BOOTX64.EFI") {
		t.Errorf("no EFI/BOOT/BOOTX64.EFI on the ESP:\n%s", got)
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "mount", "-o", "ro", loop+"p2", mnt)
	if data, err := os.ReadFile(filepath.Join(mnt, "etc/fstab")); err != nil || string(data) != res.Disk.Fstab ||
		!strings.Contains(string(data), "UUID="+esp.UUID+"\t/boot/efi\tvfat\tumask=0077") ||
		!strings.Contains(string(data), "UUID="+res.Disk.Parts[2].UUID+"\t/srv\txfs\tdefaults\t0\t0\n") {
		t.Errorf("fstab (%v):\n%s\nplanned:\n%s", err, data, res.Disk.Fstab)
	}
	if cfg, err := os.ReadFile(filepath.Join(mnt, "boot/grub/grub.cfg")); err != nil || !strings.Contains(string(cfg), "root=UUID="+rootPart.UUID) {
		t.Errorf("grub.cfg (%v):\n%s", err, cfg)
	}
	if !testenv.Exists(t, mnt, "/boot/grub/x86_64-efi/normal.mod") {
		t.Error("grub-install left no x86_64-efi modules in /boot/grub")
	}
	run(t, "umount", mnt)
	detach()
	t.Run("boot", func(t *testing.T) {
		bootAndCheck(t, img, mnt, c.File, guest{hostname: "efi-forge", part: "2", firmware: []string{"-bios", ovmf}})
	})
}

// attach attaches img to a free loop device with its partitions (partx) and returns it with a
// detach that runs once (also at cleanup), and only while the device still holds img: a loop
// device given back may be another test's a moment later.
func attach(t *testing.T, img string, flags ...string) (string, func()) {
	t.Helper()
	loop := strings.TrimSpace(run(t, append(append([]string{"losetup"}, flags...), "--find", "--show", img)...))
	// Partitions a previous user of the loop device could not delete are dropped first (partx -u
	// cannot move a stale partition over another one): the partitions are img's.
	_ = exec.Command("partx", "-d", loop).Run()
	run(t, "partx", "-a", loop)
	detach := sync.OnceFunc(func() {
		out, _ := exec.Command("losetup", "--associated", img).Output()
		if !strings.HasPrefix(string(out), loop+":") {
			return
		}
		// partx -d fails while the kernel still holds a just-unmounted partition: retried.
		for i := 0; i < 200 && len(installer.KernelPartitions(loop)) > 0; i++ {
			if i > 0 {
				time.Sleep(250 * time.Millisecond)
			}
			_ = exec.Command("partx", "-d", loop).Run()
		}
		if out, err := exec.Command("losetup", "-d", loop).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", loop, err, out)
		}
	})
	t.Cleanup(detach)
	return loop, detach
}

func tail(s string) string {
	if len(s) > 3000 {
		return "..." + s[len(s)-3000:]
	}
	return s
}

// TestInstallFailureLeavesNothingMounted: the Ch-obolo's roles fail on the new root (a package no
// repository has): the install stops with an error that says what the disk holds, the roles' ops
// are undone, nothing stays mounted under the install's directory and the image is detached.
func TestInstallFailureLeavesNothingMounted(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "fdisk", "sfdisk")
	testenv.RequireTools(t, "util-linux", "partx", "wipefs", "blockdev")
	testenv.RequireTools(t, "mount", "losetup")
	testenv.RequireTools(t, "mmdebstrap", "mmdebstrap")
	c := writeChobolo(t, `hostname: broken
packages: [chaos-no-such-package]
bootloader: {name: grub, firmware: bios}
partitioning:
  partitions:
    - {name: ROOT, important: root, type: ext4}
`)
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	var errs []string
	res, err := newController(t).Install(context.Background(), chaos.InstallRequest{Chobolo: c, Image: img, ImageSize: 2 << 30, Yes: true,
		CacheDir: testenv.InstallCache(), StateDir: filepath.Join(dir, "state"),
		Events: func(ev chaos.Event) {
			if ev.Error != "" {
				errs = append(errs, ev.Error)
			}
		}})
	if err == nil || !strings.Contains(err.Error(), "applying the Ch-obolo to the new root failed (see above): /dev/loop") ||
		!strings.Contains(err.Error(), "is partitioned and holds the core but is not bootable; run again with --wipe") {
		t.Fatalf("install: %v", err)
	}
	if !strings.Contains(strings.Join(errs, "\n"), "chaos-no-such-package") {
		t.Errorf("the roles' error does not name the package: %q", errs)
	}
	if mounts, _ := os.ReadFile("/proc/self/mounts"); bytes.Contains(mounts, []byte(res.Disk.Root)) {
		t.Errorf("still mounted under %s:\n%s", res.Disk.Root, mounts)
	}
	if _, err := os.Stat(res.Disk.Root); !os.IsNotExist(err) {
		t.Errorf("the install's directory %s is left: %v", res.Disk.Root, err)
	}
	if out := run(t, "losetup", "--associated", img); out != "" {
		t.Errorf("the image is still attached: %s", out)
	}
	// The disk says what it holds: the partition table and the root's file system.
	if out := run(t, "sfdisk", "--dump", img); !strings.Contains(out, "label: dos") {
		t.Errorf("partition table:\n%s", out)
	}
}
