// Package textdiff is the one line diff of chaos: the plans' file diffs and `chaos generations diff`
// both use it.
package textdiff

// maxCells bounds the longest-common-subsequence table (len(a)*len(b) ints, 32 MB at most); larger
// inputs are shown as every line of a removed and every line of b added.
const maxCells = 4_000_000

// Lines is a longest-common-subsequence diff of a and b, one entry per line: the line prefixed with
// " " when both have it, "-" when only a has it, "+" when only b has it. Where a line can be either
// removed first or added first, the removal comes first.
func Lines(a, b []string) []string {
	if len(a)*len(b) > maxCells {
		out := make([]string, 0, len(a)+len(b))
		for _, l := range a {
			out = append(out, "-"+l)
		}
		for _, l := range b {
			out = append(out, "+"+l)
		}
		return out
	}
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	out := make([]string, 0, len(a)+len(b)-lcs[0][0])
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out = append(out, " "+a[i])
			i++
			j++
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "-"+a[i])
			i++
		default:
			out = append(out, "+"+b[j])
			j++
		}
	}
	return out
}
