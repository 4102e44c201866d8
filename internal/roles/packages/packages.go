// Package packages is the Debian/Ubuntu `packages` role: declared packages are installed with apt in one
// transaction, and (when `packages` is declared) manually installed packages that are not declared are
// removed, except the base set, Essential and required/important packages, the protected set (no
// lockout) and whatever a kept package depends on.
package packages

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/debian"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/pkggraph"
)

// explainMD is the text of `chaos explain packages`.
//
//go:embed explain.md
var explainMD string

// Role is the Debian packages role.
type Role struct {
	// Resolve maps Ch-obolo packages to Debian names (the package map); nil uses names as-is.
	Resolve Resolver
}

// New returns the role with the package map as resolver.
func New() engine.Role { return &Role{Resolve: defaultResolver} }

// Meta implements engine.Role.
func (r *Role) Meta() engine.Meta {
	return engine.Meta{
		Name:    "packages",
		Aliases: []string{"pkgs", "allPkgs"},
		Keys:    []string{"packages", "baseOverride", "users"},
		Cores:   []string{debian.Core},
		Summary: "apt packages: install what is declared, prune undeclared manually installed packages",
		Explain: explainMD,
		Order:   20,
	}
}

// Probe implements engine.Role.
func (r *Role) Probe(env *engine.Env, c *chobolo.Chobolo) []engine.ProbeSection {
	secs := []engine.ProbeSection{
		{Name: secStatus, Script: statusProbe},
		{Name: secAuto, Script: autoProbe},
		{Name: secHost, Script: hostProbe},
	}
	// Whether apt has the missing packages, and what they would pull in, so the prune keeps it. An
	// invalid Ch-obolo is reported by Plan; the probe then just skips this section.
	if want, _, err := r.desired(env, c); err == nil && len(want) > 0 {
		names := make([]string, len(want))
		for i, w := range want {
			names[i] = w.Name
		}
		secs = append(secs, engine.ProbeSection{Name: secMissing, Script: missingProbe(names, prunes(env, c))})
	}
	return secs
}

// Plan implements engine.Role.
func (r *Role) Plan(env *engine.Env, c *chobolo.Chobolo, facts engine.Facts) (*engine.RolePlan, error) {
	f, err := parseEngineFacts(facts)
	if err != nil {
		return nil, err
	}
	return r.PlanFacts(env, c, f)
}

// PlanFacts is Plan from parsed facts: the pure delta and plan.
func (r *Role) PlanFacts(env *engine.Env, c *chobolo.Chobolo, f *Facts) (*engine.RolePlan, error) {
	want, notes, err := r.desired(env, c)
	if err != nil {
		return nil, err
	}
	want = pkggraph.DropMissing(want, func(n string) bool { return f.Pkgs[n] != nil && f.Pkgs[n].Installed })
	base, overridden, err := BasePatterns(c, r.Resolve)
	if err != nil {
		return nil, err
	}
	in := Input{Want: want, Prune: prunes(env, c), Base: base, BaseOverridden: overridden, Chroot: env.Chroot,
		SudoUsed: slices.ContainsFunc(c.Users, func(u chobolo.User) bool { return u.Sudo && u.State != "absent" })}
	d := ComputeDelta(f, in)
	d.Notes = append(notes, d.Notes...)
	pin := PlanInput{Chroot: env.Chroot, PolicyRC: f.PolicyRC}
	for _, w := range d.Install {
		if p := f.Pkgs[strings.SplitN(w.Name, ":", 2)[0]]; p != nil && !p.Installed && len(p.Status) >= 2 && p.Status[1] == 'c' {
			pin.HadConfig = append(pin.HadConfig, w.Name)
		}
	}
	// A package no repository has fails here, with its position, before any op runs (apt would only
	// fail at apply, after a long command line).
	f.Avail.Changed = env.Refreshing
	errs, warns := pkggraph.CheckAvailable(d.Install, &f.Avail, "repos.apt")
	if len(errs) > 0 {
		return nil, chobolo.Errors(errs)
	}
	rp := BuildPlan(d, pin)
	rp.Guard = guardLarge(d)
	rp.Warnings = append(rp.Warnings, warns...)
	for _, w := range d.Install {
		rp.Installs = append(rp.Installs, w.Name)
	}
	return rp, nil
}

// desired is what this run installs and keeps: the Ch-obolo's desired set plus what the other
// roles need (env.Needs), or only the latter when the role runs just for them (env.NeedsOnly).
func (r *Role) desired(env *engine.Env, c *chobolo.Chobolo) ([]desired, []string, error) {
	return pkggraph.RunWants(env, debian.Core, r.Resolve, debian.ValidPackage, func() ([]desired, []string, error) { return Desired(c, r.Resolve) })
}

// prunes reports whether the run prunes: `packages` is declared and the role was selected for it.
func prunes(env *engine.Env, c *chobolo.Chobolo) bool { return c.Has("packages") && !env.NeedsOnly }

func parseEngineFacts(facts engine.Facts) (*Facts, error) {
	st, ok := facts[secStatus]
	if !ok {
		return nil, fmt.Errorf("probe: no dpkg status")
	}
	if st.Code != 0 {
		return nil, fmt.Errorf("dpkg-query failed (exit %d): is this a Debian system? %s", st.Code, strings.TrimSpace(st.Stdout))
	}
	raw := map[string]string{}
	for k, v := range facts {
		raw[k] = v.Stdout
	}
	return ParseFacts(raw)
}

// Capture implements engine.Capturer: the manually installed packages outside the base set, so that a
// first apply of the captured Ch-obolo changes nothing.
func (r *Role) Capture(env *engine.Env, facts engine.Facts, into *chobolo.Chobolo) error {
	f, err := parseEngineFacts(facts)
	if err != nil {
		return err
	}
	pkggraph.Capture(into, CaptureNames(f, env.Chroot), debian.Core, r.Resolve)
	return nil
}

// CaptureNames lists the packages a Ch-obolo must declare so that its first apply removes nothing:
// exactly what the prune would remove if nothing were declared.
func CaptureNames(f *Facts, chroot bool) []string {
	return ComputeDelta(f, Input{Prune: true, Base: debian.BaseSet, Chroot: chroot}).Remove
}
