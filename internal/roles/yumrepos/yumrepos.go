// Package yumrepos is the Fedora/RHEL `repos` role (Ch-iron): `repos.dnf` entries become `.repo` files
// under /etc/yum.repos.d/ (one file per entry, chaos-NAME.repo). Entries are plain repositories
// (baseurl, metalink or mirrorlist), COPR projects (`copr: owner/project`) or RPM Fusion
// (`rpmfusion: free` / `nonfree`). Files chaos created (the host ledger, domain "repos.dnf") that leave
// the Ch-obolo are removed; no other file is ever touched. `dnf makecache` runs only when a file
// changed.
package yumrepos

import (
	"cmp"
	_ "embed"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/ch-aos-ch/chaos/internal/filedump"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/fedora"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"go.yaml.in/yaml/v3"
)

// explainMD is the text of `chaos explain repos-fedora`.
//
//go:embed explain.md
var explainMD string

// LedgerDomain is the ledger domain of the files this role creates.
const LedgerDomain = "repos.dnf"

// ReposDir is where dnf reads repositories.
const ReposDir = "/etc/yum.repos.d"

// FilePath is the .repo file of the entry with file stem stem.
func FilePath(stem string) string { return ReposDir + "/chaos-" + stem + ".repo" }

// managedPath matches the files this role may create; a ledger entry that does not match is ignored.
var managedPath = regexp.MustCompile(`^/etc/yum\.repos\.d/chaos-[A-Za-z0-9][A-Za-z0-9._-]*\.repo$`)

const fileMode fs.FileMode = 0o644

// Role is the Fedora repos role.
type Role struct{}

// New returns the role.
func New() engine.Role { return &Role{} }

// Meta implements engine.Role.
func (r *Role) Meta() engine.Meta {
	return engine.Meta{
		Name:    "repos",
		Aliases: []string{"repositories"},
		Keys:    []string{"repos"},
		Cores:   []string{fedora.Core},
		Summary: "dnf repositories: .repo files in /etc/yum.repos.d (COPR, RPM Fusion); dnf makecache on change",
		Explain: explainMD,
		Order:   10,
	}
}

// Probe implements engine.Role.
func (r *Role) Probe(env *engine.Env, c *chobolo.Chobolo) []engine.ProbeSection {
	return []engine.ProbeSection{
		{Name: "files", Script: filedump.Script(ReposDir + "/chaos-*.repo")},
		{Name: "dnf", Script: fedora.ToolProbe},
	}
}

// Repo is one `repos.dnf` entry as written in the Ch-obolo.
type Repo struct {
	// Name is the repository id ([name] in the file; file /etc/yum.repos.d/chaos-NAME.repo).
	Name string `yaml:"name"`
	// Description is the human-readable name= line (default: Name).
	Description string   `yaml:"description"`
	BaseURL     strList  `yaml:"baseurl"`
	Metalink    string   `yaml:"metalink"`
	Mirrorlist  string   `yaml:"mirrorlist"`
	GPGCheck    *bool    `yaml:"gpgcheck"` // default true
	GPGKey      strList  `yaml:"gpgkey"`
	Enabled     *bool    `yaml:"enabled"` // default true
	Priority    *int     `yaml:"priority"`
	Copr        string   `yaml:"copr"`      // owner/project or @group/project
	RPMFusion   string   `yaml:"rpmfusion"` // free or nonfree
	Exclude     []string `yaml:"exclude"`
}

// strList is a string or a list of strings.
type strList []string

func (s *strList) UnmarshalYAML(v *yaml.Node) error {
	if v.Kind == yaml.ScalarNode {
		*s = strList{v.Value}
		return nil
	}
	var l []string
	if err := v.Decode(&l); err != nil {
		return err
	}
	*s = l
	return nil
}

var repoFields = []string{"name", "description", "baseurl", "metalink", "mirrorlist", "gpgcheck", "gpgkey", "enabled",
	"priority", "copr", "rpmfusion", "exclude"}

// Entry is a decoded entry with the positions of its fields.
type Entry struct {
	Repo
	Pos    chobolo.Pos
	Fields map[string]chobolo.Pos
	Index  int
}

// at returns the position of field f, or of the entry.
func (e Entry) at(f string) chobolo.Pos {
	if p, ok := e.Fields[f]; ok {
		return p
	}
	return e.Pos
}

// Decode reads `repos.dnf` (kept by the loader under Repos.Extra["dnf"]) with positions.
func Decode(c *chobolo.Chobolo) ([]Entry, error) {
	n := c.Repos.Extra["dnf"]
	if n == nil {
		return nil, nil
	}
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "") {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s: repos.dnf: expected a list of repositories", c.NodePos(n))
	}
	var out []Entry
	for i, item := range n.Content {
		at := fmt.Sprintf("repos.dnf[%d]", i)
		if item.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: %s: expected a map (name, baseurl, ... or copr: owner/project)", c.NodePos(item), at)
		}
		e := Entry{Pos: c.NodePos(item), Fields: map[string]chobolo.Pos{}, Index: i}
		for j := 0; j+1 < len(item.Content); j += 2 {
			k := item.Content[j]
			if !slices.Contains(repoFields, k.Value) {
				return nil, fmt.Errorf("%s: %s: unknown key %q (known: %s)", c.NodePos(k), at, k.Value, strings.Join(repoFields, ", "))
			}
			e.Fields[k.Value] = c.NodePos(item.Content[j+1])
		}
		if err := item.Decode(&e.Repo); err != nil {
			return nil, fmt.Errorf("%s: %s: %v", c.NodePos(item), at, strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  "))
		}
		out = append(out, e)
	}
	return out, nil
}

// Want is one file the Ch-obolo asks for.
type Want struct {
	Repo    string // repository id(s), for messages
	Path    string
	Content string
	Pos     chobolo.Pos
}

var (
	idRe      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	coprRe    = regexp.MustCompile(`^(@?[A-Za-z0-9][A-Za-z0-9._-]*)/([A-Za-z0-9][A-Za-z0-9._+-]*)$`)
	urlRe     = regexp.MustCompile(`^(https?|ftp|file)://[^\s]+$`)
	excludeRe = regexp.MustCompile(`^[A-Za-z0-9._+*?\[\]-]+$`)
)

// value checks a value that goes on one line of an ini file.
func value(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s", what)
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) }):
		return fmt.Errorf("%s %q contains a control character or a line break", what, s)
	}
	return nil
}

func checkURL(what, u string) error {
	if err := value(what, u); err != nil {
		return err
	}
	if !urlRe.MatchString(u) {
		return fmt.Errorf("%s %q is not an http(s)://, ftp:// or file:// URL", what, u)
	}
	return nil
}

// section is one [id] block of a .repo file, in key order.
type section struct {
	id   string
	keys [][2]string
}

func (s *section) set(k, v string) { s.keys = append(s.keys, [2]string{k, v}) }

func boolVal(b *bool, def bool) string {
	if b == nil {
		b = &def
	}
	if *b {
		return "1"
	}
	return "0"
}

// Desired validates `repos.dnf` and renders its files. Every error names its position.
func Desired(c *chobolo.Chobolo) ([]Want, []string, error) {
	entries, err := Decode(c)
	if err != nil {
		return nil, nil, err
	}
	var out []Want
	var notes []string
	seenID := map[string]bool{}
	seenFile := map[string]bool{}
	for _, e := range entries {
		at := fmt.Sprintf("repos.dnf[%d]", e.Index)
		fail := func(field string, err error) error {
			sub := ""
			if field != "" {
				sub = "." + field
			}
			return fmt.Errorf("%s: %s%s: %w", e.at(field), at, sub, err)
		}
		var secs []section
		var stem string
		kinds := 0
		for _, k := range []string{e.Copr, e.RPMFusion} {
			if k != "" {
				kinds++
			}
		}
		if len(e.BaseURL) > 0 || e.Metalink != "" || e.Mirrorlist != "" {
			kinds++
		}
		if kinds != 1 {
			return nil, nil, fail("", fmt.Errorf("give exactly one of baseurl/metalink/mirrorlist, copr: OWNER/PROJECT or rpmfusion: free|nonfree"))
		}
		switch {
		case e.Copr != "":
			m := coprRe.FindStringSubmatch(e.Copr)
			if m == nil {
				return nil, nil, fail("copr", fmt.Errorf("invalid COPR project %q: want OWNER/PROJECT (or @GROUP/PROJECT)", e.Copr))
			}
			owner, project := m[1], m[2]
			idOwner := owner
			if g, ok := strings.CutPrefix(owner, "@"); ok {
				idOwner = "group_" + g
			}
			id := "copr:copr.fedorainfracloud.org:" + idOwner + ":" + project
			if e.Name != "" {
				return nil, nil, fail("name", fmt.Errorf("a copr entry takes no name (its id is %s)", id))
			}
			stem = "copr-" + strings.TrimPrefix(owner, "@") + "-" + project
			base := "https://download.copr.fedorainfracloud.org/results/" + owner + "/" + project
			s := section{id: id}
			s.set("name", "Copr repo for "+project+" owned by "+owner)
			s.set("baseurl", base+"/fedora-$releasever-$basearch/")
			s.set("type", "rpm-md")
			s.set("skip_if_unavailable", "True")
			s.set("gpgcheck", boolVal(e.GPGCheck, true))
			s.set("gpgkey", base+"/pubkey.gpg")
			s.set("repo_gpgcheck", "0")
			s.set("enabled", boolVal(e.Enabled, true))
			s.set("enabled_metadata", "1")
			secs = append(secs, s)
		case e.RPMFusion != "":
			kind := e.RPMFusion
			if kind != "free" && kind != "nonfree" {
				return nil, nil, fail("rpmfusion", fmt.Errorf("rpmfusion %q: want free or nonfree", kind))
			}
			if e.Name != "" || len(e.GPGKey) > 0 {
				return nil, nil, fail("rpmfusion", fmt.Errorf("an rpmfusion entry takes no name or gpgkey"))
			}
			stem = "rpmfusion-" + kind
			title := map[string]string{"free": "Free", "nonfree": "Nonfree"}[kind]
			key := "file:///usr/share/distribution-gpg-keys/rpmfusion/RPM-GPG-KEY-rpmfusion-" + kind + "-fedora-$releasever"
			for _, sub := range []struct{ id, repo, title string }{
				{"rpmfusion-" + kind, kind + "-fedora-$releasever", ""},
				{"rpmfusion-" + kind + "-updates", kind + "-fedora-updates-released-$releasever", " - Updates"},
			} {
				s := section{id: sub.id}
				s.set("name", "RPM Fusion for Fedora $releasever - "+title+sub.title)
				s.set("metalink", "https://mirrors.rpmfusion.org/metalink?repo="+sub.repo+"&arch=$basearch")
				s.set("enabled", boolVal(e.Enabled, true))
				s.set("type", "rpm-md")
				s.set("gpgcheck", boolVal(e.GPGCheck, true))
				s.set("repo_gpgcheck", "0")
				s.set("gpgkey", key)
				secs = append(secs, s)
			}
			notes = append(notes, fmt.Sprintf("%s: RPM Fusion's signing keys come from the package distribution-gpg-keys (declare it in packages) or rpmfusion-%s-release", e.at("rpmfusion"), kind))
		default:
			if !idRe.MatchString(e.Name) {
				return nil, nil, fail("name", fmt.Errorf("invalid repository id %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", e.Name))
			}
			stem = e.Name
			s := section{id: e.Name}
			desc := e.Description
			desc = cmp.Or(desc, e.Name)
			if err := value("description", desc); err != nil {
				return nil, nil, fail("description", err)
			}
			s.set("name", desc)
			kindsURL := 0
			if len(e.BaseURL) > 0 {
				kindsURL++
				for _, u := range e.BaseURL {
					if err := checkURL("baseurl", u); err != nil {
						return nil, nil, fail("baseurl", err)
					}
				}
				s.set("baseurl", strings.Join(e.BaseURL, "\n        "))
			}
			if e.Metalink != "" {
				kindsURL++
				if err := checkURL("metalink", e.Metalink); err != nil {
					return nil, nil, fail("metalink", err)
				}
				s.set("metalink", e.Metalink)
			}
			if e.Mirrorlist != "" {
				kindsURL++
				if err := checkURL("mirrorlist", e.Mirrorlist); err != nil {
					return nil, nil, fail("mirrorlist", err)
				}
				s.set("mirrorlist", e.Mirrorlist)
			}
			if kindsURL != 1 {
				return nil, nil, fail("", fmt.Errorf("give exactly one of baseurl, metalink and mirrorlist"))
			}
			s.set("enabled", boolVal(e.Enabled, true))
			s.set("gpgcheck", boolVal(e.GPGCheck, true))
			if len(e.GPGKey) > 0 {
				for _, k := range e.GPGKey {
					if err := checkURL("gpgkey", k); err != nil {
						return nil, nil, fail("gpgkey", err)
					}
				}
				s.set("gpgkey", strings.Join(e.GPGKey, "\n       "))
			} else if e.GPGCheck == nil || *e.GPGCheck {
				notes = append(notes, fmt.Sprintf("%s: repository %s checks signatures (gpgcheck defaults to true) but has no gpgkey: dnf will refuse its packages unless the key is already imported", e.at("name"), e.Name))
			}
			secs = append(secs, s)
		}
		// Options common to every kind.
		if e.Priority != nil {
			if *e.Priority < 1 || *e.Priority > 99 {
				return nil, nil, fail("priority", fmt.Errorf("priority %d: want 1 (highest) to 99 (dnf's default)", *e.Priority))
			}
			for i := range secs {
				secs[i].set("priority", strconv.Itoa(*e.Priority))
			}
		}
		if len(e.Exclude) > 0 {
			for _, x := range e.Exclude {
				if !excludeRe.MatchString(x) {
					return nil, nil, fail("exclude", fmt.Errorf("invalid exclude pattern %q", x))
				}
			}
			for i := range secs {
				secs[i].set("excludepkgs", strings.Join(e.Exclude, ","))
			}
		}
		var ids []string
		for _, s := range secs {
			if seenID[s.id] {
				return nil, nil, fail("", fmt.Errorf("repository %q is declared twice", s.id))
			}
			seenID[s.id] = true
			ids = append(ids, s.id)
		}
		path := FilePath(stem)
		if seenFile[path] || !managedPath.MatchString(path) {
			return nil, nil, fail("", fmt.Errorf("repository file %s is declared twice or has an invalid name", path))
		}
		seenFile[path] = true
		out = append(out, Want{Repo: strings.Join(ids, ", "), Path: path, Content: Render(at, secs), Pos: e.Pos})
	}
	return out, notes, nil
}

// Render writes sections as a dnf .repo (ini) file.
func Render(at string, secs []section) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Managed by chaos (%s in the Ch-obolo); local changes are overwritten.\n", at)
	for i, s := range secs {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "[%s]\n", s.id)
		for _, kv := range s.keys {
			fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
		}
	}
	return b.String()
}

var _ engine.Owner = (*Role)(nil)

// Owns implements engine.Owner: each declared repository's .repo file, and the role's namespace
// (chaos-*.repo), which it prunes, whenever `repos` is declared.
func (r *Role) Owns(_ string, c *chobolo.Chobolo) []engine.Claim {
	if !c.Has("repos") {
		return nil
	}
	var out []engine.Claim
	want, _, _ := Desired(c) // an invalid entry is Plan's error, with its position
	for _, w := range want {
		out = append(out, engine.Claim{Path: w.Path, Pos: w.Pos, Why: "dnf repository " + w.Repo})
	}
	return append(out, engine.Claim{Path: ReposDir + "/chaos-*.repo", Glob: true, Pos: c.Pos("repos"),
		Why: "dnf repositories chaos created (pruned when undeclared)"})
}

// Plan implements engine.Role.
func (r *Role) Plan(env *engine.Env, c *chobolo.Chobolo, facts engine.Facts) (*engine.RolePlan, error) {
	if !c.Has("repos") {
		return &engine.RolePlan{}, nil // full state only for a declared section
	}
	want, notes, err := Desired(c)
	if err != nil {
		return nil, err
	}
	files, err := filedump.Parse(facts["files"].Stdout)
	if err != nil {
		return nil, err
	}
	dnf := fedora.Dnf4
	if t, ok := fedora.ParseTool(strings.TrimPrefix(strings.TrimSpace(facts["dnf"].Stdout), "dnf=")); ok {
		dnf = t
	}
	rp := BuildPlan(want, files, env.Ledger[LedgerDomain], dnf)
	rp.Notes = append(notes, rp.Notes...)
	return rp, nil
}

// Makecache is the op that refreshes the host's dnf metadata after the repositories changed (also
// the undo of the first file change: after a rollback the cache matches the restored files again).
// dnf 4 and dnf5 both call it makecache.
func Makecache(dnf fedora.Tool) engine.Op { return dnf.Op("makecache") }

// BuildPlan is the pure delta and plan: write what differs, remove ledger files no longer wanted, and
// run the host's dnf makecache when anything changed.
func BuildPlan(want []Want, files map[string]filedump.File, ledger []string, dnf fedora.Tool) *engine.RolePlan {
	rp := &engine.RolePlan{}
	wanted := map[string]bool{}
	var steps []engine.Step
	for _, w := range want {
		wanted[w.Path] = true
		cur, ok := files[w.Path]
		var ch engine.Change
		switch {
		case !ok:
			ch = engine.Change{Kind: engine.Add, Subject: "repo " + w.Repo, Detail: w.Path, Pos: w.Pos}
		case cur.Content != w.Content:
			ch = engine.Change{Kind: engine.Modify, Subject: "repo " + w.Repo, Detail: w.Path + " changed", Pos: w.Pos}
		case cur.Mode.Perm() != fileMode || cur.UID != 0 || cur.GID != 0:
			ch = engine.Change{Kind: engine.Modify, Subject: "repo " + w.Repo,
				Detail: fmt.Sprintf("%s mode %04o owner %d:%d -> 0644 root:root", w.Path, uint32(cur.Mode.Perm()), cur.UID, cur.GID), Pos: w.Pos}
		default:
			continue
		}
		steps = append(steps, engine.Step{Changes: []engine.Change{ch},
			Ops: []engine.Op{engine.Write(w.Path, []byte(w.Content), fileMode, "root", "root")}})
		rp.Refreshes = append(rp.Refreshes, w.Repo)
	}
	for _, p := range slices.Sorted(slices.Values(ledger)) {
		if wanted[p] || !managedPath.MatchString(p) {
			continue
		}
		if _, ok := files[p]; !ok {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(p[strings.LastIndexByte(p, '/')+1:], "chaos-"), ".repo")
		steps = append(steps, engine.Step{Changes: []engine.Change{{Kind: engine.Del, Subject: "repo " + name,
			Detail: p + " (created by chaos, no longer declared)"}}, Ops: []engine.Op{engine.Remove(p)}})
		rp.Refreshes = append(rp.Refreshes, name)
	}
	for p := range files {
		if !wanted[p] && !slices.Contains(ledger, p) {
			rp.Notes = append(rp.Notes, fmt.Sprintf("%s was not created by chaos (not in its ledger): left alone", p))
		}
	}
	slices.Sort(rp.Notes)
	if len(steps) > 0 {
		pre := []engine.Op{engine.Mkdir(ReposDir, 0o755, "", "").WithUndo(Makecache(dnf))}
		steps[0].Ops = append(pre, steps[0].Ops...)
		last := &steps[len(steps)-1]
		last.Ops = append(last.Ops, Makecache(dnf))
	}
	rp.Steps = steps
	items := make([]string, 0, len(want))
	for _, w := range want {
		items = append(items, w.Path)
	}
	rp.Ledger = map[string][]string{LedgerDomain: items}
	return rp
}
