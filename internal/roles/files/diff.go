package files

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
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
	// LCS table
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var ops []line
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, line{' ', a[i]})
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, line{'-', a[i]})
			i++
		default:
			ops = append(ops, line{'+', b[j]})
			j++
		}
	}
	// keep changed lines and `diffContext` lines around them
	keep := make([]bool, len(ops))
	for k, o := range ops {
		if o.op != ' ' {
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
		out = append(out, string(o.op)+o.text)
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
