package packages

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/debian"
	"github.com/ch-aos-ch/chaos/internal/pkggraph"
	"github.com/ch-aos-ch/chaos/internal/pkgmap"
)

// Resolver maps a Ch-obolo package to the core's package names (pkgmap.Resolve by default).
type Resolver = pkgmap.Resolver

// Desired computes the packages the Ch-obolo wants: `packages` resolved through the package map and
// the login shells of the declared users. Every name is validated; an invalid one is an error naming
// its position. Duplicates keep their first declaration. Notes report shells no package is known for.
func Desired(c *chobolo.Chobolo, resolve Resolver) (want []desired, notes []string, err error) {
	return pkggraph.Desired(c, debian.Core, resolve, debian.ValidPackage, debian.ShellPackages)
}

// BasePatterns returns the base set in force: `baseOverride` (resolved like `packages`) when it is
// declared and non-empty, else the core's BaseSet.
func BasePatterns(c *chobolo.Chobolo, resolve Resolver) ([]string, bool, error) {
	return pkgmap.Base(c, debian.Core, debian.BaseSet, resolve, debian.ValidPackage)
}

// Input is everything the delta needs besides the facts.
type Input struct {
	Want []desired
	// Prune is true when `packages` is declared: undeclared manual packages are then removed.
	Prune bool
	// Base are the base-set patterns (BaseSet or baseOverride); BaseOverridden says which.
	Base           []string
	BaseOverridden bool
	// SudoUsed is true when a declared user gets sudo.
	SudoUsed bool
	Chroot   bool
}

// Mark is a declared package that is installed but marked automatic.
type Mark struct {
	desired
	Pkg string // the installed package to mark manual (a provider for a virtual name)
}

// Auto is an undeclared manual package to mark automatically installed, and why it stays.
type Auto struct {
	Name string
	Why  string // "declared package app depends on it"
}

// Delta is the difference between the host and the Ch-obolo.
type Delta struct {
	Install []desired
	Mark    []Mark
	// Auto are undeclared manually installed packages that a staying package depends on: they are
	// marked automatically installed, so that the manual set is the declared set plus the base set.
	Auto   []Auto
	Remove []string
	// Update is true when apt has no package lists and something is to be installed.
	Update bool
	// Manual is the number of manually installed packages (the prune domain).
	Manual int
	Notes  []string
}

// ComputeDelta is the pure delta: facts + input -> changes.
func ComputeDelta(f *Facts, in Input) *Delta {
	d := &Delta{}
	prov := providers(f)
	wanted := map[string]bool{} // installed packages the Ch-obolo accounts for
	for _, w := range in.Want {
		name, arch, _ := strings.Cut(w.Name, ":")
		p := f.Pkgs[name]
		if p != nil && p.Installed && (arch == "" || slices.Contains(p.Arches, arch)) {
			wanted[name] = true
			if p.Auto {
				d.Mark = append(d.Mark, Mark{desired: w, Pkg: w.Name})
			}
			continue
		}
		if arch == "" {
			if ps := prov[name]; len(ps) > 0 { // a virtual package some installed package provides
				p := f.Pkgs[ps[0]]
				wanted[p.Name] = true
				if p.Auto {
					d.Mark = append(d.Mark, Mark{desired: w, Pkg: p.Name})
				}
				continue
			}
		}
		d.Install = append(d.Install, w)
	}
	d.Update = len(d.Install) > 0 && !f.Lists

	names := make([]string, 0, len(f.Pkgs))
	for n, p := range f.Pkgs {
		if p.Installed {
			names = append(names, n)
			if !p.Auto {
				d.Manual++
			}
		}
	}
	sort.Strings(names)
	if !in.Prune {
		return d
	}

	protected := protectedSet(f, in)
	base := debian.NewMatcher(in.Base)
	candidates := map[string]bool{}
	var roots []string
	for _, n := range names {
		p := f.Pkgs[n]
		switch {
		case wanted[n], p.Essential, p.Priority == "required", p.Priority == "important", base.Match(n):
		case protected[n] != "":
			if !p.Auto {
				d.Notes = append(d.Notes, fmt.Sprintf("package %s is kept: %s", n, protected[n]))
			}
		case p.Auto:
			continue // removed by apt only if it depends on a removed package; autoremove decides the rest
		case p.Held:
			d.Notes = append(d.Notes, fmt.Sprintf("package %s is kept: it is on hold (apt-mark hold); `apt-mark unhold %s` lets chaos remove it", n, n))
		default:
			candidates[n] = true
			continue
		}
		roots = append(roots, n) // stays: what it depends on stays too
	}
	// Packages about to be installed are roots too, with the dependencies apt reported for them.
	declared := maps.Clone(wanted)
	var declaredRoots []string
	for _, w := range d.Install {
		n := strings.SplitN(w.Name, ":", 2)[0]
		declared[n] = true
		declaredRoots = append(declaredRoots, n)
	}
	for _, n := range roots {
		if wanted[n] {
			declaredRoots = append(declaredRoots, n)
		}
	}
	// What the system itself needs (base set, Essential, required, protected) is left as it is: on a
	// debootstrapped system many libraries are marked manual, and they belong to the base system. What
	// only declared packages need stays and is marked automatically installed: it is a dependency
	// now, which apt removes with the last package needing it, so that the manual set is the declared
	// set plus the base system.
	system := slices.DeleteFunc(slices.Clone(roots), func(n string) bool { return wanted[n] })
	deps := depsFunc(f, prov)
	sys := pkggraph.Keep(deps, system, candidates)
	all := pkggraph.Keep(deps, append(system, declaredRoots...), candidates)
	for _, n := range names {
		switch {
		case !candidates[n] || sys.Needed[n]:
		case all.Needed[n]:
			d.Auto = append(d.Auto, Auto{Name: n, Why: all.Chain(n, declared, "depends on")})
		default:
			d.Remove = append(d.Remove, n)
		}
	}
	return d
}

// protectedSet names the installed packages that are never pruned whatever the base set says, with
// the reason (hostfacts.Facts.Protected).
func protectedSet(f *Facts, in Input) map[string]string {
	return f.Protected(host, in.SudoUsed, in.Chroot)
}

// providers maps every name (real or virtual) to the installed packages that satisfy it, the package
// itself first.
func providers(f *Facts) map[string][]string {
	out := make(map[string][]string, len(f.Pkgs))
	names := make([]string, 0, len(f.Pkgs))
	for n, p := range f.Pkgs {
		if p.Installed {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		out[n] = append([]string{n}, out[n]...)
		for _, v := range f.Pkgs[n].Provides {
			if v != n {
				out[v] = append(out[v], n)
			}
		}
	}
	return out
}

// depsFunc gives pkggraph.Keep a package's dependencies the way apt's resolver keeps them satisfied:
// each Depends/Pre-Depends group (of an installed package, or of a package about to be installed as
// apt reported it) as the packages that satisfy it, real or virtual, the new ones included.
func depsFunc(f *Facts, prov map[string][]string) pkggraph.Deps {
	return func(n string) [][]string {
		groups := f.NewDeps[n]
		if p := f.Pkgs[n]; p != nil && p.Installed {
			groups = p.Deps
		}
		out := make([][]string, 0, len(groups))
		for _, group := range groups {
			var sat []string
			for _, alt := range group {
				sat = append(sat, prov[alt]...)
				if _, isNew := f.NewDeps[alt]; isNew && len(prov[alt]) == 0 {
					sat = append(sat, alt)
				}
			}
			out = append(out, sat)
		}
		return out
	}
}
