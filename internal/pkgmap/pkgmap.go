// Package pkgmap maps distro-agnostic package names to each core's packages, so that one Ch-obolo
// installs `openssh` as openssh-server + openssh-client on Debian and as openssh on Arch.
//
// The map is data, embedded in the binary: data/packages.yaml holds the rows of the package-manager
// cores (see the rules at the top of that file); data/nix.yaml and data/guix.yaml hold the columns
// of the Ch-imera compilers as their own files, because there every known name must be listed (an
// absent nix or guix entry means "unknown", not "the same name").
package pkgmap

import (
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"go.yaml.in/yaml/v3"
)

//go:embed data/packages.yaml
var packagesYAML []byte

// columnFiles are whole columns kept in their own files: target -> document (name -> names).
//
//go:embed data/nix.yaml
var nixYAML []byte

//go:embed data/guix.yaml
var guixYAML []byte

var columnFiles = map[string][]byte{"nix": nixYAML, "guix": guixYAML}

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

// coreRows are the names of packages.yaml, filled by loadRows: only they get the same-name rule on
// sameNameCores (a name that only the nix or guix column knows is not a Debian, Arch or Fedora
// package).
var coreRows = map[string]bool{}

// loadRows is packages.yaml alone: all that a Debian, Arch or Fedora lookup needs (the column
// files only add nix and guix names), without parsing the column files (~3 ms of every plan).
var loadRows = sync.OnceValue(func() table {
	t, err := parse(packagesYAML)
	if err != nil {
		panic("pkgmap: embedded data/packages.yaml: " + err.Error()) // caught by the package's tests
	}
	for name := range t {
		coreRows[name] = true
	}
	return t
})

// load is the whole map: packages.yaml's rows (parsed again, as the columns are added to its rows)
// and the column files.
var load = sync.OnceValue(func() table {
	loadRows() // fills coreRows
	t, err := parse(packagesYAML)
	if err != nil {
		panic("pkgmap: embedded data/packages.yaml: " + err.Error())
	}
	for target, doc := range columnFiles {
		if err := addColumn(t, target, doc); err != nil {
			panic("pkgmap: embedded data/" + target + ".yaml: " + err.Error()) // caught by the package's tests
		}
	}
	return t
})

// addColumn merges a column file into t. A name may appear in a row's column or in the column
// file, not both.
func addColumn(t table, target string, doc []byte) error {
	var col map[string]names
	if err := yaml.Unmarshal(doc, &col); err != nil {
		return err
	}
	check := columnCheck[target]
	for name, pkgs := range col {
		if err := chobolo.ValidPackageName(name); err != nil {
			return err
		}
		for _, p := range pkgs {
			if err := check(p); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		row := t[name]
		if row == nil {
			row = map[string]names{}
			t[name] = row
		}
		if _, dup := row[target]; dup {
			return fmt.Errorf("%s: %s is also set in packages.yaml", name, target)
		}
		row[target] = pkgs
	}
	return nil
}

// columnCheck validates one name of a column for its target's syntax.
var columnCheck = map[string]func(string) error{
	"debian": chobolo.ValidDebianPackage,
	"arch":   chobolo.ValidPackageName,
	"fedora": chobolo.ValidPackageName,
	"nix":    ValidNixAttr,
	"guix":   ValidGuixSpec,
}

// ValidNixAttr checks a nixpkgs attribute path such as "git", "python3Packages.pip" or
// "_1password-cli": dot-separated identifiers of letters, digits, _ ' and -, each starting with a
// letter or _.
func ValidNixAttr(s string) error {
	if s == "" || len(s) > 200 {
		return fmt.Errorf("nix attribute %q: expected 1 to 200 characters", s)
	}
	for _, seg := range strings.Split(s, ".") {
		if seg == "" || !(isLetter(seg[0]) || seg[0] == '_') {
			return fmt.Errorf("nix attribute %q: each part must start with a letter or _", s)
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; !(isLetter(c) || c >= '0' && c <= '9' || c == '_' || c == '\'' || c == '-') {
				return fmt.Errorf("nix attribute %q: unexpected %q", s, c)
			}
		}
	}
	return nil
}

// ValidGuixSpec checks a Guix package specification: a lower-case name of letters, digits and
// + . _ -, optionally followed by @VERSION and :OUTPUT ("gcc-toolchain", "bind:utils").
func ValidGuixSpec(s string) error {
	if s == "" || len(s) > 200 {
		return fmt.Errorf("guix package %q: expected 1 to 200 characters", s)
	}
	name, output, _ := strings.Cut(s, ":")
	name, version, hasVersion := strings.Cut(name, "@")
	ok := func(part string, extra string) bool {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0) {
				return false
			}
		}
		return true
	}
	if !ok(name, "+._-") || !(name[0] >= 'a' && name[0] <= 'z' || name[0] >= '0' && name[0] <= '9') ||
		hasVersion && !ok(version, "._-") || strings.Contains(s, ":") && !ok(output, "-") {
		return fmt.Errorf("guix package %q: expected NAME[@VERSION][:OUTPUT] in lower case", s)
	}
	return nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// Known returns the distro-agnostic names that have an entry for target, sorted: the names a
// compiler can suggest when one is unknown.
func Known(target string) []string {
	var out []string
	for name, row := range load() {
		if _, ok := row[target]; ok || slices.Contains(sameNameCores, target) && coreRows[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

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
			check := columnCheck[core]
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
	t := loadRows()
	if _, ok := columnFiles[core]; ok {
		t = load()
	}
	if row, ok := t[p.Name]; ok {
		if col, ok := row[core]; ok {
			return slices.Clone([]string(col)), true
		}
		if slices.Contains(sameNameCores, core) && coreRows[p.Name] {
			return []string{p.Name}, true
		}
	}
	return []string{p.Name}, false
}

// Names returns the distro-agnostic names the map knows, sorted, for suggestions ("did you mean").
func Names() []string {
	t := load()
	return slices.Sorted(maps.Keys(t))
}
