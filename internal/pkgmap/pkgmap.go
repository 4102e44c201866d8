// Package pkgmap maps distro-agnostic package names to each core's packages, so that one Ch-obolo
// installs `openssh` as openssh-server + openssh-client on Debian and as openssh on Arch.
//
// The map is data (data/packages.yaml), embedded in the binary; see the rules at the top of that
// file. Later issues add nix and guix columns to the same rows.
package pkgmap

import (
	_ "embed"
	"fmt"
	"slices"
	"sync"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"go.yaml.in/yaml/v3"
)

//go:embed data/packages.yaml
var packagesYAML []byte

// sameNameCores are the cores where an absent column means "the same name". For nix and guix an
// absent column means "not curated yet".
var sameNameCores = []string{"debian", "arch", "fedora"}

// names is one row's column: a name or a list of names in YAML.
type names []string

func (n *names) UnmarshalYAML(v *yaml.Node) error {
	if v.Kind == yaml.ScalarNode {
		*n = names{v.Value}
		return nil
	}
	var list []string
	if err := v.Decode(&list); err != nil {
		return err
	}
	*n = append(names{}, list...) // an explicit [] stays non-nil: "nothing on this core"
	return nil
}

// table is the parsed map: name -> core -> packages.
type table map[string]map[string]names

var load = sync.OnceValue(func() table {
	t, err := parse(packagesYAML)
	if err != nil {
		panic("pkgmap: embedded data/packages.yaml: " + err.Error()) // caught by the package's tests
	}
	return t
})

// parse reads and checks a package map document.
func parse(data []byte) (table, error) {
	var t table
	if err := yaml.Unmarshal(data, &t); err != nil {
		return nil, err
	}
	for name, row := range t {
		if err := chobolo.ValidPackageName(name); err != nil {
			return nil, err
		}
		for core, pkgs := range row {
			if !slices.Contains(chobolo.PackageTargets, core) {
				return nil, fmt.Errorf("%s: unknown core %q", name, core)
			}
			check := chobolo.ValidPackageName
			if core == "debian" {
				check = chobolo.ValidDebianPackage
			}
			for _, p := range pkgs {
				if err := check(p); err != nil {
					return nil, fmt.Errorf("%s.%s: %w", name, core, err)
				}
			}
		}
	}
	return t, nil
}

// Resolve returns the packages that p means on core ("debian", "arch", "fedora", "nix", "guix").
// Per-item overrides come first, then the map; known is false when neither knows the name, and
// names is then p.Name unchanged: the caller decides (the Debian core assumes it is a Debian
// package name, and validates it as one). An empty names with known true means "nothing to install
// on this core". The returned slice is the caller's to keep.
func Resolve(p chobolo.Package, core string) (pkgs []string, known bool) {
	if o, ok := p.Overrides[core]; ok {
		return slices.Clone(o), true
	}
	if row, ok := load()[p.Name]; ok {
		if col, ok := row[core]; ok {
			return slices.Clone([]string(col)), true
		}
		if slices.Contains(sameNameCores, core) {
			return []string{p.Name}, true
		}
	}
	return []string{p.Name}, false
}

// Names returns the distro-agnostic names the map knows, sorted, for suggestions ("did you mean").
func Names() []string {
	t := load()
	out := make([]string, 0, len(t))
	for name := range t {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
