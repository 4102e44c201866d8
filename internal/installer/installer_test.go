package installer

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/golden"
)

func load(t *testing.T, src string) *chobolo.Chobolo {
	t.Helper()
	c, err := chobolo.LoadBytes("m.yml", []byte(src), chobolo.LoadOptions{})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return c
}

// fixedUUIDs numbers the UUIDs a plan asks for, so that plans compare.
func fixedUUIDs() UUIDs {
	n := 0
	return func() string { n++; return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n) }
}

const btrfsLayout = `
hostname: forge
bootloader: {name: grub, firmware: bios, kernel_params: quiet}
particoes:
  disk: /dev/vda
  partitions:
    - name: ROOT
      part: 1
      important: root
      type: btrfs
      subvolumes:
        - {name: "@", mountpoint: /, options: [compress=zstd, noatime]}
        - {name: "@home", mountpoint: /home}
    - name: SWAP
      important: swap
      size: 512M
      type: linux-swap
    - name: DATA
      size: 1G
      type: ext4
      mount_point: /srv
`

// The original's keys and legacy spellings load (particoes, mount_point, part, linux-swap) and
// become a plan with the partition table, file systems, mounts in order and fstab by UUID.
func TestPlanFromLegacySpellings(t *testing.T) {
	c := load(t, btrfsLayout)
	l, err := ParseLayout(c)
	if err != nil {
		t.Fatal(err)
	}
	if l.Table != "mbr" || l.Disk != "/dev/vda" || len(l.Partitions) != 3 {
		t.Fatalf("layout: table %s disk %s, %d partitions", l.Table, l.Disk, len(l.Partitions))
	}
	if l.Partitions[2].Mountpoint != "/srv" || l.Partitions[1].FS != "swap" {
		t.Errorf("partitions: %+v", l.Partitions)
	}
	d, err := PlanDisk(l, "/dev/loop7", 4<<30, "/mnt/x", fixedUUIDs())
	if err != nil {
		t.Fatal(err)
	}
	wantScript := "label: dos\n" +
		"start=2048, size=5238784, type=83, bootable\n" + // the rest: 4G - 2M - 512M - 1G
		"start=5240832, size=1048576, type=82\n" +
		"start=6289408, size=2097152, type=83\n"
	if d.Script != wantScript {
		t.Errorf("sfdisk script:\n%s\nwant:\n%s", d.Script, wantScript)
	}
	var where []string
	for _, m := range d.Mounts {
		where = append(where, m.Where+"="+m.Dev+":"+strings.Join(m.Options, ","))
	}
	if got := strings.Join(where, " "); got != "/=/dev/loop7p1:subvol=@,compress=zstd,noatime /home=/dev/loop7p1:subvol=@home /srv=/dev/loop7p3:" {
		t.Errorf("mounts: %s", got)
	}
	for _, want := range []string{
		"UUID=00000001-0000-4000-8000-000000000001\t/\tbtrfs\tsubvol=@,compress=zstd,noatime\t0\t0\n",
		"UUID=00000001-0000-4000-8000-000000000001\t/home\tbtrfs\tsubvol=@home\t0\t0\n",
		"UUID=00000003-0000-4000-8000-000000000003\t/srv\text4\tdefaults\t0\t2\n",
		"UUID=00000002-0000-4000-8000-000000000002\tnone\tswap\tsw\t0\t0\n",
	} {
		if !strings.Contains(d.Fstab, want) {
			t.Errorf("fstab lacks %q:\n%s", want, d.Fstab)
		}
	}
	cfg, err := GrubConfig(l, d, "6.1.0-9-amd64")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"search --no-floppy --fs-uuid --set=root 00000001-0000-4000-8000-000000000001",
		"linux /@/boot/vmlinuz-6.1.0-9-amd64 root=UUID=00000001-0000-4000-8000-000000000001 ro rootflags=subvol=@ console=tty0 console=ttyS0,115200 quiet",
		"initrd /@/boot/initrd.img-6.1.0-9-amd64", "insmod part_msdos", "insmod btrfs",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("grub.cfg lacks %q:\n%s", want, cfg)
		}
	}
	hp := DiskPlan(l, d, "", "/cache/x.tar.zst", NewBootstrap(c, l, "bookworm", "http://deb.example/debian", ""))
	all := opsText(hp)
	for _, want := range []string{
		"mkfs.btrfs -q -f -L ROOT -U 00000001-0000-4000-8000-000000000001 /dev/loop7p1",
		"mkswap -L SWAP -U 00000002-0000-4000-8000-000000000002 /dev/loop7p2",
		"btrfs -q subvolume create /mnt/x/@home",
		"mount -t btrfs -o 'subvol=@,compress=zstd,noatime' /dev/loop7p1 /mnt/x\n",
		"mount -t ext4 /dev/loop7p3 /mnt/x/srv",
		"tar --zstd -xpf /cache/x.tar.zst -C /mnt/x --numeric-owner",
		"write /mnt/x/etc/fstab",
	} {
		if !strings.Contains(all+"\n", want) {
			t.Errorf("disk plan lacks %q:\n%s", want, all)
		}
	}
	// Mounted before the root's subvolume: the tree is mounted parents first.
	if strings.Index(all, "/dev/loop7p1 /mnt/x\n") > strings.Index(all, "/mnt/x/srv") {
		t.Errorf("/srv mounted before /:\n%s", all)
	}
}

// A GPT disk booted from BIOS gets the BIOS boot partition GRUB embeds itself in.
func TestGPTOnBIOSAddsBIOSBootPartition(t *testing.T) {
	c := load(t, `
bootloader: {name: grub, firmware: bios}
partitioning:
  table: gpt
  partitions:
    - {name: root, important: root, type: ext4}
`)
	l, err := ParseLayout(c)
	if err != nil {
		t.Fatal(err)
	}
	d, err := PlanDisk(l, "/dev/sda", 1<<30, "/mnt", fixedUUIDs())
	if err != nil {
		t.Fatal(err)
	}
	want := "label: gpt\n" +
		`start=2048, size=2048, type=21686148-6E6D-4449-6E6F-744E65656646, name="BIOSBOOT"` + "\n" +
		`start=4096, size=2091008, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"` + "\n"
	if d.Script != want || d.Parts[1].Dev != "/dev/sda2" {
		t.Errorf("script:\n%s\nwant:\n%s", d.Script, want)
	}
}

// UEFI: a GPT disk with an ESP (no BIOS boot partition added), the ESP in fstab with umask=0077,
// mounted with fusefat when the installing kernel has no vfat, GRUB EFI installed onto it as the
// removable-media path (no NVRAM entry), and grub-efi-amd64 bootstrapped instead of grub-pc.
func TestPlanUEFI(t *testing.T) {
	c := load(t, `
bootloader: {name: grub, firmware: uefi}
partitioning:
  partitions:
    - {name: ESP, important: boot, type: fat32, size: 128M, mountpoint: /boot/efi}
    - {name: ROOT, important: root, type: ext4}
`)
	l, err := ParseLayout(c)
	if err != nil {
		t.Fatal(err)
	}
	if l.Table != "gpt" || !l.Boot.UEFI || l.Boot.ESP != "/boot/efi" || len(l.Partitions) != 2 {
		t.Fatalf("layout: table %s, UEFI %v, ESP %q, %d partitions", l.Table, l.Boot.UEFI, l.Boot.ESP, len(l.Partitions))
	}
	d, err := PlanDisk(l, "/dev/loop7", 1<<30, "/mnt/x", fixedUUIDs())
	if err != nil {
		t.Fatal(err)
	}
	d.FuseFAT = true
	wantScript := "label: gpt\n" +
		`start=2048, size=262144, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="ESP"` + "\n" +
		`start=264192, size=1830912, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="ROOT"` + "\n"
	if d.Script != wantScript {
		t.Errorf("sfdisk script:\n%s\nwant:\n%s", d.Script, wantScript)
	}
	if !strings.Contains(d.Fstab, "UUID=0000-0001\t/boot/efi\tvfat\tumask=0077\t0\t2\n") {
		t.Errorf("fstab:\n%s", d.Fstab)
	}
	b := NewBootstrap(c, l, "bookworm", "http://deb.example/debian", "")
	if !slices.Contains(b.Packages, "grub-efi-amd64") || slices.Contains(b.Packages, "grub-pc") || !slices.Contains(b.Packages, "dosfstools") {
		t.Errorf("bootstrap packages: %v", b.Packages)
	}
	bp, err := BootPlan(l, d, RootFacts{Kernels: []string{"6.1.0-9-amd64"}})
	if err != nil {
		t.Fatal(err)
	}
	all := opsText(DiskPlan(l, d, "", "/cache/x.tar.zst", b)) + "\n" + opsText(bp)
	for _, want := range []string{
		"mkfs.vfat -F 32 -n ESP -i 00000001 /dev/loop7p1",
		"fusefat -o 'rw+,fsname=/dev/loop7p1' /dev/loop7p1 /mnt/x/boot/efi",
		"chroot /mnt/x grub-install '--target=x86_64-efi' '--efi-directory=/boot/efi' --removable --no-nvram\n",
		"umount /mnt/x/boot/efi\numount /mnt/x\n",
	} {
		if !strings.Contains(all+"\n", want) {
			t.Errorf("plan lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "i386-pc") {
		t.Errorf("a BIOS GRUB in the UEFI plan:\n%s", all)
	}
	// What --dry shows of the disk and the boot loader: the table before and after, the file
	// systems, the mounts, the bootstrap's packages, every command.
	var out strings.Builder
	engine.RenderPlan(&out, DiskPlan(l, d, "label: dos\n/dev/loop7p1 : start=2048, size=2095104, type=83\n", "/cache/x.tar.zst", b), engine.Style{})
	engine.RenderPlan(&out, bp, engine.Style{})
	golden.Check(t, "uefi-plan", out.String())
	// With a kernel that mounts vfat, the ESP is mounted by the kernel.
	d.FuseFAT = false
	if all := opsText(DiskPlan(l, d, "", "/cache/x.tar.zst", b)); !strings.Contains(all, "mount -t vfat /dev/loop7p1 /mnt/x/boot/efi") {
		t.Errorf("vfat mount:\n%s", all)
	}
}

// A layout whose commands the installing machine lacks is refused at the position of what needs
// each one, with the package to install.
func TestCheckTools(t *testing.T) {
	c := load(t, `
bootloader: {name: grub, firmware: uefi}
partitioning:
  partitions:
    - {name: ESP, important: boot, type: fat32, size: 128M, mountpoint: /boot/efi}
    - {name: ROOT, important: root, type: btrfs, subvolumes: [{name: "@", mountpoint: /}]}
    - {name: SRV, type: xfs, size: 1G, mountpoint: /srv}
`)
	l, err := ParseLayout(c)
	if err != nil {
		t.Fatal(err)
	}
	all := func(string) bool { return true }
	if err := CheckTools(l, true, all); err != nil {
		t.Errorf("every tool there: %v", err)
	}
	lacking := func(missing ...string) func(string) bool {
		return func(tool string) bool { return !slices.Contains(missing, tool) }
	}
	err = CheckTools(l, true, lacking("mkfs.xfs", "fusefat", "btrfs"))
	want := "m.yml:5:7: fusefat is not installed on this machine (this kernel does not mount vfat, ESP is mounted with fusefat): install fusefat\n" +
		"m.yml:6:7: btrfs is not installed on this machine (subvolumes of ROOT): install btrfs-progs\n" +
		"m.yml:7:7: mkfs.xfs is not installed on this machine (xfs partition SRV): install xfsprogs"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	// A kernel with vfat needs no fusefat.
	if err := CheckTools(l, false, lacking("fusefat")); err != nil {
		t.Errorf("vfat kernel: %v", err)
	}
}

// opsText is every op of a host plan, one a line.
func opsText(hp *engine.HostPlan) string {
	var ops []string
	for _, rp := range hp.Roles {
		for _, s := range rp.Steps {
			for _, op := range s.Ops {
				ops = append(ops, op.String())
			}
		}
	}
	return strings.Join(ops, "\n")
}

// What no disk makes work is refused before anything is read from a disk, at its FILE:LINE:COL.
func TestLayoutRefusals(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"overlapping mountpoints": {`
bootloader: grub
partitioning:
  partitions:
    - {name: a, important: root, type: ext4, size: 1G}
    - {name: b, type: ext4, mountpoint: /}
`, "m.yml:6:7: mountpoint / is declared twice (also at m.yml:5:7)"},
		"missing ESP on UEFI": {`
bootloader: {name: grub, firmware: uefi}
partitioning:
  partitions:
    - {name: root, important: root, type: ext4}
`, "m.yml:2:13: bootloader grub on UEFI needs an EFI system partition"},
		"no root": {`
bootloader: grub
partitioning:
  partitions:
    - {name: data, type: ext4, mountpoint: /srv}
`, "m.yml:4:3: partitioning: nothing is mounted at /"},
		"two rests": {`
bootloader: grub
partitioning:
  partitions:
    - {name: a, important: root, type: ext4}
    - {name: b, type: ext4, mountpoint: /srv, size: 100%}
`, "m.yml:6:7: partitioning.partitions[1]: only one partition can take the rest"},
		"bad size": {`
bootloader: grub
partitioning:
  partitions:
    - {name: a, important: root, type: ext4, size: 12X}
`, `m.yml:5:52: partitioning.partitions[0].size: "12X"`},
		"unknown key": {`
bootloader: grub
partitioning:
  partitions:
    - {name: a, important: root, type: ext4, mountpiont: /}
`, `m.yml:5:46: partitioning.partitions[0]: unknown key "mountpiont"`},
		"systemd-boot": {`
bootloader: {name: systemd-boot}
partitioning:
  partitions:
    - {name: ESP, important: boot, type: fat32, size: 512M, mountpoint: /boot}
    - {name: root, important: root, type: ext4}
`, "m.yml:2:13: bootloader systemd-boot: chaos install installs GRUB so far"},
		"no bootloader": {`
partitioning:
  partitions:
    - {name: a, important: root, type: ext4}
`, "no bootloader"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseLayout(load(t, tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %q", err, tc.want)
			}
		})
	}
}

// A layout larger than the disk is refused with what it needs and what the disk has.
func TestLayoutDoesNotFit(t *testing.T) {
	c := load(t, `
bootloader: grub
partitioning:
  partitions:
    - {name: root, important: root, type: ext4, size: 3G}
    - {name: home, important: home, type: ext4}
`)
	l, err := ParseLayout(c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = PlanDisk(l, "/dev/sdb", 2<<30, "/mnt", fixedUUIDs())
	if err == nil || !strings.Contains(err.Error(), "m.yml:4:3: the partitions need 3.0G but /dev/sdb has 2.0G usable") {
		t.Errorf("got %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"512M": 512 << 20, "1G": 1 << 30, "1.5GiB": 3 << 29, "2048K": 2 << 20, "100K": 1 << 20} {
		if got, rest, err := ParseSize(in); err != nil || rest || got != want {
			t.Errorf("ParseSize(%q) = %d, %v, %v; want %d", in, got, rest, err, want)
		}
	}
	if _, rest, err := ParseSize("100%"); err != nil || !rest {
		t.Errorf("100%%: rest %v, %v", rest, err)
	}
	for _, bad := range []string{"", "G", "-1G", "10", "1Q", "50%"} {
		if _, _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q): no error", bad)
		}
	}
}

func TestPartDevAndOnDisk(t *testing.T) {
	for disk, want := range map[string]string{"/dev/sda": "/dev/sda2", "/dev/nvme0n1": "/dev/nvme0n1p2", "/dev/loop3": "/dev/loop3p2"} {
		if got := PartDev(disk, 2); got != want {
			t.Errorf("PartDev(%s) = %s", disk, got)
		}
		if !OnDisk(disk, want) || !OnDisk(disk, disk) {
			t.Errorf("OnDisk(%s, %s) = false", disk, want)
		}
	}
	if OnDisk("/dev/sda", "/dev/sdb1") || OnDisk("/dev/loop1", "/dev/loop10") || OnDisk("/dev/sda", "/dev/sdaX") {
		t.Error("OnDisk matched another disk")
	}
}
