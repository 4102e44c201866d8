package chobolo

import (
	"strings"

	"github.com/agnivade/levenshtein"
)

// suggest returns the known key closest to got, or "" when none is close enough to be a likely typo.
func suggest(got string, known []string) string {
	best, bestDist := "", 0
	for _, k := range known {
		if strings.EqualFold(k, got) {
			return k
		}
		d := levenshtein.ComputeDistance(strings.ToLower(got), strings.ToLower(k))
		if best == "" || d < bestDist {
			best, bestDist = k, d
		}
	}
	// Allow about one edit per three characters, at least two: "shel" -> "shell", "pakages" ->
	// "packages", but not "foo" -> "core".
	if best == "" || bestDist > max(2, len(got)/3) || bestDist >= len(got) {
		return ""
	}
	return best
}

// didYouMean formats a suggestion as a message suffix.
func didYouMean(got string, known []string) string {
	if s := suggest(got, known); s != "" {
		return "; did you mean " + s + "?"
	}
	return ""
}

// Suggest returns the name in known closest to got, or "" when none is a likely typo. Compilers and
// roles use it to hint at a known name ("did you mean neovim?").
func Suggest(got string, known []string) string { return suggest(got, known) }

// DidYouMean is "; did you mean NAME?" for the name in known closest to got, or "": the message suffix
// the loader puts on unknown keys, for other unknown names (role tags, explain topics).
func DidYouMean(got string, known []string) string { return didYouMean(got, known) }
