// Package files is the `files` role: files, directories and symlinks with content (literal or a Go
// template over the Ch-obolo), mode and ownership, written atomically. Full state through the host
// ledger: only what chaos created is ever removed when it leaves the Ch-obolo.
package files

import (
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
)

// explainMD is the `chaos explain files` text.
//
//go:embed explain.md
var explainMD string

// Role is the files role; it works on every core.
type Role struct{}

// New returns the files role.
func New() engine.Role { return Role{} }

// Meta implements engine.Role.
func (Role) Meta() engine.Meta {
	return engine.Meta{
		Name: "files",
		// secrets: the original's secrets.templates are files of this role too.
		Keys:    []string{"files", "secrets"},
		Summary: "files, directories and symlinks with content, templates, mode and owner; prunes what chaos created",
		Explain: explainMD,
		Order:   60,
	}
}

// Probe implements engine.Role: type, mode, owner and checksum of every declared path and of every
// path in the ledger, in one fragment. Content comes back only for small files that differ from the
// desired content (to show a diff) and are not secret.
func (Role) Probe(env *engine.Env, c *chobolo.Chobolo) []engine.ProbeSection {
	var paths, want, tools []string
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
					if out, err := Render(f, c, env.Core, nil); err == nil {
						wantSHA = sha(out)
					}
				case f.Content != "":
					wantSHA = sha([]byte(f.Content))
				}
			}
		}
		paths = append(paths, f.Path)
		want = append(want, wantSHA)
		if ck := checkFor(f); ck != nil && (f.State == "" || f.State == "present") && !slices.Contains(tools, ck.Tool) {
			tools = append(tools, ck.Tool)
		}
	}
	// The entries whose owner's home is read on the target keep their index among the paths: a
	// placeholder here, their path found by the probe itself (homeKey).
	var homes []homeKey
	for _, t := range c.SecretTemplates {
		switch p, rel, err := templatePath(c, t); {
		case err != nil:
		case rel != "":
			if chobolo.ValidUserName(t.Owner) == nil {
				homes = append(homes, homeKey{index: len(paths), owner: t.Owner, rel: rel})
				paths = append(paths, "")
				want = append(want, "")
			}
		default:
			paths = append(paths, p)
			want = append(want, "") // secret: the probe sends no content back
		}
	}
	secs := probeSections(paths, want, tools, homes)
	if s, ok := ownersProbe(c); ok {
		secs = append(secs, s)
	}
	return secs
}

var _ engine.Owner = Role{}

// claimed remembers the claims of the last plain entries (the static check asks for them once per
// core).
var claimed entriesMemo[[]engine.Claim]

// Owns implements engine.Owner: every declared path; a path declared absent with everything below
// it (a directory is removed whole).
func (Role) Owns(_ string, c *chobolo.Chobolo) []engine.Claim {
	if plainEntries(c) {
		out, _ := claimed.do(c, func() ([]engine.Claim, error) { return owns(c), nil })
		return out
	}
	return owns(c)
}

func owns(c *chobolo.Chobolo) []engine.Claim {
	var out []engine.Claim
	for i, f := range c.Files {
		cl := engine.Claim{Path: f.Path, Pos: c.Pos("files[" + strconv.Itoa(i) + "].path"), Why: "declared under files"}
		if f.State == "absent" {
			cl.Tree, cl.Why = true, "declared absent under files"
		}
		out = append(out, cl)
	}
	// A template whose owner's home is on the target only (not root, not declared under users) is
	// claimed by Plan once the probe has read that home (RolePlan.Claims), and the engine checks it
	// against the other roles' claims before anything is applied.
	for i, t := range c.SecretTemplates {
		if p, _, err := templatePath(c, t); err == nil && p != "" {
			out = append(out, engine.Claim{Path: p, Pos: c.Pos(fmt.Sprintf("secrets.templates[%d].to", i)), Why: "declared under secrets.templates"})
		}
	}
	return out
}

var _ engine.SecretReader = Role{}

// SecretPaths implements engine.SecretReader: the role sees only the secrets its entries declare
// (files[].secrets, secrets.templates[].vars).
func (Role) SecretPaths(c *chobolo.Chobolo) []string {
	var out []string
	for _, f := range c.Files {
		out = append(out, f.Secrets...)
	}
	for _, t := range c.SecretTemplates {
		out = append(out, t.Vars...)
	}
	return out
}

// Plan implements engine.Role.
func (Role) Plan(env *engine.Env, c *chobolo.Chobolo, facts engine.Facts) (*engine.RolePlan, error) {
	desired, err := ValidateWith(c, env.Core, env.Secrets)
	if err != nil {
		return nil, err
	}
	f, err := parseSections(facts)
	if err != nil {
		return nil, err
	}
	errs, warns := checkOwners(c, parseOwners(facts[secOwners].Stdout), env.Installing)
	claims, herrs := resolveHomes(c, desired, f, env.Installing)
	errs = append(errs, herrs...)
	if len(errs) > 0 {
		return nil, chobolo.Errors(errs)
	}
	// Probe skipped invalid paths, so its indexes count valid ones only; Validate refused those, so
	// here every path is valid and the indexes line up.
	// secrets.templates share the files ledger: declaring either (even empty) makes it full state.
	rp, err := BuildPlan(desired, f, env.Ledger, c.Has("files") || c.Declares("secrets.templates") || len(c.SecretTemplates) > 0)
	if rp != nil {
		rp.Warnings = append(rp.Warnings, warns...)
		rp.Claims = claims
	}
	return rp, err
}

var _ engine.Capturer = Role{}

// Capture implements engine.Capturer, for `chaos init chobolo --from`: the paths chaos created (the
// host ledger's "files" domain) as they are now, with their type, mode, owner and group, so that the
// captured Ch-obolo keeps them managed (and prunable) and its first apply changes nothing. Content is
// not captured: an entry without content or template leaves the file's content alone.
func (Role) Capture(_ *engine.Env, facts engine.Facts, into *chobolo.Chobolo) error {
	f, err := parseSections(facts)
	if err != nil {
		return err
	}
	if files := CaptureFiles(f); len(files) > 0 {
		into.Files = append(into.Files, files...)
		into.SetKey("files", chobolo.Pos{})
	}
	return nil
}

// CaptureFiles is Capture's pure part: ledger paths that exist as a file, directory or symlink,
// parents first. Missing paths and other types (sockets, devices) are left out.
func CaptureFiles(f *Facts) []chobolo.File {
	paths := slices.SortedFunc(maps.Keys(f.Ledger), pathLess)
	var out []chobolo.File
	for _, p := range paths {
		s := f.Ledger[p]
		if chobolo.ValidAbsPath(p) != nil || !s.Exists() {
			continue
		}
		e := chobolo.File{Path: p, Owner: idName(s.User, s.UID), Group: idName(s.Group, s.GID)}
		switch s.Type {
		case "file":
			e.Mode = octal(s.Mode)
		case "dir":
			e.State, e.Mode = "directory", octal(s.Mode)
		case "link":
			if s.Target == "" {
				continue
			}
			e.State, e.Target = "link", s.Target
		default:
			continue
		}
		out = append(out, e)
	}
	return out
}

// idName is a probed owner or group name, or its numeric id when the name is unknown on the host.
func idName(name string, id int) string {
	if name != "" && name != "?" && !strings.HasPrefix(name, "UNKNOWN") {
		if _, err := strconv.Atoi(name); err != nil {
			return name
		}
	}
	if id < 0 {
		return ""
	}
	return strconv.Itoa(id)
}

var _ engine.StaticChecker = Role{}

// CheckStatic implements engine.StaticChecker: Validate, which Plan runs first.
func (Role) CheckStatic(core string, c *chobolo.Chobolo) []chobolo.Diagnostic {
	_, _, err := validate(c, core, secretsMode{})
	return engine.StaticDiagnostics(err)
}
