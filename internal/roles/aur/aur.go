// Package aur is the Arch Linux AUR role: `aurPackages` and `aurHelpers` are built from their AUR git
// repositories with makepkg as an unprivileged user (never root) and installed with `pacman -U`. No AUR
// helper is needed. Dependencies found in the sync repositories are installed with pacman; the others
// are AUR packages, built first (resolved from .SRCINFO, recursively). When `aurPackages` is declared,
// explicitly installed foreign packages that are declared nowhere are removed; `aurHelpers` are never
// removed by this role (the original flapped here).
package aur

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/arch"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/roles/pacman"
	"github.com/ch-aos-ch/chaos/internal/shell"
	"go.yaml.in/yaml/v3"
)

// explainMD is the text of `chaos explain aur`.
//
//go:embed explain.md
var explainMD string

// Defaults.
const (
	DefaultBaseURL = "https://aur.archlinux.org"
	// CacheDir (root's) holds one fresh directory per build, owned by BuildUser alone and removed
	// after the install.
	CacheDir = "/var/cache/chaos/aur"
	// BuildUser is the unprivileged user git and makepkg run as: makepkg refuses root, and a PKGBUILD
	// is code from the internet. A dedicated system user, not the shared nobody: no other service's
	// process can touch a build, and its leftover processes are killed before root installs the
	// package it built.
	BuildUser = "chaos-build"
	// BuildHome is the build user's home in passwd; each build runs with HOME in its fresh directory,
	// so nothing one build leaves in a home reaches the next.
	BuildHome = "/var/lib/chaos-build"
)

// Role is the AUR role.
type Role struct{}

// New returns the role.
func New() engine.Role { return Role{} }

// Meta implements engine.Role.
func (Role) Meta() engine.Meta {
	return engine.Meta{
		Name:    "aur",
		Aliases: []string{"aur_packages", "aurPkgs", "helpers"},
		Keys:    []string{"aurPackages", "aurHelpers"},
		Cores:   []string{arch.Core},
		Summary: "AUR packages and helpers built with makepkg as an unprivileged user; undeclared foreign packages pruned",
		Explain: explainMD,
		Order:   30, // after repos and packages: official dependencies come from the synced repositories
	}
}

// Pkg is one declared AUR package.
type Pkg struct {
	Name   string
	URL    string
	Helper bool
	Pos    chobolo.Pos
}

// Spec is what the Ch-obolo declares.
type Spec struct {
	BaseURL string
	Pkgs    []Pkg
	// Prune is true when `aurPackages` is declared.
	Prune bool
	// Upgrade (`aurPackages: {upgrade: true}`) rebuilds installed declared packages whose AUR
	// version is newer. Off by default: the packages role never upgrades official packages either.
	Upgrade bool
}

// Parse reads `aurPackages` (a list of names or {name, url}, or a map {base_url, packages}) and
// `aurHelpers` (a list of names). Names and URLs are validated.
func Parse(c *chobolo.Chobolo) (*Spec, error) {
	s := &Spec{BaseURL: DefaultBaseURL}
	seen := map[string]bool{}
	add := func(p Pkg) error {
		if err := arch.ValidPackage(p.Name); err != nil {
			return fmt.Errorf("%s: %w", p.Pos, err)
		}
		if p.URL != "" {
			if err := ValidURL(p.URL); err != nil {
				return fmt.Errorf("%s: %w", p.Pos, err)
			}
		}
		if !seen[p.Name] {
			seen[p.Name] = true
			s.Pkgs = append(s.Pkgs, p)
		}
		return nil
	}
	list := func(n *yaml.Node, helper bool, key string) error {
		if n.Kind != yaml.SequenceNode {
			return fmt.Errorf("%s: %s: expected a list", c.NodePos(n), key)
		}
		for _, it := range n.Content {
			p := Pkg{Helper: helper, Pos: c.NodePos(it)}
			switch it.Kind {
			case yaml.ScalarNode:
				p.Name = it.Value
			case yaml.MappingNode:
				var m struct {
					Name string `yaml:"name"`
					URL  string `yaml:"url"`
				}
				if err := it.Decode(&m); err != nil {
					return fmt.Errorf("%s: %s: expected a name or {name, url}", c.NodePos(it), key)
				}
				p.Name, p.URL = m.Name, m.URL
			default:
				return fmt.Errorf("%s: %s: expected a name or {name, url}", c.NodePos(it), key)
			}
			if err := add(p); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
		}
		return nil
	}
	if n := c.Extra["aurHelpers"]; n != nil {
		if err := list(n, true, "aurHelpers"); err != nil {
			return nil, err
		}
	}
	if n := c.Extra["aurPackages"]; n != nil {
		s.Prune = true
		if n.Kind == yaml.MappingNode {
			var items *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				switch k, v := n.Content[i].Value, n.Content[i+1]; k {
				case "base_url":
					if err := ValidURL(v.Value); err != nil {
						return nil, fmt.Errorf("%s: aurPackages.base_url: %w", c.NodePos(v), err)
					}
					s.BaseURL = strings.TrimSuffix(v.Value, "/")
				case "packages":
					items = v
				case "upgrade":
					if err := v.Decode(&s.Upgrade); err != nil || v.Kind != yaml.ScalarNode {
						return nil, fmt.Errorf("%s: aurPackages.upgrade: expected true or false", c.NodePos(v))
					}
				default:
					return nil, fmt.Errorf("%s: aurPackages: unknown key %q (use base_url, packages, upgrade)", c.NodePos(n.Content[i]), k)
				}
			}
			n = items
		}
		if n != nil {
			if err := list(n, false, "aurPackages"); err != nil {
				return nil, err
			}
		}
	}
	for i := range s.Pkgs {
		if s.Pkgs[i].URL == "" {
			s.Pkgs[i].URL = s.BaseURL + "/" + s.Pkgs[i].Name + ".git"
		}
	}
	return s, nil
}

// ValidURL checks a git URL: https, http, git, ssh or file, without spaces, control characters or a
// leading "-".
func ValidURL(u string) error {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok || rest == "" || !slices.Contains([]string{"https", "http", "git", "ssh", "file"}, scheme) {
		return fmt.Errorf("invalid git URL %q: use https://, http://, git://, ssh:// or file://", u)
	}
	if strings.ContainsFunc(u, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }) {
		return fmt.Errorf("invalid git URL %q: contains a space or control character", u)
	}
	return nil
}

// Probe implements engine.Role: pacman's local database and the foreign packages (the packages
// role's fragments).
func (Role) Probe(env *engine.Env, c *chobolo.Chobolo) []engine.ProbeSection {
	var up []engine.ProbeSection
	if s, err := Parse(c); err == nil && s.Upgrade && len(s.Pkgs) > 0 {
		up = append(up, engine.ProbeSection{Name: secUpgrade, Script: upgradeProbe(s.Pkgs)})
	}
	return append(up, []engine.ProbeSection{
		{Name: pacman.SectionLocal, Script: pacman.LocalProbe},
		{Name: pacman.SectionForeign, Script: pacman.ForeignProbeFor(c)},
		// makepkg uses process substitution (/dev/fd -> /proc/self/fd) and fakeroot.
		{Name: "proc", Script: `[ -e /proc/self/fd ] && echo proc=1; true`},
		{Name: secBuilder, Script: "id -u " + BuildUser + " >/dev/null 2>&1 && echo builder=1; true"},
	}...)
}

const (
	secUpgrade = "upgrade"
	secBuilder = "builder"
)

// upgradeProbe prints "upgrade=NAME INSTALLED AUR" for each installed package whose AUR version
// (epoch:pkgver-pkgrel of the pkgbase in .SRCINFO at the remote HEAD) is newer by pacman's own
// vercmp, and "unchecked=NAME" when the repository could not be read. It clones as the build user
// into a throwaway directory (the only writes), and nothing is built. Without the build user (not
// created yet: the plan adds it) nothing is checked.
func upgradeProbe(pkgs []Pkg) string {
	var b strings.Builder
	b.WriteString("set --")
	for _, p := range pkgs {
		b.WriteString(" " + shell.Quote(p.Name) + " " + shell.Quote(p.URL))
	}
	b.WriteString(`
id -u ` + BuildUser + ` >/dev/null 2>&1 || set --
as_builder() { setpriv --reuid=` + BuildUser + ` --regid=` + BuildUser + ` --clear-groups env HOME="$t" GIT_TERMINAL_PROMPT=0 "$@"; }
while [ $# -ge 2 ]; do
  n=$1 u=$2; shift 2
  cur=$(pacman -Q -- "$n" 2>/dev/null) || continue
  cur=${cur#* }
  src=""
  t=$(mktemp -d) && chown ` + BuildUser + `: "$t" &&
    as_builder git clone -q --depth 1 --no-checkout -- "$u" "$t/r" >/dev/null 2>&1 &&
    src=$(as_builder git -C "$t/r" show HEAD:.SRCINFO 2>/dev/null)
  rm -rf -- "$t"
  v=$(printf '%s\n' "$src" | awk '$1 == "pkgname" { exit } $1 == "epoch" { e = $3 } $1 == "pkgver" { v = $3 } $1 == "pkgrel" { r = $3 }
    END { if (v != "" && r != "") print (e != "" && e != "0" ? e ":" : "") v "-" r }')
  if [ -z "$v" ]; then echo "unchecked=$n"; continue; fi
  [ "$(vercmp "$cur" "$v")" -lt 0 ] && echo "upgrade=$n $cur $v"
done
true`)
	return b.String()
}

// Upgrades parses the upgrade probe: name -> [installed, AUR] versions, and the names not checked.
func Upgrades(out string) (map[string][2]string, []string) {
	up := map[string][2]string{}
	var unchecked []string
	for line := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(line, "upgrade="); ok {
			if f := strings.Fields(v); len(f) == 3 {
				up[f[0]] = [2]string{f[1], f[2]}
			}
		} else if n, ok := strings.CutPrefix(line, "unchecked="); ok {
			unchecked = append(unchecked, n)
		}
	}
	return up, unchecked
}

// Delta is what the role changes.
type Delta struct {
	// NewBuilder: the build user is to be created (a build needs it, or an upgrade check).
	NewBuilder bool
	Build      []Pkg
	// Upgrade are installed packages to rebuild, with their installed and AUR versions.
	Upgrade []Upgrade
	Mark    []Pkg
	Remove  []string
	Notes   []string
}

// Upgrade is one AUR package to rebuild at a newer version.
type Upgrade struct {
	Pkg
	From, To string
}

// ComputeDelta is the pure delta. declared are the names `packages` declares (never pruned here).
// upgrades are the upgrade probe's newer versions (Upgrades); only consulted when s.Upgrade is set.
func ComputeDelta(f *pacman.Facts, s *Spec, declared []string, upgrades map[string][2]string) *Delta {
	d := &Delta{}
	keep := map[string]bool{}
	for _, n := range declared {
		keep[n] = true
	}
	for _, p := range s.Pkgs {
		keep[p.Name] = true
		ip := f.Pkgs[p.Name]
		switch {
		case ip == nil:
			d.Build = append(d.Build, p)
		case !ip.Explicit:
			d.Mark = append(d.Mark, p)
		}
		if v, ok := upgrades[p.Name]; ok && s.Upgrade && ip != nil {
			d.Upgrade = append(d.Upgrade, Upgrade{Pkg: p, From: v[0], To: v[1]})
		}
	}
	if !s.Prune {
		return d
	}
	remove := map[string]bool{}
	var names []string
	for n, p := range f.Pkgs {
		names = append(names, n)
		if p.Foreign && p.Explicit && !keep[n] {
			remove[n] = true
		}
	}
	slices.Sort(names)
	// Keep what a staying package needs (pacman would refuse), until nothing changes.
	for changed := true; changed; {
		changed = false
		for _, n := range names {
			if remove[n] {
				continue
			}
			for _, dep := range f.Pkgs[n].Deps {
				for c := range remove {
					if c == dep || slices.Contains(f.Pkgs[c].Provides, dep) {
						delete(remove, c)
						changed = true
						d.Notes = append(d.Notes, fmt.Sprintf("foreign package %s is kept although it is not declared: %s depends on it", c, n))
					}
				}
			}
		}
	}
	for _, n := range names {
		if remove[n] {
			d.Remove = append(d.Remove, n)
		}
	}
	slices.Sort(d.Notes)
	return d
}

// BuildPlan turns the delta into steps: one build op per package (the build script clones, resolves
// dependencies, runs makepkg as the build user and installs with pacman -U), a mark, a removal.
func BuildPlan(d *Delta, baseURL string) *engine.RolePlan {
	rp := &engine.RolePlan{Notes: slices.Clone(d.Notes)}
	if d.NewBuilder {
		rp.Add([]engine.Change{{Kind: engine.Add, Subject: "user " + BuildUser, Detail: "system user for AUR builds: no login shell, home " + BuildHome}},
			engine.Exec("useradd", "--system", "--user-group", "--create-home", "--home-dir", BuildHome,
				"--shell", "/usr/sbin/nologin", "--comment", "chaos AUR builds", BuildUser).
				WithUndo(engine.Exec("userdel", "--remove", BuildUser)))
	}
	if len(d.Build)+len(d.Upgrade) > 0 {
		rp.Add([]engine.Change{{Kind: engine.Add, Subject: CacheDir, Detail: "build directory: a fresh subdirectory per build, owned by " + BuildUser}},
			engine.Mkdir(CacheDir, 0o755, "root", "root"))
	}
	for _, p := range d.Build {
		what := "AUR package"
		if p.Helper {
			what = "AUR helper"
		}
		rp.Add([]engine.Change{{Kind: engine.Add, Subject: "package " + p.Name, Detail: what + " built by makepkg as " + BuildUser + " from " + p.URL, Pos: p.Pos}},
			BuildOp(p, baseURL))
	}
	for _, u := range d.Upgrade {
		rp.Add([]engine.Change{{Kind: engine.Modify, Subject: "package " + u.Name, Detail: "AUR upgrade " + u.From + " -> " + u.To, Pos: u.Pos}},
			UpgradeOp(u.Pkg, baseURL))
	}
	if len(d.Mark) > 0 {
		var ch []engine.Change
		var names []string
		for _, p := range d.Mark {
			ch = append(ch, engine.Change{Kind: engine.Modify, Subject: "package " + p.Name, Detail: "installed as a dependency; mark it explicitly installed", Pos: p.Pos})
			names = append(names, p.Name)
		}
		rp.Add(ch, arch.Pacman(append([]string{"-D", "--asexplicit", "--"}, names...)...).
			WithUndo(arch.Pacman(append([]string{"-D", "--asdeps", "--"}, names...)...)))
	}
	if len(d.Remove) > 0 {
		var ch []engine.Change
		for _, n := range d.Remove {
			ch = append(ch, engine.Change{Kind: engine.Del, Subject: "package " + n, Detail: "foreign (AUR) package, explicitly installed, not declared"})
		}
		// Putting an AUR package back means building it again, from whatever the AUR holds now.
		rp.Add(ch, arch.Pacman(append([]string{"-Rn", "--"}, d.Remove...)...).
			CannotUndo("removes AUR packages; a rollback does not build them again"))
	}
	return rp
}

// buildScript builds one AUR package and, first, the AUR packages it depends on, then installs it.
// Arguments: CACHE BASE-URL NAME URL [REBUILD]. It runs as root and drops to the build user
// (setpriv, no supplementary groups) for git and makepkg, in a fresh directory under CACHE that root
// creates and gives to the build user alone (0700), with HOME there, each command in its own PID
// namespace (nothing it started outlives it); pacman runs as root on the files built. The directory
// goes at the end. Dependencies in the sync repositories are installed with
// `pacman -S --asdeps`; others are cloned from BASE-URL/DEP.git and built the same way, recursively,
// and installed --asdeps. Nothing from the arguments is evaluated: they are positional parameters.
const buildScript = `set -eu
cache=$1 base=$2
user=` + BuildUser + `
# Each command of the build user runs in a PID namespace of its own: when it ends, the kernel kills
# whatever it left running (a daemon a PKGBUILD started), so no process of the build changes a
# package file while root installs it. Killing by uid instead would reach the processes of that
# uid outside a chroot target.
as_builder() { unshare --pid --fork --kill-child -- setpriv --reuid="$user" --regid="$user" --clear-groups env HOME="$work" GIT_TERMINAL_PROMPT=0 "$@"; }
work=$(mktemp -d "$cache/build.XXXXXXXXXX")
trap 'rm -rf -- "$work"' EXIT
chown "$user:$user" "$work"
chmod 0700 "$work"
echo "chaos: building as $user (uid $(id -u "$user")) in $work" >&2
visiting=" "
build() {
  local n u reason d deps dep official files
  n=$1 u=$2 reason=$3
  if [ "$n" != "$rebuild" ] && pacman -Qq -- "$n" >/dev/null 2>&1; then
    [ "$reason" = --asexplicit ] && pacman -D --asexplicit --noconfirm -- "$n" >/dev/null
    return 0
  fi
  case $visiting in *" $n "*) echo "chaos: AUR dependency cycle through $n" >&2; exit 1 ;; esac
  visiting="$visiting$n "
  d=$work/$n
  as_builder git clone -q --depth 1 -- "$u" "$d"
  [ -f "$d/.SRCINFO" ] || { echo "chaos: $u has no .SRCINFO: not an AUR package repository" >&2; exit 1; }
  deps=$(awk '/^[ \t]*(make|check)?depends(_[a-z0-9_]+)? = / {sub(/^[^=]*= /, ""); sub(/[<>=:].*/, ""); print}' "$d/.SRCINFO" | sort -u)
  official=""
  for dep in $deps; do
    pacman -T -- "$dep" >/dev/null 2>&1 && continue
    if pacman -Sp --print-format '%n' -- "$dep" >/dev/null 2>&1; then
      official="$official $dep"
    else
      build "$dep" "$base/$dep.git" --asdeps
    fi
  done
  [ -z "$official" ] || pacman -S --needed --asdeps --noconfirm --noprogressbar -- $official
  (cd "$d" && as_builder makepkg --noconfirm --nocheck -f >&2)
  files=$(ls "$d"/"$n"-[0-9]*.pkg.tar.* 2>/dev/null | grep -v '\.sig$' || true)
  [ -n "$files" ] || { echo "chaos: makepkg built no package named $n in $d" >&2; exit 1; }
  pacman -U "$reason" --noconfirm --noprogressbar -- $files
}
rebuild=${5:-}
build "$3" "$4" --asexplicit`

// BuildOp is the op that builds and installs p (see buildScript); its undo removes p.
func BuildOp(p Pkg, baseURL string) engine.Op {
	op := arch.RemoveNew(engine.Exec("sh", "-c", buildScript, "chaos-aur-build", CacheDir, baseURL, p.Name, p.URL))
	op.Label = "build " + p.Name + " from " + p.URL + " (git and makepkg as " + BuildUser + ", pacman -U)"
	op.Packages = []string{p.Name} // the restart phase restarts services that restart on it
	return op
}

// UpgradeOp rebuilds the installed p from its AUR repository and installs the new version (the
// build script with p named to rebuild even though it is installed). No undo: the old package file
// is not kept.
func UpgradeOp(p Pkg, baseURL string) engine.Op {
	op := engine.Exec("sh", "-c", buildScript, "chaos-aur-build", CacheDir, baseURL, p.Name, p.URL, p.Name).
		CannotUndo("replaces the installed version; the old package file is not kept")
	op.Label = "rebuild " + p.Name + " from " + p.URL + " (git and makepkg as " + BuildUser + ", pacman -U)"
	op.Packages = []string{p.Name}
	return op
}

// Plan implements engine.Role.
func (Role) Plan(env *engine.Env, c *chobolo.Chobolo, facts engine.Facts) (*engine.RolePlan, error) {
	s, err := Parse(c)
	if err != nil {
		return nil, err
	}
	raw := map[string]string{}
	for k, v := range facts {
		raw[k] = v.Stdout
	}
	f := pacman.ParseFacts(raw)
	var declared []string
	for _, p := range c.Packages {
		declared = append(declared, p.Name)
		declared = append(declared, p.Overrides[arch.Core]...)
	}
	up, unchecked := Upgrades(facts[secUpgrade].Stdout)
	d := ComputeDelta(f, s, declared, up)
	// The build user is made when a build needs it, or an upgrade check (which clones as that user).
	d.NewBuilder = !strings.Contains(facts[secBuilder].Stdout, "builder=1") &&
		(len(d.Build)+len(d.Upgrade) > 0 || s.Upgrade && len(s.Pkgs) > 0)
	for _, n := range unchecked {
		d.Notes = append(d.Notes, "could not read the AUR version of "+n+" (git fetch of its repository failed, or no .SRCINFO): not upgraded")
	}
	if len(d.Build)+len(d.Upgrade) > 0 && !strings.Contains(facts["proc"].Stdout, "proc=1") {
		return nil, fmt.Errorf("building AUR packages needs /proc in the target (makepkg reads /dev/fd): " +
			"mount it first (arch-chroot does: `mount -t proc proc TARGET/proc`)")
	}
	return BuildPlan(d, s.BaseURL), nil
}
