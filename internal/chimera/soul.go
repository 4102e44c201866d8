package chimera

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// CodeSoul is the code of a Soul back end's diagnostic that has none.
const CodeSoul = "CHI900"

// soulBackend is a back end an installed Soul provides (`--to NAME`, its soul.yaml's chimera
// entry). Its process gets the System as JSON and returns files, diagnostics and, optionally,
// the source map; chaos checks them and writes them like a built-in back end's.
type soulBackend struct {
	name  string
	soul  string // the Soul's name
	souls soul.Kinds
}

func (b soulBackend) Name() string { return b.name }

func (b soulBackend) Compile(ctx context.Context, in Input, ds *Diagnostics) ([]File, error) {
	sys, err := json.Marshal(in.System)
	if err != nil {
		return nil, fmt.Errorf("system: %w", err)
	}
	params := soul.CompileParams{Backend: b.name, System: sys, Options: map[string]any{
		"source_sha256": in.SourceHash, "strict": in.Options.Strict, "state_version": in.Options.StateVersion}}
	var res soul.CompileResult
	if err := b.souls.Call(ctx, soul.KindChimera, b.name, soul.MethodChimeraCompile, params, &res); err != nil {
		return nil, err
	}
	src := in.System.Source
	bad := func(format string, args ...any) error {
		return fmt.Errorf("soul %s: %s: malformed result: %s", b.soul, soul.MethodChimeraCompile, fmt.Sprintf(format, args...))
	}
	var diags []Diagnostic
	for _, d := range res.Diagnostics {
		sev := Severity(d.Severity)
		if sev != Error && sev != Warning && sev != Info {
			return nil, bad("diagnostic severity %q (want error, warning or info)", d.Severity)
		}
		code := d.Code
		if code == "" {
			code = CodeSoul
		}
		diags = append(diags, Diagnostic{Severity: sev, Code: code, Pos: src.Pos(d.Key), Path: d.Key, Backend: b.name, Message: d.Message})
	}
	files := make([]File, 0, len(res.Files))
	for _, p := range slices.Sorted(maps.Keys(res.Files)) {
		if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") || p == "chimera.json" {
			return nil, bad("file path %q (want a clean relative path inside the output directory, not chimera.json)", p)
		}
		f := File{Path: p, Content: []byte(res.Files[p])}
		lines := strings.Count(res.Files[p], "\n") + 1
		for _, m := range res.SourceMap[p] {
			if m.Line < 1 || m.Line > lines {
				return nil, bad("source map of %s: line %d is not in the file", p, m.Line)
			}
			f.Map = append(f.Map, Mapping{Line: m.Line, Pos: src.Pos(m.Key)})
		}
		files = append(files, f)
	}
	for p := range res.SourceMap {
		if _, ok := res.Files[p]; !ok {
			return nil, bad("source map for %s, which it did not return", p)
		}
	}
	for _, d := range diags {
		ds.Add(d)
	}
	return files, nil
}
