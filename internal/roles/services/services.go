// Package services is the `services` role: systemd units enabled at boot and running, full-state
// over enabled services (undeclared ones are disabled, except a protected set that keeps the host
// reachable and bootable).
package services

import (
	_ "embed"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/pkggraph"
	"github.com/ch-aos-ch/chaos/internal/shell"
)

// explainMD is the `chaos explain services` text.
//
//go:embed explain.md
var explainMD string

// Role is the services role. It works on every systemd core.
type Role struct{}

// New returns the services role.
func New() engine.Role { return Role{} }

// Meta implements engine.Role.
func (Role) Meta() engine.Meta {
	return engine.Meta{
		Name:    "services",
		Keys:    []string{"services"},
		Summary: "systemd units enabled at boot and running; undeclared enabled services are disabled",
		Explain: explainMD,
		Order:   50,
	}
}

// Probe implements engine.Role: unit files with their state, alias links and Alias= lines, and on a
// running systemd the active units and the service this session runs in.
func (Role) Probe(env *engine.Env, c *chobolo.Chobolo) []engine.ProbeSection {
	units := probeUnits
	if env.ReadOnly {
		units = probeUnitsReadOnly
	}
	secs := []engine.ProbeSection{{Name: "units", Script: units}, {Name: "links", Script: probeLinks}}
	if !env.Chroot {
		var declared []string
		for _, s := range c.Services {
			if !s.Dense && chobolo.ValidUnitName(s.Name) == nil {
				declared = append(declared, UnitName(s.Name))
			}
		}
		secs = append(secs, engine.ProbeSection{Name: "active", Script: probeActive(declared)})
	}
	if p, ok := probeInstalled(env, c); ok {
		secs = append(secs, p)
	}
	return secs
}

// probeInstalled prints the declared packages named like a declared service that are installed: a
// unit such a package does not ship will not come with it. Only names both lists share are asked.
func probeInstalled(env *engine.Env, c *chobolo.Chobolo) (engine.ProbeSection, bool) {
	inst := pkggraph.InstalledFunc(env.Core)
	if inst == "" {
		return engine.ProbeSection{}, false
	}
	pkgs := declaredPackages(env, c)
	var b strings.Builder
	seen := map[string]bool{}
	for _, s := range c.Services {
		if s.Dense || chobolo.ValidUnitName(s.Name) != nil {
			continue
		}
		base := pendingBase(UnitName(s.Name))
		if slices.Contains(pkgs, base) && !seen[base] {
			seen[base] = true
			fmt.Fprintf(&b, "inst %[1]s && printf '%%s\\n' %[1]s\n", shell.Quote(base))
		}
	}
	if b.Len() == 0 {
		return engine.ProbeSection{}, false
	}
	return engine.ProbeSection{Name: "installed", Script: inst + "\n" + b.String() + "true\n"}, true
}

func declaredPackages(env *engine.Env, c *chobolo.Chobolo) []string {
	var out []string
	for _, p := range c.Packages {
		out = append(out, p.Name)
		if o, ok := p.Overrides[env.Core]; ok {
			out = append(out, o...)
		}
	}
	return out
}

func factsOf(facts engine.Facts) (*Facts, error) {
	u := facts["units"]
	if u.Code != 0 {
		return nil, fmt.Errorf("cannot list unit files (systemctl --root=/ list-unit-files exited %d)", u.Code)
	}
	f := ParseFacts(u.Stdout, facts["links"].Stdout, facts["active"].Stdout)
	if f.NoSystemctl {
		return nil, fmt.Errorf("systemctl is not installed on the target: the services role needs systemd")
	}
	f.Installed = map[string]bool{}
	for _, n := range strings.Fields(facts["installed"].Stdout) {
		f.Installed[n] = true
	}
	return &f, nil
}

// targetOf derives what the delta needs from the environment and the Ch-obolo.
func targetOf(env *engine.Env, c *chobolo.Chobolo, f *Facts) Target {
	t := Target{Live: env.Systemd && !env.Chroot && f.Active != nil, Chroot: env.Chroot,
		Packages: declaredPackages(env, c), Installed: f.Installed, UnitFiles: map[string]bool{}}
	for _, file := range c.Files {
		if u, ok := chobolo.UnitOfPath(file.Path); ok && path.Base(file.Path) == u && (file.State == "" || file.State == "present") {
			t.UnitFiles[u] = true
		}
	}
	return t
}

// Plan implements engine.Role.
func (Role) Plan(env *engine.Env, c *chobolo.Chobolo, facts engine.Facts) (*engine.RolePlan, error) {
	f, err := factsOf(facts)
	if err != nil {
		return nil, err
	}
	return planOf(env, c, f)
}

// planOf is the role's plan from facts, with the units the restart phase needs to know.
func planOf(env *engine.Env, c *chobolo.Chobolo, f *Facts) (*engine.RolePlan, error) {
	d, t, wants, err := deltaOf(env, c, f)
	if err != nil {
		return nil, err
	}
	rp := BuildPlan(d, t.Live)
	rp.Units = Triggers(c, env.Core, wants, d, f, t)
	return rp, nil
}

func deltaOf(env *engine.Env, c *chobolo.Chobolo, f *Facts) (*Delta, Target, []Want, error) {
	t := targetOf(env, c, f)
	wants, err := Desired(c.Services, f, t, func(sub string) chobolo.Pos { return c.Pos("services" + sub) })
	if err != nil {
		return nil, t, nil, err
	}
	d, err := ComputeDelta(wants, f, t, c.Has("services"))
	return d, t, wants, err
}

// SettleAfter implements engine.Settler: the packages roles (apt, pacman, dnf) and the AUR role
// install packages whose maintainer scripts or presets may enable units (Debian's postinst runs
// `deb-systemd-helper enable`; Fedora's %post runs `systemctl preset`).
func (Role) SettleAfter() ([]string, string) {
	return []string{engine.PackagesRole, "aur"}, "packages installed by this plan may enable units"
}

// Settle implements engine.Settler: the plan from the units as they are after the package roles ran.
// So a unit a package enabled in this run and that is not declared is disabled (and stopped on a live
// host) in the same run, and a declared unit a package already enabled is left alone. It refuses to
// disable a unit that was enabled when the plan was approved and that the approved plan kept.
func (Role) Settle(env *engine.Env, c *chobolo.Chobolo, approved, now engine.Facts) (*engine.RolePlan, error) {
	was, err := factsOf(approved)
	if err != nil {
		return nil, err
	}
	f, err := factsOf(now)
	if err != nil {
		return nil, err
	}
	before, _, _, err := deltaOf(env, c, was)
	if err != nil {
		return nil, err
	}
	d, t, wants, err := deltaOf(env, c, f)
	if err != nil {
		return nil, err
	}
	if err := SettlePrunes(d, before, was); err != nil {
		return nil, err
	}
	rp := BuildPlan(d, t.Live)
	rp.Units = Triggers(c, env.Core, wants, d, f, t)
	return rp, nil
}

// SettlePrunes checks the prunes of d, a delta computed after earlier roles ran, against the
// approved delta and the facts it came from (was): a prune of a unit that was not enabled then is
// marked ThisRun; one of a unit that was enabled and that the approved delta did not prune is an
// error (it was kept then, so disabling it now was never approved).
func SettlePrunes(d, approved *Delta, was *Facts) error {
	pruned := map[string]bool{}
	for _, a := range approved.Actions {
		if a.Prune {
			pruned[a.Unit] = true
		}
	}
	enabled := was.enabledServices()
	for i, a := range d.Actions {
		switch {
		case !a.Prune || pruned[a.Unit]:
		case enabled[a.Unit]:
			return fmt.Errorf("would now disable %s, which was enabled when the plan was approved and kept by it: "+
				"refusing to run what was not approved (apply again to see the new plan)", a.Unit)
		default:
			d.Actions[i].ThisRun = true
		}
	}
	return nil
}

// Capture implements engine.Capturer: every enabled, non-protected service (running as found on a
// live host), so that applying the captured Ch-obolo changes nothing.
func (Role) Capture(env *engine.Env, facts engine.Facts, into *chobolo.Chobolo) error {
	f, err := factsOf(facts)
	if err != nil {
		return err
	}
	t := targetOf(env, &chobolo.Chobolo{}, f)
	d, err := ComputeDelta(nil, f, t, true)
	if err != nil {
		return err
	}
	no := false
	for _, a := range d.Actions {
		if !a.Prune { // a protected unit a prune would reach is enabled again: it is not captured
			continue
		}
		s := chobolo.Service{Name: a.Unit}
		if t.Live && !f.Running(a.Unit) {
			s.Running = &no
		}
		into.Services = append(into.Services, s)
	}
	slices.SortFunc(into.Services, func(a, b chobolo.Service) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	into.SetKey("services", chobolo.Pos{})
	return nil
}
