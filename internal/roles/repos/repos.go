// Package repos is the Debian/Ubuntu `repos` role: `repos.apt` entries become deb822 `.sources` files
// under /etc/apt/sources.list.d/ with their keyrings under /etc/apt/keyrings/. Files chaos created
// (the host ledger, domain "repos.apt") that leave the Ch-obolo are removed; no other file is ever
// touched. `apt-get update` runs only when a sources file or keyring changed.
package repos

import (
	_ "embed"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/ch-aos-ch/chaos/internal/filedump"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/debian"
	"github.com/ch-aos-ch/chaos/internal/engine"
)

// explainMD is the text of `chaos explain repos`.
//
//go:embed explain.md
var explainMD string

// LedgerDomain is the ledger domain of the files this role creates.
const LedgerDomain = "repos.apt"

// Where the role writes.
const (
	SourcesDir  = "/etc/apt/sources.list.d"
	KeyringsDir = "/etc/apt/keyrings"
)

// SourcesPath and KeyringPath are the files of repository name.
func SourcesPath(name string) string { return SourcesDir + "/chaos-" + name + ".sources" }
func KeyringPath(name string) string { return KeyringsDir + "/chaos-" + name + ".asc" }

// managedPath matches the files this role may create; a ledger entry that does not match is ignored.
var managedPath = regexp.MustCompile(`^(/etc/apt/sources\.list\.d/chaos-[a-z0-9][a-z0-9._-]*\.sources|/etc/apt/keyrings/chaos-[a-z0-9][a-z0-9._-]*\.asc)$`)

const fileMode fs.FileMode = 0o644

// Role is the Debian repos role.
type Role struct{}

// New returns the role.
func New() engine.Role { return &Role{} }

// Meta implements engine.Role.
func (r *Role) Meta() engine.Meta {
	return engine.Meta{
		Name:    "repos",
		Aliases: []string{"repositories"},
		Keys:    []string{"repos"},
		Cores:   []string{debian.Core},
		Summary: "apt repositories: deb822 .sources files and keyrings; apt-get update on change",
		Explain: explainMD,
		Order:   10,
	}
}

var _ engine.Owner = (*Role)(nil)

// Owns implements engine.Owner: each declared repository's files, and the role's namespace
// (chaos-*.sources, chaos-*.asc), which it prunes, whenever `repos` is declared.
func (r *Role) Owns(_ string, c *chobolo.Chobolo) []engine.Claim {
	if !c.Has("repos") {
		return nil
	}
	var out []engine.Claim
	want, _ := Desired(c) // an invalid entry is Plan's error, with its position
	for _, w := range want {
		out = append(out, engine.Claim{Path: w.Path, Pos: w.Pos, Why: "apt repository " + w.Repo + " (" + w.What + ")"})
	}
	pos := c.Pos("repos")
	return append(out,
		engine.Claim{Path: SourcesDir + "/chaos-*.sources", Glob: true, Pos: pos, Why: "apt repositories chaos created (pruned when undeclared)"},
		engine.Claim{Path: KeyringsDir + "/chaos-*.asc", Glob: true, Pos: pos, Why: "their keyrings"})
}

// Probe implements engine.Role.
func (r *Role) Probe(env *engine.Env, c *chobolo.Chobolo) []engine.ProbeSection {
	return []engine.ProbeSection{{Name: "files", Script: filedump.Script(SourcesDir+"/chaos-*.sources", KeyringsDir+"/chaos-*.asc")}}
}

// Want is one file the Ch-obolo asks for.
type Want struct {
	Repo    string
	Path    string
	Content string
	Pos     chobolo.Pos
	What    string // "sources" or "keyring"
}

var (
	nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	archRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	uriRe  = regexp.MustCompile(`^[a-z][a-z0-9+.-]*:`)
)

// token checks a deb822 list element: one word, no control characters, no comment sign, no leading "-".
func token(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s", what)
	case strings.HasPrefix(s, "-"):
		return fmt.Errorf("%s %q starts with \"-\"", what, s)
	case strings.ContainsAny(s, "#"):
		return fmt.Errorf("%s %q contains \"#\"", what, s)
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return fmt.Errorf("%s %q contains whitespace or a control character", what, s)
	}
	return nil
}

// Desired validates `repos.apt` and renders its files. Every error names its position.
func Desired(c *chobolo.Chobolo) ([]Want, error) {
	var out []Want
	seen := map[string]bool{}
	for i, r := range c.Repos.Apt {
		at := fmt.Sprintf("repos.apt[%d]", i)
		fail := func(sub string, err error) error {
			return fmt.Errorf("%s: %s%s: %w", c.Pos(at+sub), at, sub, err)
		}
		if !nameRe.MatchString(r.Name) {
			return nil, fail(".name", fmt.Errorf("invalid repository name %q: use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit", r.Name))
		}
		if seen[r.Name] {
			return nil, fail(".name", fmt.Errorf("repository %q is declared twice", r.Name))
		}
		seen[r.Name] = true
		types := r.Types
		if len(types) == 0 {
			types = []string{"deb"}
		}
		for j, t := range types {
			if t != "deb" && t != "deb-src" {
				return nil, fail(fmt.Sprintf(".types[%d]", j), fmt.Errorf("type %q: want deb or deb-src", t))
			}
		}
		if len(r.URIs) == 0 {
			return nil, fail(".uris", fmt.Errorf("at least one URI is required"))
		}
		for j, u := range r.URIs {
			if err := token("URI", u); err != nil {
				return nil, fail(fmt.Sprintf(".uris[%d]", j), err)
			}
			if !uriRe.MatchString(u) {
				return nil, fail(fmt.Sprintf(".uris[%d]", j), fmt.Errorf("URI %q has no scheme (http:, https:, file:, ...)", u))
			}
		}
		if len(r.Suites) == 0 {
			return nil, fail(".suites", fmt.Errorf("at least one suite is required"))
		}
		flat := false
		for j, s := range r.Suites {
			if err := token("suite", s); err != nil {
				return nil, fail(fmt.Sprintf(".suites[%d]", j), err)
			}
			if strings.HasSuffix(s, "/") {
				flat = true
			}
		}
		switch {
		case flat && len(r.Components) > 0:
			return nil, fail(".components", fmt.Errorf("a flat repository (suite ending in /) takes no components"))
		case !flat && len(r.Components) == 0:
			return nil, fail(".components", fmt.Errorf("components are required (e.g. [main]) unless the suite ends in / (flat repository)"))
		}
		for j, s := range r.Components {
			if err := token("component", s); err != nil {
				return nil, fail(fmt.Sprintf(".components[%d]", j), err)
			}
		}
		for j, a := range r.Architectures {
			if !archRe.MatchString(a) {
				return nil, fail(fmt.Sprintf(".architectures[%d]", j), fmt.Errorf("invalid architecture %q", a))
			}
		}
		key, keyAt := r.Key, ".key"
		if key == "" && r.KeyFile != "" {
			key, keyAt = r.KeyText, ".key_file"
			if key == "" {
				return nil, fail(keyAt, fmt.Errorf("key_file %q was not read (empty file?)", r.KeyFile))
			}
		}
		if key != "" {
			if strings.ContainsRune(key, 0) || !strings.Contains(key, "-----BEGIN PGP PUBLIC KEY BLOCK-----") ||
				!strings.Contains(key, "-----END PGP PUBLIC KEY BLOCK-----") {
				return nil, fail(keyAt, fmt.Errorf("not an ASCII-armored OpenPGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----)"))
			}
			if !strings.HasSuffix(key, "\n") {
				key += "\n"
			}
			out = append(out, Want{Repo: r.Name, Path: KeyringPath(r.Name), Content: key, Pos: c.Pos(at + keyAt), What: "keyring"})
		}
		out = append(out, Want{Repo: r.Name, Path: SourcesPath(r.Name), Content: Render(r, types, key != ""), Pos: c.Pos(at), What: "sources"})
	}
	return out, nil
}

// Render writes a repository as a deb822 stanza (sources.list(5)).
func Render(r chobolo.AptRepo, types []string, signed bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Managed by chaos (repos.apt %s in the Ch-obolo); local changes are overwritten.\n", r.Name)
	fmt.Fprintf(&b, "Types: %s\n", strings.Join(types, " "))
	fmt.Fprintf(&b, "URIs: %s\n", strings.Join(r.URIs, " "))
	fmt.Fprintf(&b, "Suites: %s\n", strings.Join(r.Suites, " "))
	if len(r.Components) > 0 {
		fmt.Fprintf(&b, "Components: %s\n", strings.Join(r.Components, " "))
	}
	if len(r.Architectures) > 0 {
		fmt.Fprintf(&b, "Architectures: %s\n", strings.Join(r.Architectures, " "))
	}
	if signed {
		fmt.Fprintf(&b, "Signed-By: %s\n", KeyringPath(r.Name))
	}
	if r.Trusted {
		b.WriteString("Trusted: yes\n")
	}
	if r.Enabled != nil && !*r.Enabled {
		b.WriteString("Enabled: no\n")
	}
	return b.String()
}

// Plan implements engine.Role.
func (r *Role) Plan(env *engine.Env, c *chobolo.Chobolo, facts engine.Facts) (*engine.RolePlan, error) {
	if !c.Has("repos") {
		return &engine.RolePlan{}, nil // full state only for a declared section
	}
	want, err := Desired(c)
	if err != nil {
		return nil, err
	}
	files, err := filedump.Parse(facts["files"].Stdout)
	if err != nil {
		return nil, err
	}
	return BuildPlan(want, files, env.Ledger[LedgerDomain]), nil
}

// BuildPlan is the pure delta and plan: write what differs, remove ledger files no longer wanted, and
// run apt-get update when anything changed.
func BuildPlan(want []Want, files map[string]filedump.File, ledger []string) *engine.RolePlan {
	rp := &engine.RolePlan{}
	wanted := map[string]bool{}
	var steps []engine.Step
	needKeyrings := false
	for _, w := range want {
		wanted[w.Path] = true
		cur, ok := files[w.Path]
		var ch engine.Change
		switch {
		case !ok:
			ch = engine.Change{Kind: engine.Add, Subject: "repo " + w.Repo, Detail: w.What + " " + w.Path, Pos: w.Pos}
		case cur.Content != w.Content:
			ch = engine.Change{Kind: engine.Modify, Subject: "repo " + w.Repo, Detail: w.What + " " + w.Path + " changed", Pos: w.Pos}
		case cur.Mode.Perm() != fileMode || cur.UID != 0 || cur.GID != 0:
			ch = engine.Change{Kind: engine.Modify, Subject: "repo " + w.Repo,
				Detail: fmt.Sprintf("%s %s mode %04o owner %d:%d -> 0644 root:root", w.What, w.Path, uint32(cur.Mode.Perm()), cur.UID, cur.GID), Pos: w.Pos}
		default:
			continue
		}
		if w.What == "keyring" {
			needKeyrings = true
		}
		steps = append(steps, engine.Step{Changes: []engine.Change{ch},
			Ops: []engine.Op{engine.Write(w.Path, []byte(w.Content), fileMode, "root", "root")}})
		if !slices.Contains(rp.Refreshes, w.Repo) {
			rp.Refreshes = append(rp.Refreshes, w.Repo)
		}
	}
	for _, p := range slices.Sorted(slices.Values(ledger)) {
		if wanted[p] || !managedPath.MatchString(p) {
			continue
		}
		if _, ok := files[p]; !ok {
			continue
		}
		name := strings.TrimPrefix(p[strings.LastIndexByte(p, '/')+1:], "chaos-")
		name = strings.TrimSuffix(strings.TrimSuffix(name, ".sources"), ".asc")
		steps = append(steps, engine.Step{Changes: []engine.Change{{Kind: engine.Del, Subject: "repo " + name,
			Detail: p + " (created by chaos, no longer declared)"}}, Ops: []engine.Op{engine.Remove(p)}})
		if !slices.Contains(rp.Refreshes, name) {
			rp.Refreshes = append(rp.Refreshes, name)
		}
	}
	for p := range files {
		if !wanted[p] && !slices.Contains(ledger, p) {
			rp.Notes = append(rp.Notes, fmt.Sprintf("%s was not created by chaos (not in its ledger): left alone", p))
		}
	}
	slices.Sort(rp.Notes)
	if len(steps) > 0 {
		// The first op exists to carry the undo of `apt-get update`: if the apply fails later, the
		// engine restores the files first and then refreshes apt's lists to match them again.
		pre := []engine.Op{engine.Mkdir(SourcesDir, 0o755, "", "").WithUndo(debian.AptGet("update"))}
		if needKeyrings {
			pre = append(pre, engine.Mkdir(KeyringsDir, 0o755, "", ""))
		}
		steps[0].Ops = append(pre, steps[0].Ops...)
		last := &steps[len(steps)-1]
		last.Ops = append(last.Ops, debian.AptGet("update"))
	}
	rp.Steps = steps
	ledgerItems := make([]string, 0, len(want))
	for _, w := range want {
		ledgerItems = append(ledgerItems, w.Path)
	}
	rp.Ledger = map[string][]string{LedgerDomain: ledgerItems}
	return rp
}
