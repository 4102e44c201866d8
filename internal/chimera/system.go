package chimera

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"go.yaml.in/yaml/v3"
)

// System is what every back end compiles: the parts of a Ch-obolo a declarative operating system
// can express, each with its source position. Building it is shared so that NixOS and Guix accept
// and reject exactly the same input and report the same positions.
type System struct {
	Source   *chobolo.Chobolo `json:"-"`
	Hostname string           `json:"hostname,omitempty"`
	HostPos  chobolo.Pos      `json:"hostname_pos,omitempty"`
	Users    []User           `json:"users,omitempty"`
	Packages []Package        `json:"packages,omitempty"`
	Services []Service        `json:"services,omitempty"`
	Region   *Region          `json:"region,omitempty"`
	Files    []FileEntry      `json:"files,omitempty"`
	Boot     *Boot            `json:"boot,omitempty"` // nil when `bootloader` is not declared
	Disk     *Disk            `json:"disk,omitempty"` // nil when `partitioning` is not declared
}

// User is a declared account with its position.
type User struct {
	chobolo.User
	Index int         `json:"index,omitempty"` // position in users[], for paths like users[2].shell
	Pos   chobolo.Pos `json:"pos,omitempty"`
}

// Path returns the YAML path of a field of this user ("" for the entry itself).
func (u User) Path(field string) string {
	p := "users[" + strconv.Itoa(u.Index) + "]"
	if field != "" {
		p += "." + field
	}
	return p
}

// Package is a declared package (packages[] entry) with its position.
type Package struct {
	chobolo.Package
	Path string      `json:"key,omitempty"` // the Ch-obolo path, e.g. packages[3]
	Pos  chobolo.Pos `json:"pos,omitempty"`
}

// Service is a declared service with its position. Name has no unit suffix when it is ".service".
type Service struct {
	chobolo.Service
	Unit string      `json:"unit,omitempty"` // the unit name with its suffix, e.g. sshd.service
	Path string      `json:"key,omitempty"`  // the Ch-obolo path, e.g. packages[3]
	Pos  chobolo.Pos `json:"pos,omitempty"`
}

// Region is the region section with the positions back ends need.
type Region struct {
	chobolo.Region
	Pos chobolo.Pos `json:"pos,omitempty"`
}

// FileEntry is a files[] entry with its position.
type FileEntry struct {
	chobolo.File
	Path string      `json:"key,omitempty"` // the Ch-obolo path, e.g. packages[3]
	Pos  chobolo.Pos `json:"pos,omitempty"`
}

// Boot is the boot loader: grub, systemd-boot or refind, for UEFI or BIOS firmware.
type Boot struct {
	Loader   string      `json:"loader,omitempty"`
	UEFI     bool        `json:"uefi,omitempty"`
	Timeout  *int        `json:"timeout,omitempty"`
	Params   []string    `json:"params,omitempty"` // extra kernel parameters
	Device   string      `json:"device,omitempty"` // BIOS install target (partitioning.disk)
	ESP      string      `json:"esp,omitempty"`    // mount point of the boot partition on UEFI, default /boot
	Pos      chobolo.Pos `json:"pos,omitempty"`
	Inferred bool        `json:"inferred,omitempty"` // UEFI/BIOS guessed from the boot partition's file system
}

// Disk is the partitioning section: the file systems to mount, by label.
type Disk struct {
	Device     string      `json:"device,omitempty"`
	Partitions []Partition `json:"partitions,omitempty"`
	Pos        chobolo.Pos `json:"pos,omitempty"`
}

// Partition is one partitioning.partitions[] entry. The Ch-aronte installer formats each partition
// with its name as the file system label, so /dev/disk/by-label/NAME finds it on the target.
type Partition struct {
	Label      string      `json:"label,omitempty"`
	FSType     string      `json:"fs_type,omitempty"`   // normalised: vfat, ext4, btrfs, xfs, swap, ...
	Important  string      `json:"important,omitempty"` // boot, root, swap, home or empty
	Mountpoint string      `json:"mountpoint,omitempty"`
	Size       string      `json:"size,omitempty"`
	Pos        chobolo.Pos `json:"pos,omitempty"`
}

// labelLimits are the longest labels each file system keeps (mkfs truncates or refuses longer ones).
var labelLimits = map[string]int{"ext2": 16, "ext3": 16, "ext4": 16, "vfat": 11, "swap": 16, "xfs": 12, "btrfs": 255, "f2fs": 512}

// fsTypes normalises the spellings Ch-aronte accepts.
var fsTypes = map[string]string{
	"vfat": "vfat", "fat": "vfat", "fat32": "vfat", "fat16": "vfat", "efi": "vfat",
	"ext2": "ext2", "ext3": "ext3", "ext4": "ext4", "xfs": "xfs", "btrfs": "btrfs", "f2fs": "f2fs",
	"swap": "swap", "linux-swap": "swap",
}

// notCompiled lists the sections no declarative back end compiles, and why.
var notCompiled = []struct {
	key, code, why, hint string
}{
	{"aurPackages", CodeAUR, "aurPackages is Arch-only and is not compiled", "list the packages under packages: with a nix:/guix: override where they exist"},
	{"aurHelpers", CodeAUR, "aurHelpers is Arch-only and is not compiled", ""},
	{"repos", CodeRepos, "repos are not compiled: the output pins its own package set", ""},
	{"mirrors", CodeMirrors, "mirrors are Arch-only and are not compiled", ""},
	{"baseOverride", CodeBaseOverride, "baseOverride replaces Arch's base set and is not compiled", ""},
	{"dotfiles", CodeDotfiles, "dotfiles are cloned at run time and are not compiled", "use home-manager or Guix Home"},
	{"prune_orphans", CodePruneOrphans, "prune_orphans is not compiled: the store's garbage collector removes unused packages", ""},
	{"pelago", CodeNotCompiled, "pelago is not compiled", ""},
}

// NewSystem extracts the compilable system from a loaded Ch-obolo. Problems are reported in ds;
// the System is usable even when ds has errors (back ends add their own findings).
func NewSystem(c *chobolo.Chobolo, ds *Diagnostics) *System {
	s := &System{Source: c, Hostname: c.Hostname, HostPos: c.Pos("hostname")}
	for _, n := range notCompiled {
		if c.Has(n.key) || c.Extra[n.key] != nil {
			pos := c.Pos(n.key)
			if node := c.Extra[n.key]; node != nil {
				pos = c.NodePos(node)
			}
			ds.Add(Diagnostic{Severity: Warning, Code: n.code, Pos: pos, Path: n.key, Message: n.why, Hint: n.hint})
		}
	}
	for i, u := range c.Users {
		path := "users[" + strconv.Itoa(i) + "]"
		if u.State == "absent" {
			ds.Addf(Info, CodeUserState, c.Pos(path+".state"), path+".state",
				"user %s has state: absent; undeclared accounts are removed by the system anyway, so it is left out", u.Name)
			continue
		}
		s.Users = append(s.Users, User{User: u, Index: i, Pos: c.Pos(path)})
	}
	for i, p := range c.Packages {
		path := "packages[" + strconv.Itoa(i) + "]"
		s.Packages = append(s.Packages, Package{Package: p, Path: path, Pos: c.Pos(path)})
	}
	for i, sv := range c.Services {
		path := "services[" + strconv.Itoa(i) + "]"
		if sv.Dense {
			ds.Add(Diagnostic{Severity: Error, Code: CodeDenseService, Pos: c.Pos(path + ".dense_service"), Path: path,
				Message: fmt.Sprintf("dense_service %q matches the units installed on a host and cannot be compiled", sv.Name),
				Hint:    "list the units explicitly"})
			continue
		}
		unit := sv.Name
		if !strings.Contains(unit, ".") {
			unit += ".service"
		}
		s.Services = append(s.Services, Service{Service: sv, Unit: unit, Path: path, Pos: c.Pos(path)})
	}
	if c.Has("region") {
		s.Region = &Region{Region: c.Region, Pos: c.Pos("region")}
	}
	for i, f := range c.Files {
		path := "files[" + strconv.Itoa(i) + "]"
		s.Files = append(s.Files, FileEntry{File: f, Path: path, Pos: c.Pos(path)})
	}
	s.Disk = parseDisk(c, ds)
	s.Boot = parseBoot(c, s.Disk, ds)
	return s
}

// parseDisk reads `partitioning` ({disk, partitions: [{name, type, important, mountpoint, size}]}).
func parseDisk(c *chobolo.Chobolo, ds *Diagnostics) *Disk {
	n := c.Extra["partitioning"]
	if n == nil {
		return nil
	}
	d := &Disk{Pos: c.NodePos(n)}
	if n.Kind != yaml.MappingNode {
		ds.Addf(Error, CodeInvalidValue, d.Pos, "partitioning", "partitioning: expected a mapping with disk and partitions")
		return nil
	}
	if v := mapValue(n, "disk"); v != nil {
		if !strings.HasPrefix(v.Value, "/dev/") || chobolo.ValidAbsPath(v.Value) != nil {
			ds.Addf(Error, CodeInvalidValue, c.NodePos(v), "partitioning.disk", "partitioning.disk %q: expected a /dev/ path", v.Value)
		} else {
			d.Device = v.Value
		}
	}
	parts := mapValue(n, "partitions")
	if parts == nil {
		return d
	}
	if parts.Kind != yaml.SequenceNode {
		ds.Addf(Error, CodeInvalidValue, c.NodePos(parts), "partitioning.partitions", "partitioning.partitions: expected a list")
		return d
	}
	for i, pn := range parts.Content {
		path := fmt.Sprintf("partitioning.partitions[%d]", i)
		pos := c.NodePos(pn)
		if pn.Kind != yaml.MappingNode {
			ds.Addf(Error, CodeInvalidValue, pos, path, "%s: expected a mapping", path)
			continue
		}
		p := Partition{Pos: pos}
		for j := 0; j+1 < len(pn.Content); j += 2 {
			k, v := pn.Content[j], pn.Content[j+1]
			switch k.Value {
			case "name":
				p.Label = v.Value
			case "type":
				p.FSType = v.Value
			case "important":
				p.Important = v.Value
			case "mountpoint":
				p.Mountpoint = v.Value
			case "size":
				p.Size = v.Value
			case "part":
			default:
				ds.Addf(Error, CodeInvalidValue, c.NodePos(k), path+"."+k.Value, "%s: unknown key %q (use name, type, important, mountpoint, size)", path, k.Value)
			}
		}
		if err := validLabel(p.Label); err != nil {
			ds.Addf(Error, CodeInvalidValue, pos, path+".name", "%s.name: %v", path, err)
			continue
		}
		fs, ok := fsTypes[strings.ToLower(p.FSType)]
		if !ok {
			ds.Addf(Error, CodeInvalidValue, pos, path+".type", "%s.type %q: unknown file system (use ext4, btrfs, xfs, vfat/fat32, swap, ...)", path, p.FSType)
			continue
		}
		p.FSType = fs
		if p.Important == "swap" {
			p.FSType = "swap"
		}
		if p.Mountpoint == "" {
			switch p.Important {
			case "root":
				p.Mountpoint = "/"
			case "boot":
				p.Mountpoint = "/boot"
			case "home":
				p.Mountpoint = "/home"
			}
		}
		if p.FSType != "swap" {
			if p.Mountpoint == "" {
				ds.Addf(Warning, CodeInvalidValue, pos, path, "%s (%s) has no mountpoint and is not mounted", path, p.Label)
			} else if chobolo.ValidAbsPath(p.Mountpoint) != nil {
				ds.Addf(Error, CodeInvalidValue, pos, path+".mountpoint", "%s.mountpoint %q: expected an absolute path", path, p.Mountpoint)
				continue
			}
		}
		if limit := labelLimits[p.FSType]; limit > 0 && len(p.Label) > limit {
			ds.Addf(Warning, CodeLongLabel, pos, path+".name",
				"label %q is longer than %s keeps (%d bytes): /dev/disk/by-label/%s will not exist", p.Label, p.FSType, limit, p.Label)
		}
		d.Partitions = append(d.Partitions, p)
	}
	return d
}

// validLabel accepts the labels the Ch-aronte installer can create and a by-label path can carry.
func validLabel(s string) error {
	if s == "" {
		return fmt.Errorf("a partition needs a name (it becomes the file system label)")
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return fmt.Errorf("label %q: use letters, digits, '.', '_' and '-'", s)
		}
	}
	return nil
}

// parseBoot reads `bootloader` (a name, or {name, firmware, timeout, kernel_params}) and infers the
// firmware from the boot partition when it is not given.
func parseBoot(c *chobolo.Chobolo, d *Disk, ds *Diagnostics) *Boot {
	n := c.Extra["bootloader"]
	if n == nil {
		return nil
	}
	b := &Boot{Pos: c.NodePos(n), ESP: "/boot"}
	firmware := ""
	switch n.Kind {
	case yaml.ScalarNode:
		b.Loader = n.Value
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "name", "type", "loader":
				b.Loader = v.Value
			case "firmware":
				firmware = v.Value
				if firmware != "uefi" && firmware != "bios" {
					ds.Addf(Error, CodeInvalidValue, c.NodePos(v), "bootloader.firmware", "bootloader.firmware %q: expected uefi or bios", v.Value)
				}
			case "timeout":
				t, err := strconv.Atoi(v.Value)
				if err != nil || t < 0 || t > 600 {
					ds.Addf(Error, CodeInvalidValue, c.NodePos(v), "bootloader.timeout", "bootloader.timeout: expected seconds from 0 to 600")
					continue
				}
				b.Timeout = &t
			case "kernel_params":
				b.Params = strings.Fields(v.Value)
			default:
				ds.Addf(Error, CodeInvalidValue, c.NodePos(k), "bootloader."+k.Value, "bootloader: unknown key %q (use name, firmware, timeout, kernel_params)", k.Value)
			}
		}
	default:
		ds.Addf(Error, CodeInvalidValue, b.Pos, "bootloader", "bootloader: expected grub, systemd-boot or refind")
		return nil
	}
	if !slices.Contains([]string{"grub", "systemd-boot", "refind"}, b.Loader) {
		ds.Addf(Error, CodeInvalidValue, b.Pos, "bootloader", "bootloader %q: expected grub, systemd-boot or refind", b.Loader)
		return nil
	}
	var boot *Partition
	if d != nil {
		b.Device = d.Device
		for i := range d.Partitions {
			if d.Partitions[i].Important == "boot" {
				boot = &d.Partitions[i]
			}
		}
	}
	if boot != nil && boot.Mountpoint != "" {
		b.ESP = boot.Mountpoint
	}
	switch {
	case firmware != "":
		b.UEFI = firmware == "uefi"
	case b.Loader == "systemd-boot" || b.Loader == "refind":
		b.UEFI = true
	case boot != nil:
		b.UEFI = boot.FSType == "vfat"
		b.Inferred = true
		fw := "BIOS"
		if b.UEFI {
			fw = "UEFI"
		}
		ds.Add(Diagnostic{Severity: Warning, Code: CodeFirmwareInferred, Pos: b.Pos, Path: "bootloader",
			Message: fmt.Sprintf("firmware inferred as %s from the boot partition's file system (%s)", fw, boot.FSType),
			Hint:    "set bootloader.firmware: uefi or bios"})
	default:
		b.UEFI = true
		b.Inferred = true
		ds.Add(Diagnostic{Severity: Warning, Code: CodeFirmwareInferred, Pos: b.Pos, Path: "bootloader",
			Message: "firmware assumed UEFI: no boot partition is declared", Hint: "set bootloader.firmware: uefi or bios"})
	}
	if !b.UEFI && b.Loader == "grub" && b.Device == "" {
		ds.Addf(Error, CodeInvalidValue, b.Pos, "bootloader", "grub on BIOS needs partitioning.disk (the disk to install to)")
	}
	if !b.UEFI && (b.Loader == "systemd-boot" || b.Loader == "refind") {
		ds.Addf(Error, CodeInvalidValue, b.Pos, "bootloader", "%s needs UEFI firmware", b.Loader)
	}
	return b
}

// mapValue returns the value of key in mapping m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
