package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// The native answer of the paths section, for targets whose files the controller reads itself (the
// local machine, chroots): the same lines probeScript prints there, from system calls on the
// target's tree (transport.Tree) made by a few goroutines, instead of stat, sha256sum, three awk
// passes and the shell glue between them. Each step below names the script's step it stands for;
// TestNativeProbeMatchesScript runs both on the same trees and compares their outputs byte for byte.

// nativeProbe returns the native answer for the declared paths and the checksums they should have
// (an empty path is a placeholder for one of homes, as in probeScript).
func nativeProbe(paths, wantSHA []string, homes []homeKey) *engine.NativeProbe {
	return &engine.NativeProbe{Answer: func(ctx context.Context, t transport.Transport, tree *transport.Tree) (string, error) {
		return nativeAnswer(ctx, t, tree, paths, wantSHA, homes)
	}}
}

// nativeHomes is homesScript's work: the H lines, and the located paths as declared keys. A home
// comes from the first /etc/passwd line naming the owner, else from getent, and counts when it is
// not empty.
func nativeHomes(ctx context.Context, t transport.Transport, tree *transport.Tree, homes []homeKey) (string, []nativeKey, error) {
	if len(homes) == 0 {
		return "", nil, nil
	}
	passwd, _ := tree.ReadFile("/etc/passwd")
	var b strings.Builder
	var keys []nativeKey
	for _, h := range homes {
		home := passwdHome(passwd, h.owner)
		if home == "" {
			res, err := t.Run(ctx, transport.Cmd{Argv: []string{"getent", "passwd", h.owner}})
			if err != nil && ctx.Err() != nil {
				return "", nil, fmt.Errorf("getent passwd: %w", err)
			}
			home = passwdHome(res.Stdout, h.owner)
		}
		if home == "" {
			fmt.Fprintf(&b, "H\t%d\n", h.index)
			continue
		}
		p := home + "/" + h.rel
		fmt.Fprintf(&b, "H\t%d\t%s\n", h.index, p)
		keys = append(keys, nativeKey{strconv.Itoa(h.index), p, ""})
	}
	return b.String(), keys, nil
}

// passwdHome is the sixth field of the first line of passwd naming user ("" when none).
func passwdHome(passwd []byte, user string) string {
	for _, l := range awkLines(passwd) {
		f := strings.Split(l, ":")
		if f[0] == user {
			if len(f) >= 6 {
				return f[5]
			}
			return ""
		}
	}
	return ""
}

// nativeKey is one R line to print: a declared path (key "INDEX") or a ledger path ("LPATH").
type nativeKey struct{ key, path, want string }

// nativeFact is what the tree says of one path.
type nativeFact struct {
	ok      bool // lstat succeeded: something is there
	st      transport.TreeStat
	sum     string // sha256 of a regular file that could be read
	target  string // a symlink's
	entries int    // a directory's
	content []byte // a small regular file's, kept for its C block
}

// maxDiff is the largest file whose content comes back for a diff (the script's 32768).
const maxDiff = 32768

func nativeAnswer(ctx context.Context, t transport.Transport, tree *transport.Tree, paths, wantSHA []string, homes []homeKey) (string, error) {
	hlines, located, err := nativeHomes(ctx, t, tree, homes)
	if err != nil {
		return "", err
	}
	// The keys, as awk's key() and its END read them: declared paths in order, the located ones
	// after them, then the ledger's "files" lines in the ledger's order, a ledger path that is also
	// declared as an S line (once).
	var keys []nativeKey
	for i, p := range paths {
		if p != "" {
			keys = append(keys, nativeKey{strconv.Itoa(i), p, wantSHA[i]})
		}
	}
	keys = append(keys, located...)
	decl := map[string]string{}
	for _, k := range keys {
		if _, ok := decl[k.path]; !ok {
			decl[k.path] = k.key
		}
	}
	var same []string
	if data, err := tree.ReadFile(engine.LedgerPath); err == nil {
		pre := DomainCreated + "\t"
		aliased := map[string]bool{}
		for _, l := range awkLines(data) {
			p, ok := strings.CutPrefix(l, pre)
			if !ok || !strings.HasPrefix(p, "/") {
				continue
			}
			if k, ok := decl[p]; ok {
				if !aliased[p] {
					aliased[p] = true
					same = append(same, "S\t"+k+"\t"+p)
				}
				continue
			}
			keys = append(keys, nativeKey{"L" + p, p, ""})
		}
	}

	// stat, sha256sum, readlink (stat's %N) and the directory globs, for each distinct path.
	index := map[string]int{}
	var uniq []string
	for _, k := range keys {
		if _, ok := index[k.path]; !ok {
			index[k.path] = len(uniq)
			uniq = append(uniq, k.path)
		}
	}
	dirs := openDirs(tree, uniq)
	defer closeDirs(dirs)
	// A file whose stat is the one recorded with a verified checksum (verified.go), and which wants
	// that checksum for every key naming it, is not read.
	var trusted func(string, transport.TreeStat) (string, bool)
	if verified := readVerified(tree); len(verified) > 0 {
		wants := map[string]string{} // path -> the checksum all its keys want ("" when they differ)
		for _, k := range keys {
			if w, ok := wants[k.path]; ok && w != k.want {
				wants[k.path] = ""
			} else if !ok {
				wants[k.path] = k.want
			}
		}
		trusted = func(p string, st transport.TreeStat) (string, bool) {
			e, ok := verified[p]
			if !ok || !e.matches(st) || wants[p] != e.sum {
				return "", false
			}
			return e.sum, true
		}
	}
	facts := make([]nativeFact, len(uniq))
	parallel(len(uniq), func(i int) {
		q, name := splitDir(uniq[i])
		facts[i] = readFact(tree, dirs[q], name, uniq[i], trusted)
	})
	if err := ctx.Err(); err != nil {
		return "", err
	}

	// Owners: named from the target's /etc/passwd and /etc/group, getent only for the ids they lack.
	uname, gname := idNames(tree, "/etc/passwd"), idNames(tree, "/etc/group")
	var uids, gids []string
	for _, f := range facts {
		if !f.ok {
			continue
		}
		u, g := strconv.FormatUint(uint64(f.st.UID), 10), strconv.FormatUint(uint64(f.st.GID), 10)
		if _, ok := uname[u]; !ok && !slices.Contains(uids, u) {
			uids = append(uids, u)
		}
		if _, ok := gname[g]; !ok && !slices.Contains(gids, g) {
			gids = append(gids, g)
		}
	}
	for _, q := range []struct {
		db    string
		ids   []string
		names map[string]string
	}{{"passwd", uids, uname}, {"group", gids, gname}} {
		if len(q.ids) == 0 {
			continue
		}
		res, err := t.Run(ctx, transport.Cmd{Argv: append([]string{"getent", q.db}, q.ids...)})
		if err != nil && ctx.Err() != nil {
			return "", fmt.Errorf("getent %s: %w", q.db, err)
		}
		// A target without getent names nothing more, as the script's failing getent does.
		addNames(q.names, res.Stdout)
	}

	// The final awk pass: the count of X lines, R lines, T, S and X lines; then the C blocks.
	var body, links, xs strings.Builder
	var xkeys []nativeKey
	for _, k := range keys {
		f := facts[index[k.path]]
		if !f.ok {
			// Is the path up to its last slash, stat'ed with that slash (a symlink to a directory
			// counts), a directory?
			q, _ := splitDir(k.path)
			fmt.Fprintf(&body, "R\t%s\tnone\t%d\n", k.key, b2i(dirs[q] != nil))
			continue
		}
		kind := kindOf(f.st.Mode)
		mode := strconv.FormatUint(uint64(f.st.Mode&0o7777), 8)
		sum, entries := "-", "-"
		if kind == "file" && f.sum != "" {
			sum = f.sum
		}
		if kind == "dir" {
			entries = strconv.Itoa(f.entries)
		}
		u, g := strconv.FormatUint(uint64(f.st.UID), 10), strconv.FormatUint(uint64(f.st.GID), 10)
		un, ok := uname[u]
		if !ok {
			un = "UNKNOWN"
		}
		gn, ok := gname[g]
		if !ok {
			gn = "UNKNOWN"
		}
		for _, field := range [...]string{"R", k.key, kind, "1", mode, u, g, un, gn, strconv.FormatInt(f.st.Size, 10), sum} {
			body.WriteString(field)
			body.WriteByte('\t')
		}
		body.WriteString(entries + "\n")
		if kind == "link" {
			fmt.Fprintf(&links, "T\t%s\t%s\n", k.key, f.target)
		}
		if kind == "file" && k.want != "" && sum != k.want && f.st.Size <= maxDiff && f.st.Mode&0o044 != 0 {
			fmt.Fprintf(&xs, "X\t%s\t%s\n", k.key, k.path)
			xkeys = append(xkeys, k)
		}
	}
	body.WriteString(links.String())
	for _, s := range same {
		body.WriteString(s + "\n")
	}
	body.WriteString(xs.String())
	if body.Len() == 0 {
		// The script prints the first line of awk's output when there is no other (no key at all).
		return hlines + "0\n", nil
	}
	for _, k := range xkeys {
		fmt.Fprintf(&body, "C\t%s\n", k.key)
		writeBase64(&body, facts[index[k.path]].content)
		body.WriteString("E\n")
	}
	return hlines + body.String(), nil
}

// splitDir splits p after its last slash: "/srv/a" is "/srv/" and "a".
func splitDir(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/') + 1
	return p[:i], p[i:]
}

// openDirs resolves the directory of each path (the path up to its last slash) once; a missing
// one, or one that is not a directory, maps to nil.
func openDirs(tree *transport.Tree, paths []string) map[string]*transport.TreeDir {
	dirs := map[string]*transport.TreeDir{}
	for _, p := range paths {
		q, _ := splitDir(p)
		if _, ok := dirs[q]; !ok {
			d, err := tree.OpenDir(q)
			if err != nil {
				d = nil // nothing below it is there
			}
			dirs[q] = d
		}
	}
	return dirs
}

func closeDirs(dirs map[string]*transport.TreeDir) {
	for _, d := range dirs {
		if d != nil {
			_ = d.Close()
		}
	}
}

// readFact reads what the probe reports of p, the entry name of d (nil when p's directory is not
// there): lstat, and by type the checksum and content, the symlink's target or the directory's
// entry count. trusted, when set, gives a regular file's checksum without reading it.
func readFact(tree *transport.Tree, d *transport.TreeDir, name, p string, trusted func(string, transport.TreeStat) (string, bool)) nativeFact {
	if name == "." || name == ".." {
		// Not an entry to look up in its directory (a path the host's ledger may hold): the
		// directory the whole path names, if it is one.
		var err error
		if d, err = tree.OpenDir(p); err != nil {
			return nativeFact{}
		}
		defer d.Close()
		name = ""
	}
	if d == nil {
		return nativeFact{}
	}
	st, err := d.Lstat(name)
	if err != nil {
		return nativeFact{}
	}
	f := nativeFact{ok: true, st: st}
	switch kindOf(st.Mode) {
	case "file":
		// sha256sum's output names a path holding a backslash or newline escaped, which the
		// script's join does not read: no checksum for those, as there.
		if strings.ContainsAny(p, "\\\n") {
			break
		}
		if trusted != nil {
			if sum, ok := trusted(p, st); ok {
				f.sum = sum // what the key wants: no content is sent back
				break
			}
		}
		f.sum, f.content = hashFile(d, name, st.Size)
	case "link":
		target, _ := d.Readlink(name)
		// stat prints the target on its N line: awk reads it up to the first newline.
		f.target, _, _ = strings.Cut(target, "\n")
	case "dir":
		f.entries, _ = d.Entries(name)
	}
	return f
}

// hashFile returns the sha256 of the file name in d, and its content when it is small enough for
// a diff.
func hashFile(d *transport.TreeDir, name string, size int64) (string, []byte) {
	if size > maxDiff {
		sum, _ := hashAll(d, name)
		return sum, nil
	}
	r, err := d.Open(name)
	if err != nil {
		return "", nil
	}
	defer r.Close()
	// One read of the whole file and one that sees its end, into a buffer of its size (grown should
	// the file have grown since its lstat).
	buf, n := make([]byte, size+1), 0
	for {
		if n == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
		}
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", nil
		}
	}
	s := sha256.Sum256(buf[:n])
	return hex.EncodeToString(s[:]), buf[:n]
}

// kindOf maps a file type to the probe's names (stat's %F: "regular file", "directory", ...).
func kindOf(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return "file"
	case syscall.S_IFDIR:
		return "dir"
	case syscall.S_IFLNK:
		return "link"
	}
	return "other"
}

// idNames maps the ids of a passwd or group file on the target to their names, the first line
// naming an id winning (awk's names()).
func idNames(tree *transport.Tree, file string) map[string]string {
	names := map[string]string{}
	if data, err := tree.ReadFile(file); err == nil {
		addNames(names, data)
	}
	return names
}

// addNames adds the ids of passwd or group lines (NAME:X:ID:...) that names lacks.
func addNames(names map[string]string, data []byte) {
	for _, l := range awkLines(data) {
		f := strings.SplitN(l, ":", 4)
		id := ""
		if len(f) >= 3 {
			id = f[2]
		}
		if _, ok := names[id]; !ok {
			names[id] = f[0]
		}
	}
}

// awkLines splits data into the records awk reads: lines, the last one without its newline too.
func awkLines(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	return strings.Split(string(bytes.TrimSuffix(data, []byte("\n"))), "\n")
}

// writeBase64 writes data as base64(1) does: lines of 76 characters.
func writeBase64(b *strings.Builder, data []byte) {
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	if enc != "" {
		b.WriteString(enc + "\n")
	}
}

// parallel runs do(0..n-1) on a few goroutines: the work is system calls on the target's files,
// which a second core (or a blocked read) lets overlap.
func parallel(n int, do func(int)) {
	workers := min(n, 2*runtime.GOMAXPROCS(0))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				do(i)
			}
		})
	}
	wg.Wait()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
