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

// ExplainMD is the text of `chaos explain aur`.
//
//go:embed explain.md
var ExplainMD string

// Defaults.
const (
	DefaultBaseURL = "https://aur.archlinux.org"
	// CacheDir holds the clones and builds, owned by the build user.
	CacheDir = "/var/cache/chaos/aur"
	// BuildUID is the unprivileged user makepkg and git run as (nobody): makepkg refuses root, and a
	// PKGBUILD is code from the internet.
	BuildUID = "65534"
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
	}...)
}

const secUpgrade = "upgrade"

// upgradeProbe prints "upgrade=NAME INSTALLED AUR" for each installed package whose AUR version
// (epoch:pkgver-pkgrel of the pkgbase in .SRCINFO at the remote HEAD) is newer by pacman's own
// vercmp, and "unchecked=NAME" when the repository could not be read. It fetches as the build user
// into the package's clone in CacheDir (or a throwaway clone when there is none): the only writes
// are there, and nothing is built.
func upgradeProbe(pkgs []Pkg) string {
	var b strings.Builder
	b.WriteString("set -- " + CacheDir)
	for _, p := range pkgs {
		b.WriteString(" " + shell.Quote(p.Name) + " " + shell.Quote(p.URL))
	}
	b.WriteString(`
cache=$1; shift
as_builder() { setpriv --reuid=` + BuildUID + ` --regid=` + BuildUID + ` --clear-groups env HOME=/tmp GIT_TERMINAL_PROMPT=0 "$@"; }
while [ $# -ge 2 ]; do
  n=$1 u=$2; shift 2
  cur=$(pacman -Q -- "$n" 2>/dev/null) || continue
  cur=${cur#* }
  src=""
  if [ -d "$cache/$n/.git" ]; then
    as_builder git -C "$cache/$n" fetch -q --depth 1 -- "$u" HEAD >/dev/null 2>&1 &&
      src=$(as_builder git -C "$cache/$n" show FETCH_HEAD:.SRCINFO 2>/dev/null)
  else
    t=$(mktemp -d) && chown ` + BuildUID + ` "$t" &&
      as_builder git clone -q --depth 1 --no-checkout -- "$u" "$t/r" >/dev/null 2>&1 &&
      src=$(as_builder git -C "$t/r" show HEAD:.SRCINFO 2>/dev/null)
    rm -rf -- "$t"
  fi
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
	Build []Pkg
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

// Compute is the pure delta. declared are the names `packages` declares (never pruned here).
// upgrades are the upgrade probe's newer versions (Upgrades); only consulted when s.Upgrade is set.
func Compute(f *pacman.Facts, s *Spec, declared []string, upgrades map[string][2]string) *Delta {
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
	if len(d.Build)+len(d.Upgrade) > 0 {
		rp.Add([]engine.Change{{Kind: engine.Add, Subject: CacheDir, Detail: "build directory, owned by the unprivileged build user"}},
			engine.Mkdir(CacheDir, 0o755, BuildUID, BuildUID))
	}
	for _, p := range d.Build {
		what := "AUR package"
		if p.Helper {
			what = "AUR helper"
		}
		rp.Add([]engine.Change{{Kind: engine.Add, Subject: "package " + p.Name, Detail: what + " built by makepkg as nobody from " + p.URL, Pos: p.Pos}},
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
		rp.Add(ch, arch.Pacman(append([]string{"-Rn", "--"}, d.Remove...)...))
	}
	return rp
}

// buildScript builds one AUR package and, first, the AUR packages it depends on, then installs it.
// Arguments: CACHE BASE-URL NAME URL. It runs as root and drops to the build user (setpriv) for git
// and makepkg; pacman runs as root. Dependencies in the sync repositories are installed with
// `pacman -S --asdeps`; others are cloned from BASE-URL/DEP.git and built the same way, recursively,
// and installed --asdeps. Nothing from the arguments is evaluated: they are positional parameters.
const buildScript = `set -eu
cache=$1 base=$2
as_builder() { setpriv --reuid=` + BuildUID + ` --regid=` + BuildUID + ` --clear-groups env HOME="$cache" GIT_TERMINAL_PROMPT=0 "$@"; }
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
  d=$cache/$n
  if [ -d "$d/.git" ]; then
    as_builder git -C "$d" fetch -q --depth 1 -- "$u" HEAD
    as_builder git -C "$d" reset -q --hard FETCH_HEAD
    as_builder git -C "$d" clean -q -fdx
  else
    rm -rf -- "$d"
    as_builder git clone -q --depth 1 -- "$u" "$d"
  fi
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
  rm -f "$d"/*.pkg.tar.*
  (cd "$d" && as_builder makepkg --noconfirm --nocheck -f >&2)
  files=$(ls "$d"/"$n"-[0-9]*.pkg.tar.* 2>/dev/null | grep -v '\.sig$' || true)
  [ -n "$files" ] || { echo "chaos: makepkg built no package named $n in $d" >&2; exit 1; }
  pacman -U "$reason" --noconfirm --noprogressbar -- $files
}
rebuild=${5:-}
build "$3" "$4" --asexplicit`

// BuildOp is the op that builds and installs p (see buildScript); its undo removes p.
func BuildOp(p Pkg, baseURL string) engine.Op {
	op := engine.Exec("sh", "-c", buildScript, "chaos-aur-build", CacheDir, baseURL, p.Name, p.URL).
		WithUndo(arch.RemoveInstalled(p.Name))
	op.Label = "build " + p.Name + " from " + p.URL + " (git and makepkg as nobody, pacman -U)"
	op.Packages = []string{p.Name} // the restart phase restarts services that restart on it
	return op
}

// UpgradeOp rebuilds the installed p from its AUR repository and installs the new version (the
// build script with p named to rebuild even though it is installed). No undo: the old package file
// is not kept.
func UpgradeOp(p Pkg, baseURL string) engine.Op {
	op := engine.Exec("sh", "-c", buildScript, "chaos-aur-build", CacheDir, baseURL, p.Name, p.URL, p.Name)
	op.Label = "rebuild " + p.Name + " from " + p.URL + " (git and makepkg as nobody, pacman -U)"
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
	d := Compute(f, s, declared, up)
	for _, n := range unchecked {
		d.Notes = append(d.Notes, "could not read the AUR version of "+n+" (git fetch of its repository failed, or no .SRCINFO): not upgraded")
	}
	if len(d.Build)+len(d.Upgrade) > 0 && !strings.Contains(facts["proc"].Stdout, "proc=1") {
		return nil, fmt.Errorf("building AUR packages needs /proc in the target (makepkg reads /dev/fd): " +
			"mount it first (arch-chroot does: `mount -t proc proc TARGET/proc`)")
	}
	return BuildPlan(d, s.BaseURL), nil
}
