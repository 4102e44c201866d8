package release

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// pacmanArch is the Arch name of each GOARCH a release is built for.
var pacmanArch = map[string]string{"amd64": "x86_64", "arm64": "aarch64"}

// Download is where the release's files are published: DOWNLOAD/vVERSION/FILE (GitHub's release
// downloads, docs/release.md).
const Download = homepage + "/releases/download"

// writePKGBUILD writes PKGBUILD and chaos.install into o.Out: the PKGBUILD builds the Arch package
// from the release's tarballs (packaging/arch/PKGBUILD.tmpl), pinned by their SHA-256; chaos.install
// runs the packages' post-install script (packaging/scripts/postinstall.sh) as pacman's post_install.
func writePKGBUILD(o Options, tarballs map[string]string) (string, error) {
	tmpl, err := template.ParseFiles(filepath.Join(o.Repo, "packaging", "arch", "PKGBUILD.tmpl"))
	if err != nil {
		return "", fmt.Errorf("release: %w", err)
	}
	type arch struct{ Go, Pacman, SHA256 string }
	data := struct {
		Maintainer, Version, PkgVer, Description, Homepage, Download string
		Arches                                                       []arch
	}{maintainer, o.Version, PacmanVersion(o.Version), description, homepage, Download, nil}
	for _, a := range o.Arches {
		p, ok := pacmanArch[a]
		if !ok {
			return "", fmt.Errorf("release: no Arch name for GOARCH %s", a)
		}
		sum, err := FileSHA256(tarballs[a])
		if err != nil {
			return "", err
		}
		data.Arches = append(data.Arches, arch{a, p, sum})
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("release: PKGBUILD: %w", err)
	}
	out := filepath.Join(o.Out, "PKGBUILD")
	if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("release: %w", err)
	}
	post, err := os.ReadFile(filepath.Join(o.Repo, "packaging", "scripts", "postinstall.sh"))
	if err != nil {
		return "", fmt.Errorf("release: %w", err)
	}
	install := "post_install() {\n" + string(post) + "}\n\npost_upgrade() {\n  post_install\n}\n"
	if err := os.WriteFile(filepath.Join(o.Out, "chaos.install"), []byte(install), 0o644); err != nil {
		return "", fmt.Errorf("release: %w", err)
	}
	return out, nil
}

// PacmanVersion is version as pacman's pkgver, as nfpm writes it in the Arch package: no hyphen is
// allowed, so 1.2.3-rc.1 is 1.2.3rc.1 (which vercmp sorts before 1.2.3, as semantic versioning does)
// and a hyphen inside the pre-release becomes "_".
func PacmanVersion(version string) string {
	core, pre, _ := strings.Cut(version, "-")
	return core + strings.ReplaceAll(pre, "-", "_")
}
