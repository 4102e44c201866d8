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
	var paths []string
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
		paths = append(paths, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return fmt.Errorf("pack %s: %w", dir, err)
	}
	slices.Sort(paths)
	tw := tar.NewWriter(w)
	for _, rel := range paths {
		full := filepath.Join(dir, filepath.FromSlash(rel))
		fi, err := os.Lstat(full)
		if err != nil {
			return fmt.Errorf("pack: %w", err)
		}
		h := &tar.Header{Name: rel, ModTime: packTime, Format: tar.FormatPAX, Mode: 0o644}
		switch {
		case fi.IsDir():
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, rel+"/", 0o755
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(full)
			if err != nil {
				return fmt.Errorf("pack: %w", err)
			}
			if err := linkInside(rel, target); err != nil {
				return fmt.Errorf("pack %s: %w", dir, err)
			}
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, target, 0o777
		case fi.Mode().IsRegular():
			h.Typeflag, h.Size = tar.TypeReg, fi.Size()
			if fi.Mode()&0o111 != 0 {
				h.Mode = 0o755
			}
		default:
			return fmt.Errorf("pack %s: %s is a %s: only files, directories and symbolic links are packed", dir, rel, fi.Mode().Type())
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("pack: %w", err)
		}
		if h.Typeflag == tar.TypeReg {
			f, err := os.Open(full)
			if err != nil {
				return fmt.Errorf("pack: %w", err)
			}
			_, err = io.CopyN(tw, f, h.Size)
			f.Close()
			if err != nil {
				return fmt.Errorf("pack %s: %w", rel, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	return nil
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
