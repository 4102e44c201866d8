package services

import (
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/pkgmap"
)

// Triggers is what the restart phase needs to know about the units of this plan (pure): for every
// declared service, its state after the role's own steps and what restarts or reloads it
// (restart_on, reload_on, and implicitly the package of the same name unless restart_on_upgrade is
// false); for a unit whose unit file or drop-in is declared under files, its state (the engine
// restarts it when that file changes).
func Triggers(c *chobolo.Chobolo, core string, wants []Want, d *Delta, f *Facts, t Target) []engine.UnitTriggers {
	acts := map[string]Action{}
	for _, a := range d.Actions {
		acts[a.Unit] = a
	}
	state := func(unit string) string {
		if !t.Live {
			return ""
		}
		a, ok := acts[unit]
		switch {
		case ok && a.Stop:
			return engine.UnitStopped
		case ok && a.Start && a.Custom:
			return engine.UnitStartedLast
		case ok && a.Start:
			return engine.UnitStarted
		case f.Running(a.runUnit()) || !ok && f.Running(unit):
			return engine.UnitRunning
		}
		return engine.UnitStopped
	}
	// subjects resolves a restart_on/reload_on entry (validated by the loader) to subjects
	subjects := func(name string) []string {
		if strings.HasPrefix(name, "/") {
			return []string{"file:" + name}
		}
		var out []string
		for _, p := range c.Packages {
			if p.Name == name {
				out = append(out, packageSubjects(p, core)...)
			}
		}
		if u, ok := f.Resolve(UnitName(name)); ok {
			out = append(out, "unit:"+u)
		} else if slices.ContainsFunc(c.Services, func(s chobolo.Service) bool { return UnitName(s.Name) == UnitName(name) }) {
			out = append(out, "unit:"+UnitName(name))
		}
		return out
	}
	var out []engine.UnitTriggers
	seen := map[string]bool{}
	for _, w := range wants {
		if w.Index < 0 || isTemplate(w.Unit) {
			continue
		}
		s := c.Services[w.Index]
		u := engine.UnitTriggers{Unit: w.Unit, State: state(w.Unit), CanReload: f.CanReload[w.Unit], Check: s.Check}
		if w.Declared != "" {
			u.Aliases = []string{w.Declared}
		}
		for _, a := range f.After[w.Unit] {
			if slices.ContainsFunc(wants, func(o Want) bool { return o.Unit == a }) {
				u.After = append(u.After, a) // only the order among declared units matters
			}
		}
		for _, n := range s.RestartOn {
			u.RestartOn = append(u.RestartOn, subjects(n)...)
		}
		for _, n := range s.ReloadOn {
			u.ReloadOn = append(u.ReloadOn, subjects(n)...)
		}
		if s.WantRestartOnUpgrade() && w.Running {
			base := strings.TrimSuffix(w.Unit, ".service")
			u.RestartOn = append(u.RestartOn, "package:"+base)
			for _, p := range c.Packages {
				if p.Name == base {
					u.RestartOn = append(u.RestartOn, packageSubjects(p, core)...)
				}
			}
		}
		u.RestartOn, u.ReloadOn = dedup(u.RestartOn), dedup(u.ReloadOn)
		seen[w.Unit] = true
		out = append(out, u)
	}
	for _, file := range c.Files {
		if unit, ok := chobolo.UnitOfPath(file.Path); ok && !seen[unit] && !isTemplate(unit) {
			seen[unit] = true
			out = append(out, engine.UnitTriggers{Unit: unit, State: state(unit)})
		}
	}
	return out
}

// packageSubjects are the restart-phase subjects of a declared package: its names on core.
func packageSubjects(p chobolo.Package, core string) []string {
	names, _, err := pkgmap.Entry(p, core, pkgmap.Resolve)
	if err != nil || len(names) == 0 {
		names = []string{p.Name}
	}
	var out []string
	for _, n := range names {
		out = append(out, "package:"+n)
	}
	return out
}

func dedup(s []string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
