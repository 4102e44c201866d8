// Package pkggraph is what the packages roles (apt, dnf, pacman) share about their prune: the
// dependency walk that decides which installed packages must stay because something staying needs
// them, the sentence that explains why ("declared package a requires it (a -> b -> c)"), and the
// desired set a Ch-obolo declares (want.go). The roles differ in how they read dependencies; the
// walk is given them as groups of alternative providers, already resolved to package names.
package pkggraph

import (
	"fmt"
	"slices"
	"strings"
)

// Deps returns a package's dependencies, each a group of the packages that satisfy it (alternatives,
// in preference order). Unknown packages have none.
type Deps func(pkg string) [][]string

// NewPackages is the parent of roots that stand for the packages about to be installed (a role that
// cannot name which new package needs them): Chain then says "a declared package about to be
// installed requires it".
const NewPackages = "(new packages)"

// Walk is the result of Walk: the needed packages and, for each, the package that needed it first
// ("" for a root).
type Walk struct {
	Needed map[string]bool
	Parent map[string]string
}

// Keep walks the dependencies of roots the way a package manager keeps them satisfied: a group
// satisfied by a needed package (the package itself included) is left alone; otherwise the first of its
// providers that is not a removal candidate is kept, or the first provider when all are candidates.
func Keep(deps Deps, roots []string, candidates map[string]bool) Walk {
	w := Walk{Needed: map[string]bool{}, Parent: map[string]string{}}
	queue := make([]string, 0, len(roots))
	for _, r := range roots {
		if !w.Needed[r] {
			w.Needed[r] = true
			queue = append(queue, r)
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, sat := range deps(n) {
			if len(sat) == 0 || slices.ContainsFunc(sat, func(s string) bool { return w.Needed[s] }) {
				continue
			}
			pick := sat[0]
			for _, s := range sat {
				if !candidates[s] {
					pick = s
					break
				}
			}
			w.Needed[pick] = true
			w.Parent[pick] = n
			queue = append(queue, pick)
		}
	}
	return w
}

// Chain explains why n is needed, with the role's verb ("requires", "depends on"): "declared package
// a requires it (a -> libb -> n)", or "package a ..." when a is not declared. The path is cut at 20
// packages.
func (w Walk) Chain(n string, declared map[string]bool, verb string) string {
	path := []string{n}
	for cur := n; w.Parent[cur] != "" && len(path) < 20; {
		cur = w.Parent[cur]
		if cur == NewPackages {
			return "a declared package about to be installed " + verb + " it"
		}
		path = append(path, cur)
	}
	slices.Reverse(path)
	kind := "package"
	if declared[path[0]] {
		kind = "declared package"
	}
	s := fmt.Sprintf("%s %s %s it", kind, path[0], verb)
	if len(path) > 2 {
		s += " (" + strings.Join(path, " -> ") + ")"
	}
	return s
}
