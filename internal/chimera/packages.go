package chimera

import (
	"fmt"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/pkgmap"
)

// ResolvePackages maps the declared packages to target's names ("nix" or "guix") through each
// item's override and the shared package map, in declaration order without repeats. Unknown names
// are errors (CHI201) with the closest known name as a hint; a name that maps to nothing is an info
// (CHI202). check validates every resolved name in the target's syntax.
func ResolvePackages(pkgs []Package, target, backend string, check func(string) error, ds *Diagnostics) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range pkgs {
		names, known, err := pkgmap.Entry(p.Package, target, pkgmap.Resolve)
		if err != nil {
			ds.Add(Diagnostic{Severity: Error, Code: CodeInvalidValue, Pos: p.Pos, Path: p.Path, Backend: backend, Message: err.Error()})
			continue
		}
		if !known {
			d := Diagnostic{Severity: Error, Code: CodeUnknownPackage, Pos: p.Pos, Path: p.Path, Backend: backend,
				Message: fmt.Sprintf("package %q has no %s mapping", p.Name, target),
				Hint:    fmt.Sprintf("add `%s: [NAME]` to the entry, or a row to the package map", target)}
			if s := chobolo.Suggest(p.Name, pkgmap.Known(target)); s != "" {
				d.Hint = "did you mean " + s + "? or " + d.Hint
			}
			ds.Add(d)
			continue
		}
		if len(names) == 0 {
			ds.Add(Diagnostic{Severity: Info, Code: CodePackageNone, Pos: p.Pos, Path: p.Path, Backend: backend,
				Message: fmt.Sprintf("package %q needs nothing installed on %s", p.Name, backend)})
		}
		for _, n := range names {
			if err := check(n); err != nil {
				ds.Add(Diagnostic{Severity: Error, Code: CodeInvalidValue, Pos: p.Pos, Path: p.Path, Backend: backend, Message: err.Error()})
				continue
			}
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}
