package files

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/logbook"
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
// entry going stale, only costs a read. A plan alone (--dry) never writes it. It lives with chaos's
// other probe caches under /var/lib/chaos/cache, but is not taken on the target's word: it is
// signed (HMAC-SHA256) with a key of the controller's, kept beside its logbook (verifiedKeyPath),
// and a record without this controller's signature is ignored. Otherwise a file system image
// crafted with predictable inode numbers and times (a loop-mounted one) could bring a record that
// makes a no-change run out of files chaos should rewrite.

// verifiedPath is the record on the target.
const verifiedPath = "/var/lib/chaos/cache/files-verified.tsv"

// verifiedHeader starts the record; the signature of the rest follows it on the first line.
const verifiedHeader = "# chaos verified checksums v2 "

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

// verifiedKeyPath is the controller's key for the record's signature: verified.key beside the
// default logbook ($XDG_DATA_HOME/chaos, else ~/.local/share/chaos).
func verifiedKeyPath() (string, error) {
	p, err := logbook.DefaultPath()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(p), "verified.key"), nil
}

// verifiedKey reads the controller's key; with create, it makes one (32 random bytes, 0600) when
// there is none.
func verifiedKey(create bool) ([]byte, error) {
	p, err := verifiedKeyPath()
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(p)
	if err == nil && len(key) == 32 {
		return key, nil
	}
	if !create || err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("key %s: missing or unusable (%d bytes, %v)", p, len(key), err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return verifiedKey(false) // another chaos made it first
	}
	if err != nil {
		return nil, err
	}
	_, err = f.Write(key)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(p)
		return nil, err
	}
	return key, nil
}

// signRecord is the record of body (its lines) signed with key.
func signRecord(key []byte, body string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return []byte(verifiedHeader + hex.EncodeToString(m.Sum(nil)) + "\n" + body)
}

// readVerified reads the record from the target. A missing or unreadable one, one this controller
// did not sign (or no key to check it with), and any malformed line count as no entry.
func readVerified(tree *transport.Tree) map[string]verifiedEntry {
	data, err := tree.ReadFile(verifiedPath)
	if err != nil || !strings.HasPrefix(string(data), verifiedHeader) {
		return nil
	}
	_, body, ok := strings.Cut(string(data), "\n")
	if !ok {
		return nil
	}
	key, err := verifiedKey(false)
	if err != nil || !hmac.Equal(data, signRecord(key, body)) {
		return nil
	}
	out := map[string]verifiedEntry{}
	for _, l := range strings.Split(body, "\n") {
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
	key, err := verifiedKey(true)
	if err != nil {
		return fmt.Errorf("files: record of verified checksums: %w", err)
	}
	entries := verify(ctx, tree, paths)
	var b strings.Builder
	for _, p := range slices.Sorted(maps.Keys(entries)) { // the same files, the same record
		e := entries[p]
		fmt.Fprintf(&b, "%d\t%d\t%d\t%d\t%d\t%s\t%s\n", e.dev, e.ino, e.size, e.mtime, e.ctime, e.sum, p)
	}
	err = t.Mkdir(ctx, path.Dir(verifiedPath), 0o700)
	if err == nil {
		err = t.WriteFile(ctx, verifiedPath, signRecord(key, b.String()), 0o600, -1, -1, nil)
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
