// Package installer plans `chaos install`: from a Ch-obolo's `partitioning` and `bootloader`
// sections and the facts of a disk, it computes the steps that take a bare disk to a bootable,
// configured system, as engine ops (partition, format, mount, bootstrap, fstab, boot loader,
// unmount). Planning is pure; the few functions that read a disk or a root (Gather, RootFacts) are
// thin and kept apart. pkg/chaos executes the plans through the engine and applies the Ch-obolo
// itself to the new root through @chroot.
package installer

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/roles/bootloader"
	"go.yaml.in/yaml/v3"
)

// MiB is the alignment of every partition (and the unit sizes are rounded up to).
const MiB = 1 << 20

// Layout is the declared disk: `partitioning` with the boot loader that goes with it.
type Layout struct {
	Disk    string // partitioning.disk ("" when --disk/--image gives it)
	DiskPos chobolo.Pos
	Table   string // gpt or mbr (default: mbr on BIOS, gpt on UEFI)
	Pos     chobolo.Pos
	// Partitions in disk order. A BIOS boot partition is added first when GRUB boots a GPT disk
	// from BIOS and none is declared (Added says so).
	Partitions []Partition
	Boot       Boot
}

// Partition is one partitioning.partitions[] entry.
type Partition struct {
	Name      string // the file system label (and the GPT partition name)
	FS        string // vfat, ext4, btrfs, xfs, swap, or bios (a BIOS boot partition: no file system)
	Important string // boot, root, swap, home or ""
	// Mountpoint is where it is mounted in the new system ("" for swap, a BIOS boot partition, or a
	// btrfs file system mounted only through its subvolumes).
	Mountpoint string
	Options    []string // mount options
	// Size in bytes (a multiple of MiB); 0 with Rest: whatever is left.
	Size       int64
	Rest       bool
	SizeText   string
	Subvolumes []Subvolume
	Added      bool // not declared: added by the installer (the BIOS boot partition)
	Pos        chobolo.Pos
	Path       string // partitioning.partitions[i]
}

// Subvolume is a btrfs subvolume of a partition: created after mkfs, mounted with subvol=NAME.
type Subvolume struct {
	Name       string
	Mountpoint string
	Options    []string
	Pos        chobolo.Pos
}

// Boot is the boot loader the installer puts on the disk.
type Boot struct {
	Loader string // grub (systemd-boot and refind are refused for now)
	UEFI   bool
	ESP    string // the EFI system partition's mountpoint (UEFI)
	Params string // extra kernel parameters
	Pos    chobolo.Pos
}

// fsTypes normalises the file system spellings the original Ch-aronte accepted.
var fsTypes = map[string]string{
	"vfat": "vfat", "fat": "vfat", "fat32": "vfat", "efi": "vfat", "esp": "vfat",
	"ext4": "ext4", "xfs": "xfs", "btrfs": "btrfs",
	"swap": "swap", "linux-swap": "swap",
	"bios": "bios", "bios_grub": "bios", "bios-boot": "bios",
}

// Errors collects positioned problems so that a Ch-obolo shows all of them at once.
type Errors []error

func (e *Errors) add(pos chobolo.Pos, format string, args ...any) {
	*e = append(*e, fmt.Errorf("%s: %s", pos, fmt.Sprintf(format, args...)))
}

// Err is nil without problems, else every problem, one a line.
func (e Errors) Err() error { return errors.Join(e...) }

// ParseLayout reads `partitioning` and `bootloader` (legacy spellings were renamed by the loader:
// particoes, mount_point). Every problem is reported with its FILE:LINE:COL.
func ParseLayout(c *chobolo.Chobolo) (*Layout, error) {
	var errs Errors
	n := c.Extra["partitioning"]
	if n == nil {
		return nil, fmt.Errorf("%s: no partitioning section: chaos install needs partitioning.partitions", c.Pos(""))
	}
	l := &Layout{Pos: c.NodePos(n)}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: partitioning: expected a mapping with disk, table and partitions", l.Pos)
	}
	var parts *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "disk":
			if !strings.HasPrefix(v.Value, "/dev/") || chobolo.ValidAbsPath(v.Value) != nil {
				errs.add(c.NodePos(v), "partitioning.disk %q: expected a /dev/ path", v.Value)
			}
			l.Disk, l.DiskPos = v.Value, c.NodePos(v)
		case "table":
			switch v.Value {
			case "gpt", "mbr":
				l.Table = v.Value
			case "dos", "msdos":
				l.Table = "mbr"
			default:
				errs.add(c.NodePos(v), "partitioning.table %q: expected gpt or mbr", v.Value)
			}
		case "partitions":
			parts = v
		default:
			errs.add(c.NodePos(k), "partitioning: unknown key %q (use disk, table, partitions)", k.Value)
		}
	}
	if parts == nil || parts.Kind != yaml.SequenceNode || len(parts.Content) == 0 {
		errs.add(l.Pos, "partitioning.partitions: expected a list of partitions")
		return nil, errs.Err()
	}
	for i, pn := range parts.Content {
		if p, ok := parsePartition(c, pn, fmt.Sprintf("partitioning.partitions[%d]", i), &errs); ok {
			l.Partitions = append(l.Partitions, p)
		}
	}
	if err := parseBoot(c, l); err != nil {
		errs = append(errs, err)
	}
	if l.Table == "" {
		// BIOS GRUB embeds itself in the gap after an MBR and needs no partition for it; GPT is
		// for UEFI (and can be asked for on BIOS: a BIOS boot partition is then added).
		l.Table = "gpt"
		if !l.Boot.UEFI {
			l.Table = "mbr"
		}
	}
	checkLayout(l, &errs)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return l, nil
}

func parsePartition(c *chobolo.Chobolo, pn *yaml.Node, p string, errs *Errors) (Partition, bool) {
	pt := Partition{Pos: c.NodePos(pn), Path: p}
	if pn.Kind != yaml.MappingNode {
		errs.add(pt.Pos, "%s: expected a mapping", p)
		return pt, false
	}
	ok := true
	fsText := ""
	for j := 0; j+1 < len(pn.Content); j += 2 {
		k, v := pn.Content[j], pn.Content[j+1]
		switch k.Value {
		case "name":
			pt.Name = v.Value
		case "type":
			fsText = v.Value
		case "important":
			pt.Important = v.Value
			if !slices.Contains([]string{"boot", "root", "swap", "home"}, v.Value) {
				errs.add(c.NodePos(v), "%s.important %q: expected boot, root, swap or home", p, v.Value)
				ok = false
			}
		case "mountpoint":
			pt.Mountpoint = v.Value
		case "size":
			pt.SizeText = v.Value
			size, rest, err := ParseSize(v.Value)
			if err != nil {
				errs.add(c.NodePos(v), "%s.size: %v", p, err)
				ok = false
			}
			pt.Size, pt.Rest = size, rest
		case "part":
			// The original numbered partitions; the list order is the disk order here.
			if _, err := strconv.Atoi(v.Value); err != nil {
				errs.add(c.NodePos(v), "%s.part %q: expected a number", p, v.Value)
			}
		case "options":
			pt.Options = options(c, v, p+".options", errs)
		case "subvolumes":
			pt.Subvolumes = subvolumes(c, v, p+".subvolumes", errs)
		default:
			errs.add(c.NodePos(k), "%s: unknown key %q (use name, size, type, important, mountpoint, options, subvolumes)", p, k.Value)
		}
	}
	if err := validLabel(pt.Name); err != nil {
		errs.add(pt.Pos, "%s.name: %v", p, err)
		ok = false
	}
	fs, known := fsTypes[strings.ToLower(fsText)]
	switch {
	case pt.Important == "swap" && (fsText == "" || fs == "swap"):
		fs = "swap"
	case !known:
		errs.add(pt.Pos, "%s.type %q: unknown (use ext4, btrfs, xfs, vfat/fat32, swap or bios_grub)", p, fsText)
		ok = false
	}
	pt.FS = fs
	if pt.Mountpoint == "" && pt.FS != "swap" && pt.FS != "bios" && len(pt.Subvolumes) == 0 {
		pt.Mountpoint = map[string]string{"root": "/", "boot": "/boot", "home": "/home"}[pt.Important]
	}
	if pt.Mountpoint != "" && (pt.FS == "swap" || pt.FS == "bios") {
		errs.add(pt.Pos, "%s: a %s partition has no mountpoint", p, pt.FS)
		ok = false
	}
	if pt.Mountpoint != "" && (!path.IsAbs(pt.Mountpoint) || path.Clean(pt.Mountpoint) != pt.Mountpoint || chobolo.ValidAbsPath(pt.Mountpoint) != nil) {
		errs.add(pt.Pos, "%s.mountpoint %q: expected a clean absolute path", p, pt.Mountpoint)
		ok = false
	}
	if len(pt.Subvolumes) > 0 && pt.FS != "btrfs" {
		errs.add(pt.Pos, "%s: subvolumes need type btrfs (got %s)", p, pt.FS)
		ok = false
	}
	if limit := labelLimits[pt.FS]; limit > 0 && len(pt.Name) > limit {
		errs.add(pt.Pos, "%s.name %q: %s keeps labels of at most %d bytes", p, pt.Name, pt.FS, limit)
		ok = false
	}
	return pt, ok
}

// labelLimits are the longest labels each mkfs accepts.
var labelLimits = map[string]int{"ext4": 16, "vfat": 11, "swap": 16, "xfs": 12, "btrfs": 255}

func validLabel(s string) error {
	if s == "" {
		return errors.New("a partition needs a name (it becomes the file system label)")
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("label %q: use letters, digits, '_' and '-'", s)
		}
	}
	return nil
}

// options reads mount options: "noatime,compress=zstd" or a list.
func options(c *chobolo.Chobolo, v *yaml.Node, p string, errs *Errors) []string {
	var out []string
	switch v.Kind {
	case yaml.ScalarNode:
		out = strings.Split(v.Value, ",")
	case yaml.SequenceNode:
		for _, o := range v.Content {
			out = append(out, o.Value)
		}
	}
	for _, o := range out {
		if o == "" || strings.ContainsAny(o, " \t\n,\\'\"") {
			errs.add(c.NodePos(v), "%s: bad mount option %q", p, o)
			return nil
		}
	}
	return out
}

func subvolumes(c *chobolo.Chobolo, v *yaml.Node, p string, errs *Errors) []Subvolume {
	if v.Kind != yaml.SequenceNode {
		errs.add(c.NodePos(v), "%s: expected a list of {name, mountpoint, options}", p)
		return nil
	}
	var out []Subvolume
	for i, sn := range v.Content {
		sp := fmt.Sprintf("%s[%d]", p, i)
		sv := Subvolume{Pos: c.NodePos(sn)}
		if sn.Kind != yaml.MappingNode {
			errs.add(sv.Pos, "%s: expected a mapping", sp)
			continue
		}
		for j := 0; j+1 < len(sn.Content); j += 2 {
			k, val := sn.Content[j], sn.Content[j+1]
			switch k.Value {
			case "name":
				sv.Name = val.Value
			case "mountpoint":
				sv.Mountpoint = val.Value
			case "options":
				sv.Options = options(c, val, sp+".options", errs)
			default:
				errs.add(c.NodePos(k), "%s: unknown key %q (use name, mountpoint, options)", sp, k.Value)
			}
		}
		name := strings.TrimPrefix(sv.Name, "@")
		if sv.Name == "" || strings.Contains(sv.Name, "/") || validLabel(strings.ReplaceAll(name, ".", "_")) != nil && name != "" {
			errs.add(sv.Pos, "%s.name %q: expected a subvolume name like @ or @home", sp, sv.Name)
			continue
		}
		if sv.Mountpoint != "" && (!path.IsAbs(sv.Mountpoint) || path.Clean(sv.Mountpoint) != sv.Mountpoint || chobolo.ValidAbsPath(sv.Mountpoint) != nil) {
			errs.add(sv.Pos, "%s.mountpoint %q: expected a clean absolute path", sp, sv.Mountpoint)
			continue
		}
		out = append(out, sv)
	}
	return out
}

// parseBoot reads `bootloader` with the bootloader role's parser (one spelling everywhere) and
// settles the firmware: declared, else UEFI when the boot partition is FAT, else BIOS.
func parseBoot(c *chobolo.Chobolo, l *Layout) error {
	s, err := bootloader.Parse(c)
	if err != nil {
		return err
	}
	if s == nil {
		return fmt.Errorf("%s: no bootloader: chaos install needs one (bootloader: grub)", c.Pos(""))
	}
	l.Boot = Boot{Loader: s.Loader, Params: s.Params, Pos: s.Pos}
	switch s.Firmware {
	case "uefi":
		l.Boot.UEFI = true
	case "bios":
	default:
		l.Boot.UEFI = s.BootFAT || s.Loader != "grub"
	}
	if l.Boot.UEFI {
		// The ESP: the FAT partition marked important: boot, else the first FAT one mounted.
		for _, p := range l.Partitions {
			if p.FS == "vfat" && p.Mountpoint != "" && (l.Boot.ESP == "" || p.Important == "boot") {
				l.Boot.ESP = p.Mountpoint
			}
		}
		if l.Boot.ESP == "" {
			return fmt.Errorf("%s: bootloader %s on UEFI needs an EFI system partition: a partition of type fat32 with a mountpoint (/boot or /boot/efi), marked important: boot", s.Pos, s.Loader)
		}
	}
	if s.Loader != "grub" {
		return fmt.Errorf("%s: bootloader %s: chaos install installs GRUB so far (systemd-boot and rEFInd are not written yet)", s.Pos, s.Loader)
	}
	return nil
}

// checkLayout refuses what no disk can make work: no root, two file systems on one mountpoint,
// more than one partition taking the rest, a BIOS boot partition on MBR, and adds the BIOS boot
// partition GRUB needs on a GPT disk booted from BIOS.
func checkLayout(l *Layout, errs *Errors) {
	type mount struct {
		where string
		pos   chobolo.Pos
	}
	var mounts []mount
	var rest *Partition
	hasBIOS := false
	for i := range l.Partitions {
		p := &l.Partitions[i]
		if p.Mountpoint != "" {
			mounts = append(mounts, mount{p.Mountpoint, p.Pos})
		}
		for _, sv := range p.Subvolumes {
			if sv.Mountpoint != "" {
				mounts = append(mounts, mount{sv.Mountpoint, sv.Pos})
			}
		}
		if p.Rest || p.SizeText == "" {
			if rest != nil {
				errs.add(p.Pos, "%s: only one partition can take the rest of the disk (%s does already)", p.Path, rest.Path)
			}
			p.Rest = true
			rest = p
		}
		if p.FS == "bios" {
			hasBIOS = true
			if l.Table != "gpt" {
				errs.add(p.Pos, "%s: a BIOS boot partition is for GPT disks (an MBR disk keeps GRUB in the gap after the MBR)", p.Path)
			}
		}
	}
	seen := map[string]chobolo.Pos{}
	root := false
	for _, m := range mounts {
		if prev, ok := seen[m.where]; ok {
			errs.add(m.pos, "mountpoint %s is declared twice (also at %s)", m.where, prev)
			continue
		}
		seen[m.where] = m.pos
		root = root || m.where == "/"
	}
	if !root {
		errs.add(l.Pos, "partitioning: nothing is mounted at / (mark a partition important: root, or give a subvolume mountpoint /)")
	}
	if !hasBIOS && l.Table == "gpt" && !l.Boot.UEFI {
		l.Partitions = append([]Partition{{Name: "BIOSBOOT", FS: "bios", Size: MiB, SizeText: "1M", Added: true, Pos: l.Pos, Path: "partitioning"}}, l.Partitions...)
	}
}

// ParseSize reads a partition size: 512M, 1G, 1.5GiB, 2048K, 100% (the rest). Units are binary,
// as sfdisk's. The result is rounded up to MiB.
func ParseSize(s string) (size int64, rest bool, err error) {
	t := strings.TrimSpace(s)
	if t == "100%" || t == "rest" {
		return 0, true, nil
	}
	t = strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(t), "IB"), "B")
	mult := map[byte]float64{'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30, 'T': 1 << 40}
	if t == "" {
		return 0, false, fmt.Errorf("%q: expected a size like 512M, 20G or 100%%", s)
	}
	m, ok := mult[t[len(t)-1]]
	if !ok {
		return 0, false, fmt.Errorf("%q: expected a size like 512M, 20G or 100%% (units K, M, G, T)", s)
	}
	f, perr := strconv.ParseFloat(t[:len(t)-1], 64)
	if perr != nil || f <= 0 || f*m > 1<<60 {
		return 0, false, fmt.Errorf("%q: expected a size like 512M, 20G or 100%%", s)
	}
	b := int64(f * m)
	return (b + MiB - 1) / MiB * MiB, false, nil
}
