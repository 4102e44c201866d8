package dnf

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/fedora"
	"github.com/ch-aos-ch/chaos/internal/pkggraph"
	"github.com/ch-aos-ch/chaos/internal/pkgmap"
)

// Resolver maps a Ch-obolo package to the core's package names (pkgmap.Resolve by default).
type Resolver = pkgmap.Resolver

// desired is one package or group the Ch-obolo wants on the host (rpm name, or @group-id).
type desired = pkggraph.Want

// Desired computes what the Ch-obolo wants: `packages` resolved through the package map (Fedora
// column), groups written @id, and the login shells of declared users. Every name is validated; an
// invalid one is an error naming its position. Duplicates keep their first declaration.
func Desired(c *chobolo.Chobolo, resolve Resolver) (want []desired, notes []string, err error) {
	return pkggraph.Desired(c, fedora.Core, resolve, fedora.ValidName, fedora.ShellPackages)
}

// BasePatterns returns the base set in force: `baseOverride` (resolved like `packages`) when it is
// declared and non-empty, else the core's BaseSet.
func BasePatterns(c *chobolo.Chobolo, resolve Resolver) ([]string, bool, error) {
	return pkgmap.Base(c, fedora.Core, fedora.BaseSet, resolve, fedora.ValidPackage)
}

// Input is everything the delta needs besides the facts.
type Input struct {
	Want []desired
	// Prune is true when `packages` is declared: undeclared user-installed packages are then removed.
	Prune bool
	// Base are the base-set patterns (BaseSet or baseOverride); BaseOverridden says which.
	Base           []string
	BaseOverridden bool
	// SudoUsed is true when a declared user gets sudo.
	SudoUsed bool
	Chroot   bool
	// GroupLedger are the groups chaos installed on this host (ledger domain "packages.dnf.groups").
	GroupLedger []string
}

// Mark is a declared package that is installed but not user-installed.
type Mark struct {
	desired
	Pkg    string // the installed package to mark (a provider for a virtual name)
	Reason string
}

// Delta is the difference between the host and the Ch-obolo.
type Delta struct {
	Install []desired
	Mark    []Mark
	// Remove are the packages of the removal transaction; RemoveGroups the groups chaos installed
	// that are no longer declared.
	Remove       []string
	RemoveGroups []string
	// Deps are undeclared user-installed packages that a declared package requires: they stay, marked
	// as dependencies, so that the user-installed set is the declared set plus the base system.
	Deps []Dep
	// Unneeded are the installed packages nothing that stays requires (Remove included): the set the
	// apply-time guard checks with `rpm -e --test`.
	Unneeded []string
	// Groups is the new ledger of groups chaos manages.
	Groups []string
	// User is the number of user-installed packages (the prune domain).
	User  int
	Notes []string
}

// Dep is a user-installed package to mark as a dependency, and why it stays.
type Dep struct {
	Name string
	Why  string // "declared package app requires it"
}

// Availability is what dnf knows, before any op runs, about the packages d installs
// (pkggraph.CheckAvailable judges them): the names its cached repositories offer, or why it cannot
// tell (no cache yet, the cache could not be read, a repository file this plan writes).
func Availability(f *Facts, install []desired) *pkggraph.Availability {
	av := &pkggraph.Availability{Have: f.Avail, Missing: map[string]bool{}, Changed: f.RepoChanged}
	for _, n := range f.Missing {
		av.Missing[n] = true
	}
	switch {
	case !f.Cache:
		av.Unknown = "dnf has no cached repository metadata yet"
	case !f.NewKnown:
		av.Unknown = "dnf could not read its cached repository metadata"
	}
	if av.Unknown != "" {
		for _, w := range install {
			if !fedora.IsGroup(w.Name) {
				av.Missing[w.Name] = true
			}
		}
	}
	return av
}

// ComputeDelta is the pure delta: facts + input -> changes.
func ComputeDelta(f *Facts, in Input) *Delta {
	d := &Delta{}
	wanted := map[string]bool{} // installed packages the Ch-obolo accounts for
	declaredGroups := map[string]bool{}
	for _, w := range in.Want {
		if fedora.IsGroup(w.Name) {
			id := strings.TrimPrefix(w.Name, "@")
			declaredGroups[id] = true
			if f.GroupsFailed { // unknown: neither installed nor dropped from the ledger
				if slices.Contains(in.GroupLedger, id) {
					d.Groups = append(d.Groups, id)
				}
				continue
			}
			if f.Groups[id] {
				if slices.Contains(in.GroupLedger, id) {
					d.Groups = append(d.Groups, id)
				}
				continue
			}
			d.Install = append(d.Install, w)
			d.Groups = append(d.Groups, id)
			continue
		}
		if p := f.Pkgs[w.Name]; p != nil {
			wanted[w.Name] = true
			if f.Reasons && !p.UserInstalled() {
				d.Mark = append(d.Mark, Mark{desired: w, Pkg: w.Name, Reason: p.Reason})
			}
			continue
		}
		if ps := f.Prov[w.Name]; len(ps) > 0 { // a capability an installed package provides
			p := f.Pkgs[ps[0]]
			wanted[p.Name] = true
			if f.Reasons && !p.UserInstalled() {
				d.Mark = append(d.Mark, Mark{desired: w, Pkg: p.Name, Reason: p.Reason})
			}
			continue
		}
		d.Install = append(d.Install, w)
	}
	slices.Sort(d.Groups)
	if f.GroupsFailed && (len(declaredGroups) > 0 || len(in.GroupLedger) > 0) {
		d.Notes = append(d.Notes, "the installed groups could not be read from dnf's database: no group is installed or removed in this run")
	}

	names := make([]string, 0, len(f.Pkgs))
	for n, p := range f.Pkgs {
		names = append(names, n)
		if p.UserInstalled() {
			d.User++
		}
	}
	sort.Strings(names)
	if !in.Prune {
		return d
	}
	for _, id := range in.GroupLedger {
		if !declaredGroups[id] && f.Groups[id] && !f.GroupsFailed {
			d.RemoveGroups = append(d.RemoveGroups, id)
		}
	}
	slices.Sort(d.RemoveGroups)
	if !f.Reasons {
		d.Notes = append(d.Notes, "dnf's install reasons could not be read (dnf repoquery --installed failed): nothing is pruned")
		return d
	}

	protected := protectedSet(f, in)
	base := fedora.NewMatcher(in.Base)
	candidates := map[string]bool{}
	var roots []string
	for _, n := range names {
		p := f.Pkgs[n]
		switch {
		case wanted[n], base.Match(n):
		case protected[n] != "":
			if p.UserInstalled() {
				d.Notes = append(d.Notes, fmt.Sprintf("package %s is kept: %s", n, protected[n]))
			}
		case p.Reason == "group": // installed with a group: the group owns it
		case !p.UserInstalled():
			continue // a dependency: stays if something that stays needs it
		default:
			candidates[n] = true
			continue
		}
		roots = append(roots, n) // stays: what it requires stays too
	}
	declared := map[string]bool{}
	for n := range wanted {
		declared[n] = true
	}
	var declaredRoots []string
	for _, n := range f.NewDeps { // what the packages about to be installed pull in
		if f.Pkgs[n] != nil {
			declaredRoots = append(declaredRoots, n)
		}
	}
	for _, w := range d.Install {
		declared[w.Name] = true
	}
	system := slices.DeleteFunc(slices.Clone(roots), func(n string) bool { return wanted[n] })
	sys := pkggraph.Keep(f.deps, system, candidates)
	var wantedRoots []string
	for _, n := range roots {
		if wanted[n] {
			wantedRoots = append(wantedRoots, n)
		}
	}
	all := pkggraph.Keep(f.deps, append(append(slices.Clone(system), wantedRoots...), declaredRoots...), candidates)
	for _, n := range declaredRoots {
		all.Parent[n] = pkggraph.NewPackages
	}
	for _, n := range names {
		switch {
		case !candidates[n] || sys.Needed[n]:
		case all.Needed[n]: // rpm would refuse its removal: it stays, as the dependency it is
			d.Deps = append(d.Deps, Dep{Name: n, Why: all.Chain(n, declared, "requires")})
		default:
			d.Remove = append(d.Remove, n)
		}
		if !all.Needed[n] {
			d.Unneeded = append(d.Unneeded, n)
		}
	}
	return d
}

// protectedSet names the installed packages that are never pruned whatever the base set says, with
// the reason (hostfacts.Facts.Protected).
func protectedSet(f *Facts, in Input) map[string]string {
	return f.Protected(host, in.SudoUsed, in.Chroot)
}

// deps gives pkggraph.Keep a package's requirements the way rpm keeps them satisfied: each
// requirement (rich ones split by DepGroups) as the installed packages providing it.
func (f *Facts) deps(n string) [][]string {
	p := f.Pkgs[n]
	if p == nil {
		return nil
	}
	installed := func(capability string) bool { return len(f.Prov[capability]) > 0 }
	var out [][]string
	for _, req := range p.Requires {
		for _, group := range DepGroups(req, installed) {
			var sat []string
			for _, alt := range group {
				sat = append(sat, f.Prov[alt]...)
			}
			out = append(out, sat)
		}
	}
	return out
}
