package testenv

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// StateDirs are the directories HostState always walks.
var StateDirs = []string{"etc", "home", "srv", "usr/bin", "var/lib/dpkg/info"}

// HostState renders the full state of a Debian root for before/after comparisons: one line per
// file under StateDirs and extra (relative to root) with its type, mode, owner and content (small
// files verbatim, for readable diffs; bigger ones by hash), then dpkg's state of every package.
// Files that tools rewrite as a side effect are left out: ld.so.cache (the ldconfig trigger),
// shadow-utils' NAME- backups and chaos's own temp files.
func HostState(t testing.TB, root string, extra ...string) string {
	t.Helper()
	var lines []string
	for _, top := range append(append([]string{}, StateDirs...), extra...) {
		err := filepath.WalkDir(filepath.Join(root, top), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if rel == "etc/ld.so.cache" || strings.HasSuffix(rel, "-") || strings.Contains(rel, "/.chaos-") {
				return nil
			}
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			line := fmt.Sprintf("%s %v", rel, fi.Mode())
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				line += fmt.Sprintf(" %d:%d", st.Uid, st.Gid)
			}
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				target, _ := os.Readlink(p)
				line += " -> " + target
			case fi.Mode().IsRegular():
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				if len(data) <= 512 {
					line += fmt.Sprintf(" %q", data)
				} else {
					line += fmt.Sprintf(" %d bytes sha256 %x", len(data), sha256.Sum256(data))
				}
			}
			lines = append(lines, line)
			return nil
		})
		if err != nil {
			t.Fatalf("testenv: host state: %v", err)
		}
	}
	sort.Strings(lines)
	lines = append(lines, Chroot(t, root, "dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\n"))
	return strings.Join(lines, "\n")
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
