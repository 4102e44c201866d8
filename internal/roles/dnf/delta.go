package dnf

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/pkgmap"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/fedora"
)

// Resolver maps a Ch-obolo package to the core's package names (pkgmap.Resolve by default).
type Resolver = pkgmap.Resolver

// shellPackages maps a login shell's file name to the Fedora package providing it. bash and sh are in
// every install; nologin and false are not shells to install.
var shellPackages = map[string]string{
	"bash": "bash", "sh": "", "nologin": "", "false": "", "true": "",
	"zsh": "zsh", "fish": "fish", "ksh": "ksh", "ksh93": "ksh", "mksh": "mksh", "tcsh": "tcsh", "csh": "tcsh",
	"dash": "dash", "yash": "yash", "elvish": "elvish", "xonsh": "xonsh", "nu": "nushell", "busybox": "busybox",
	"tmux": "tmux", "screen": "screen", "git-shell": "git-core",
}

// desired is one package or group the Ch-obolo wants on the host.
type desired struct {
	Name string // rpm name, or @group-id
	Pos  chobolo.Pos
	Why  string // "packages[3]", "login shell of user alice"
	// Unmapped is true when the package map has no entry for the name (it is used as-is).
	Unmapped bool
}

// Desired computes what the Ch-obolo wants: `packages` resolved through the package map (Fedora
// column), groups written @id, and the login shells of declared users. Every name is validated; an
// invalid one is an error naming its position. Duplicates keep their first declaration.
func Desired(c *chobolo.Chobolo, resolve Resolver) (want []desired, notes []string, err error) {
	seen := map[string]bool{}
	add := func(d desired) error {
		if err := fedora.ValidName(d.Name); err != nil {
			return fmt.Errorf("%s: %s: %w", d.Pos, d.Why, err)
		}
		if !seen[d.Name] {
			seen[d.Name] = true
			want = append(want, d)
		}
		return nil
	}
	for i, p := range c.Packages {
		where := "packages[" + strconv.Itoa(i) + "]"
		names, known, err := pkgmap.Entry(p, fedora.Core, resolve)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: %w", c.Pos(where), where, err)
		}
		for _, n := range names {
			if err := add(desired{Name: n, Pos: c.Pos(where), Why: where, Unmapped: !known}); err != nil {
				return nil, nil, err
			}
		}
	}
	for i, u := range c.Users {
		if u.State == "absent" || u.Shell == "" {
			continue
		}
		where := "users[" + strconv.Itoa(i) + "].shell"
		pkg, known := shellPackages[path.Base(u.Shell)]
		switch {
		case !known:
			notes = append(notes, fmt.Sprintf("%s: no package is known to provide the shell %q of user %s; install it with `packages`", c.Pos(where), u.Shell, u.Name))
		case pkg != "":
			if err := add(desired{Name: pkg, Pos: c.Pos(where), Why: "login shell of user " + u.Name}); err != nil {
				return nil, nil, err
			}
		}
	}
	return want, notes, nil
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
	// Unneeded are the installed packages nothing that stays requires (Remove included): the set the
	// apply-time guard checks with `rpm -e --test`.
	Unneeded []string
	// Groups is the new ledger of groups chaos manages.
	Groups []string
	// User is the number of user-installed packages (the prune domain).
	User  int
	Notes []string
}

// Compute is the pure delta: facts + input -> changes.
func Compute(f *Facts, in Input) *Delta {
	d := &Delta{}
	wanted := map[string]bool{} // installed packages the Ch-obolo accounts for
	declaredGroups := map[string]bool{}
	for _, w := range in.Want {
		if fedora.IsGroup(w.Name) {
			id := strings.TrimPrefix(w.Name, "@")
			declaredGroups[id] = true
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
		if f.NewKnown && f.Cache && !f.Avail[w.Name] {
			hint := "check the spelling, or add the repository that has it under repos.dnf"
			if w.Unmapped {
				hint = fmt.Sprintf("the package map has no entry for %q: if Fedora calls it differently, add an override ({name: %s, fedora: NAME})", w.Name, w.Name)
			}
			d.Notes = append(d.Notes, fmt.Sprintf("%s: %s: no package %s in the enabled repositories (dnf's cache); %s", w.Pos, w.Why, w.Name, hint))
		}
	}
	slices.Sort(d.Groups)

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
		if !declaredGroups[id] && f.Groups[id] {
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
	neededSys, _ := closure(f, system, candidates)
	var wantedRoots []string
	for _, n := range roots {
		if wanted[n] {
			wantedRoots = append(wantedRoots, n)
		}
	}
	all := append(append(slices.Clone(system), wantedRoots...), declaredRoots...)
	needed, parent := closure(f, all, candidates)
	for _, n := range declaredRoots {
		parent[n] = "(new packages)"
	}
	for _, n := range names {
		switch {
		case !candidates[n] || neededSys[n]:
		case needed[n]:
			d.Notes = append(d.Notes, fmt.Sprintf("package %s is kept although it is not declared (its removal is refused): %s; declare it, or remove what requires it",
				n, chain(n, parent, declared)))
		default:
			d.Remove = append(d.Remove, n)
		}
		if !needed[n] {
			d.Unneeded = append(d.Unneeded, n)
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
	if in.SudoUsed || len(f.WheelMembers) > 0 {
		out["sudo"] = "users rely on sudo (the wheel group has members or a declared user has sudo: true)"
	}
	if f.Kernel != "" && !in.Chroot {
		out[fedora.KernelPackage()] = "it is the running kernel"
	}
	return out
}

// closure walks the requirements of roots over the installed packages the way rpm keeps them
// satisfied: a requirement satisfied by a package that stays is left alone; one satisfied only by
// removal candidates keeps the first of them. It returns the needed packages and, for each, the
// package that needed it.
func closure(f *Facts, roots []string, candidates map[string]bool) (map[string]bool, map[string]string) {
	needed := map[string]bool{}
	parent := map[string]string{}
	queue := make([]string, 0, len(roots))
	for _, r := range roots {
		if !needed[r] {
			needed[r] = true
			queue = append(queue, r)
		}
	}
	installed := func(capability string) bool { return len(f.Prov[capability]) > 0 }
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		p := f.Pkgs[n]
		if p == nil {
			continue
		}
		for _, req := range p.Requires {
			for _, group := range DepGroups(req, installed) {
				var sat []string
				for _, alt := range group {
					sat = append(sat, f.Prov[alt]...)
				}
				if len(sat) == 0 || slices.Contains(sat, n) || slices.ContainsFunc(sat, func(s string) bool { return needed[s] }) {
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
	}
	return needed, parent
}

// chain explains why a candidate is needed: "declared package a requires it (a -> libb -> x)".
func chain(n string, parent map[string]string, declared map[string]bool) string {
	path := []string{n}
	for cur := n; parent[cur] != "" && len(path) < 20; {
		cur = parent[cur]
		if cur == "(new packages)" {
			return "a declared package about to be installed requires it"
		}
		path = append(path, cur)
	}
	slices.Reverse(path)
	root := path[0]
	kind := "package"
	if declared[root] {
		kind = "declared package"
	}
	s := fmt.Sprintf("%s %s requires it", kind, root)
	if len(path) > 2 {
		s += " (" + strings.Join(path, " -> ") + ")"
	}
	return s
}
