package files

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// The verified checksums: after every successful apply on a target whose files the controller
// reads itself (local, chroot), the role records, for each file it manages the content of, the
// checksum it read and the file's device, inode, size, mtime and ctime. A later probe that finds
// the file with exactly that stat, and wants exactly that checksum, takes the checksum from the
// record instead of opening and reading the file (on an overlay root, opening, reading and closing
// 1,000 small files was most of a no-change run's system time).
//
// Why a matching stat proves the content: the kernel sets a file's ctime on every change of its
// content or inode, and no system call sets it to a chosen value. An entry is recorded only when
// the file was read after its ctime by more than the timestamp clock's granularity (racyMargin;
// git's "racily clean" rule), and its stat was the same before and after the read: any change
// after the read then gives the file a later ctime, so the stat no longer matches and the probe
// reads the file. Files written by the apply itself are that recent: AfterApply waits out the
// margin once (at most racyMargin) before reading them. Filesystems that store whole seconds
// (ctime and mtime without nanoseconds) get coarseMargin.
//
// The record is a cache, written outside the journal (engine.AfterApplier): losing it, or any
// entry going stale, only costs a read. A plan alone (--dry) never writes it. It is root's, under
// /var/lib/chaos beside the ledger and journal, which a probe trusts as much.

// verifiedPath is the record on the target.
const verifiedPath = "/var/lib/chaos/cache/files-verified.tsv"

const verifiedHeader = "# chaos verified checksums v1\n"

const (
	// racyMargin exceeds the tick of the coarse clock file timestamps come from (10 ms at the
	// lowest kernel HZ of 100) with room to spare.
	racyMargin = 25 * time.Millisecond
	// coarseMargin is for filesystems with whole-second (FAT: two-second) timestamps.
	coarseMargin = 3 * time.Second
)

// verifiedEntry is one file's recorded stat and checksum.
type verifiedEntry struct {
	dev, ino           uint64
	size, mtime, ctime int64
	sum                string
}

// matches reports whether st is the stat recorded with e, of a regular file.
func (e verifiedEntry) matches(st transport.TreeStat) bool {
	return kindOf(st.Mode) == "file" && st.Dev == e.dev && st.Ino == e.ino && st.Size == e.size &&
		st.MtimeNs == e.mtime && st.CtimeNs == e.ctime
}

// margin is how much older than its read a file's ctime must be for the read to be recorded.
func margin(st transport.TreeStat) time.Duration {
	if st.MtimeNs%1e9 == 0 && st.CtimeNs%1e9 == 0 {
		return coarseMargin
	}
	return racyMargin
}

// readVerified reads the record from the target; a missing or unreadable one, and any malformed
// line, counts as no entry.
func readVerified(tree *transport.Tree) map[string]verifiedEntry {
	data, err := tree.ReadFile(verifiedPath)
	if err != nil || !strings.HasPrefix(string(data), verifiedHeader) {
		return nil
	}
	out := map[string]verifiedEntry{}
	for _, l := range strings.Split(string(data[len(verifiedHeader):]), "\n") {
		f := strings.SplitN(l, "\t", 7)
		if len(f) != 7 || len(f[5]) != 64 || !strings.HasPrefix(f[6], "/") {
			continue
		}
		var e verifiedEntry
		var errs [5]error
		e.dev, errs[0] = strconv.ParseUint(f[0], 10, 64)
		e.ino, errs[1] = strconv.ParseUint(f[1], 10, 64)
		e.size, errs[2] = strconv.ParseInt(f[2], 10, 64)
		e.mtime, errs[3] = strconv.ParseInt(f[3], 10, 64)
		e.ctime, errs[4] = strconv.ParseInt(f[4], 10, 64)
		if errs != [5]error{} {
			continue
		}
		e.sum = f[5]
		out[f[6]] = e
	}
	return out
}

var _ engine.AfterApplier = Role{}

// AfterApply implements engine.AfterApplier: it records the verified checksums of the files whose
// content the Ch-obolo manages, on targets whose files the controller reads itself.
func (Role) AfterApply(ctx context.Context, t transport.Transport, env *engine.Env, c *chobolo.Chobolo) error {
	tr, ok := t.(transport.TreeReader)
	if !ok || env == nil || c == nil {
		return nil
	}
	tree, ok := tr.Tree()
	if !ok {
		return nil
	}
	desired, err := Validate(c, env.Core)
	if err != nil {
		return nil // the plan refused it: nothing was applied
	}
	var paths []string
	for _, d := range desired {
		if d.State == "present" && d.ManageContent {
			paths = append(paths, d.Path)
		}
	}
	entries := verify(ctx, tree, paths)
	var b strings.Builder
	b.WriteString(verifiedHeader)
	for _, p := range slices.Sorted(maps.Keys(entries)) { // the same files, the same record
		e := entries[p]
		fmt.Fprintf(&b, "%d\t%d\t%d\t%d\t%d\t%s\t%s\n", e.dev, e.ino, e.size, e.mtime, e.ctime, e.sum, p)
	}
	err = t.Mkdir(ctx, path.Dir(verifiedPath), 0o700)
	if err == nil {
		err = t.WriteFile(ctx, verifiedPath, []byte(b.String()), 0o600, -1, -1, nil)
	}
	if err != nil {
		return fmt.Errorf("files: record of verified checksums: %w", err)
	}
	return nil
}

// verify reads the regular files among paths and returns the entries a later probe may trust:
// each file's stat, equal before and after its read, and the checksum read, when the read came
// after the file's ctime by more than its margin.
func verify(ctx context.Context, tree *transport.Tree, paths []string) map[string]verifiedEntry {
	dirs := openDirs(tree, paths)
	defer closeDirs(dirs)
	type cand struct {
		d    *transport.TreeDir
		name string
		st   transport.TreeStat
	}
	cands := map[string]cand{}
	var newest int64
	for _, p := range paths {
		q, name := splitDir(p)
		d := dirs[q]
		if d == nil || name == "" || name == "." || name == ".." {
			continue
		}
		st, err := d.Lstat(name)
		if err != nil || kindOf(st.Mode) != "file" {
			continue
		}
		cands[p] = cand{d, name, st}
		if margin(st) == racyMargin {
			newest = max(newest, st.CtimeNs)
		}
	}
	// Files this apply wrote changed a moment ago: wait until they are older than the margin (a
	// ctime further ahead is a clock's doing and gets no entry).
	if wait := time.Until(time.Unix(0, newest).Add(racyMargin)); wait > 0 && wait <= racyMargin {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil
		}
	}
	out := map[string]verifiedEntry{}
	for p, c := range cands {
		read := time.Now()
		if time.Unix(0, c.st.CtimeNs).Add(margin(c.st)).After(read) {
			continue
		}
		sum, ok := hashAll(c.d, c.name)
		if !ok {
			continue
		}
		if st, err := c.d.Lstat(c.name); err != nil || st != c.st {
			continue // changed while read
		}
		out[p] = verifiedEntry{dev: c.st.Dev, ino: c.st.Ino, size: c.st.Size, mtime: c.st.MtimeNs, ctime: c.st.CtimeNs, sum: sum}
	}
	return out
}

// hashAll returns the sha256 of the file name in d.
func hashAll(d *transport.TreeDir, name string) (string, bool) {
	r, err := d.Open(name)
	if err != nil {
		return "", false
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", false
	}
	return hex.EncodeToString(h.Sum(nil)), true
}
