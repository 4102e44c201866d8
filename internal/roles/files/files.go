// Package files is the `files` role: files, directories and symlinks with content (literal or a Go
// template over the Ch-obolo), mode and ownership, written atomically. Full state through the host
// ledger: only what chaos created is ever removed when it leaves the Ch-obolo.
package files

import (
	_ "embed"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
)

// ExplainMD is the `chaos explain files` text.
//
//go:embed explain.md
var ExplainMD string

// Role is the files role; it works on every core.
type Role struct{}

// New returns the files role.
func New() engine.Role { return Role{} }

// Meta implements engine.Role.
func (Role) Meta() engine.Meta {
	return engine.Meta{
		Name:    "files",
		Keys:    []string{"files"},
		Summary: "files, directories and symlinks with content, templates, mode and owner; prunes what chaos created",
		Order:   60,
	}
}

// Probe implements engine.Role: type, mode, owner and checksum of every declared path and of every
// path in the ledger, in one fragment. Content comes back only for small files that differ from the
// desired content (to show a diff) and are not secret.
func (Role) Probe(env *engine.Env, c *chobolo.Chobolo) []engine.ProbeSection {
	var paths, want []string
	for _, f := range c.Files {
		if chobolo.ValidAbsPath(f.Path) != nil {
			continue // Plan reports it with its position
		}
		wantSHA := ""
		if f.State == "" || f.State == "present" {
			d := Desired{}
			if f.Mode != "" {
				if m, err := ParseMode(f.Mode); err == nil {
					d.Mode, d.ModeSet = m, true
				}
			}
			if !secret(f, d) {
				switch {
				case f.Template != "":
					if out, err := Render(f, c, env.Core); err == nil {
						wantSHA = sha(out)
					}
				case f.Content != "":
					wantSHA = sha([]byte(f.Content))
				}
			}
		}
		paths = append(paths, f.Path)
		want = append(want, wantSHA)
	}
	return []engine.ProbeSection{probeSection(paths, want)}
}

// Plan implements engine.Role.
func (Role) Plan(env *engine.Env, c *chobolo.Chobolo, facts engine.Facts) (*engine.RolePlan, error) {
	desired, err := Validate(c, env.Core)
	if err != nil {
		return nil, err
	}
	f, err := ParseFacts(facts["paths"].Stdout)
	if err != nil {
		return nil, err
	}
	// Probe skipped invalid paths, so its indexes count valid ones only; Validate refused those, so
	// here every path is valid and the indexes line up.
	return Compute(desired, f, env.Ledger, c.Has("files"))
}
