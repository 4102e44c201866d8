package engine

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// StaticChecker is implemented by roles whose Plan refuses some Ch-obolos whatever the host holds
// (a reserved path, `state: absent` on /etc, uid 0 for a second user). CheckStatic returns those
// problems, each at its position, from the same code Plan runs, so that `chaos check chobolo`
// refuses what an apply would refuse, and an apply refuses it before any target is contacted.
type StaticChecker interface {
	CheckStatic(core string, c *chobolo.Chobolo) []chobolo.Diagnostic
}

// StaticDiagnostics turns a role's validation error into diagnostics: a chobolo.Errors as it is,
// any other error as one diagnostic without a position.
func StaticDiagnostics(err error) []chobolo.Diagnostic {
	if err == nil {
		return nil
	}
	var ds chobolo.Errors
	if errors.As(err, &ds) {
		return ds
	}
	return []chobolo.Diagnostic{{Severity: chobolo.SevError, Message: err.Error()}}
}

// CheckStatic runs every check that needs no host on the roles the Ch-obolo makes run on core
// (every core when core is ""): the roles' StaticChecker and the ownership conflicts (CheckOwners).
// The result is a chobolo.Errors listing every problem sorted by position, or nil. When the core is
// not known, a problem that exists on some cores only says on which.
func (r *Registry) CheckStatic(c *chobolo.Chobolo, core string) error {
	cores := []string{core}
	if core == "" {
		cores = CoreNames()
	}
	return r.checkStatic(c, cores, true)
}

// CheckStaticAnyCore is CheckStatic for a run whose targets' cores are not known yet (an apply
// without `core:`, a fleet): only the problems every core has, which no target can escape. The
// engine checks the rest once the probe tells a target's core.
func (r *Registry) CheckStaticAnyCore(c *chobolo.Chobolo) error {
	return r.checkStatic(c, CoreNames(), false)
}

func (r *Registry) checkStatic(c *chobolo.Chobolo, cores []string, partial bool) error {
	var all []chobolo.Diagnostic
	onCores := map[string][]string{}
	id := func(d chobolo.Diagnostic) string { return d.Pos.String() + "\x00" + d.Message }
	add := func(k string, d chobolo.Diagnostic) {
		if _, seen := onCores[id(d)]; !seen {
			all = append(all, d)
		}
		onCores[id(d)] = append(onCores[id(d)], k)
	}
	// Each core is checked on its own goroutine (the roles' checks read the Ch-obolo and nothing
	// else): a Ch-obolo without `core:` is checked for three cores, 1,000 files validated three
	// times, while the controller's second CPU has nothing else to do yet. The results are merged
	// in the cores' order, as one loop would.
	type result struct {
		diags []chobolo.Diagnostic
		err   error
	}
	results := make([]result, len(cores))
	var wg sync.WaitGroup
	for i, k := range cores {
		wg.Go(func() { results[i].diags, results[i].err = r.checkCore(c, k) })
	}
	wg.Wait()
	for i, k := range cores {
		if results[i].err != nil {
			return results[i].err
		}
		for _, d := range results[i].diags {
			add(k, d)
		}
	}
	var out chobolo.Errors
	for _, d := range all {
		switch ks := onCores[id(d)]; {
		case len(ks) == len(cores):
			out = append(out, d)
		case partial:
			d.Message += " (on the " + strings.Join(ks, ", ") + " core)"
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil
	}
	slices.SortStableFunc(out, func(a, b chobolo.Diagnostic) int {
		return cmp.Or(cmp.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return out
}

// checkCore is checkStatic's work for one core: the roles' static checks, then the ownership of
// paths.
func (r *Registry) checkCore(c *chobolo.Chobolo, k string) ([]chobolo.Diagnostic, error) {
	roles, _, err := r.Select(nil, c, k)
	if err != nil {
		return nil, err
	}
	var out []chobolo.Diagnostic
	for _, role := range roles {
		if sc, ok := role.(StaticChecker); ok {
			out = append(out, sc.CheckStatic(k, c)...)
		}
	}
	if err := r.CheckOwners(c, k); err != nil {
		var oe *OwnershipError
		if !errors.As(err, &oe) {
			return nil, err
		}
		for _, cf := range oe.Conflicts {
			p := cf.B.Pos
			out = append(out, chobolo.Diagnostic{Pos: p, Severity: chobolo.SevError, Code: "ownership-conflict",
				Message: strings.TrimPrefix(cf.String(), p.String()+": ")})
		}
	}
	return out, nil
}
