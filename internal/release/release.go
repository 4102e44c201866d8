// Package release builds chaos's release artifacts (`make release VERSION=x.y.z`, docs/release.md):
// static binaries for each architecture, stamped with the version and the commit, tarballs, .deb,
// .rpm and Arch packages (nfpm, as a library), the PKGBUILD that builds the Arch package from the
// tarballs, Capitain's container image around the release's binary (an OCI archive, built with
// buildah from deploy/), and SHA256SUMS signed with minisign's format.
//
// Everything is a function of the commit and the version: paths are trimmed, the Go toolchain's own
// VCS probe is off (the commit is stamped with -ldflags instead), every timestamp is the commit's
// time (SOURCE_DATE_EPOCH), archives are written in a fixed order, and Ed25519 signatures are
// deterministic. So two builds of one commit are byte-identical (TestReproducible).
package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ch-aos-ch/chaos/internal/minisign"
	"github.com/ch-aos-ch/chaos/internal/selfupdate"
)

// Arches are the architectures a release is built for (GOARCH names).
var Arches = []string{"amd64", "arm64"}

// Stamp is what a release binary records about its source (internal/cli's Commit, CommitTime,
// Modified).
type Stamp struct {
	Commit   string
	Time     time.Time // the commit's time: every timestamp in the artifacts
	Modified bool      // the tree had uncommitted changes
}

// Options says what to build.
type Options struct {
	Repo    string   // the module's root (the checkout)
	Out     string   // output directory; must be empty or missing
	Version string   // x.y.z (semantic version, no leading v)
	Arches  []string // default Arches
	Stamp   Stamp    // default GitStamp(Repo)
	// Key signs SHA256SUMS; nil leaves it unsigned (Run says so: only tests and dry runs do that).
	Key *minisign.PrivateKey
	// Log receives one line per step (nil: none).
	Log func(format string, args ...any)
}

// GitStamp reads the commit, its time and whether the tree is modified from the checkout at repo.
func GitStamp(ctx context.Context, repo string) (Stamp, error) {
	out, err := git(ctx, repo, "log", "-1", "--format=%H %ct")
	if err != nil {
		return Stamp{}, err
	}
	commit, ct, ok := strings.Cut(strings.TrimSpace(out), " ")
	secs, perr := strconv.ParseInt(ct, 10, 64)
	if !ok || perr != nil {
		return Stamp{}, fmt.Errorf("release: git log printed %q", out)
	}
	status, err := git(ctx, repo, "status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return Stamp{}, err
	}
	return Stamp{Commit: commit, Time: time.Unix(secs, 0).UTC(), Modified: strings.TrimSpace(status) != ""}, nil
}

func git(ctx context.Context, repo string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", repo}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("release: git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Artifacts are the files Run wrote, by kind, as paths in Out.
type Artifacts struct {
	Binaries map[string]string            // arch -> chaos_VERSION_linux_ARCH
	Tarballs map[string]string            // arch -> chaos_VERSION_linux_ARCH.tar.gz
	Packages map[string]map[string]string // format (deb, rpm, archlinux) -> arch -> file
	Images   map[string]string            // arch -> capitain_VERSION_linux_ARCH.oci.tar (ImageArches only)
	PKGBUILD string                       // PKGBUILD (chaos.install beside it)
	Sums     string                       // SHA256SUMS
	Sig      string                       // SHA256SUMS.minisig ("" when unsigned)
}

// Run builds every artifact into o.Out.
func Run(ctx context.Context, o Options) (*Artifacts, error) {
	if err := selfupdate.CheckVersion(o.Version); err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	if len(o.Arches) == 0 {
		o.Arches = Arches
	}
	if err := checkImageTools(); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Stamp.Commit == "" {
		s, err := GitStamp(ctx, o.Repo)
		if err != nil {
			return nil, err
		}
		o.Stamp = s
	}
	if o.Stamp.Modified {
		o.Log("warning: the tree has uncommitted changes; the binaries say \"modified\"")
	}
	if entries, err := os.ReadDir(o.Out); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("release: %s is not empty (remove it first: artifacts of another build must not mix in)", o.Out)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	if err := generateWorkers(ctx, o.Repo); err != nil {
		return nil, err
	}
	a := &Artifacts{Binaries: map[string]string{}, Tarballs: map[string]string{}, Packages: map[string]map[string]string{},
		Images: map[string]string{}}
	for _, arch := range o.Arches {
		o.Log("build %s", arch)
		bin := filepath.Join(o.Out, selfupdate.BinaryName(o.Version, arch))
		if err := Build(ctx, o.Repo, bin, arch, o.Version, o.Stamp); err != nil {
			return nil, err
		}
		a.Binaries[arch] = bin
	}
	// Completions and man pages come from the commands themselves, so a binary that runs here
	// writes them: the release's own for this machine's architecture, or one built for it.
	extras, err := os.MkdirTemp("", "chaos-release-")
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	defer os.RemoveAll(extras)
	host, err := hostBinary(ctx, o, a, extras)
	if err != nil {
		return nil, err
	}
	o.Log("completions and man pages")
	docs, err := generateDocs(ctx, host, o.Stamp.Time, extras)
	if err != nil {
		return nil, err
	}
	for _, arch := range o.Arches {
		o.Log("tarball and packages %s", arch)
		files := payload(o.Repo, a.Binaries[arch], docs)
		tgz := a.Binaries[arch] + ".tar.gz"
		if err := writeTarball(tgz, "chaos_"+o.Version+"_linux_"+arch, files, o.Stamp.Time); err != nil {
			return nil, err
		}
		a.Tarballs[arch] = tgz
		for _, format := range Formats {
			p, err := writePackage(o, arch, format, files)
			if err != nil {
				return nil, err
			}
			if a.Packages[format] == nil {
				a.Packages[format] = map[string]string{}
			}
			a.Packages[format][arch] = p
		}
	}
	for _, arch := range o.Arches {
		if !slices.Contains(ImageArches, arch) {
			o.Log("warning: no Capitain image for %s (only %v: docs/release.md)", arch, ImageArches)
			continue
		}
		o.Log("Capitain image %s", arch)
		if a.Images[arch], err = writeImage(ctx, o, arch, a.Binaries[arch]); err != nil {
			return nil, err
		}
	}
	o.Log("PKGBUILD")
	if a.PKGBUILD, err = writePKGBUILD(o, a.Tarballs); err != nil {
		return nil, err
	}
	o.Log("SHA256SUMS")
	if a.Sums, err = writeSums(o.Out); err != nil {
		return nil, err
	}
	if o.Key == nil {
		o.Log("warning: SHA256SUMS is not signed (no key given)")
		return a, nil
	}
	if a.Sig, err = SignSums(a.Sums, *o.Key, o.Version); err != nil {
		return nil, err
	}
	return a, nil
}

// hostBinary is a chaos binary this machine runs: the release's own when it was built for this
// architecture, else one built for it (stamped alike, so the man pages say the same version).
func hostBinary(ctx context.Context, o Options, a *Artifacts, dir string) (string, error) {
	if p, ok := a.Binaries[goarch()]; ok {
		return p, nil
	}
	p := filepath.Join(dir, "chaos-host")
	return p, Build(ctx, o.Repo, p, goarch(), o.Version, o.Stamp)
}

// ErrNoKey is returned by LoadKey when neither a key file nor CHAOS_SIGNING_KEY is given.
var ErrNoKey = errors.New("release: no signing key: give -key FILE (a minisign secret key made with minisign -G -W) or set CHAOS_SIGNING_KEY to its content")

// LoadKey reads the signing key from file, else from $CHAOS_SIGNING_KEY (the key file's content).
func LoadKey(file string) (minisign.PrivateKey, error) {
	text := os.Getenv("CHAOS_SIGNING_KEY")
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return minisign.PrivateKey{}, fmt.Errorf("release: %w", err)
		}
		text = string(data)
	}
	if text == "" {
		return minisign.PrivateKey{}, ErrNoKey
	}
	return minisign.ParsePrivateKey(text)
}
