// Package pacman is the Arch Linux `packages` role (Ch-aronte): declared packages (plus the base set,
// login shells, boot loader and file system tools) are installed with one `pacman -S --needed
// --asexplicit` transaction, declared packages installed as dependencies are marked explicit, and
// (when `packages` is declared) explicit native packages that are not declared are removed, except
// the base set, the essential and protected packages, and anything a staying package depends on.
// Dependencies nothing needs are removed with `prune_orphans: true`.
package pacman

import (
	_ "embed"
	"fmt"
	"slices"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/arch"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/pkggraph"
	"github.com/ch-aos-ch/chaos/internal/pkgmap"
	"go.yaml.in/yaml/v3"
)

// explainMD is the Arch section of `chaos explain packages`.
//
//go:embed explain.md
var explainMD string

// Role is the Arch packages role.
type Role struct {
	// Resolve maps Ch-obolo packages to Arch names (the package map); nil uses names as-is.
	Resolve Resolver
}

// New returns the role with the package map as resolver.
func New() engine.Role { return &Role{Resolve: pkgmap.Resolve} }

// Meta implements engine.Role.
func (r *Role) Meta() engine.Meta {
	return engine.Meta{
		Name:    "packages",
		Aliases: []string{"pkgs", "allPkgs", "native_packages", "natPkgs"},
		Keys:    []string{"packages", "baseOverride", "users", "bootloader", "partitioning", "prune_orphans"},
		Cores:   []string{arch.Core},
		Summary: "pacman packages: install what is declared, prune undeclared explicit native packages",
		Explain: explainMD,
		Order:   20,
	}
}

// PruneOrphans reads the top-level `prune_orphans` (default false).
func PruneOrphans(c *chobolo.Chobolo) (bool, error) {
	n := c.Extra["prune_orphans"]
	if n == nil {
		return false, nil
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		return false, fmt.Errorf("%s: prune_orphans: expected true or false", c.NodePos(n))
	}
	return b, nil
}

// Probe implements engine.Role.
func (r *Role) Probe(env *engine.Env, c *chobolo.Chobolo) []engine.ProbeSection {
	secs := []engine.ProbeSection{
		{Name: secLocal, Script: localProbe},
		{Name: secForeign, Script: ForeignProbeFor(c)},
		{Name: secHost, Script: hostProbe},
	}
	// What missing packages would pull in. An invalid Ch-obolo is reported by Plan; the probe then
	// just skips this section.
	if want, _, err := r.desired(env, c, true); err == nil && len(want) > 0 {
		names := make([]string, len(want))
		for i, w := range want {
			names[i] = w.Name
		}
		secs = append(secs, engine.ProbeSection{Name: secNew, Script: newProbe(names)})
	}
	return secs
}

// desired is what this run installs and keeps: the Ch-obolo's desired set plus what the other
// roles need (env.Needs: sudo for `sudo: true`, ...), or only the latter when the role runs just
// for them (env.NeedsOnly).
func (r *Role) desired(env *engine.Env, c *chobolo.Chobolo, uefi bool) ([]desired, []string, error) {
	return pkggraph.RunWants(env, arch.Core, r.Resolve, arch.ValidPackage, func() ([]desired, []string, error) { return Desired(c, r.Resolve, uefi) })
}

func parseEngineFacts(facts engine.Facts) (*Facts, error) {
	l, ok := facts[secLocal]
	if !ok {
		return nil, fmt.Errorf("probe: no pacman database listing")
	}
	if l.Code != 0 {
		return nil, fmt.Errorf("reading pacman's database failed (exit %d): is this an Arch system? %s", l.Code, l.Stdout)
	}
	raw := map[string]string{}
	for k, v := range facts {
		raw[k] = v.Stdout
	}
	return ParseFacts(raw), nil
}

// Plan implements engine.Role.
func (r *Role) Plan(env *engine.Env, c *chobolo.Chobolo, facts engine.Facts) (*engine.RolePlan, error) {
	f, err := parseEngineFacts(facts)
	if err != nil {
		return nil, err
	}
	want, notes, err := r.desired(env, c, f.UEFI)
	if err != nil {
		return nil, err
	}
	want = pkggraph.DropMissing(want, func(n string) bool { return f.Pkgs[n] != nil })
	base, _, err := BasePackages(c, r.Resolve)
	if err != nil {
		return nil, err
	}
	orphans, err := PruneOrphans(c)
	if err != nil {
		return nil, err
	}
	in := Input{Want: want, Prune: c.Has("packages") && !env.NeedsOnly, PruneOrphans: orphans && !env.NeedsOnly, Base: base, Chroot: env.Chroot,
		SudoUsed: slices.ContainsFunc(c.Users, func(u chobolo.User) bool { return u.Sudo && u.State != "absent" })}
	d := ComputeDelta(f, in)
	d.Notes = append(notes, d.Notes...)
	// A package no repository has fails here, with its position, before any op runs.
	f.Avail.Changed = env.Refreshing
	errs, warns := pkggraph.CheckAvailable(d.Install, &f.Avail, "repos.third_party")
	if len(errs) > 0 {
		return nil, chobolo.Errors(errs)
	}
	rp := BuildPlan(d, f.DBPath, f.Locked)
	rp.Guard = guardLarge(d)
	rp.Warnings = warns
	for _, w := range d.Install {
		rp.Installs = append(rp.Installs, w.Name)
	}
	return rp, nil
}

// Capture implements engine.Capturer: the explicit native packages, so that a first apply of the
// captured Ch-obolo removes nothing. The base set is captured as `baseOverride` (its installed
// members), so that the first apply installs nothing either.
func (r *Role) Capture(env *engine.Env, facts engine.Facts, into *chobolo.Chobolo) error {
	f, err := parseEngineFacts(facts)
	if err != nil {
		return err
	}
	base := arch.NewMatcher(arch.BaseSet)
	var names, rest []string
	for n, p := range f.Pkgs {
		if p.Explicit && !p.Foreign {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		if base.Match(n) {
			into.BaseOverride = append(into.BaseOverride, chobolo.Package{Name: n, Overrides: map[string][]string{arch.Core: {n}}})
			continue
		}
		rest = append(rest, n)
	}
	pkggraph.Capture(into, rest, arch.Core, r.Resolve)
	if len(into.BaseOverride) > 0 {
		into.SetKey("baseOverride", chobolo.Pos{})
	}
	return nil
}
