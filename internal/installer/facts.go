package installer

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/transport"
)

// DiskFacts are what the installer reads from the disk before it plans.
type DiskFacts struct {
	Device string
	Size   int64
	// Table is `sfdisk --dump` of the disk ("" when it holds no partition table).
	Table string
	// Signatures are what wipefs finds on the disk: partition tables and file systems.
	Signatures []Signature
	// Mounted lists the disk's (or its partitions') entries in /proc/self/mounts and /proc/swaps.
	Mounted []string
	// VFAT: the installing machine's kernel mounts vfat (else an ESP is mounted with fusefat).
	VFAT bool
}

// Signature is one wipefs finding.
type Signature struct {
	Type   string `json:"type"`
	Offset string `json:"offset"`
	Label  string `json:"label"`
}

func (s Signature) String() string {
	out := s.Type + " signature at offset " + s.Offset
	if s.Label != "" {
		out += " (label " + s.Label + ")"
	}
	return out
}

// Gather reads the facts of dev on t (the machine the disk is attached to).
func Gather(ctx context.Context, t transport.Transport, dev string) (*DiskFacts, error) {
	f := &DiskFacts{Device: dev}
	res, err := transport.Check(ctx, t, transport.Cmd{Argv: []string{"blockdev", "--getsize64", dev}})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dev, err)
	}
	if f.Size, err = strconv.ParseInt(strings.TrimSpace(string(res.Stdout)), 10, 64); err != nil {
		return nil, fmt.Errorf("%s: size %q: %w", dev, res.Stdout, err)
	}
	if err := f.contents(ctx, t, dev); err != nil {
		return nil, err
	}
	if err := f.kernel(ctx, t); err != nil {
		return nil, err
	}
	for _, file := range []string{"/proc/self/mounts", "/proc/swaps"} {
		res, err := transport.Check(ctx, t, transport.Cmd{Argv: []string{"cat", file}})
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(res.Stdout), "\n") {
			fields := strings.Fields(line)
			if len(fields) >= 2 && OnDisk(dev, fields[0]) {
				f.Mounted = append(f.Mounted, fields[0]+" on "+fields[1])
			}
		}
	}
	return f, nil
}

// OnDisk reports whether dev is the disk or one of its partitions (/dev/sda1, /dev/loop0p2).
func OnDisk(disk, dev string) bool {
	if dev == disk {
		return true
	}
	rest, ok := strings.CutPrefix(dev, disk)
	if c := disk[len(disk)-1]; c >= '0' && c <= '9' {
		// loop1p2 is loop1's; loop10 is not.
		rest, ok = strings.CutPrefix(rest, "p")
	}
	n, err := strconv.Atoi(rest)
	return ok && err == nil && n > 0 && rest[0] != '+'
}

// PartDev is the device of partition n of disk: /dev/sda1, /dev/nvme0n1p1, /dev/loop0p1.
func PartDev(disk string, n int) string {
	if c := disk[len(disk)-1]; c >= '0' && c <= '9' {
		return disk + "p" + strconv.Itoa(n)
	}
	return disk + strconv.Itoa(n)
}

// Refusal says why the disk is not touched without --wipe: what was found on it.
func (f *DiskFacts) Refusal(wipe bool) error {
	var found []string
	if len(f.Mounted) > 0 {
		// Mounted is refused even with --wipe: the running system uses it.
		return fmt.Errorf("%s is in use: %s; unmount it first (--wipe does not unmount)", f.Device, strings.Join(f.Mounted, ", "))
	}
	if wipe {
		return nil
	}
	for _, s := range f.Signatures {
		found = append(found, s.String())
	}
	if f.Table != "" && len(found) == 0 {
		found = append(found, "a partition table")
	}
	if len(found) > 0 {
		return fmt.Errorf("%s is not empty: %s; pass --wipe to erase it", f.Device, strings.Join(found, ", "))
	}
	return nil
}

// GatherImage reads the facts of a disk image file that will be size bytes: a file that does
// not exist yet is an empty disk; one attached to a loop device is in use.
func GatherImage(ctx context.Context, t transport.Transport, image string, size int64) (*DiskFacts, error) {
	f := &DiskFacts{Device: image, Size: size}
	if err := f.kernel(ctx, t); err != nil {
		return nil, err
	}
	// test -e, not t.Stat: Stat reads a regular file's content, and an image is gigabytes.
	if res, err := t.Run(ctx, transport.Cmd{Argv: []string{"test", "-e", image}}); err != nil {
		return nil, err
	} else if res.Code != 0 {
		return f, nil
	}
	if err := f.contents(ctx, t, image); err != nil {
		return nil, err
	}
	res, err := transport.Check(ctx, t, transport.Cmd{Argv: []string{"losetup", "--associated", image}})
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
		if dev, _, ok := strings.Cut(line, ":"); ok {
			f.Mounted = append(f.Mounted, "attached to "+dev)
		}
	}
	return f, nil
}

// contents reads the partition table and the signatures of a disk or an image file.
func (f *DiskFacts) contents(ctx context.Context, t transport.Transport, p string) error {
	// sfdisk exits 1 on a disk without a partition table: that is a fact, not an error.
	if res, err := t.Run(ctx, transport.Cmd{Argv: []string{"sfdisk", "--dump", p}}); err != nil {
		return err
	} else if res.Code == 0 {
		f.Table = string(res.Stdout)
	}
	res, err := transport.Check(ctx, t, transport.Cmd{Argv: []string{"wipefs", "--no-act", "--json", p}})
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(res.Stdout))) > 0 {
		var w struct {
			Signatures []Signature `json:"signatures"`
		}
		if err := json.Unmarshal(res.Stdout, &w); err != nil {
			return fmt.Errorf("wipefs %s: %w", p, err)
		}
		f.Signatures = w.Signatures
	}
	return nil
}

// kernel reads what the installing machine's kernel mounts.
func (f *DiskFacts) kernel(ctx context.Context, t transport.Transport) error {
	res, err := transport.Check(ctx, t, transport.Cmd{Argv: []string{"cat", "/proc/filesystems"}})
	if err != nil {
		return err
	}
	f.VFAT = strings.Contains(string(res.Stdout), "\tvfat\n")
	return nil
}

// KernelPartitions lists the partitions this machine's kernel holds for disk (from sysfs:
// loop0p1, sda2), which for a loop device partx added and only partx -d removes.
func KernelPartitions(disk string) []string {
	name := filepath.Base(disk)
	entries, _ := os.ReadDir(filepath.Join("/sys/class/block", name))
	var out []string
	for _, e := range entries {
		if OnDisk(name, e.Name()) && e.Name() != name {
			out = append(out, e.Name())
		}
	}
	return out
}
