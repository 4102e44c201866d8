package engine

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/transport"
)

// SnapshotDir is where `chaos apply --snapshot` keeps read-only btrfs snapshots of the target's
// root filesystem, one per apply, named after the apply's journal id.
const SnapshotDir = "/.chaos-snapshots"

// Snapshot takes a read-only btrfs snapshot of the target's root ("/", which must be a btrfs
// subvolume) at SnapshotDir/name, with the target's own btrfs tool, and returns its path. It refuses
// when / is not on btrfs.
func Snapshot(ctx context.Context, t transport.Transport, name string) (string, error) {
	res, err := transport.Check(ctx, t, transport.Cmd{Argv: []string{"stat", "-f", "-c", "%T", "/"}})
	if err != nil {
		return "", fmt.Errorf("%s: --snapshot: %w", t.Name(), err)
	}
	if fs := strings.TrimSpace(string(res.Stdout)); fs != "btrfs" {
		return "", fmt.Errorf("%s: --snapshot needs / on btrfs; it is on %s", t.Name(), fs)
	}
	if err := t.Mkdir(ctx, SnapshotDir, 0o700); err != nil {
		return "", fmt.Errorf("%s: --snapshot: %w", t.Name(), err)
	}
	path := SnapshotDir + "/" + name
	if _, err := transport.Check(ctx, t, transport.Cmd{Argv: []string{"btrfs", "subvolume", "snapshot", "-r", "/", path}}); err != nil {
		return "", fmt.Errorf("%s: --snapshot: %w", t.Name(), err)
	}
	return path, nil
}

// Restored is what RestoreSnapshot made.
type Restored struct {
	// Path is the writable copy, ID its subvolume id, now the filesystem's default.
	Path, ID string
	// Fstab says how the copy's /etc/fstab was changed to mount it as / ("" when it names no
	// subvolume for /).
	Fstab string
}

// bootConfigs are where a boot loader's kernel command line is configured: GRUB's generated
// configuration and its source, systemd-boot's entries and the kernel-install command line.
var bootConfigs = []string{"/boot/grub/grub.cfg", "/boot/grub2/grub.cfg", "/etc/default/grub", "/etc/kernel/cmdline",
	"/boot/loader/entries", "/efi/loader/entries", "/boot/efi/loader/entries"}

// CheckSnapshotBoot refuses a snapshot restore that the next boot would ignore: the default
// subvolume is what a mount without subvol= gets, but a kernel command line with
// rootflags=subvol=... (GRUB adds it when / is a subvolume) mounts that subvolume whatever the
// default is. The error names each place that pins it and what to do.
func CheckSnapshotBoot(ctx context.Context, t transport.Transport) error {
	res, err := t.Run(ctx, transport.Cmd{Argv: append([]string{"grep", "-rsHnoE", `rootflags=[^[:space:]"']*subvol(id)?=[^[:space:]"',]*`}, bootConfigs...)})
	if err != nil {
		return fmt.Errorf("%s: %w", t.Name(), err)
	}
	if res.Code > 1 && len(res.Stdout) == 0 && len(res.Stderr) > 0 {
		return fmt.Errorf("%s: reading the boot configuration: %s", t.Name(), strings.TrimSpace(string(res.Stderr)))
	}
	if pins := BootPins(string(res.Stdout)); len(pins) > 0 {
		return fmt.Errorf("%s: rollback --snapshot would not change what boots: the kernel command line pins the root subvolume (%s), "+
			"which wins over the default subvolume; remove rootflags=subvol=... from GRUB_CMDLINE_LINUX (then update-grub) or from the boot "+
			"entries so that the default subvolume boots, or boot the restored subvolume by hand", t.Name(), strings.Join(pins, "; "))
	}
	return nil
}

// BootPins turns `grep -Hno` output (FILE:LINE:MATCH) into "FILE:LINE: MATCH" lines.
func BootPins(out string) []string {
	var pins []string
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		file, rest, ok := strings.Cut(line, ":")
		n, match, ok2 := strings.Cut(rest, ":")
		if !ok || !ok2 {
			continue
		}
		pins = append(pins, file+":"+n+": "+match)
	}
	return pins
}

// RewriteFstab points the "/" entry of an fstab at another subvolume: its subvol= becomes path and
// its subvolid= becomes id; other entries, options and the line's spacing are kept. It reports what
// it changed ("" for nothing: / names no subvolume).
func RewriteFstab(fstab, path, id string) (string, string) {
	lines := strings.Split(fstab, "\n")
	var changed []string
	for i, line := range lines {
		tokens := fstabTokens.FindAllString(line, -1) // fields and the blanks between them
		var fields []int                              // indexes of the fields in tokens
		for j, tok := range tokens {
			if strings.TrimSpace(tok) != "" {
				fields = append(fields, j)
			}
		}
		if len(fields) < 4 || strings.HasPrefix(tokens[fields[0]], "#") || tokens[fields[1]] != "/" {
			continue
		}
		opts := strings.Split(tokens[fields[3]], ",")
		for j, o := range opts {
			switch k, _, _ := strings.Cut(o, "="); k {
			case "subvol":
				opts[j] = "subvol=" + path
			case "subvolid":
				opts[j] = "subvolid=" + id
			}
			if opts[j] != o {
				changed = append(changed, o+" -> "+opts[j])
			}
		}
		tokens[fields[3]] = strings.Join(opts, ",")
		lines[i] = strings.Join(tokens, "")
	}
	return strings.Join(lines, "\n"), strings.Join(changed, ", ")
}

var fstabTokens = regexp.MustCompile(`\s+|\S+`)

// RestoreSnapshot makes a writable copy of snapshot (a path from Snapshot), points the copy's
// fstab at it when the fstab names the root subvolume, and sets it as the default subvolume of the
// target's root filesystem, so the next mount of that filesystem without an explicit subvol= option
// (the next boot) starts from the snapshot. The running system is not changed. It refuses, before
// making anything, when the boot configuration pins the root subvolume (CheckSnapshotBoot).
func RestoreSnapshot(ctx context.Context, t transport.Transport, snapshot string) (*Restored, error) {
	if !strings.HasPrefix(snapshot, SnapshotDir+"/") || strings.Contains(snapshot[len(SnapshotDir)+1:], "/") {
		return nil, fmt.Errorf("%s: %q is not a chaos snapshot", t.Name(), snapshot)
	}
	fi, err := t.Stat(ctx, snapshot)
	if err != nil {
		return nil, err
	}
	if !fi.Exists {
		return nil, fmt.Errorf("%s: snapshot %s no longer exists", t.Name(), snapshot)
	}
	if err := CheckSnapshotBoot(ctx, t); err != nil {
		return nil, err
	}
	dst := SnapshotDir + "/restored-" + strings.TrimPrefix(snapshot, SnapshotDir+"/pre-")
	if _, err := transport.Check(ctx, t, transport.Cmd{Argv: []string{"btrfs", "subvolume", "snapshot", snapshot, dst}}); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	res, err := transport.Check(ctx, t, transport.Cmd{Argv: []string{"btrfs", "subvolume", "show", dst}})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	r := &Restored{Path: dst}
	lines := strings.Split(string(res.Stdout), "\n")
	for _, line := range lines {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == "Subvolume ID" {
			r.ID = strings.TrimSpace(v)
		}
	}
	// The first line is the subvolume's path from the top of the filesystem.
	top := strings.TrimSpace(lines[0])
	if r.ID == "" || top == "" {
		return nil, fmt.Errorf("%s: btrfs subvolume show %s printed no id or path", t.Name(), dst)
	}
	fstab, err := t.Stat(ctx, dst+"/etc/fstab")
	if err != nil {
		return nil, err
	}
	if fstab.Exists {
		text, change := RewriteFstab(string(fstab.Content), "/"+strings.TrimPrefix(top, "/"), r.ID)
		if change != "" {
			if err := t.WriteFile(ctx, dst+"/etc/fstab", []byte(text), fstab.Mode.Perm(), fstab.UID, fstab.GID, nil); err != nil {
				return nil, fmt.Errorf("%s: %w", t.Name(), err)
			}
			r.Fstab = change
		}
	}
	if _, err := transport.Check(ctx, t, transport.Cmd{Argv: []string{"btrfs", "subvolume", "set-default", r.ID, "/"}}); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	return r, nil
}
