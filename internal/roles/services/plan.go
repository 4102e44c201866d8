package services

import (
	"fmt"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/engine"
)

// systemctl builds a systemctl command: offline (`--root=/`, reads and writes unit symlinks without
// a running manager) unless systemd runs on the target.
func systemctl(live bool, verb string, units []string) engine.Op {
	argv := []string{"systemctl"}
	if !live {
		argv = append(argv, "--root=/")
	}
	argv = append(argv, verb)
	return engine.Exec(append(argv, units...)...)
}

// BuildPlan turns a delta into steps: first the prune (undeclared services disabled and stopped),
// then the declared units, each verb as one systemctl call for all units: unmask, disable, enable
// (with the units a disable reached that stay enabled), the disables that must follow an enable
// (see Compute), stop, start.
func BuildPlan(d *Delta, live bool) *engine.RolePlan {
	rp := &engine.RolePlan{Notes: d.Notes}
	var prune, declared, custom []Action
	for _, a := range d.Actions {
		switch {
		case a.Prune:
			prune = append(prune, a)
		case a.Custom:
			custom = append(custom, a)
		default:
			declared = append(declared, a)
		}
	}
	if len(prune) > 0 {
		var changes []engine.Change
		var disable, stop []string
		for _, a := range prune {
			verb, why := "disable", "enabled but not declared"
			if a.ThisRun {
				why = "enabled by a package installed in this run, not declared"
			}
			if a.Stop {
				verb = "disable and stop"
				stop = append(stop, a.Unit)
			}
			detail := verb + " (" + why + ")"
			disable = append(disable, a.Unit)
			changes = append(changes, engine.Change{Kind: engine.Del, Subject: "service " + a.Unit, Detail: detail})
		}
		ops := []engine.Op{systemctl(live, "disable", disable).WithUndo(systemctl(live, "enable", disable))}
		if len(stop) > 0 {
			ops = append(ops, systemctl(live, "stop", stop).WithUndo(systemctl(live, "start", stop)))
		}
		rp.Add(changes, ops...)
	}
	if len(declared) > 0 {
		changes, ops := declaredStep(declared, live)
		rp.Add(changes, ops...)
	}
	if len(custom) > 0 {
		// their unit files are written by the files role, which runs later: the restart phase runs
		// this step after the write and the daemon-reload
		changes, ops := declaredStep(custom, live)
		rp.Deferred = append(rp.Deferred, engine.Step{Changes: changes, Ops: ops})
	}
	if d.Pruned > 3 && d.Pruned*2 > d.Enabled {
		rp.Guard = fmt.Sprintf("this disables %d of the %d enabled services because they are not declared", d.Pruned, d.Enabled)
	}
	return rp
}

// declaredStep is the step of declared units: each verb as one systemctl call for all of them.
func declaredStep(declared []Action, live bool) ([]engine.Change, []engine.Op) {
	var changes []engine.Change
	var unmask, enable, disable, last, start, stop []string
	for _, a := range declared {
		var what []string
		kind := engine.Add
		if a.Reenable {
			what = append(what, fmt.Sprintf("enable again (disabling %s disables it too, through its Also=)", a.Via))
			enable = append(enable, a.Unit)
			kind = engine.Modify
		}
		if a.DisableLast {
			what = append(what, fmt.Sprintf("disable, after enabling %s (whose Also= enables it)", a.Via))
			last = append(last, a.Unit)
			kind = engine.Modify
		}
		if a.Unmask {
			what = append(what, "unmask")
			unmask = append(unmask, a.Unit)
		}
		if a.Enable {
			what = append(what, "enable")
			enable = append(enable, a.Unit)
		}
		if a.Disable {
			what = append(what, "disable")
			disable = append(disable, a.Unit)
			kind = engine.Modify
		}
		inst := ""
		if a.Run != "" && a.Run != a.Unit {
			inst = " " + a.Run
		}
		if a.Start {
			what = append(what, "start"+inst)
			start = append(start, a.runUnit())
		}
		if a.Stop {
			what = append(what, "stop"+inst)
			stop = append(stop, a.runUnit())
			kind = engine.Modify
		}
		subject := "service " + a.Unit
		if a.Declared != "" {
			subject += fmt.Sprintf(" (declared as %s)", a.Declared)
		}
		changes = append(changes, engine.Change{Kind: kind, Subject: subject, Detail: strings.Join(what, ", "), Pos: a.Pos})
	}
	var ops []engine.Op
	if len(unmask) > 0 {
		ops = append(ops, systemctl(live, "unmask", unmask).WithUndo(systemctl(live, "mask", unmask)))
	}
	if len(disable) > 0 {
		ops = append(ops, systemctl(live, "disable", disable).WithUndo(systemctl(live, "enable", disable)))
	}
	if len(enable) > 0 {
		ops = append(ops, systemctl(live, "enable", enable).WithUndo(systemctl(live, "disable", enable)))
	}
	if len(last) > 0 {
		ops = append(ops, systemctl(live, "disable", last).WithUndo(systemctl(live, "enable", last)))
	}
	if len(stop) > 0 {
		ops = append(ops, systemctl(live, "stop", stop).WithUndo(systemctl(live, "start", stop)))
	}
	if len(start) > 0 {
		ops = append(ops, systemctl(live, "start", start).WithUndo(systemctl(live, "stop", start)))
	}
	return changes, ops
}
