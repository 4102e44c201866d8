package chobolo

import (
	"cmp"
	"fmt"
	"slices"
)

// diags collects every diagnostic of a load so that the user sees all problems at once.
type diags struct {
	errs  Errors
	warns []Diagnostic
}

func (d *diags) errorf(pos Pos, format string, args ...any) {
	d.errs = append(d.errs, Diagnostic{Pos: pos, Severity: SevError, Message: fmt.Sprintf(format, args...)})
}

func (d *diags) warnf(pos Pos, format string, args ...any) {
	d.warns = append(d.warns, Diagnostic{Pos: pos, Severity: SevWarning, Message: fmt.Sprintf(format, args...)})
}

// sortDiags orders diagnostics by file, line and column and drops exact repeats (a file imported
// twice reports its problems once).
func sortDiags(ds []Diagnostic) []Diagnostic {
	seen := map[Diagnostic]bool{}
	ds = slices.DeleteFunc(slices.Clone(ds), func(d Diagnostic) bool {
		dup := seen[d]
		seen[d] = true
		return dup
	})
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		return cmp.Or(cmp.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return ds
}
