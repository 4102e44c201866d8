package engine

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/shell"
)

// RestartRole names the restart phase in plans, events and the journal.
const RestartRole = "restarts"

// The restart phase: a configuration manager that writes a service's configuration and leaves the
// service running the old one has done half the job. Roles keep their deltas pure: their ops say
// what they change (a file op its path, a package transaction its Packages) and may name units to
// restart or reload (Op.Notify, Op.Reload); the services role declares each unit's triggers and
// state (RolePlan.Units). From the planned ops, RestartPhase computes one final step list after
// every role: one daemon-reload when a unit file or drop-in changes, the deferred steps (units whose
// unit file this apply writes), then each unit restarted or reloaded at most once, in dependency
// order, every line with its reason. Its ops are journaled like the others; their inverses are
// marked UndoLast, so a failed apply restores the files first and then restarts the units again.

// unitRequest is one unit the phase restarts or reloads, and why.
type unitRequest struct {
	unit            string
	restart, reload bool
	why             []string
	first           int // order of the first trigger, for a stable order among independent units
	lastRole        int // index of the last role whose op triggers it (len(roles): the phase itself)
}

// RestartPhase computes the restart phase of a plan from its roles' plans: nil when nothing
// triggers anything. live says whether systemd runs on the target; without it nothing is restarted
// and the phase only notes what it skipped.
func RestartPhase(roles []*RolePlan, live bool) *RolePlan {
	units := map[string]*UnitTriggers{}
	canon := map[string]string{} // alias -> unit
	owner := map[string]int{}    // unit -> index of the role that declares it (and starts it)
	var deferred []Step
	for ri, rp := range roles {
		for i := range rp.Units {
			u := &rp.Units[i]
			units[u.Unit], owner[u.Unit] = u, ri
			for _, a := range u.Aliases {
				canon[a] = u.Unit
			}
		}
		deferred = append(deferred, rp.Deferred...)
	}
	reqs := map[string]*unitRequest{}
	seq := 0
	role := 0 // the role whose ops are being read
	request := func(unit string, reload bool, why string) {
		if c, ok := canon[unit]; ok {
			unit = c
		}
		r := reqs[unit]
		if r == nil {
			seq++
			r = &unitRequest{unit: unit, first: seq}
			reqs[unit] = r
		}
		r.lastRole = max(r.lastRole, role)
		if reload {
			r.reload = true
		} else {
			r.restart = true
		}
		if !slices.Contains(r.why, why) {
			r.why = append(r.why, why)
		}
	}
	// subjects each trigger reacts to, with the reason shown
	var reloadWhy []string
	names := slices.Sorted(maps.Keys(units))
	fire := func(subject, why string) {
		for _, name := range names {
			u := units[name]
			if slices.Contains(u.RestartOn, subject) {
				request(u.Unit, false, why)
			}
			if slices.Contains(u.ReloadOn, subject) {
				request(u.Unit, true, why)
			}
		}
	}
	for ri, rp := range roles {
		role = ri
		for _, st := range rp.Steps {
			for _, op := range st.Ops {
				why := rp.Role + ": " + op.String()
				switch op.Kind {
				case OpWrite, OpRemove, OpSymlink, OpMkdir, OpChmod:
					why = op.Path + " changed"
					fire("file:"+op.Path, why)
					if unit, ok := chobolo.UnitOfPath(op.Path); ok {
						if !slices.Contains(reloadWhy, op.Path) {
							reloadWhy = append(reloadWhy, op.Path)
						}
						// a template does not run (its instances do); a removed unit has nothing to restart
						if !strings.Contains(unit, "@.") && op.Kind != OpRemove {
							request(unit, false, "its unit file "+op.Path+" changed")
						}
					}
				}
				for _, p := range op.Packages {
					fire("package:"+p, "package "+p+" installed or upgraded")
				}
				for _, u := range op.Notify {
					request(chobolo.UnitName(u), false, why)
				}
				for _, u := range op.Reload {
					request(chobolo.UnitName(u), true, why)
				}
			}
		}
	}
	// a restart or reload of one unit triggers those that restart on it, until nothing new comes
	role = len(roles)
	for done := map[string]bool{}; ; {
		var next []string
		for _, r := range reqs {
			if !done[r.unit] {
				next = append(next, r.unit)
			}
		}
		if len(next) == 0 {
			break
		}
		slices.Sort(next)
		for _, n := range next {
			done[n] = true
			if u := units[n]; !live || u != nil && u.State != UnitRunning && !(u.State == UnitStarted && reqs[n].lastRole > owner[n]) {
				continue // it will not be restarted: nothing restarts on it
			}
			verb := "restarted"
			if !reqs[n].restart {
				verb = "reloaded"
			}
			fire("unit:"+n, n+" "+verb)
		}
	}
	if len(reqs) == 0 && len(reloadWhy) == 0 && len(deferred) == 0 {
		return nil
	}
	rp := &RolePlan{Role: RestartRole}
	if len(reloadWhy) > 0 {
		why := "because " + strings.Join(reloadWhy, ", ") + " changed"
		if live {
			reload := Exec("systemctl", "daemon-reload").WithUndo(Exec("systemctl", "daemon-reload"))
			reload.UndoLast = true
			rp.Add([]Change{{Kind: Modify, Subject: "daemon-reload (" + why + ")"}}, reload)
		} else {
			rp.Notes = append(rp.Notes, "daemon-reload skipped: systemd not running ("+why+")")
		}
	}
	rp.Steps = append(rp.Steps, deferred...)
	for _, r := range restartOrder(reqs, units) {
		why := "because " + strings.Join(r.why, ", ")
		u := units[r.unit]
		reload := r.reload && !r.restart
		verb := "restart"
		if reload {
			verb = "reload"
		}
		switch {
		case !live:
			rp.Notes = append(rp.Notes, fmt.Sprintf("%s %s skipped: systemd not running (%s)", verb, r.unit, why))
			continue
		case u == nil:
			// no role knows the unit's state (not declared under services, or the services role is
			// not part of this run): systemd's try- verbs act only on a running unit
			try := "try-restart"
			if reload {
				try = "try-reload-or-restart"
			}
			op := Exec("systemctl", try, r.unit).WithUndo(Exec("systemctl", try, r.unit))
			op.UndoLast = true
			rp.Notes = append(rp.Notes, fmt.Sprintf("%s is not declared under services: %s only if it runs", r.unit, try))
			rp.Add([]Change{{Kind: Modify, Subject: fmt.Sprintf("%s %s (%s)", verb, r.unit, why)}}, op)
			continue
		case u.State == UnitStartedLast || u.State == UnitStarted && r.lastRole <= owner[r.unit]:
			rp.Notes = append(rp.Notes, fmt.Sprintf("%s %s not needed: this apply starts it after the change (%s)", verb, r.unit, why))
			continue
		case u.State != UnitRunning && u.State != UnitStarted:
			rp.Notes = append(rp.Notes, fmt.Sprintf("%s %s skipped: not running (%s)", verb, r.unit, why))
			continue
		case reload && !u.CanReload:
			rp.Notes = append(rp.Notes, fmt.Sprintf("%s has no ExecReload=: restarted instead of reloaded", r.unit))
			reload, verb = false, "restart"
		}
		var ops []Op
		if len(u.Check) > 0 {
			ck := Exec(u.Check...)
			ck.Label = "check before the " + verb + ": " + shell.Join(u.Check)
			ops = append(ops, ck)
		}
		op := Exec("systemctl", verb, r.unit).WithUndo(Exec("systemctl", verb, r.unit))
		op.UndoLast = true
		ops = append(ops, op, Exec("systemctl", "is-active", "--quiet", r.unit))
		rp.Add([]Change{{Kind: Modify, Subject: fmt.Sprintf("%s %s (%s)", verb, r.unit, why)}}, ops...)
	}
	return rp
}

// restartOrder orders the requests so that a unit comes after the units it restarts on (a chain
// of restart_on services) and after those systemd orders it after (After=, UnitTriggers.After);
// otherwise in the order their first trigger appeared. A cycle is broken
// in that order too: each unit is still restarted once.
func restartOrder(reqs map[string]*unitRequest, units map[string]*UnitTriggers) []*unitRequest {
	all := make([]*unitRequest, 0, len(reqs))
	for _, r := range reqs {
		all = append(all, r)
	}
	slices.SortFunc(all, func(a, b *unitRequest) int { return cmp.Compare(a.first, b.first) })
	after := func(r *unitRequest) []string { // requested units r restarts on
		u := units[r.unit]
		if u == nil {
			return nil
		}
		var out []string
		for _, s := range append(slices.Clone(u.RestartOn), u.ReloadOn...) {
			if n, ok := strings.CutPrefix(s, "unit:"); ok && reqs[n] != nil && n != r.unit {
				out = append(out, n)
			}
		}
		for _, n := range u.After {
			if reqs[n] != nil && n != r.unit {
				out = append(out, n)
			}
		}
		return out
	}
	var out []*unitRequest
	placed := map[string]bool{}
	for len(out) < len(all) {
		progress := false
		for _, r := range all {
			if placed[r.unit] {
				continue
			}
			if slices.ContainsFunc(after(r), func(n string) bool { return !placed[n] }) {
				continue
			}
			out, placed[r.unit], progress = append(out, r), true, true
		}
		if !progress { // a cycle: take the first unplaced one
			for _, r := range all {
				if !placed[r.unit] {
					out, placed[r.unit] = append(out, r), true
					break
				}
			}
		}
	}
	return out
}

// undoOrder is the order in which the inverses of journal entries run: every entry in reverse,
// except the restart phase's (UndoLast), which run after all the others and in their own order:
// the files a unit reads are restored before the unit is restarted again on them.
func undoOrder(entries []*JournalEntry) []int {
	var out, last []int
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Op.UndoLast {
			last = append(last, i)
		} else {
			out = append(out, i)
		}
	}
	slices.Reverse(last)
	return append(out, last...)
}
