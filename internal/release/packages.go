package release

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/arch" // registers "archlinux"
	_ "github.com/goreleaser/nfpm/v2/deb"  // registers "deb"
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers "rpm"
)

// Formats are the package formats built for every architecture (nfpm's names).
var Formats = []string{"deb", "rpm", "archlinux"}

const (
	maintainer  = "Ch-aOS maintainers <maintainers@users.noreply.r-seed-11214360.example>"
	homepage    = "https://github.com/ch-aos-ch/chaos"
	description = "Ch-aOS: declare Linux machines in YAML and make them so (one static binary; Capitain server unit included)"
)

// file is one file of the payload: where it goes on the target, where it is here, its mode, and
// the package formats it goes into (nil: all, and the tarball).
type file struct {
	dst, src string
	mode     os.FileMode
	only     []string
}

// payload is what a release installs: the binary, the completions, the man pages, the Capitain unit,
// its system user and README.md. zsh looks for completions in vendor-completions on Debian and in
// site-functions elsewhere.
func payload(repo, bin string, d *docs) []file {
	pk := func(p string) string { return filepath.Join(repo, "packaging", p) }
	fs := []file{
		{dst: "/usr/bin/chaos", src: bin, mode: 0o755},
		{dst: "/usr/share/bash-completion/completions/chaos", src: d.bash, mode: 0o644},
		{dst: "/usr/share/zsh/vendor-completions/_chaos", src: d.zsh, mode: 0o644, only: []string{"deb"}},
		{dst: "/usr/share/zsh/site-functions/_chaos", src: d.zsh, mode: 0o644, only: []string{"rpm", "archlinux", "tar"}},
		{dst: "/usr/share/fish/vendor_completions.d/chaos.fish", src: d.fish, mode: 0o644},
		{dst: "/usr/lib/systemd/system/chaos-capitain.service", src: pk("systemd/chaos-capitain.service"), mode: 0o644},
		{dst: "/usr/lib/sysusers.d/chaos-capitain.conf", src: pk("sysusers/chaos-capitain.conf"), mode: 0o644},
		{dst: "/usr/share/doc/chaos/README.md", src: filepath.Join(repo, "README.md"), mode: 0o644},
	}
	for _, m := range d.man {
		fs = append(fs, file{dst: "/usr/share/man/man1/" + filepath.Base(m), src: m, mode: 0o644})
	}
	return fs
}

func (f file) in(format string) bool { return f.only == nil || slices.Contains(f.only, format) }

// writePackage builds the package of one format for arch with nfpm, named as the format names its
// files (chaos_1.2.3_amd64.deb, chaos-1.2.3-1.x86_64.rpm, chaos-1.2.3-1-x86_64.pkg.tar.zst).
func writePackage(o Options, arch, format string, fs []file) (string, error) {
	var contents files.Contents
	for _, f := range fs {
		if f.in(format) {
			contents = append(contents, &files.Content{Source: f.src, Destination: f.dst,
				FileInfo: &files.ContentFileInfo{Mode: f.mode, Owner: "root", Group: "root", MTime: o.Stamp.Time}})
		}
	}
	postinst := filepath.Join(o.Repo, "packaging", "scripts", "postinstall.sh")
	version, schema := o.Version, "semver"
	if format == "archlinux" {
		// nfpm leaves a pre-release out of .PKGINFO's pkgver (1.2.3-rc.1 would install as 1.2.3):
		// give it pacman's spelling whole.
		version, schema = PacmanVersion(o.Version), "none"
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:          "chaos",
		Arch:          arch,
		Platform:      "linux",
		Version:       version,
		VersionSchema: schema,
		Release:       "1",
		Section:       "admin",
		Priority:      "optional",
		Maintainer:    maintainer,
		Description:   description,
		Vendor:        "Ch-aOS",
		Homepage:      homepage,
		License:       "Unspecified",
		MTime:         o.Stamp.Time,
		Overridables: nfpm.Overridables{
			Contents: contents,
			Scripts:  nfpm.Scripts{PostInstall: postinst},
			// A fixed build host: rpm records it, and the machine's name must not change the bytes.
			RPM:       nfpm.RPM{BuildHost: "chaos-release", Summary: "Ch-aOS: declarative Linux configuration", Packager: maintainer},
			ArchLinux: nfpm.ArchLinux{Packager: maintainer},
		},
	})
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return "", fmt.Errorf("release: %s package for %s: %w", format, arch, err)
	}
	pkgr, err := nfpm.Get(format)
	if err != nil {
		return "", fmt.Errorf("release: %w", err)
	}
	out := filepath.Join(o.Out, pkgr.ConventionalFileName(info))
	f, err := os.Create(out)
	if err != nil {
		return "", fmt.Errorf("release: %w", err)
	}
	if err := pkgr.Package(info, f); err != nil {
		f.Close()
		return "", fmt.Errorf("release: %s package for %s: %w", format, arch, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("release: %w", err)
	}
	return out, nil
}

// writeTarball writes out: a gzipped tar of the payload under top/ (bin/chaos, share/..., lib/...:
// the /usr tree, to unpack into /usr/local or run in place), entries in a fixed order, owned by
// root, dated mtime.
func writeTarball(out, top string, fs []file, mtime time.Time) error {
	var entries []tarEntry
	for _, e := range fs {
		if !e.in("tar") {
			continue
		}
		rel, err := filepath.Rel("/usr", e.dst)
		if err != nil {
			return fmt.Errorf("release: %w", err)
		}
		entries = append(entries, tarEntry{name: path.Join(top, rel), src: e.src, mode: e.mode})
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	defer f.Close()
	gz, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return err
	}
	if err := writeTar(gz, entries, mtime); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	return f.Close()
}

// tarEntry is one regular file of a tar: its name in the archive, where it is here, its mode.
type tarEntry struct {
	name, src string
	mode      os.FileMode
}

// writeTar writes a reproducible tar of entries to w: sorted by name, each parent directory once
// before its files, everything owned by root and dated mtime.
func writeTar(w io.Writer, entries []tarEntry, mtime time.Time) error {
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(a, b tarEntry) int { return strings.Compare(a.name, b.name) })
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	hdr := func(name string, mode int64, typ byte, size int64) *tar.Header {
		return &tar.Header{Name: name, Mode: mode, Typeflag: typ, Size: size, ModTime: mtime, Uname: "root", Gname: "root"}
	}
	var mkdirs func(dir string) error
	mkdirs = func(dir string) error {
		if dir == "." || dirs[dir] {
			return nil
		}
		if err := mkdirs(path.Dir(dir)); err != nil {
			return err
		}
		dirs[dir] = true
		return tw.WriteHeader(hdr(dir+"/", 0o755, tar.TypeDir, 0))
	}
	for _, e := range entries {
		if err := mkdirs(path.Dir(e.name)); err != nil {
			return fmt.Errorf("release: %w", err)
		}
		if err := copyIntoTar(tw, hdr(e.name, int64(e.mode), tar.TypeReg, 0), e.src); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	return nil
}

func copyIntoTar(tw *tar.Writer, h *tar.Header, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	h.Size = fi.Size()
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	if _, err := io.Copy(tw, in); err != nil {
		return fmt.Errorf("release: %s: %w", src, err)
	}
	return nil
}
