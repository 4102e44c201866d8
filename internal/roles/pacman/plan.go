package pacman

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/cores/arch"
	"github.com/ch-aos-ch/chaos/internal/engine"
)

// BuildPlan turns a delta into steps: one `pacman -D --asexplicit` for declared packages installed
// as dependencies (first: a marked package is no orphan), one `pacman -D --asdeps` for undeclared
// explicit packages a staying package needs, one `pacman -S --needed` transaction for the
// installs, one `pacman -Rn` for the orphans, and one for the removals (the undeclared explicit packages and exactly the dependencies -Rns would take with them, listed, so
// nothing protected can go with them). Never -Rc, never -dd: pacman refuses a removal that breaks a
// dependency, and the delta has already kept what would be refused.
func BuildPlan(d *Delta, dbpath string, locked bool) *engine.RolePlan {
	rp := &engine.RolePlan{Notes: slices.Clone(d.Notes)}
	if locked && (len(d.Install)+len(d.Mark)+len(d.AsDeps)+len(d.Remove)+len(d.Orphans) > 0) {
		rp.Notes = append(rp.Notes, arch.LockNote(dbpath))
	}
	if len(d.Mark) > 0 {
		var ch []engine.Change
		var names []string
		for _, m := range d.Mark {
			detail := "installed as a dependency; mark it explicitly installed"
			if m.Pkg != m.Name {
				detail = "provided by " + m.Pkg + ", installed as a dependency; mark " + m.Pkg + " explicitly installed"
			}
			ch = append(ch, engine.Change{Kind: engine.Modify, Subject: "package " + m.Name, Detail: detail, Pos: m.Pos})
			names = append(names, m.Pkg)
		}
		rp.Add(ch, arch.Pacman(append([]string{"-D", "--asexplicit", "--"}, names...)...).
			WithUndo(arch.Pacman(append([]string{"-D", "--asdeps", "--"}, names...)...)))
	}
	if len(d.AsDeps) > 0 {
		var ch []engine.Change
		var names []string
		for _, a := range d.AsDeps {
			ch = append(ch, engine.Change{Kind: engine.Modify, Subject: "package " + a.Name, Detail: "explicit -> dependency (" + a.Reason + ")"})
			names = append(names, a.Name)
		}
		rp.Add(ch, arch.Pacman(append([]string{"-D", "--asdeps", "--"}, names...)...).
			WithUndo(arch.Pacman(append([]string{"-D", "--asexplicit", "--"}, names...)...)))
	}
	if len(d.Install) > 0 {
		var ch []engine.Change
		var names []string
		for _, w := range d.Install {
			c := engine.Change{Kind: engine.Add, Subject: "package " + w.Name, Pos: w.Pos}
			if !strings.HasPrefix(w.Why, "packages[") {
				c.Detail = w.Why
			}
			ch = append(ch, c)
			names = append(names, w.Name)
		}
		var ops []engine.Op
		if d.Sync {
			ops = append(ops, arch.Sync())
		}
		if extra := len(d.New) - len(names); len(d.New) > 0 && extra > 0 {
			ch[len(ch)-1].Detail = strings.TrimPrefix(ch[len(ch)-1].Detail+fmt.Sprintf("; with %d new dependencies", extra), "; ")
		}
		// The undo removes what the transaction added, whatever the probe foresaw: every package
		// installed since it started (the dependencies it pulled in included; one that was there
		// before stays).
		// No --asexplicit: pacman applies it to the whole transaction, so the dependencies it pulls
		// in would be explicit too (and the next plan would mark them as dependencies); -S makes
		// its targets explicit and the rest dependencies.
		install := arch.RemoveNew(arch.Pacman(append([]string{"-S", "--needed", "--"}, names...)...))
		install.Packages = names // the restart phase restarts services that restart on them
		rp.Add(ch, append(ops, install)...)
	}
	// Orphans go first: nothing staying or removed with the prune depends on one, while an orphan may
	// depend on a package the prune removes (pacman would refuse that removal with the orphan there).
	if len(d.Orphans) > 0 {
		var ch []engine.Change
		var names []string
		for _, r := range d.Orphans {
			ch = append(ch, engine.Change{Kind: engine.Del, Subject: "package " + r.Name, Detail: r.Reason})
			names = append(names, r.Name)
		}
		rp.Add(ch, arch.Pacman(append([]string{"-Rn", "--"}, names...)...).
			WithUndo(arch.Pacman(append([]string{"-S", "--needed", "--asdeps", "--"}, names...)...)))
	}
	if len(d.Remove) > 0 {
		var ch []engine.Change
		var names, expl []string
		for _, r := range d.Remove {
			ch = append(ch, engine.Change{Kind: engine.Del, Subject: "package " + r.Name, Detail: r.Reason})
			names = append(names, r.Name)
			expl = append(expl, r.Name)
		}
		for _, r := range d.RemoveDeps {
			ch = append(ch, engine.Change{Kind: engine.Del, Subject: "package " + r.Name, Detail: r.Reason})
			names = append(names, r.Name)
		}
		undo := arch.Pacman(append([]string{"-S", "--needed", "--"}, expl...)...)
		ops := []engine.Op{arch.Pacman(append([]string{"-Rn", "--"}, names...)...).WithUndo(undo)}
		rp.Add(ch, ops...)
	}
	return rp
}

// guardLarge returns the large-prune guard sentence, or "".
func guardLarge(d *Delta) string {
	if n := len(d.Remove); n > 3 && 2*n > d.Explicit {
		return fmt.Sprintf("the prune would remove %d of the %d explicitly installed native packages", n, d.Explicit)
	}
	return ""
}
