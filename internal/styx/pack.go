package styx

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// packTime is every entry's mtime, so that packing the same tree twice gives the same bytes.
var packTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// skipped are names never packed: version control and editor droppings.
var skipped = []string{".git", ".hg", ".svn", ".DS_Store"}

// Pack writes dir as a reproducible tar stream to w: entries sorted by path, fixed mtimes, owner
// root (uid/gid 0, no names), modes normalised to 0755 (directories and executables) or 0644.
// Symbolic links must stay inside dir; other special files are refused.
func Pack(dir string, w io.Writer) error {
	// An installed entry is a symbolic link to its version in the store: pack what it points to.
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	var entries []packEntry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if slices.Contains(skipped, d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := packEntry{rel: rel}
		switch {
		case fi.IsDir():
			e.typ = tar.TypeDir
		case fi.Mode()&fs.ModeSymlink != 0:
			if e.link, err = os.Readlink(p); err != nil {
				return err
			}
			e.typ = tar.TypeSymlink
		case fi.Mode().IsRegular():
			e.typ, e.size, e.exec = tar.TypeReg, fi.Size(), fi.Mode()&0o111 != 0
			e.open = func() (io.ReadCloser, error) { return os.Open(p) }
		default:
			return fmt.Errorf("%s is a %s: only files, directories and symbolic links are packed", rel, fi.Mode().Type())
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return fmt.Errorf("pack %s: %w", dir, err)
	}
	if err := writeTar(entries, w); err != nil {
		return fmt.Errorf("pack %s: %w", dir, err)
	}
	return nil
}

// packEntry is one entry of a packed tree, from a directory or a git tree.
type packEntry struct {
	rel  string // slash-separated, relative
	typ  byte   // tar.TypeDir, TypeReg or TypeSymlink
	exec bool
	size int64
	link string
	open func() (io.ReadCloser, error)
}

// writeTar writes entries, sorted by path, as Pack's reproducible tar stream.
func writeTar(entries []packEntry, w io.Writer) error {
	slices.SortFunc(entries, func(a, b packEntry) int { return strings.Compare(a.rel, b.rel) })
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := &tar.Header{Name: e.rel, Typeflag: e.typ, ModTime: packTime, Format: tar.FormatPAX, Mode: 0o644}
		switch e.typ {
		case tar.TypeDir:
			h.Name, h.Mode = e.rel+"/", 0o755
		case tar.TypeSymlink:
			if err := linkInside(e.rel, e.link); err != nil {
				return err
			}
			h.Linkname, h.Mode = e.link, 0o777
		case tar.TypeReg:
			h.Size = e.size
			if e.exec {
				h.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if e.typ == tar.TypeReg {
			r, err := e.open()
			if err != nil {
				return err
			}
			_, err = io.CopyN(tw, r, e.size)
			r.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", e.rel, err)
			}
		}
	}
	return tw.Close()
}

// PackGzip is Pack compressed with gzip (no name, no time in the gzip header).
func PackGzip(dir string, w io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	if err := Pack(dir, zw); err != nil {
		return err
	}
	return zw.Close()
}

// TreeDigest is "sha256:HEX" of Pack(dir): two trees have the same digest exactly when they
// pack to the same bytes. styx.lock and verify compare installed trees with it.
func TreeDigest(dir string) (string, error) {
	h := sha256.New()
	if err := Pack(dir, h); err != nil {
		return "", err
	}
	return "sha256:" + digestHex(h.Sum(nil)), nil
}

// linkInside checks that a symbolic link at rel (slash-separated, inside the tree) pointing at
// target resolves inside the tree.
func linkInside(rel, target string) error {
	if target == "" || path.IsAbs(target) || strings.ContainsRune(target, 0) {
		return fmt.Errorf("%s: symbolic link to %q: only relative links inside the tree are allowed", rel, target)
	}
	j := path.Join(path.Dir(rel), target)
	if j == ".." || strings.HasPrefix(j, "../") {
		return fmt.Errorf("%s: symbolic link to %q points out of the tree", rel, target)
	}
	return nil
}
