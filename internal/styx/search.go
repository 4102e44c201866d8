package styx

import (
	"slices"
	"strings"

	"github.com/sahilm/fuzzy"
)

// Search finds entries by name, about and tags, fuzzily (the letters of text in order, as a
// fuzzy finder does), best first; an entry whose name contains text comes before the others. An
// empty text lists everything by name. kind, when set, keeps only that kind.
func (ix *Index) Search(text string, kind Kind) []*Entry {
	names := ix.Names()
	var pool []*Entry
	for _, n := range names {
		if e := ix.Entries[n]; kind == "" || e.Kind == kind {
			pool = append(pool, e)
		}
	}
	if strings.TrimSpace(text) == "" {
		return pool
	}
	matches := fuzzy.FindFrom(strings.ToLower(text), corpus(pool))
	out := make([]*Entry, 0, len(matches))
	for _, m := range matches {
		out = append(out, pool[m.Index])
	}
	lower := strings.ToLower(text)
	slices.SortStableFunc(out, func(a, b *Entry) int {
		ai, bi := strings.Contains(a.Name, lower), strings.Contains(b.Name, lower)
		switch {
		case ai && !bi:
			return -1
		case bi && !ai:
			return 1
		}
		return 0
	})
	return out
}

// corpus is what Search matches: "name tags about", lowercase.
type corpus []*Entry

func (c corpus) Len() int { return len(c) }

func (c corpus) String(i int) string {
	e := c[i]
	return strings.ToLower(e.Name + " " + strings.Join(e.Tags, " ") + " " + e.About)
}
