package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/transport"
)

// Settling: a role's plan is computed up front from the one probe, but some of its facts may be
// changed by earlier roles of the same apply (a package's maintainer script enables a unit). Such a
// role (Settler) is probed again right before its steps run, when one of the roles it names executed
// ops in this run, and the fresh plan runs instead of the approved one. The role refuses a fresh plan
// that goes beyond what was approved; the engine reports the difference (event, notes) and records
// it in the journal and the generation like any other op, so undo and rollback cover it.

// settleState is what Apply needs to plan a Settler role again.
type settleState struct {
	role    Role
	settler Settler
	facts   Facts // the facts the approved plan was computed from
}

// noteSettles adds a note to each Settler role that will be probed again during Apply because an
// earlier role it names changes something in this plan.
func noteSettles(hp *HostPlan) {
	for i, rp := range hp.Roles {
		s, ok := hp.settle[rp.Role]
		if !ok {
			continue
		}
		after, how := s.settler.SettleAfter()
		var by []string
		for _, prev := range hp.Roles[:i] {
			if slices.Contains(after, prev.Role) && !prev.Empty() {
				by = append(by, prev.Role)
			}
		}
		if len(by) > 0 {
			rp.Notes = append(rp.Notes, fmt.Sprintf("%s: probed again after %s and settled in the same run", how, strings.Join(by, ", ")))
		}
	}
}

// settleTrigger returns the roles that executed ops in this run (ran) and whose ops may change
// role's facts; none means the approved plan runs as is.
func settleTrigger(s settleState, ran []string) []string {
	after, _ := s.settler.SettleAfter()
	var by []string
	for _, r := range ran {
		if slices.Contains(after, r) {
			by = append(by, r)
		}
	}
	return by
}

// settleOp stands for the probe of a settle in errors and events (it changes nothing).
var settleOp = Op{Kind: OpExec, Argv: []string{"/bin/sh", "-s"}, Label: "probe again"}

// settle probes role again on the target and returns its fresh plan, and the lines that differ from
// the approved plan (nil when nothing does).
func (e *Engine) settle(ctx context.Context, t transport.Transport, hp *HostPlan, req Request, approved *RolePlan,
	s settleState, by []string) (*RolePlan, []string, error) {
	name := approved.Role
	env := roleEnv(hp.env, s.role, req.Chobolo)
	sections, err := e.sections([]Role{s.role}, env, req.Chobolo)
	if err != nil {
		return nil, nil, err
	}
	token := newToken()
	outs, err := probeSections(ctx, t, token, nil, sections)
	if err != nil {
		return nil, nil, err
	}
	if err := expectSections(t, outs, sections); err != nil {
		return nil, nil, err
	}
	rp, err := s.settler.Settle(env, req.Chobolo, s.facts, factsFor(name, outs))
	if err != nil {
		return nil, nil, fmt.Errorf("planned again after %s (which ran in this apply): %w", strings.Join(by, ", "), err)
	}
	if rp == nil {
		rp = &RolePlan{}
	}
	rp.Role = name
	// The guard was asked (or waived) before the apply; the role refuses fresh removals of objects
	// that existed when it was approved, so the guard's question has not changed.
	rp.Guard = approved.Guard
	diff := planDiff(approved, rp)
	if len(diff) > 0 {
		rp.Notes = append(slices.Clone(rp.Notes), fmt.Sprintf("planned again after %s (which ran in this apply): %s",
			strings.Join(by, ", "), strings.Join(diff, "; ")))
	}
	return rp, diff, nil
}

// planDiff lists the changes of now that approved does not have ("+ ..." / "- ..." / "~ ..." as
// plans show them) and those of approved that now drops ("no longer needed: ...").
func planDiff(approved, now *RolePlan) []string {
	lines := func(rp *RolePlan) []string {
		var out []string
		for _, s := range rp.Steps {
			for _, c := range s.Changes {
				l := string(c.Kind) + " " + c.Subject
				if c.Detail != "" {
					l += ": " + c.Detail
				}
				out = append(out, l)
			}
		}
		return out
	}
	was, is := lines(approved), lines(now)
	var out []string
	for _, l := range is {
		if !slices.Contains(was, l) {
			out = append(out, l)
		}
	}
	for _, l := range was {
		if !slices.Contains(is, l) {
			out = append(out, "no longer needed: "+l)
		}
	}
	return out
}
