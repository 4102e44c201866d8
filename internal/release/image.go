package release

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// ImageArches are the architectures of Capitain's image in a release. Only amd64: the image's first
// stage RUNs busybox (deploy/Dockerfile), so an arm64 image would need an arm64 busybox executed
// under emulation (qemu-user with binfmt_misc), which the build machines do not have.
var ImageArches = []string{"amd64"}

// ImageName is the archive's reference: `podman load` names the image localhost/capitain:VERSION.
const ImageName = "capitain"

// ImageFile is the name of the image archive of version and arch in a release.
func ImageFile(version, arch string) string {
	return "capitain_" + version + "_linux_" + arch + ".oci.tar"
}

// ErrNoBuildah is returned by Run when buildah, which builds the image, is not installed.
var ErrNoBuildah = errors.New("release: buildah not found on PATH: it builds the Capitain image (deploy/image.sh); install it (scripts/deps.sh: apt-get install buildah)")

// checkImageTools fails early, before any build, when the image cannot be built.
func checkImageTools() error {
	if _, err := exec.LookPath("buildah"); err != nil {
		return ErrNoBuildah
	}
	for _, t := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("release: %s not found on PATH: deploy/image.sh fetches the image's busybox and CA bundle with it", t)
		}
	}
	return nil
}

// writeImage builds Capitain's image around bin (the release's binary for arch) with deploy/image.sh,
// labelled with the version and the commit, every file and the creation time dated the commit's time
// (buildah --timestamp), and writes it as an OCI archive into o.Out. buildah's own oci-archive
// writer dates the archive's entries now, so the image goes to an OCI layout directory (whose
// blobs are reproducible) and is archived here, dated the commit's time.
func writeImage(ctx context.Context, o Options, arch, bin string) (string, error) {
	tag := fmt.Sprintf("localhost/chaos-release-capitain:%s-%d-%d", o.Version, os.Getpid(), time.Now().UnixNano())
	cmd := exec.CommandContext(ctx, filepath.Join(o.Repo, "deploy", "image.sh"), tag)
	cmd.Dir = o.Repo
	cmd.Env = append(os.Environ(), "CHAOS_BIN="+bin, "VERSION="+o.Version, "REVISION="+o.Stamp.Commit,
		"SOURCE_DATE_EPOCH="+strconv.FormatInt(o.Stamp.Time.Unix(), 10))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("release: deploy/image.sh for %s: %w\n%s", arch, err, out)
	}
	defer exec.Command("buildah", "rmi", "-f", tag).Run() //nolint:errcheck // the archive is written; a leftover tag is harmless
	layout, err := os.MkdirTemp("", "chaos-release-image-")
	if err != nil {
		return "", fmt.Errorf("release: %w", err)
	}
	defer os.RemoveAll(layout)
	push := exec.CommandContext(ctx, "buildah", "push", "--quiet", tag, "oci:"+layout+":"+ImageName+":"+o.Version)
	if out, err := push.CombinedOutput(); err != nil {
		return "", fmt.Errorf("release: buildah push %s: %w\n%s", tag, err, out)
	}
	var entries []tarEntry
	err = filepath.WalkDir(layout, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(layout, p)
		entries = append(entries, tarEntry{name: filepath.ToSlash(rel), src: p, mode: 0o644})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("release: %w", err)
	}
	out := filepath.Join(o.Out, ImageFile(o.Version, arch))
	f, err := os.Create(out)
	if err != nil {
		return "", fmt.Errorf("release: %w", err)
	}
	defer f.Close()
	if err := writeTar(f, entries, o.Stamp.Time); err != nil {
		return "", err
	}
	return out, f.Close()
}
