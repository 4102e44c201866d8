package testenv

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Volatile are the paths (relative to the root) that HostState leaves out, each for a reason:
// everything else in the root counts.
var Volatile = map[string]string{
	"proc":      "kernel interfaces, mounted by some tests",
	"sys":       "kernel interfaces",
	"dev":       "device nodes (mmdebstrap's, and a test's bind mounts)",
	"run":       "runtime state, a tmpfs on a real host (tests put markers there)",
	"tmp":       "temporary files, cleared at boot",
	"var/tmp":   "temporary files",
	"var/log":   "logs (apt's and dpkg's history, the journal): a record of what happened, not state",
	"var/cache": "caches (apt's package cache and pkgcache.bin): rebuilt at will",
	// chaos's own bookkeeping of a run: the lock file holds the pid of its last holder and the
	// journal exists only while an apply runs or after one was interrupted.
	"var/lib/chaos":         "the directory of chaos's lock (its content counts, but for the lock and the journal)",
	"var/lib/chaos/lock":    "chaos's host lock (the last holder's pid)",
	"var/lib/chaos/lock.d":  "chaos's lease lock",
	"var/lib/chaos/journal": "chaos's journal of the apply in progress",
	"var/lib/chaos/worker":  "the native SSH worker, sent by chaos on first contact and kept by its hash",
	// derived listings a probe keeps to be fast (the services role's unit-file listing), checked for
	// freshness against the unit directories on every read: like var/cache, a cache, not state.
	"var/lib/chaos/cache": "chaos's probe caches",
	// shadow-utils' backup copies, rewritten on every change of the file they back up (with the
	// content before that change): a record of the last edit, not the user database.
	"etc/passwd-":  "shadow-utils backup",
	"etc/shadow-":  "shadow-utils backup",
	"etc/group-":   "shadow-utils backup",
	"etc/gshadow-": "shadow-utils backup",
	"etc/subuid-":  "shadow-utils backup",
	"etc/subgid-":  "shadow-utils backup",
	// chaos's btrfs snapshots (rollback --snapshot): read-only or restored copies of the whole root,
	// compared on their own (TestRollbackSnapshotBtrfs), not part of the running system's state.
	".chaos-snapshots": "chaos's btrfs snapshots",
	// dpkg's copy of its status file before its last run, rewritten by every dpkg run; the status
	// itself counts.
	"var/lib/dpkg/status-old": "dpkg backup",
}

// runSpecific are directories whose files HostState lists (name, type, mode, owner) without their
// content: chaos's generations are the history of the applies, with their times and run IDs, which
// differ from one run of the same apply to the next.
var runSpecific = []string{"var/lib/chaos/generations/"}

// hashCache keeps the hashes of files HostState read, by path, size, inode and times: the roots
// of a test are overlays over one read-only base, whose files all share these.
var hashCache = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

// HostState renders the full state of a root for before/after comparisons: one line per file of
// the whole root (relative to root), but the Volatile paths, with its type, mode, owner and content
// (small files verbatim, for readable diffs; bigger ones by hash), then dpkg's state of every
// package. extra is accepted for older callers and changes nothing: the whole root is walked.
func HostState(t testing.TB, root string, extra ...string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		if _, skip := Volatile[rel]; skip {
			if d.IsDir() && rel != "var/lib/chaos" {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v", rel, fi.Mode())
		st, _ := fi.Sys().(*syscall.Stat_t)
		if st != nil {
			line += fmt.Sprintf(" %d:%d", st.Uid, st.Gid)
		}
		content := true
		for _, dir := range runSpecific {
			if strings.HasPrefix(rel, dir) {
				content = false
			}
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case fi.Mode().IsRegular() && !content:
			line += " (content differs per run)"
		case fi.Mode().IsRegular() && fi.Size() <= 512:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %q", data)
		case fi.Mode().IsRegular():
			h, err := fileHash(p, rel, fi, st)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %d bytes sha256 %s", fi.Size(), h)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatalf("testenv: host state: %v", err)
	}
	sort.Strings(lines)
	lines = append(lines, Chroot(t, root, "dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\n"))
	return strings.Join(lines, "\n")
}

func fileHash(p, rel string, fi fs.FileInfo, st *syscall.Stat_t) (string, error) {
	key := ""
	if st != nil {
		key = fmt.Sprintf("%s %d %d %d.%d %d.%d", rel, fi.Size(), st.Ino, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
		hashCache.Lock()
		h, ok := hashCache.m[key]
		hashCache.Unlock()
		if ok {
			return h, nil
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", err
	}
	h := fmt.Sprintf("%x", sum.Sum(nil))
	if key != "" {
		hashCache.Lock()
		hashCache.m[key] = h
		hashCache.Unlock()
	}
	return h, nil
}

// StateDiff lists the lines of two HostState results that only a has ("- ") or only b has
// ("+ "), sorted, at most 60.
func StateDiff(a, b string) string {
	count := map[string]int{}
	for _, l := range strings.Split(a, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(b, "\n") {
		count[l]--
	}
	var out []string
	for l, n := range count {
		switch {
		case n > 0:
			out = append(out, "- "+l)
		case n < 0:
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	if len(out) > 60 {
		out = append(out[:60], "...")
	}
	return strings.Join(out, "\n")
}
