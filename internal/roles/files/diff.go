package files

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ch-aos-ch/chaos/internal/textdiff"
)

const (
	maxDiffLines = 400 // per side; larger files get a size summary
	maxShown     = 40  // lines of diff shown in a plan
	diffContext  = 2
)

func isText(b []byte) bool { return utf8.Valid(b) && !bytes.ContainsRune(b, 0) }

// Diff returns a short unified diff of two small text files, or "" when either is not text or too
// large (the caller then shows sizes only).
func Diff(old, new []byte) string {
	if !isText(old) || !isText(new) {
		return ""
	}
	a := splitLines(string(old))
	b := splitLines(string(new))
	if len(a) > maxDiffLines || len(b) > maxDiffLines {
		return ""
	}
	ops := textdiff.Lines(a, b)
	// keep changed lines and `diffContext` lines around them
	keep := make([]bool, len(ops))
	for k, o := range ops {
		if o[0] != ' ' {
			for c := max(0, k-diffContext); c <= min(len(ops)-1, k+diffContext); c++ {
				keep[c] = true
			}
		}
	}
	var out []string
	gap := false
	for k, o := range ops {
		if !keep[k] {
			gap = true
			continue
		}
		if gap && len(out) > 0 {
			out = append(out, "@@")
		}
		gap = false
		out = append(out, o)
	}
	if len(out) > maxShown {
		rest := len(out) - maxShown
		out = append(out[:maxShown], fmt.Sprintf("... (%d more lines)", rest))
	}
	return strings.Join(out, "\n")
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if !strings.HasSuffix(s, "\n") {
		lines[len(lines)-1] += " (no newline at end)"
	}
	return lines
}
