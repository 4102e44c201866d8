package engine

import (
	"context"
	"fmt"
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

// RestoreSnapshot makes a writable copy of snapshot (a path from Snapshot) and sets it as the
// default subvolume of the target's root filesystem, so the next mount of that filesystem without
// an explicit subvol= option (the next boot, typically) starts from the snapshot. The running system
// is not changed. It returns the new subvolume's path and id.
func RestoreSnapshot(ctx context.Context, t transport.Transport, snapshot string) (string, string, error) {
	if !strings.HasPrefix(snapshot, SnapshotDir+"/") || strings.Contains(snapshot[len(SnapshotDir)+1:], "/") {
		return "", "", fmt.Errorf("%s: %q is not a chaos snapshot", t.Name(), snapshot)
	}
	fi, err := t.Stat(ctx, snapshot)
	if err != nil {
		return "", "", err
	}
	if !fi.Exists {
		return "", "", fmt.Errorf("%s: snapshot %s no longer exists", t.Name(), snapshot)
	}
	dst := SnapshotDir + "/restored-" + strings.TrimPrefix(snapshot, SnapshotDir+"/pre-")
	if _, err := transport.Check(ctx, t, transport.Cmd{Argv: []string{"btrfs", "subvolume", "snapshot", snapshot, dst}}); err != nil {
		return "", "", fmt.Errorf("%s: %w", t.Name(), err)
	}
	res, err := transport.Check(ctx, t, transport.Cmd{Argv: []string{"btrfs", "subvolume", "show", dst}})
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", t.Name(), err)
	}
	id := ""
	for _, line := range strings.Split(string(res.Stdout), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == "Subvolume ID" {
			id = strings.TrimSpace(v)
		}
	}
	if id == "" {
		return "", "", fmt.Errorf("%s: btrfs subvolume show %s printed no id", t.Name(), dst)
	}
	if _, err := transport.Check(ctx, t, transport.Cmd{Argv: []string{"btrfs", "subvolume", "set-default", id, "/"}}); err != nil {
		return "", "", fmt.Errorf("%s: %w", t.Name(), err)
	}
	return dst, id, nil
}
