package styx

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Limits bound what one artifact may unpack to.
type Limits struct {
	MaxBytes int64 // all files together
	MaxFiles int   // entries of any type
}

// DefaultLimits fit any Soul or Ch-obolo bundle (a Go Soul's static binary is ~10 MiB).
var DefaultLimits = Limits{MaxBytes: 256 << 20, MaxFiles: 10000}

// ErrUnsafeArtifact is an artifact that would write outside its directory, or more than the limits.
var ErrUnsafeArtifact = errors.New("unsafe artifact")

// Unpack extracts a tar stream, gzip-compressed or not, into dir, which must not exist yet. It refuses,
// before writing the entry: a path that is absolute, has "..", or goes through a symbolic link; a
// symbolic link that points out of dir or is absolute; hard links, devices, FIFOs; a duplicate
// entry; more than the limits. On error dir is removed: nothing half-unpacked is left.
func Unpack(r io.Reader, dir string, lim Limits) (err error) {
	// A tarball is gzip-compressed; a git tag's artifact is the plain tar stream (gitartifact.go).
	br := bufio.NewReader(r)
	var stream io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%w: not a gzip stream: %v", ErrUnsafeArtifact, err)
		}
		stream = zr
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	tr := tar.NewReader(stream)
	var total int64
	seen := map[string]bool{}
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUnsafeArtifact, err)
		}
		if n >= lim.MaxFiles {
			return fmt.Errorf("%w: more than %d entries", ErrUnsafeArtifact, lim.MaxFiles)
		}
		name, err := entryName(h.Name)
		if err != nil {
			return err
		}
		if seen[name] {
			return fmt.Errorf("%w: %s appears twice", ErrUnsafeArtifact, name)
		}
		seen[name] = true
		if err := realParents(dir, name); err != nil {
			return err
		}
		full := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(full, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("unpack: %w", err)
			}
		case tar.TypeReg, tar.TypeRegA:
			if h.Size < 0 || total+h.Size > lim.MaxBytes {
				return fmt.Errorf("%w: %s makes the content larger than %d bytes", ErrUnsafeArtifact, name, lim.MaxBytes)
			}
			total += h.Size
			mode := os.FileMode(0o644)
			if h.Mode&0o111 != 0 {
				mode = 0o755
			}
			if err := writeEntry(full, mode, tr, h.Size); err != nil {
				return fmt.Errorf("unpack %s: %w", name, err)
			}
		case tar.TypeSymlink:
			if err := linkInside(name, h.Linkname); err != nil {
				return fmt.Errorf("%w: %v", ErrUnsafeArtifact, err)
			}
			if err := os.Symlink(h.Linkname, full); err != nil {
				return fmt.Errorf("unpack: %w", err)
			}
		case tar.TypeXGlobalHeader:
		default:
			return fmt.Errorf("%w: %s is a %s: only files, directories and symbolic links are unpacked", ErrUnsafeArtifact, name, typeName(h.Typeflag))
		}
	}
}

// entryName is a tar entry's name, clean and relative, or an error.
func entryName(raw string) (string, error) {
	name := strings.TrimSuffix(raw, "/")
	if name == "" || strings.ContainsRune(name, 0) || strings.Contains(name, `\`) {
		return "", fmt.Errorf("%w: entry name %q", ErrUnsafeArtifact, raw)
	}
	if path.IsAbs(name) {
		return "", fmt.Errorf("%w: absolute path %q", ErrUnsafeArtifact, raw)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: path %q leaves the directory (..)", ErrUnsafeArtifact, raw)
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", fmt.Errorf("%w: entry name %q", ErrUnsafeArtifact, raw)
	}
	return clean, nil
}

// realParents checks that every parent of name under dir is a real directory, never a symbolic
// link: links are only leaves, so a link's target, checked lexically, is where it really points.
func realParents(dir, name string) error {
	cur := dir
	parts := strings.Split(name, "/")
	for _, p := range parts[:len(parts)-1] {
		cur = filepath.Join(cur, p)
		fi, err := os.Lstat(cur)
		if errors.Is(err, os.ErrNotExist) { // archives need not list directories
			if err := os.Mkdir(cur, 0o755); err != nil {
				return fmt.Errorf("unpack: %w", err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("unpack: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%w: %s goes through %s, which is not a directory (a symbolic link?)", ErrUnsafeArtifact, name, p)
		}
	}
	return nil
}

func writeEntry(full string, mode os.FileMode, r io.Reader, size int64) error {
	f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, r, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func typeName(t byte) string {
	switch t {
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "FIFO"
	}
	return fmt.Sprintf("tar entry of type %q", t)
}
