package installer

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
)

// Geometry is where a partition lands on the disk.
type Geometry struct {
	Partition
	Number int
	Dev    string
	Start  int64 // bytes
	Bytes  int64
	// UUID is the file system's UUID, chosen by the plan and given to mkfs, so that fstab and the
	// boot loader's configuration are known (and shown) before anything runs.
	UUID string
}

// Mount is one mount of the new system's tree.
type Mount struct {
	Where   string // in the new system ("/", "/home")
	Dev     string
	UUID    string
	FS      string
	Options []string // as written to fstab (subvol=NAME included)
}

// Disk is the plan for one disk: geometry and mounts, and the ops of each step.
type Disk struct {
	Device string
	Table  string
	Size   int64
	Parts  []Geometry
	Mounts []Mount // in mount order (parents first)
	Swap   []Geometry
	Root   string // where the new root is mounted on the installing machine
	Script string // the sfdisk script
	Fstab  string
	// FuseFAT mounts FAT file systems with fusefat: the installing machine's kernel has no vfat.
	FuseFAT bool
}

// UUIDs gives the plan its file system UUIDs (random in use, fixed in tests).
type UUIDs func() string

// PlanDisk places the partitions on a disk of size bytes and chooses their devices and UUIDs. It
// refuses a layout that does not fit, at the partitioning section's position.
func PlanDisk(l *Layout, dev string, size int64, root string, uuid UUIDs) (*Disk, error) {
	d := &Disk{Device: dev, Table: l.Table, Size: size, Root: root}
	// 1 MiB before the first partition (the label, GRUB's gap on MBR) and 1 MiB at the end (the
	// GPT backup), every partition MiB-aligned.
	usable := (size/MiB)*MiB - 2*MiB
	fixed := int64(0)
	for _, p := range l.Partitions {
		fixed += p.Size
	}
	restSize := usable - fixed
	if restSize < 0 || restSize < MiB && slices.ContainsFunc(l.Partitions, func(p Partition) bool { return p.Rest }) {
		return nil, fmt.Errorf("%s: the partitions need %s but %s has %s usable", l.Pos,
			human(fixed+boolMiB(l.Partitions)), dev, human(max(usable, 0)))
	}
	if l.Table == "mbr" && len(l.Partitions) > 4 {
		return nil, fmt.Errorf("%s: an MBR disk holds at most 4 primary partitions (%d declared); use table: gpt", l.Pos, len(l.Partitions))
	}
	start := int64(MiB)
	for i, p := range l.Partitions {
		g := Geometry{Partition: p, Number: i + 1, Dev: PartDev(dev, i+1), Start: start, Bytes: p.Size}
		if p.Rest {
			g.Bytes = restSize
		}
		switch p.FS {
		case "bios":
		case "vfat":
			u := strings.ToUpper(strings.ReplaceAll(uuid(), "-", ""))[:8]
			g.UUID = u[:4] + "-" + u[4:]
		default:
			g.UUID = uuid()
		}
		start += g.Bytes
		d.Parts = append(d.Parts, g)
	}
	for _, g := range d.Parts {
		if g.FS == "swap" {
			d.Swap = append(d.Swap, g)
		}
		if g.Mountpoint != "" {
			d.Mounts = append(d.Mounts, Mount{Where: g.Mountpoint, Dev: g.Dev, UUID: g.UUID, FS: g.FS, Options: g.Options})
		}
		for _, sv := range g.Subvolumes {
			if sv.Mountpoint != "" {
				d.Mounts = append(d.Mounts, Mount{Where: sv.Mountpoint, Dev: g.Dev, UUID: g.UUID, FS: g.FS,
					Options: append([]string{"subvol=" + sv.Name}, sv.Options...)})
			}
		}
	}
	// Parents before children: / first, then /boot before /boot/efi.
	slices.SortStableFunc(d.Mounts, func(a, b Mount) int {
		return cmp.Or(cmp.Compare(depth(a.Where), depth(b.Where)), strings.Compare(a.Where, b.Where))
	})
	d.Script = sfdiskScript(d)
	d.Fstab = fstab(d)
	return d, nil
}

func boolMiB(ps []Partition) int64 {
	if slices.ContainsFunc(ps, func(p Partition) bool { return p.Rest }) {
		return MiB
	}
	return 0
}

func depth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// human prints a byte count the way sizes are written in a Ch-obolo.
func human(b int64) string {
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return strconv.FormatInt(b>>30, 10) + "G"
	case b >= 1<<30:
		return strconv.FormatFloat(float64(b)/(1<<30), 'f', 1, 64) + "G"
	default:
		return strconv.FormatInt(b>>20, 10) + "M"
	}
}

// Partition type GUIDs (GPT) and ids (MBR).
var (
	gptTypes = map[string]string{
		"bios": "21686148-6E6D-4449-6E6F-744E65656646", "vfat": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
		"swap": "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
	}
	mbrTypes = map[string]string{"vfat": "ef", "swap": "82", "": "83"}
)

// sfdiskScript is the partition table as sfdisk reads it on stdin (sectors of 512 bytes).
func sfdiskScript(d *Disk) string {
	var b strings.Builder
	label := map[string]string{"gpt": "gpt", "mbr": "dos"}[d.Table]
	fmt.Fprintf(&b, "label: %s\n", label)
	for _, g := range d.Parts {
		fmt.Fprintf(&b, "start=%d, size=%d, type=", g.Start/512, g.Bytes/512)
		types := gptTypes
		if d.Table == "mbr" {
			types = mbrTypes
		}
		t, ok := types[g.FS]
		if !ok {
			t = types[""]
		}
		b.WriteString(t)
		if d.Table == "gpt" {
			fmt.Fprintf(&b, ", name=%q", g.Name)
		} else if g.Important == "boot" || g.Important == "root" && !slices.ContainsFunc(d.Parts, func(p Geometry) bool { return p.Important == "boot" }) {
			b.WriteString(", bootable")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// fstab is the new system's /etc/fstab: every file system by UUID, in mount order, then swap.
func fstab(d *Disk) string {
	var b strings.Builder
	b.WriteString("# /etc/fstab: written by chaos install (file systems by UUID)\n")
	b.WriteString("# <file system>\t<mount point>\t<type>\t<options>\t<dump>\t<pass>\n")
	for _, m := range d.Mounts {
		opts := strings.Join(m.Options, ",")
		if opts == "" {
			opts = "defaults"
		}
		pass := 2
		switch {
		case m.Where == "/" && m.FS != "btrfs" && m.FS != "xfs":
			pass = 1
		case m.FS == "btrfs" || m.FS == "xfs":
			pass = 0 // their fsck is a no-op
		}
		if m.FS == "vfat" && len(m.Options) == 0 {
			opts = "umask=0077"
		}
		fmt.Fprintf(&b, "UUID=%s\t%s\t%s\t%s\t0\t%d\n", m.UUID, m.Where, m.FS, opts, pass)
	}
	for _, s := range d.Swap {
		fmt.Fprintf(&b, "UUID=%s\tnone\tswap\tsw\t0\t0\n", s.UUID)
	}
	return b.String()
}

// mkfs is the command that makes g's file system with its label and UUID.
func mkfs(g Geometry) []string {
	switch g.FS {
	case "vfat":
		return []string{"mkfs.vfat", "-F", "32", "-n", g.Name, "-i", strings.ReplaceAll(g.UUID, "-", ""), g.Dev}
	case "ext4":
		return []string{"mkfs.ext4", "-q", "-F", "-L", g.Name, "-U", g.UUID, g.Dev}
	case "btrfs":
		return []string{"mkfs.btrfs", "-q", "-f", "-L", g.Name, "-U", g.UUID, g.Dev}
	case "xfs":
		return []string{"mkfs.xfs", "-q", "-f", "-L", g.Name, "-m", "uuid=" + g.UUID, g.Dev}
	case "swap":
		return []string{"mkswap", "-L", g.Name, "-U", g.UUID, g.Dev}
	}
	return nil
}

// toolPackages names the Debian package of each command the installing machine runs.
var toolPackages = map[string]string{
	"sfdisk": "fdisk", "partx": "util-linux", "mkswap": "util-linux", "mkfs.vfat": "dosfstools",
	"mkfs.ext4": "e2fsprogs", "mkfs.btrfs": "btrfs-progs", "btrfs": "btrfs-progs", "mkfs.xfs": "xfsprogs",
	"fusefat": "fusefat", "zstd": "zstd",
}

// CheckTools refuses, before the disk is touched, a layout whose commands the installing machine
// lacks (have says whether a command is there): each at the position of what needs it.
func CheckTools(l *Layout, fuseFAT bool, have func(string) bool) error {
	var errs Errors
	seen := map[string]bool{}
	need := func(tool string, pos chobolo.Pos, why string) {
		if seen[tool] {
			return
		}
		seen[tool] = true
		if !have(tool) {
			errs.add(pos, "%s is not installed on this machine (%s): install %s", tool, why, toolPackages[tool])
		}
	}
	for _, tool := range []string{"sfdisk", "partx", "zstd"} {
		need(tool, l.Pos, "partitioning and unpacking")
	}
	for _, p := range l.Partitions {
		if argv := mkfs(Geometry{Partition: p}); argv != nil {
			need(argv[0], p.Pos, p.FS+" partition "+p.Name)
		}
		if len(p.Subvolumes) > 0 {
			need("btrfs", p.Pos, "subvolumes of "+p.Name)
		}
		if p.FS == "vfat" && p.Mountpoint != "" && fuseFAT {
			need("fusefat", p.Pos, "this kernel does not mount vfat, "+p.Name+" is mounted with fusefat")
		}
	}
	return errs.Err()
}

// at is where p of the new system is on the installing machine.
func (d *Disk) at(p string) string { return path.Join(d.Root, p) }

const (
	wiped      = "the disk's previous partition table and data are gone"
	made       = "a new file system replaces what the partition held"
	install    = "the boot loader was written to the disk"
	unpacked   = "the unpacked files stay on the new file systems"
	installEFI = "the boot loader was written to the ESP"
)

func step(plan *engine.RolePlan, ch engine.Change, ops ...engine.Op) {
	plan.Add([]engine.Change{ch}, ops...)
}

// DiskPlan is the first phase: partition, format, subvolumes, mount the tree, unpack the
// bootstrapped root, write fstab. Mounts are undone (unmounted) when a later op fails.
func DiskPlan(l *Layout, d *Disk, before, tarball string, b *Bootstrap) *engine.HostPlan {
	part := &engine.RolePlan{Role: "partition"}
	if before == "" {
		before = "no partition table\n"
	}
	step(part, engine.Change{Kind: engine.Add, Subject: d.Table + " partition table on " + d.Device + " (" + human(d.Size) + ")",
		Detail: "before:\n" + strings.TrimRight(before, "\n") + "\nafter:\n" + d.TableText(), Pos: l.Pos},
		engine.Op{Kind: engine.OpExec, Argv: []string{"sfdisk", "--wipe", "always", "--wipe-partitions", "always", "-q", d.Device},
			Stdin: []byte(d.Script)}.CannotUndo(wiped),
		// The kernel learns the new partitions (a loop device gets no partition devices otherwise).
		engine.Exec("partx", "-u", d.Device))
	format := &engine.RolePlan{Role: "format"}
	for _, g := range d.Parts {
		argv := mkfs(g)
		if argv == nil {
			continue
		}
		step(format, engine.Change{Kind: engine.Add, Subject: g.FS + " " + g.Dev, Detail: "label " + g.Name + ", UUID " + g.UUID, Pos: g.Pos},
			engine.Exec(argv...).CannotUndo(made))
	}
	for _, g := range d.Parts {
		if len(g.Subvolumes) == 0 {
			continue
		}
		top := d.Root
		ops := []engine.Op{engine.Exec("mkdir", "-p", top), engine.Exec("mount", "-t", "btrfs", g.Dev, top).WithUndo(engine.Exec("umount", top))}
		var names []string
		for _, sv := range g.Subvolumes {
			ops = append(ops, engine.Exec("btrfs", "-q", "subvolume", "create", path.Join(top, sv.Name)).CannotUndo(made))
			names = append(names, sv.Name)
		}
		ops = append(ops, engine.Exec("umount", top))
		step(format, engine.Change{Kind: engine.Add, Subject: "btrfs subvolumes on " + g.Dev, Detail: strings.Join(names, ", "), Pos: g.Pos}, ops...)
	}
	mount := &engine.RolePlan{Role: "mount"}
	for _, m := range d.Mounts {
		where := d.at(m.Where)
		argv := []string{"mount", "-t", m.FS}
		if len(m.Options) > 0 {
			argv = append(argv, "-o", strings.Join(m.Options, ","))
		}
		argv = append(argv, m.Dev, where)
		if m.FS == "vfat" && d.FuseFAT {
			// Named after the device, so that grub-probe finds it in /proc/self/mountinfo.
			argv = []string{"fusefat", "-o", "rw+,fsname=" + m.Dev, m.Dev, where}
		}
		step(mount, engine.Change{Kind: engine.Add, Subject: "mount " + m.Where, Detail: strings.TrimSpace(m.Dev + " " + strings.Join(m.Options, ","))},
			engine.Exec("mkdir", "-p", where),
			engine.Exec(argv...).WithUndo(engine.Exec("umount", where)))
	}
	boot := &engine.RolePlan{Role: "bootstrap"}
	step(boot, engine.Change{Kind: engine.Add, Subject: "Debian " + b.Suite + " root",
		Detail: "from " + strings.Join(b.Sources, ", ") + "\npackages: " + strings.Join(b.Packages, " ") + "\ncached as " + tarball},
		engine.Exec("tar", "--zstd", "-xpf", tarball, "-C", d.Root, "--numeric-owner").CannotUndo(unpacked))
	step(boot, engine.Change{Kind: engine.Add, Subject: "/etc/fstab", Detail: strings.TrimRight(d.Fstab, "\n")},
		engine.Write(d.at("/etc/fstab"), []byte(d.Fstab), 0o644, "root", "root"))
	return &engine.HostPlan{Target: "install:" + d.Device, Core: "debian", Roles: []*engine.RolePlan{part, format, mount, boot}}
}

// RootFacts are what the boot phase needs from the new root: its kernels.
type RootFacts struct {
	Kernels []string // versions, newest last (from /boot/vmlinuz-VERSION)
}

// BootPlan is the last phase: GRUB onto the disk with its configuration, then the tree unmounted
// in reverse order. The root must be mounted (DiskPlan) and configured (the Ch-obolo applied).
func BootPlan(l *Layout, d *Disk, rf RootFacts) (*engine.HostPlan, error) {
	if len(rf.Kernels) == 0 {
		return nil, fmt.Errorf("%s: the new root has no kernel in /boot (is linux-image-amd64 bootstrapped?)", l.Boot.Pos)
	}
	kernel := rf.Kernels[len(rf.Kernels)-1]
	cfg, err := GrubConfig(l, d, kernel)
	if err != nil {
		return nil, err
	}
	boot := &engine.RolePlan{Role: "bootloader"}
	var ops []engine.Op
	// grub-install runs inside the new root (its own GRUB, as update-grub later will) with the
	// kernel's file systems there, as arch-chroot provides them.
	for _, bind := range [][]string{
		{"mount", "--bind", "/dev", d.at("/dev")},
		{"mount", "-t", "proc", "proc", d.at("/proc")},
		{"mount", "-t", "sysfs", "sysfs", d.at("/sys")},
	} {
		where := bind[len(bind)-1]
		ops = append(ops, engine.Exec(bind...).WithUndo(engine.Exec("umount", where)))
	}
	what := "grub (BIOS) on " + d.Device
	grubInstall := engine.Exec("chroot", d.Root, "grub-install", "--target=i386-pc", d.Device).CannotUndo(install)
	if l.Boot.UEFI {
		// --removable: EFI/BOOT/BOOTX64.EFI, which firmware boots without an NVRAM entry (none can
		// be written from here, and a moved disk keeps booting).
		what = "grub (UEFI) on the ESP " + l.Boot.ESP
		grubInstall = engine.Exec("chroot", d.Root, "grub-install", "--target=x86_64-efi", "--efi-directory="+l.Boot.ESP,
			"--removable", "--no-nvram").CannotUndo(installEFI)
	}
	ops = append(ops, grubInstall, engine.Write(d.at("/boot/grub/grub.cfg"), []byte(cfg), 0o644, "root", "root"))
	for _, where := range []string{"/sys", "/proc", "/dev"} {
		ops = append(ops, engine.Exec("umount", d.at(where)))
	}
	step(boot, engine.Change{Kind: engine.Add, Subject: what, Detail: "kernel " + kernel, Pos: l.Boot.Pos}, ops...)
	un := &engine.RolePlan{Role: "unmount"}
	var uops []engine.Op
	for _, m := range slices.Backward(d.Mounts) {
		uops = append(uops, engine.Exec("umount", d.at(m.Where)))
	}
	step(un, engine.Change{Kind: engine.Modify, Subject: "mounts under " + d.Root, Detail: "in reverse order"}, uops...)
	return &engine.HostPlan{Target: "install:" + d.Device, Core: "debian", Roles: []*engine.RolePlan{boot, un}}, nil
}

// GrubConfig is /boot/grub/grub.cfg: the root by UUID (its btrfs subvolume on the command line),
// the serial console next to the screen, the Ch-obolo's kernel_params last.
func GrubConfig(l *Layout, d *Disk, kernel string) (string, error) {
	var root, boot *Mount
	for i := range d.Mounts {
		switch d.Mounts[i].Where {
		case "/":
			root = &d.Mounts[i]
		case "/boot":
			boot = &d.Mounts[i]
		}
	}
	if root == nil {
		return "", fmt.Errorf("%s: nothing is mounted at /", l.Pos)
	}
	// The kernel's path as GRUB sees it on the file system that holds /boot.
	holder, prefix := root, "/boot"
	if boot != nil {
		holder, prefix = boot, ""
	}
	for _, o := range holder.Options {
		if sv, ok := strings.CutPrefix(o, "subvol="); ok {
			prefix = "/" + strings.TrimPrefix(sv, "/") + prefix
		}
	}
	params := []string{"root=UUID=" + root.UUID, "ro"}
	for _, o := range root.Options {
		if strings.HasPrefix(o, "subvol=") {
			params = append(params, "rootflags="+o)
		}
	}
	params = append(params, "console=tty0", "console=ttyS0,115200")
	if l.Boot.Params != "" {
		params = append(params, l.Boot.Params)
	}
	mods := map[string]string{"ext4": "ext2", "btrfs": "btrfs", "xfs": "xfs", "vfat": "fat"}
	part := "part_gpt"
	if d.Table == "mbr" {
		part = "part_msdos"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# /boot/grub/grub.cfg: written by chaos install; update-grub replaces it on the installed system
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
set timeout=1
insmod %s
insmod %s
search --no-floppy --fs-uuid --set=root %s
menuentry 'Debian GNU/Linux (%s)' {
	linux %s/vmlinuz-%s %s
	initrd %s/initrd.img-%s
}
`, part, mods[holder.FS], holder.UUID, kernel, prefix, kernel, strings.Join(params, " "), prefix, kernel)
	return b.String(), nil
}

// Pos is the position refusals about the disk are reported at: partitioning.disk, else the section.
func (l *Layout) RefusalPos() chobolo.Pos {
	if l.DiskPos.Line > 0 {
		return l.DiskPos
	}
	return l.Pos
}

// TableText is the planned partition table, one partition a line.
func (d *Disk) TableText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-3s %-16s %8s %8s %-7s %-12s %-12s %s\n", "#", "device", "start", "size", "type", "label", "mountpoint", "uuid")
	for _, g := range d.Parts {
		fs := g.FS
		if fs == "bios" {
			fs = "bios-boot"
		}
		mp := g.Mountpoint
		for _, sv := range g.Subvolumes {
			mp = strings.TrimPrefix(mp+" "+sv.Name+"="+cmp.Or(sv.Mountpoint, "-"), " ")
		}
		fmt.Fprintf(&b, "%-3d %-16s %8s %8s %-7s %-12s %-12s %s\n", g.Number, g.Dev, human(g.Start), human(g.Bytes), fs, g.Name, cmp.Or(mp, "-"), cmp.Or(g.UUID, "-"))
	}
	return strings.TrimRight(b.String(), "\n")
}
