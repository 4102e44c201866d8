package packages

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/pkgmap"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/debian"
)

// Resolver maps a Ch-obolo package to the core's package names (pkgmap.Resolve by default).
type Resolver = pkgmap.Resolver

// shellPackages maps a login shell's file name to the Debian package providing it. Shells that are
// Essential (sh, dash, bash) need nothing; nologin/false are not shells to install.
var shellPackages = map[string]string{
	"bash": "bash", "rbash": "bash", "sh": "", "dash": "", "nologin": "", "false": "", "true": "",
	"zsh": "zsh", "rzsh": "zsh", "fish": "fish", "ksh": "ksh", "ksh93": "ksh", "mksh": "mksh",
	"tcsh": "tcsh", "csh": "csh", "bsd-csh": "csh", "yash": "yash", "elvish": "elvish", "xonsh": "xonsh",
	"posh": "posh", "busybox": "busybox", "screen": "screen", "tmux": "tmux", "git-shell": "git",
}

// Desired computes the packages the Ch-obolo wants: `packages` resolved through the package map and
// the login shells of the declared users. Every name is validated; an invalid one is an error naming
// its position. Duplicates keep their first declaration. Notes report shells no package is known for.
func Desired(c *chobolo.Chobolo, resolve Resolver) (want []desired, notes []string, err error) {
	seen := map[string]bool{}
	add := func(name string, pos chobolo.Pos, why string) error {
		if err := debian.ValidPackage(name); err != nil {
			return fmt.Errorf("%s: %s: %w", pos, why, err)
		}
		if !seen[name] {
			seen[name] = true
			want = append(want, desired{Name: name, Pos: pos, Why: why})
		}
		return nil
	}
	for i, p := range c.Packages {
		where := "packages[" + strconv.Itoa(i) + "]"
		names, _, err := pkgmap.Entry(p, debian.Core, resolve)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: %w", c.Pos(where), where, err)
		}
		for _, n := range names {
			if err := add(n, c.Pos(where), where); err != nil {
				return nil, nil, err
			}
		}
	}
	for i, u := range c.Users {
		if u.State == "absent" || u.Shell == "" {
			continue
		}
		where := "users[" + strconv.Itoa(i) + "].shell"
		base := path.Base(u.Shell)
		pkg, known := shellPackages[base]
		switch {
		case !known:
			notes = append(notes, fmt.Sprintf("%s: no package is known to provide the shell %q of user %s; install it with `packages`", c.Pos(where), u.Shell, u.Name))
		case pkg != "":
			if err := add(pkg, c.Pos(where), "login shell of user "+u.Name); err != nil {
				return nil, nil, err
			}
		}
	}
	return want, notes, nil
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

// Delta is the difference between the host and the Ch-obolo.
type Delta struct {
	Install []desired
	Mark    []Mark
	Remove  []string
	// Update is true when apt has no package lists and something is to be installed.
	Update bool
	// Manual is the number of manually installed packages (the prune domain).
	Manual int
	Notes  []string
}

// Compute is the pure delta: facts + input -> changes.
func Compute(f *Facts, in Input) *Delta {
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
	// What the system itself needs (base set, Essential, required, protected) is kept silently: on a
	// debootstrapped system many libraries are marked manual. What only declared packages need is
	// kept with a note, since the Ch-obolo does not say so.
	system := slices.DeleteFunc(slices.Clone(roots), func(n string) bool { return wanted[n] })
	neededSys, _ := closure(f, prov, system, candidates)
	needed, parent := closure(f, prov, append(system, declaredRoots...), candidates)
	for _, n := range names {
		switch {
		case !candidates[n] || neededSys[n]:
		case needed[n]:
			d.Notes = append(d.Notes, fmt.Sprintf("package %s is kept although it is not declared: %s; declare it, or remove what needs it",
				n, chain(n, parent, declared)))
		default:
			d.Remove = append(d.Remove, n)
		}
	}
	return d
}

// protectedSet names the installed packages that are never pruned whatever the base set says, with
// the reason: no lockout (login shells in use, sshd, sudo) and the running kernel.
func protectedSet(f *Facts, in Input) map[string]string {
	out := map[string]string{}
	for pkg, shells := range f.ShellPkgs {
		out[pkg] = "it provides the login shell " + strings.Join(shells, ", ") + " of a user on this host"
	}
	if (f.SSHDRunning && !in.Chroot) || f.SSHDEnabled {
		out["openssh-server"] = "sshd is running or enabled at boot; removing it could lock you out"
	}
	if in.SudoUsed || len(f.SudoMembers) > 0 {
		out["sudo"] = "users rely on sudo (the sudo group has members or a declared user has sudo: true)"
	}
	if f.Kernel != "" && !in.Chroot {
		out[debian.KernelPackage(f.Kernel)] = "it is the running kernel"
	}
	return out
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

// closure walks the dependencies of roots over the installed packages (and the packages about to be
// installed) the way apt's resolver keeps them satisfied: a dependency group satisfied by a package
// that stays is left alone; one satisfied only by removal candidates keeps the first of them. It
// returns the needed packages and, for each, the package that needed it.
func closure(f *Facts, prov map[string][]string, roots []string, candidates map[string]bool) (map[string]bool, map[string]string) {
	needed := map[string]bool{}
	parent := map[string]string{}
	queue := make([]string, 0, len(roots))
	for _, r := range roots {
		if !needed[r] {
			needed[r] = true
			queue = append(queue, r)
		}
	}
	depsOf := func(n string) [][]string {
		if p := f.Pkgs[n]; p != nil && p.Installed {
			return p.Deps
		}
		return f.NewDeps[n]
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, group := range depsOf(n) {
			var sat []string
			for _, alt := range group {
				sat = append(sat, prov[alt]...)
				if _, isNew := f.NewDeps[alt]; isNew && len(prov[alt]) == 0 {
					sat = append(sat, alt)
				}
			}
			if len(sat) == 0 || slices.ContainsFunc(sat, func(s string) bool { return needed[s] }) {
				continue
			}
			pick := sat[0]
			for _, s := range sat {
				if !candidates[s] {
					pick = s
					break
				}
			}
			needed[pick] = true
			parent[pick] = n
			queue = append(queue, pick)
		}
	}
	return needed, parent
}

// chain explains why a candidate is needed: "declared package a depends on it (a -> libb -> x)".
func chain(n string, parent map[string]string, wanted map[string]bool) string {
	path := []string{n}
	for cur := n; parent[cur] != "" && len(path) < 20; {
		cur = parent[cur]
		path = append(path, cur)
	}
	slices.Reverse(path)
	root := path[0]
	kind := "package"
	if wanted[root] {
		kind = "declared package"
	}
	s := fmt.Sprintf("%s %s depends on it", kind, root)
	if len(path) > 2 {
		s += " (" + strings.Join(path, " -> ") + ")"
	}
	return s
}
