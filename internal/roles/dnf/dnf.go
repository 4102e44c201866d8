// Package dnf is the Fedora/RHEL `packages` role (Ch-iron): declared packages and @groups are
// installed with one dnf transaction, declared packages installed as dependencies are marked
// user-installed, and (when `packages` is declared) user-installed packages that are not declared
// are removed in one dnf transaction, except the base set, the protected set (no lockout) and
// whatever a package that stays requires. Groups chaos installed leave with their declaration.
package dnf

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/fedora"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/pkggraph"
	"github.com/ch-aos-ch/chaos/internal/pkgmap"
)

// explainMD is the Fedora text of `chaos explain packages` (topic packages-fedora).
//
//go:embed explain.md
var explainMD string

// GroupLedger is the ledger domain of the comps groups chaos installed.
const GroupLedger = "packages.dnf.groups"

// Role is the Fedora packages role.
type Role struct {
	// Resolve maps Ch-obolo packages to Fedora names (the package map); nil uses names as-is.
	Resolve Resolver
}

// New returns the role with the package map as resolver.
func New() engine.Role { return &Role{Resolve: pkgmap.Resolve} }

// Meta implements engine.Role.
func (r *Role) Meta() engine.Meta {
	return engine.Meta{
		Name:    "packages",
		Aliases: []string{"pkgs", "allPkgs"},
		Keys:    []string{"packages", "baseOverride", "users"},
		Cores:   []string{fedora.Core},
		Summary: "dnf packages and groups: install what is declared, prune undeclared user-installed packages",
		Explain: explainMD,
		Order:   20,
	}
}

// Probe implements engine.Role.
func (r *Role) Probe(env *engine.Env, c *chobolo.Chobolo) []engine.ProbeSection {
	// A dry run reads copies of rpm's and dnf's databases (fedora.ReadOnlyScript).
	ro := func(script string) string { return fedora.ProbeFor(script, env.ReadOnly) }
	secs := []engine.ProbeSection{
		{Name: secRpm, Script: ro(rpmProbe), Scratch: env.ReadOnly},
		{Name: secReason, Script: ro(reasonProbe), Scratch: env.ReadOnly},
		{Name: secHost, Script: ro(hostProbe), Scratch: env.ReadOnly},
	}
	want, _, err := r.desired(env, c)
	if err != nil {
		return secs // Plan reports the error
	}
	var pkgs []string
	groups := false
	for _, w := range want {
		if fedora.IsGroup(w.Name) {
			groups = true
		} else {
			pkgs = append(pkgs, w.Name)
		}
	}
	// Installed groups cost a dnf run: only when groups are declared or chaos installed some (the
	// ledger is not known yet when probes are built, so the fragment reads it).
	script := ro(groupsProbe)
	if !groups {
		script = "[ -n \"$(" + engine.LedgerItems(GroupLedger) + ")\" ] || exit 0\n" + script
	}
	secs = append(secs, engine.ProbeSection{Name: secGroups, Script: script, Scratch: env.ReadOnly})
	if len(pkgs) > 0 {
		secs = append(secs, engine.ProbeSection{Name: secNew, Script: ro(newProbe(pkgs)), Scratch: env.ReadOnly})
	}
	return secs
}

// desired is what this run installs and keeps: the Ch-obolo's desired set plus what the other
// roles need (env.Needs), or only the latter when the role runs just for them (env.NeedsOnly).
func (r *Role) desired(env *engine.Env, c *chobolo.Chobolo) ([]desired, []string, error) {
	return pkggraph.RunWants(env, fedora.Core, r.Resolve, fedora.ValidName, func() ([]desired, []string, error) { return Desired(c, r.Resolve) })
}

func parseEngineFacts(facts engine.Facts) (*Facts, error) {
	st, ok := facts[secRpm]
	if !ok {
		return nil, fmt.Errorf("probe: no rpm database")
	}
	if st.Code != 0 {
		return nil, fmt.Errorf("rpm -qa failed (exit %d): is this an rpm system? %s", st.Code, strings.TrimSpace(st.Stdout))
	}
	raw := map[string]string{}
	for k, v := range facts {
		raw[k] = v.Stdout
	}
	f := ParseFacts(raw)
	switch {
	case f.NoRpm:
		return nil, fmt.Errorf("rpm is not installed on the target: the Fedora core needs rpm and dnf")
	case f.NoDnf:
		return nil, fmt.Errorf("dnf is not installed on the target: the Fedora core needs dnf")
	}
	return f, nil
}

// Plan implements engine.Role.
func (r *Role) Plan(env *engine.Env, c *chobolo.Chobolo, facts engine.Facts) (*engine.RolePlan, error) {
	want, notes, err := r.desired(env, c)
	if err != nil {
		return nil, err
	}
	base, overridden, err := BasePatterns(c, r.Resolve)
	if err != nil {
		return nil, err
	}
	f, err := parseEngineFacts(facts)
	if err != nil {
		return nil, err
	}
	want = pkggraph.DropMissing(want, func(n string) bool { return f.Pkgs[n] != nil })
	in := Input{Want: want, Prune: c.Has("packages") && !env.NeedsOnly, Base: base, BaseOverridden: overridden, Chroot: env.Chroot,
		GroupLedger: env.Ledger[GroupLedger],
		SudoUsed:    slices.ContainsFunc(c.Users, func(u chobolo.User) bool { return u.Sudo && u.State != "absent" })}
	d := ComputeDelta(f, in)
	d.Notes = append(notes, d.Notes...)
	// A package no repository has fails here, with its position, before any op runs.
	f.RepoChanged = env.Refreshing
	errs, warns := pkggraph.CheckAvailable(d.Install, Availability(f, d.Install), "repos.dnf")
	if len(errs) > 0 {
		return nil, chobolo.Errors(errs)
	}
	rp := BuildPlan(d, f.Tool)
	rp.Warnings = warns
	for _, w := range d.Install {
		rp.Installs = append(rp.Installs, w.Name)
	}
	rp.Guard = guardLarge(d)
	if len(d.Groups) > 0 || len(in.GroupLedger) > 0 {
		rp.Ledger = map[string][]string{GroupLedger: d.Groups}
	}
	return rp, nil
}

// Capture implements engine.Capturer: the user-installed packages outside the base set, so that a
// first apply of the captured Ch-obolo changes nothing.
func (r *Role) Capture(env *engine.Env, facts engine.Facts, into *chobolo.Chobolo) error {
	f, err := parseEngineFacts(facts)
	if err != nil {
		return err
	}
	pkggraph.Capture(into, CaptureNames(f, env.Chroot), fedora.Core, r.Resolve)
	return nil
}

// CaptureNames lists the packages a Ch-obolo must declare so that its first apply removes nothing.
func CaptureNames(f *Facts, chroot bool) []string {
	d := ComputeDelta(f, Input{Prune: true, Base: fedora.BaseSet, Chroot: chroot})
	out := slices.Clone(d.Remove)
	for _, dep := range d.Deps { // kept only because a candidate needs it: declare it too
		out = append(out, dep.Name)
	}
	slices.Sort(out)
	return out
}
