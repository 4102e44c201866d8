package nixos

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chimera"
	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// diskoSize is a size disko passes to sgdisk: a number with a unit, or a percentage of what is left.
var diskoSize = regexp.MustCompile(`^[0-9]+[KMGT]$|^[0-9]+%$`)

// labelFlag is the mkfs option that sets the file system label, which hardware mounts by.
var labelFlag = map[string]string{"vfat": "-n", "ext2": "-L", "ext3": "-L", "ext4": "-L", "btrfs": "-L", "xfs": "-L", "f2fs": "-l", "swap": "-L"}

// diskoLayout writes disko.nix from partitioning: one GPT disk whose partitions are formatted with
// their names as labels, as the Ch-aronte installer does. disko then also declares fileSystems and
// swapDevices, so hardware-configuration.nix leaves them out.
func (k *compiler) diskoLayout() {
	d := k.sys.Disk
	if d == nil || d.Device == "" {
		pos := chobolo.Pos{File: k.c.File}
		if d != nil {
			pos = d.Pos
		}
		k.diag(chimera.Error, chimera.CodeInvalidValue, pos, "partitioning", "declare partitioning.disk and its partitions",
			"--disko needs partitioning.disk")
		return
	}
	k.disko = newSet(false)
	disk := k.disko.sub(d.Pos, true, "disko", "devices", "disk", "main")
	q, _ := str(d.Device) // validated by NewSystem: a /dev path
	disk.set(d.Pos, raw(`"disk"`), "type")
	disk.set(d.Pos, q, "device")
	content := disk.sub(d.Pos, true, "content")
	content.set(d.Pos, raw(`"gpt"`), "type")
	parts := content.sub(d.Pos, true, "partitions")
	prio := 0
	next := func() raw { prio++; return raw(strconv.Itoa(prio * 100)) }
	if b := k.sys.Boot; b != nil && !b.UEFI && b.Loader == "grub" {
		// grub on BIOS with a GPT disk embeds itself in a BIOS boot partition.
		bios := parts.sub(d.Pos, true, "bios-boot")
		bios.set(d.Pos, raw(`"1M"`), "size")
		bios.set(d.Pos, raw(`"EF02"`), "type")
		bios.set(d.Pos, next(), "priority")
	}
	for i, p := range d.Partitions {
		path := "partitioning.partitions[" + strconv.Itoa(i) + "]"
		size := strings.TrimPrefix(strings.ToUpper(p.Size), "+")
		size = strings.TrimSuffix(strings.TrimSuffix(size, "IB"), "B")
		if size == "" || size == "REST" {
			size = "100%"
		}
		if !diskoSize.MatchString(size) {
			k.diag(chimera.Error, chimera.CodeInvalidValue, p.Pos, path+".size", "use a size like 512M, 30G or 100%",
				"partition %s: size %q cannot be written for disko", p.Label, p.Size)
			continue
		}
		blk := parts.sub(p.Pos, true, p.Label)
		sz, _ := str(size)
		blk.set(p.Pos, sz, "size")
		if p.Important == "boot" && p.FSType == "vfat" {
			blk.set(p.Pos, raw(`"EF00"`), "type")
		}
		blk.set(p.Pos, next(), "priority")
		c := blk.sub(p.Pos, true, "content")
		label, _ := strList(labelFlag[p.FSType], p.Label)
		if p.FSType == "swap" {
			c.set(p.Pos, raw(`"swap"`), "type")
			c.set(p.Pos, label, "extraArgs")
			continue
		}
		c.set(p.Pos, raw(`"filesystem"`), "type")
		fs, _ := str(p.FSType)
		c.set(p.Pos, fs, "format")
		c.set(p.Pos, label, "extraArgs")
		if p.Mountpoint != "" {
			mp, ok := k.strAt(p.Pos, path+".mountpoint", p.Mountpoint)
			if ok {
				c.set(p.Pos, mp, "mountpoint")
			}
			if o, ok := fsOptions[p.FSType]; ok && p.Important == "boot" {
				c.set(p.Pos, raw(o), "mountOptions")
			}
		}
	}
}
