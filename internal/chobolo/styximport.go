package chobolo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/datadir"
)

// StyxBundleEntry is the Ch-obolo a Styx bundle is imported by: its file at the bundle's top.
const StyxBundleEntry = "chobolo.yml"

// StyxBundleName is the directory of an installed bundle under StyxBundleRoot: NAME@VERSION, with
// publisher/name written publisher.name.
func StyxBundleName(name, version string) string {
	return strings.ReplaceAll(name, "/", ".") + "@" + strings.TrimPrefix(version, "v")
}

// StyxBundleRoot is where chaos styx invoke installs Ch-obolo bundles.
func StyxBundleRoot() (string, error) { return datadir.Path("styx", "chobolos") }

// styxImport resolves imports: [{styx: NAME@VERSION}] (or NAME alone, when one version is
// installed) to the bundle's entry file.
func styxImport(ref string) (string, error) {
	root, err := StyxBundleRoot()
	if err != nil {
		return "", err
	}
	name, ver, _ := strings.Cut(ref, "@")
	if name == "" || strings.ContainsAny(ref, "\x00\n\r\\") || strings.Contains(name, "..") {
		return "", fmt.Errorf("invalid Styx reference %q: want NAME@VERSION", ref)
	}
	if ver == "" {
		prefix := StyxBundleName(name, "")
		entries, err := os.ReadDir(root)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		var found []string
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) {
				found = append(found, strings.TrimPrefix(e.Name(), prefix))
			}
		}
		switch len(found) {
		case 0:
			return "", fmt.Errorf("the Styx bundle %s is not installed (chaos styx invoke %s)", name, name)
		case 1:
			ver = found[0]
		default:
			slices.Sort(found)
			return "", fmt.Errorf("several versions of the Styx bundle %s are installed (%s): write %s@VERSION", name, strings.Join(found, ", "), name)
		}
	}
	p := filepath.Join(root, StyxBundleName(name, ver), StyxBundleEntry)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("the Styx bundle %s@%s is not installed (chaos styx invoke %s@%s)", name, ver, name, ver)
	}
	return p, nil
}
