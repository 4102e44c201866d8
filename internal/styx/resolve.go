package styx

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Request asks for an entry: an exact version, a range, or any ("").
type Request struct {
	Name  string
	Range string
}

// Pick is a resolved entry and version.
type Pick struct {
	Entry   *Entry
	Version *Version
}

// Ref is NAME@VERSION.
func (p Pick) Ref() string { return p.Entry.Name + "@" + p.Version.Version }

// constraint is a range on a name and who asked for it.
type constraint struct {
	rng  *semver.Constraints
	text string
	from string // "you" or NAME@VER
}

// Resolve chooses one version of every requested entry and of everything they require, offline,
// from the index: the newest version satisfying every range, never a yanked one unless pinned
// (a lock's exact version), and only versions whose chaos range admits chaosVersion (nil: any).
// When nothing fits, the error explains the conflict: which ranges, from whom, and which versions
// the index has.
func Resolve(ix *Index, reqs []Request, pinned map[string]string, chaosVersion *semver.Version) ([]Pick, error) {
	r := &resolver{ix: ix, pinned: pinned, chaos: chaosVersion, chosen: map[string]*Version{}, cons: map[string][]constraint{}}
	for _, q := range reqs {
		e, ok := ix.Entries[q.Name]
		if !ok {
			_, _, err := ix.Lookup(q.Name, "")
			return nil, err
		}
		if e.Kind == KindWheel {
			return nil, wheelError(e)
		}
		rng := q.Range
		if rng == "" {
			rng = "*"
		}
		c, err := semver.NewConstraint(rng)
		if err != nil {
			return nil, fmt.Errorf("%s@%s: %v", q.Name, q.Range, err)
		}
		r.cons[q.Name] = append(r.cons[q.Name], constraint{c, rng, "you"})
	}
	if !r.solve(0) {
		return nil, r.failure
	}
	var out []Pick
	for _, name := range slices.Sorted(maps.Keys(r.chosen)) {
		out = append(out, Pick{Entry: ix.Entries[name], Version: r.chosen[name]})
	}
	return out, nil
}

type resolver struct {
	ix      *Index
	pinned  map[string]string
	chaos   *semver.Version
	chosen  map[string]*Version
	cons    map[string][]constraint
	failure error
	steps   int
}

// maxSteps bounds backtracking on a pathological index.
const maxSteps = 100000

func (r *resolver) solve(depth int) bool {
	r.steps++
	if r.steps > maxSteps {
		r.failure = fmt.Errorf("dependency resolution gave up after %d steps", maxSteps)
		return false
	}
	name := ""
	for _, n := range slices.Sorted(maps.Keys(r.cons)) {
		if r.chosen[n] == nil {
			name = n
			break
		}
	}
	if name == "" {
		return true
	}
	e := r.ix.Entries[name]
	cands, why := r.candidates(e)
	if len(cands) == 0 {
		r.failure = why
		return false
	}
	for _, v := range cands {
		added := r.choose(name, v)
		if r.consistent(added) && r.solve(depth+1) {
			return true
		}
		r.undo(name, added)
	}
	return false
}

// candidates are e's versions that fit every range on it, newest first, or why none does.
func (r *resolver) candidates(e *Entry) ([]*Version, error) {
	cons := r.cons[e.Name]
	pin := r.pinned[e.Name]
	var out []*Version
	var skipped []string
	for _, v := range e.Versions {
		ok := true
		for _, c := range cons {
			if !c.rng.Check(v.sem) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		switch {
		case pin != "" && pin != v.Version && !sameVersion(pin, v.sem):
			skipped = append(skipped, v.Version+" (the lock pins "+pin+")")
		case v.Yanked != "" && pin == "":
			skipped = append(skipped, v.Version+" (yanked: "+v.Yanked+")")
		case v.chaos != nil && r.chaos != nil && !v.chaos.Check(r.chaos):
			skipped = append(skipped, fmt.Sprintf("%s (needs chaos %s, this is %s)", v.Version, v.Chaos, r.chaos))
		default:
			out = append(out, v)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	var asked []string
	for _, c := range cons {
		asked = append(asked, c.text+" (from "+c.from+")")
	}
	msg := fmt.Sprintf("%s: no version satisfies %s; the index has %s", e.Name, strings.Join(asked, " and "), strings.Join(e.versionList(), ", "))
	if len(skipped) > 0 {
		msg += "; left out: " + strings.Join(skipped, ", ")
	}
	return nil, fmt.Errorf("%s", msg)
}

func sameVersion(pin string, v *semver.Version) bool {
	p, err := semver.NewVersion(pin)
	return err == nil && p.Equal(v)
}

// choose records name@v and its requirements; it returns the names whose ranges it extended.
func (r *resolver) choose(name string, v *Version) []string {
	r.chosen[name] = v
	var added []string
	for _, dep := range slices.Sorted(maps.Keys(v.requires)) {
		r.cons[dep] = append(r.cons[dep], constraint{v.requires[dep], v.Requires[dep], name + "@" + v.Version})
		added = append(added, dep)
	}
	return added
}

func (r *resolver) undo(name string, added []string) {
	for _, dep := range added {
		r.cons[dep] = r.cons[dep][:len(r.cons[dep])-1]
		if len(r.cons[dep]) == 0 {
			delete(r.cons, dep)
		}
	}
	delete(r.chosen, name)
}

// consistent checks that the versions chosen so far satisfy the ranges just added on names.
func (r *resolver) consistent(names []string) bool {
	for _, name := range names {
		v := r.chosen[name]
		if v == nil {
			continue
		}
		for _, c := range r.cons[name] {
			if !c.rng.Check(v.sem) {
				var asked []string
				for _, c := range r.cons[name] {
					asked = append(asked, c.text+" (from "+c.from+")")
				}
				r.failure = fmt.Errorf("%s: %s is chosen, but the ranges %s do not all admit it; the index has %s",
					name, v.Version, strings.Join(asked, " and "), strings.Join(r.ix.Entries[name].versionList(), ", "))
				return false
			}
		}
	}
	return true
}
