package pacman

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/arch"
	"github.com/ch-aos-ch/chaos/internal/pkggraph"
	"github.com/ch-aos-ch/chaos/internal/pkgmap"
	"go.yaml.in/yaml/v3"
)

// Resolver maps a Ch-obolo package to the core's package names (pkgmap.Resolve by default).
type Resolver = pkgmap.Resolver

// bootloaderPackages are the packages a `bootloader` value needs (systemd-boot is part of systemd).
var bootloaderPackages = map[string][]string{
	"grub": {"grub"}, "refind": {"refind"}, "systemd-boot": nil,
}

// fsPackages are the tools a partition's file system type needs.
var fsPackages = map[string]string{
	"btrfs": "btrfs-progs", "xfs": "xfsprogs", "fat32": "dosfstools", "vfat": "dosfstools", "fat": "dosfstools",
	"f2fs": "f2fs-tools", "exfat": "exfatprogs", "ext4": "e2fsprogs", "ext3": "e2fsprogs", "ext2": "e2fsprogs",
}

// desired is one package the Ch-obolo wants on the host.
type desired = pkggraph.Want

// Desired computes the packages the Ch-obolo wants, in this order: `packages` (through the package
// map), the base set or `baseOverride` (only when `packages` or `baseOverride` is declared), the
// declared users' login shells, the boot loader's packages
// (`bootloader`; efibootmgr with grub on UEFI, as probed or as `bootloader.firmware` says) and the file system tools the `partitioning` needs.
// Every name is validated; an invalid one is an error naming its position. Duplicates keep their
// first declaration.
func Desired(c *chobolo.Chobolo, resolve Resolver, uefi bool) ([]desired, []string, error) {
	s := pkggraph.NewWants(arch.ValidPackage)
	if err := s.AddPackages(c, arch.Core, resolve); err != nil {
		return nil, nil, err
	}
	if c.Has("packages") || c.Has("baseOverride") {
		base, overridden, err := BasePackages(c, resolve)
		if err != nil {
			return nil, nil, err
		}
		why, pos := "base set", c.Pos("packages")
		if overridden {
			why, pos = "baseOverride", c.Pos("baseOverride")
		}
		for _, n := range base {
			if err := s.Add(desired{Name: n, Pos: pos, Why: why}); err != nil {
				return nil, nil, err
			}
		}
	}
	notes, err := s.AddShells(c, arch.ShellPackages)
	if err != nil {
		return nil, nil, err
	}
	if n := c.Extra["bootloader"]; n != nil {
		loader, firmware, err := bootloaderName(n)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: bootloader: %w", c.NodePos(n), err)
		}
		for _, p := range bootloaderPackages[loader] {
			if err := s.Add(desired{Name: p, Pos: c.NodePos(n), Why: "bootloader " + loader}); err != nil {
				return nil, nil, err
			}
		}
		if firmware != "" { // on a live host the bootloader role refuses a firmware the probe contradicts
			uefi = firmware == "uefi"
		}
		if loader == "grub" && uefi {
			if err := s.Add(desired{Name: "efibootmgr", Pos: c.NodePos(n), Why: "bootloader grub on UEFI"}); err != nil {
				return nil, nil, err
			}
		}
	}
	if n := c.Extra["partitioning"]; n != nil {
		var p struct {
			Partitions []struct {
				Type      string `yaml:"type"`
				Important string `yaml:"important"`
			} `yaml:"partitions"`
		}
		if err := n.Decode(&p); err == nil {
			for _, part := range p.Partitions {
				pkg := fsPackages[strings.ToLower(part.Type)]
				if part.Important == "boot" && pkg == "" {
					pkg = "dosfstools"
				}
				if pkg != "" {
					if err := s.Add(desired{Name: pkg, Pos: c.NodePos(n), Why: "file system " + part.Type + " in partitioning"}); err != nil {
						return nil, nil, err
					}
				}
			}
		}
	}
	return s.List, notes, nil
}

// bootloaderName reads `bootloader: grub` (or `{name: grub}` / `{type: grub}`) and the declared
// `firmware` ("" when not declared; the bootloader role checks its value).
func bootloaderName(n *yaml.Node) (loader, firmware string, err error) {
	switch n.Kind {
	case yaml.ScalarNode:
		loader = n.Value
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch n.Content[i].Value {
			case "name", "type", "loader":
				loader = n.Content[i+1].Value
			case "firmware":
				firmware = n.Content[i+1].Value
			}
		}
	}
	if _, ok := bootloaderPackages[loader]; !ok {
		return "", "", fmt.Errorf("unknown boot loader %q (use grub, systemd-boot or refind)", loader)
	}
	return loader, firmware, nil
}

// BasePackages returns the base set in force: `baseOverride` (resolved like `packages`) when it is
// declared and non-empty, else the core's BaseSet.
func BasePackages(c *chobolo.Chobolo, resolve Resolver) ([]string, bool, error) {
	return pkgmap.Base(c, arch.Core, arch.BaseSet, resolve, arch.ValidPackage)
}

// Input is everything the delta needs besides the facts.
type Input struct {
	Want []desired
	// Prune is true when `packages` is declared: undeclared explicit native packages are removed.
	Prune bool
	// PruneOrphans removes dependencies nothing needs any more (`prune_orphans: true`).
	PruneOrphans bool
	// Base are the base-set names (never pruned; they are also in Want when declared).
	Base []string
	// SudoUsed is true when a declared user gets sudo.
	SudoUsed bool
	Chroot   bool
}

// Mark is a declared package that is installed as a dependency (or provided by one).
type Mark struct {
	desired
	Pkg string // the installed package to mark explicit
}

// Removal is a package the plan removes, and why.
type Removal struct {
	Name   string
	Reason string
}

// Delta is the difference between the host and the Ch-obolo.
type Delta struct {
	Install []desired
	// New is what the install transaction adds (Install plus missing dependencies), when known.
	New  []string
	Mark []Mark
	// Remove are undeclared explicit native packages; RemoveDeps the dependencies only they needed
	// (what -Rns would take with them); Orphans the dependencies nothing needs (prune_orphans).
	Remove     []Removal
	RemoveDeps []Removal
	Orphans    []Removal
	// AsDeps are undeclared explicit native packages that a staying package depends on (Reason: the
	// chain): they stay, marked as dependencies, so that the explicit set is the declared set plus
	// the base set.
	AsDeps []Removal
	// Sync is true when no sync database exists and something is to be installed.
	Sync bool
	// Explicit is the number of explicit native packages (the prune domain).
	Explicit int
	Notes    []string
}

// graph answers "who provides X" over the installed and the new packages.
type graph struct {
	deps map[string][]string // package -> dependency names
	prov map[string][]string // name -> packages satisfying it (the package itself first)
}

func newGraph(f *Facts) *graph {
	g := &graph{deps: map[string][]string{}, prov: map[string][]string{}}
	names := slices.Sorted(maps.Keys(f.Pkgs))
	for _, n := range names {
		p := f.Pkgs[n]
		g.deps[n] = p.Deps
		g.prov[n] = append([]string{n}, g.prov[n]...)
		for _, v := range p.Provides {
			if v != n {
				g.prov[v] = append(g.prov[v], n)
			}
		}
	}
	for _, n := range f.New {
		if _, installed := f.Pkgs[n]; installed {
			continue
		}
		g.deps[n] = f.NewDeps[n]
		g.prov[n] = append([]string{n}, g.prov[n]...)
	}
	return g
}

// keepDeps gives pkggraph.Keep a package's dependencies the way pacman keeps them satisfied: every
// package that satisfies a dependency and is not a removal candidate stays (pacman counts each as
// required by the dependant, so none is an orphan); a dependency only removal candidates satisfy
// keeps the first of them (removing it would break the dependency, so pacman refuses).
func (g *graph) keepDeps(candidates map[string]bool) pkggraph.Deps {
	return func(n string) [][]string {
		var out [][]string
		for _, d := range g.deps[n] {
			sat := g.prov[d]
			staying := slices.DeleteFunc(slices.Clone(sat), func(p string) bool { return candidates[p] })
			if len(staying) == 0 {
				out = append(out, sat)
				continue
			}
			for _, p := range staying {
				out = append(out, []string{p})
			}
		}
		return out
	}
}

// reach returns the installed packages the dependencies of from lead to, through any of their
// providers, recursively; a package skip accepts is neither returned nor walked through.
func (g *graph) reach(f *Facts, from []string, skip func(string) bool) map[string]bool {
	out := map[string]bool{}
	queue := slices.Clone(from)
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, d := range g.deps[n] {
			for _, p := range g.prov[d] {
				if f.Pkgs[p] != nil && !out[p] && !skip(p) {
					out[p] = true
					queue = append(queue, p)
				}
			}
		}
	}
	return out
}

// ComputeDelta is the pure delta: facts + input -> changes.
func ComputeDelta(f *Facts, in Input) *Delta {
	d := &Delta{Sync: false}
	g := newGraph(f)
	wanted := map[string]string{} // installed package -> the declared name it accounts for
	for _, w := range in.Want {
		if p := f.Pkgs[w.Name]; p != nil {
			wanted[w.Name] = w.Name
			if !p.Explicit {
				d.Mark = append(d.Mark, Mark{desired: w, Pkg: w.Name})
			}
			continue
		}
		if ps := g.installedProviders(f, w.Name); len(ps) > 0 { // a virtual name an installed package provides
			p := f.Pkgs[ps[0]]
			wanted[p.Name] = w.Name
			if !p.Explicit {
				d.Mark = append(d.Mark, Mark{desired: w, Pkg: p.Name})
			}
			continue
		}
		d.Install = append(d.Install, w)
	}
	if len(d.Install) > 0 {
		d.Sync = !f.Synced
		for _, n := range f.New {
			if f.Pkgs[n] == nil {
				d.New = append(d.New, n)
			}
		}
	}
	names := make([]string, 0, len(f.Pkgs))
	for n, p := range f.Pkgs {
		names = append(names, n)
		if p.Explicit && !p.Foreign {
			d.Explicit++
		}
	}
	sort.Strings(names)
	if !in.Prune && !in.PruneOrphans {
		return d
	}

	// Roots are what stays whatever happens: declared, foreign, protected, base and essential
	// packages, explicit packages the prune does not touch, and the packages about to be installed.
	// Candidates are the undeclared explicit native packages.
	protected := protectedSet(f, in)
	base := arch.NewMatcher(in.Base)
	candidates := map[string]bool{}
	var roots, deps []string
	for _, n := range names {
		p := f.Pkgs[n]
		switch {
		case wanted[n] != "", p.Foreign:
		case protected[n] != "":
			if p.Explicit && in.Prune {
				d.Notes = append(d.Notes, fmt.Sprintf("package %s is kept: %s", n, protected[n]))
			}
		case base.Match(n), arch.IsEssential(n):
		case !p.Explicit:
			deps = append(deps, n)
			continue // stays if something that stays needs it
		case in.Prune:
			candidates[n] = true
			continue
		}
		roots = append(roots, n)
	}
	declared := map[string]bool{}
	for n := range wanted {
		declared[n] = true
	}
	for _, w := range d.Install {
		declared[w.Name] = true
	}
	var undeclaredNew []string
	for _, n := range f.New {
		if f.Pkgs[n] == nil {
			roots = append(roots, n)
			if !declared[n] {
				undeclaredNew = append(undeclaredNew, n)
			}
		}
	}
	if !in.PruneOrphans {
		// Without prune_orphans a dependency stays unless a removal takes it along, needed or not, and
		// what it depends on must then stay too (pacman would refuse the removal). Those no removal can
		// reach and nothing staying leads to (orphans) are roots; the others are left to the walk, so
		// that a chain starts at the declared package rather than at a dependency on the way.
		along := g.reach(f, slices.Sorted(maps.Keys(candidates)), func(p string) bool { return f.Pkgs[p].Explicit })
		held := g.reach(f, roots, func(p string) bool { return candidates[p] })
		for _, n := range deps {
			if !along[n] && !held[n] {
				roots = append(roots, n)
			}
		}
	}
	w := pkggraph.Keep(g.keepDeps(candidates), roots, candidates)
	for _, n := range undeclaredNew { // a dependency of a declared package about to be installed
		w.Parent[n] = pkggraph.NewPackages
	}

	// A candidate something staying needs stays (pacman would refuse "removing X breaks dependency X
	// required by Y"), marked as a dependency: pacman then treats it as the dependency it is (an
	// orphan once nothing needs it). The others go, with the dependencies only they lead to (what -Rs
	// would take).
	var removed []string
	for _, n := range names {
		switch {
		case !candidates[n]:
		case w.Needed[n]:
			d.AsDeps = append(d.AsDeps, Removal{Name: n, Reason: w.Chain(n, declared, "depends on")})
		default:
			removed = append(removed, n)
			d.Remove = append(d.Remove, Removal{Name: n, Reason: "explicitly installed, not declared"})
		}
	}
	along := g.reach(f, removed, func(p string) bool { return w.Needed[p] || candidates[p] })
	for _, n := range names {
		switch {
		case w.Needed[n] || candidates[n]:
		case along[n]:
			d.RemoveDeps = append(d.RemoveDeps, Removal{Name: n, Reason: "dependency only needed by removed packages"})
		case in.PruneOrphans: // pacman -Qdtt without optdepends
			d.Orphans = append(d.Orphans, Removal{Name: n, Reason: "orphan: installed as a dependency, nothing needs it"})
		}
	}
	return d
}

// installedProviders lists the installed packages providing name.
func (g *graph) installedProviders(f *Facts, name string) []string {
	var out []string
	for _, p := range g.prov[name] {
		if f.Pkgs[p] != nil {
			out = append(out, p)
		}
	}
	return out
}

// protectedSet names the installed packages that are never pruned whatever the base set says, with
// the reason: the shared host facts' (hostfacts.Facts.Protected) and the boot loader.
func protectedSet(f *Facts, in Input) map[string]string {
	out := f.Protected(host, in.SudoUsed, in.Chroot)
	for _, b := range f.Boot {
		out[b] = "it is the installed boot loader"
		if b == "grub" && f.UEFI {
			out["efibootmgr"] = "grub on UEFI needs it"
		}
	}
	return out
}
