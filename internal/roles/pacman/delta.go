package pacman

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/pkgmap"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/arch"
	"go.yaml.in/yaml/v3"
)

// Resolver maps a Ch-obolo package to the core's package names (pkgmap.Resolve by default).
type Resolver = pkgmap.Resolver

// shellPackages maps a login shell's file name to the Arch package providing it ("" = nothing to
// install: sh is bash, nologin is util-linux).
var shellPackages = map[string]string{
	"bash": "bash", "rbash": "bash", "sh": "", "nologin": "", "false": "", "true": "",
	"zsh": "zsh", "fish": "fish", "dash": "dash", "ksh": "mksh", "mksh": "mksh", "tcsh": "tcsh",
	"csh": "tcsh", "nu": "nushell", "nushell": "nushell", "xonsh": "xonsh", "elvish": "elvish",
	"busybox": "busybox", "yash": "yash", "oksh": "oksh", "ion": "ion", "git-shell": "git",
	"tmux": "tmux", "screen": "screen",
}

// bootloaderPackages are the packages a `bootloader` value needs (systemd-boot is part of systemd).
var bootloaderPackages = map[string][]string{
	"grub": {"grub"}, "refind": {"refind"}, "systemd-boot": nil,
}

// fsPackages are the tools a partition's file system type needs.
var fsPackages = map[string]string{
	"btrfs": "btrfs-progs", "xfs": "xfsprogs", "fat32": "dosfstools", "vfat": "dosfstools", "fat": "dosfstools",
	"f2fs": "f2fs-tools", "exfat": "exfatprogs", "ext4": "e2fsprogs", "ext3": "e2fsprogs", "ext2": "e2fsprogs",
}

// Desired computes the packages the Ch-obolo wants, in this order: `packages` (through the package
// map), the base set or `baseOverride` (only when `packages` or `baseOverride` is declared), the
// declared users' login shells, the boot loader's packages (`bootloader`; efibootmgr with grub on
// UEFI) and the file system tools the `partitioning` needs. Every name is validated; an invalid one
// is an error naming its position. Duplicates keep their first declaration.
func Desired(c *chobolo.Chobolo, resolve Resolver, uefi bool) (want []desired, notes []string, err error) {
	seen := map[string]bool{}
	add := func(name string, pos chobolo.Pos, why string) error {
		if err := arch.ValidPackage(name); err != nil {
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
		names, _, err := pkgmap.Entry(p, arch.Core, resolve)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: %w", c.Pos(where), where, err)
		}
		for _, n := range names {
			if err := add(n, c.Pos(where), where); err != nil {
				return nil, nil, err
			}
		}
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
			if err := add(n, pos, why); err != nil {
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
			if err := add(pkg, c.Pos(where), "login shell of user "+u.Name); err != nil {
				return nil, nil, err
			}
		}
	}
	for i, u := range c.Users {
		if u.Sudo && u.State != "absent" {
			if err := add("sudo", c.Pos("users["+strconv.Itoa(i)+"].sudo"), "sudo: true of user "+u.Name); err != nil {
				return nil, nil, err
			}
		}
	}
	if n := c.Extra["bootloader"]; n != nil {
		loader, err := bootloaderName(n)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: bootloader: %w", c.NodePos(n), err)
		}
		for _, p := range bootloaderPackages[loader] {
			if err := add(p, c.NodePos(n), "bootloader "+loader); err != nil {
				return nil, nil, err
			}
		}
		if loader == "grub" && uefi {
			if err := add("efibootmgr", c.NodePos(n), "bootloader grub on UEFI"); err != nil {
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
					if err := add(pkg, c.NodePos(n), "file system "+part.Type+" in partitioning"); err != nil {
						return nil, nil, err
					}
				}
			}
		}
	}
	return want, notes, nil
}

// bootloaderName reads `bootloader: grub` (or `{name: grub}` / `{type: grub}`).
func bootloaderName(n *yaml.Node) (string, error) {
	var s string
	switch n.Kind {
	case yaml.ScalarNode:
		s = n.Value
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; k == "name" || k == "type" || k == "loader" {
				s = n.Content[i+1].Value
			}
		}
	}
	if _, ok := bootloaderPackages[s]; !ok {
		return "", fmt.Errorf("unknown boot loader %q (use grub, systemd-boot or refind)", s)
	}
	return s, nil
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
	// Sync is true when no sync database exists and something is to be installed.
	Sync bool
	// Explicit is the number of explicit native packages (the prune domain).
	Explicit int
	Notes    []string
}

// graph answers "who provides X" and "who needs P" over the installed and the new packages.
type graph struct {
	deps  map[string][]string // package -> dependency names
	prov  map[string][]string // name -> packages satisfying it (the package itself first)
	rdeps map[string][]string // package -> packages with a dependency it satisfies
}

func newGraph(f *Facts) *graph {
	g := &graph{deps: map[string][]string{}, prov: map[string][]string{}}
	names := make([]string, 0, len(f.Pkgs))
	for n := range f.Pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
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
	g.rdeps = map[string][]string{}
	for p, ds := range g.deps {
		for _, d := range ds {
			for _, c := range g.prov[d] {
				if c != p && !slices.Contains(g.rdeps[c], p) {
					g.rdeps[c] = append(g.rdeps[c], p)
				}
			}
		}
	}
	for _, rs := range g.rdeps {
		sort.Strings(rs)
	}
	return g
}

// Compute is the pure delta: facts + input -> changes.
func Compute(f *Facts, in Input) *Delta {
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

	protected := protectedSet(f, in)
	base := arch.NewMatcher(in.Base)
	// keep: packages that stay whatever happens (declared, base, essential, protected, foreign).
	keep := map[string]bool{}
	for _, n := range names {
		p := f.Pkgs[n]
		if wanted[n] != "" || base.Match(n) || arch.IsEssential(n) || protected[n] != "" || p.Foreign {
			keep[n] = true
		}
	}
	for _, n := range f.New {
		keep[n] = true
	}
	remove := map[string]bool{}
	if in.Prune {
		for _, n := range names {
			p := f.Pkgs[n]
			switch {
			case !p.Explicit || p.Foreign || wanted[n] != "":
			case protected[n] != "":
				d.Notes = append(d.Notes, fmt.Sprintf("package %s is kept: %s", n, protected[n]))
			case keep[n]:
			default:
				remove[n] = true
			}
		}
	}
	// The removals pacman would refuse ("removing X breaks dependency X required by Y") are kept and
	// reported; keeping one can make another needed, so repeat until nothing changes.
	var deps map[string]bool
	for {
		deps = g.recursiveDeps(f, remove, keep)
		kept := false
		for _, n := range sortedKeys(remove) {
			if by := g.requiredBy(f, n, remove, deps); by != "" {
				delete(remove, n)
				kept = true
				who := "package " + by
				if wanted[by] != "" {
					who = "declared package " + by
				}
				d.Notes = append(d.Notes, fmt.Sprintf("package %s is kept although it is not declared: %s depends on it "+
					"(pacman would refuse to remove it); declare it, or remove what needs it", n, who))
			}
		}
		if !kept {
			break
		}
	}
	for _, n := range sortedKeys(remove) {
		d.Remove = append(d.Remove, Removal{Name: n, Reason: "explicitly installed, not declared"})
	}
	for _, n := range sortedKeys(deps) {
		d.RemoveDeps = append(d.RemoveDeps, Removal{Name: n, Reason: "dependency only needed by removed packages"})
	}
	if in.PruneOrphans {
		gone := map[string]bool{}
		for n := range remove {
			gone[n] = true
		}
		for n := range deps {
			gone[n] = true
		}
		// Orphans: dependencies no staying package needs, recursively (pacman -Qdtt without optdepends).
		orphans := map[string]bool{}
		for changed := true; changed; {
			changed = false
			for _, n := range names {
				p := f.Pkgs[n]
				if p.Explicit || keep[n] || gone[n] || orphans[n] {
					continue
				}
				if g.neededByStaying(f, n, gone, orphans) {
					continue
				}
				orphans[n] = true
				changed = true
			}
		}
		for _, n := range sortedKeys(orphans) {
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

// satisfies reports whether package p satisfies dependency name.
func (g *graph) satisfies(p, name string) bool { return slices.Contains(g.prov[name], p) }

// recursiveDeps is what `pacman -Rs` takes along with targets: dependencies (install reason
// "dependency") every one of whose dependants is removed too, recursively; never a package in keep.
func (g *graph) recursiveDeps(f *Facts, targets, keep map[string]bool) map[string]bool {
	out := map[string]bool{}
	gone := func(n string) bool { return targets[n] || out[n] }
	for changed := true; changed; {
		changed = false
		for _, t := range append(sortedKeys(targets), sortedKeys(out)...) {
			for _, dep := range g.deps[t] {
				for _, c := range g.prov[dep] {
					p := f.Pkgs[c]
					if p == nil || p.Explicit || keep[c] || gone(c) {
						continue
					}
					if g.neededByStaying(f, c, targets, out) {
						continue
					}
					out[c] = true
					changed = true
				}
			}
		}
	}
	return out
}

// neededByStaying reports whether an installed package outside the two removal sets (or a package
// about to be installed) depends on something c satisfies.
func (g *graph) neededByStaying(f *Facts, c string, a, b map[string]bool) bool {
	for _, other := range g.rdeps[c] {
		if !a[other] && !b[other] {
			return true
		}
	}
	return false
}

// requiredBy returns the first staying package with a dependency satisfied only by removed packages
// among which n, or "".
func (g *graph) requiredBy(f *Facts, n string, remove, deps map[string]bool) string {
	for _, other := range g.rdeps[n] { // sorted
		if remove[other] || deps[other] {
			continue
		}
		for _, dep := range g.deps[other] {
			if !g.satisfies(n, dep) {
				continue
			}
			left := false
			for _, p := range g.prov[dep] {
				if !remove[p] && !deps[p] {
					left = true
					break
				}
			}
			if !left {
				return other
			}
		}
	}
	return ""
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// protectedSet names the installed packages that are never pruned whatever the base set says, with
// the reason: no lockout (login shells in use, sshd, sudo), the running kernel, the boot loader.
func protectedSet(f *Facts, in Input) map[string]string {
	out := map[string]string{}
	for pkg, shells := range f.ShellPkgs {
		out[pkg] = "it provides the login shell " + strings.Join(shells, ", ") + " of a user on this host"
	}
	if (f.SSHDRunning && !in.Chroot) || f.SSHDEnabled {
		out["openssh"] = "sshd is running or enabled at boot; removing it could lock you out"
	}
	if in.SudoUsed || len(f.SudoMembers) > 0 {
		out["sudo"] = "users rely on sudo (the wheel group has members or a declared user has sudo: true)"
	}
	if f.Kernel != "" && !in.Chroot {
		out[f.Kernel] = "it is the running kernel"
	}
	for _, b := range f.Boot {
		out[b] = "it is the installed boot loader"
		if b == "grub" && f.UEFI {
			out["efibootmgr"] = "grub on UEFI needs it"
		}
	}
	return out
}
