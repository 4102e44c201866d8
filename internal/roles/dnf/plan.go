package dnf

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/cores/fedora"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/shell"
)

// GuardOp returns the op that checks a removal transaction right before it runs: `rpm -e --test` of
// every package the plan does not need (the removals and the dependencies nothing that stays
// requires) fails when a package that stays requires one of them, i.e. when dnf would take a
// declared, base-set, protected or otherwise kept package with it. The plan's own dependency walk
// should make this never fire; it is the backstop that lets rpm, not chaos's reading of the
// dependencies, have the last word.
func GuardOp(unneeded []string) engine.Op {
	op := engine.Exec(append([]string{"rpm", "-e", "--test", "--allmatches", "--"}, unneeded...)...)
	op.Label = "check: rpm -e --test " + shell.Join(unneeded) + " (nothing that stays requires what goes)"
	return op
}

// BuildPlan turns a delta into steps for the host's dnf: one `mark install` (dnf5: `mark user`) for
// declared packages installed as dependencies (first, so that the removal cannot take them as
// unneeded), one `mark remove` (dnf5: `mark dependency`) for undeclared user-installed packages a
// declared one requires, one dnf transaction for the installs (packages and @groups), and one for the removals
// (packages and the groups chaos installed), guarded by GuardOp.
func BuildPlan(d *Delta, dnf fedora.Tool) *engine.RolePlan {
	rp := &engine.RolePlan{Notes: slices.Clone(d.Notes)}
	if len(d.Mark) > 0 {
		var ch []engine.Change
		var names []string
		for _, m := range d.Mark {
			detail := "installed as " + reasonText(m.Reason) + "; mark it user-installed"
			if m.Pkg != m.Name {
				detail = "provided by " + m.Pkg + ", installed as " + reasonText(m.Reason) + "; mark " + m.Pkg + " user-installed"
			}
			ch = append(ch, engine.Change{Kind: engine.Modify, Subject: "package " + m.Name, Detail: detail, Pos: m.Pos})
			names = append(names, m.Pkg)
		}
		rp.Add(ch, dnf.Op(append(dnf.MarkUser(), names...)...).
			WithUndo(dnf.Op(append(dnf.MarkDependency(), names...)...)))
	}
	if len(d.Deps) > 0 {
		var ch []engine.Change
		var names []string
		for _, dep := range d.Deps {
			ch = append(ch, engine.Change{Kind: engine.Modify, Subject: "package " + dep.Name, Detail: "user-installed -> dependency (" + dep.Why + ")"})
			names = append(names, dep.Name)
		}
		rp.Add(ch, dnf.Op(append(dnf.MarkDependency(), names...)...).
			WithUndo(dnf.Op(append(dnf.MarkUser(), names...)...)))
	}
	if len(d.Install) > 0 {
		var ch []engine.Change
		var names []string
		for _, w := range d.Install {
			subject := "package " + w.Name
			if fedora.IsGroup(w.Name) {
				subject = "group " + w.Name
			}
			c := engine.Change{Kind: engine.Add, Subject: subject, Pos: w.Pos}
			if !strings.HasPrefix(w.Why, "packages[") {
				c.Detail = w.Why
			}
			ch = append(ch, c)
			names = append(names, w.Name)
		}
		install := dnf.Op(dnf.Names([]string{"install"}, names...)...).
			WithUndo(dnf.Op(dnf.Names(append([]string{"remove"}, fedora.RemoveOptions...), names...)...))
		install.Packages = names // the restart phase restarts services that restart on them
		rp.Add(ch, install)
	}
	if len(d.Remove) > 0 || len(d.RemoveGroups) > 0 {
		var ch []engine.Change
		var names []string
		for _, n := range d.Remove {
			ch = append(ch, engine.Change{Kind: engine.Del, Subject: "package " + n, Detail: "user-installed, not declared"})
			names = append(names, n)
		}
		for _, g := range d.RemoveGroups {
			ch = append(ch, engine.Change{Kind: engine.Del, Subject: "group @" + g, Detail: "installed by chaos, no longer declared"})
			names = append(names, "@"+g)
		}
		var ops []engine.Op
		if len(d.Remove) > 0 {
			ops = append(ops, GuardOp(d.Unneeded))
		}
		ops = append(ops, dnf.Op(dnf.Names(append([]string{"remove"}, fedora.RemoveOptions...), names...)...).
			WithUndo(dnf.Op(dnf.Names([]string{"install"}, names...)...)))
		rp.Add(ch, ops...)
	}
	return rp
}

func reasonText(r string) string {
	switch r {
	case "dependency":
		return "a dependency"
	case "weak-dependency":
		return "a weak dependency"
	case "group":
		return "a member of a group"
	case "":
		return "an unknown reason"
	}
	return r
}

// guardLarge returns the large-prune guard sentence, or "".
func guardLarge(d *Delta) string {
	if n := len(d.Remove); n > 3 && 2*n > d.User {
		return fmt.Sprintf("the prune would remove %d of the %d user-installed packages", n, d.User)
	}
	return ""
}
