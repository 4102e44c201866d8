// Package styx is the registry of Souls and Ch-obolo bundles: the index (a git repository holding
// a signed registry.yaml, the original Ch-aOS's format extended), SSH signatures of artifacts and
// of the index, reproducible packing and safe unpacking, offline dependency resolution, the client
// that installs, updates, verifies and locks, and the static site.
//
// The CLI (internal/cli) and the Capitain server call the same Client; nothing here prints.
package styx

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// IndexFile is the index's file in its repository; IndexSigFile its signature.
const (
	IndexFile    = "registry.yaml"
	IndexSigFile = "registry.yaml.sig"
)

// Kind is what an entry distributes.
type Kind string

const (
	KindSoul    Kind = "soul"    // a Soul directory (soul.yaml and its executable)
	KindChobolo Kind = "chobolo" // a Ch-obolo bundle, imported with imports: [{styx: NAME@VER}]
	// KindWheel is an entry in the original's format: a Python wheel for the original Ch-aOS.
	// It lists; installing it explains what the Go chaos offers instead.
	KindWheel Kind = "wheel"
)

// Index is a parsed registry.yaml.
type Index struct {
	File    string
	Entries map[string]*Entry
}

// Entry is one name in the index.
type Entry struct {
	Name    string   `json:"name"`
	Kind    Kind     `json:"kind"`
	About   string   `json:"about,omitempty"`
	Repo    string   `json:"repo,omitempty"`
	License string   `json:"license,omitempty"`
	Tags    []string `json:"tags,omitempty"`
	// Key is the publisher's ed25519 public key (authorized_keys form) that signs every version.
	Key    string `json:"key,omitempty"`
	Readme string `json:"readme,omitempty"`
	// Versions, newest first.
	Versions []*Version  `json:"versions"`
	Pos      chobolo.Pos `json:"-"`
}

// Version is one published version of an entry.
type Version struct {
	Version string `json:"version"`
	// URL is the artifact: a tarball (https://, file://) that publish made.
	URL    string `json:"url,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Sig is the publisher's SSH signature of the artifact (namespace NamespaceArtifact).
	Sig string `json:"sig,omitempty"`
	// Chaos is the range of chaos versions it supports ("" = any).
	Chaos string `json:"chaos,omitempty"`
	// Requires are other entries it needs, by semver range.
	Requires map[string]string `json:"requires,omitempty"`
	// Yanked, when not empty, says why this version is never chosen anew (a lock still installs it).
	Yanked string      `json:"yanked,omitempty"`
	Pos    chobolo.Pos `json:"-"`

	sem      *semver.Version
	chaos    *semver.Constraints
	requires map[string]*semver.Constraints
}

// Semver is the parsed version.
func (v *Version) Semver() *semver.Version { return v.sem }

// Names are the index's names, sorted.
func (ix *Index) Names() []string {
	names := make([]string, 0, len(ix.Entries))
	for n := range ix.Entries {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Lookup returns the entry and, when ver is not empty, that exact version.
func (ix *Index) Lookup(name, ver string) (*Entry, *Version, error) {
	e, ok := ix.Entries[name]
	if !ok {
		return nil, nil, fmt.Errorf("%s: no such entry in the index%s", name, chobolo.DidYouMean(name, ix.Names()))
	}
	if ver == "" {
		return e, nil, nil
	}
	want, err := semver.NewVersion(ver)
	if err != nil {
		return nil, nil, fmt.Errorf("%s@%s: %v", name, ver, err)
	}
	for _, v := range e.Versions {
		if v.sem.Equal(want) {
			return e, v, nil
		}
	}
	return nil, nil, fmt.Errorf("%s@%s: no such version (the index has %s)", name, ver, strings.Join(e.versionList(), ", "))
}

func (e *Entry) versionList() []string {
	var out []string
	for _, v := range e.Versions {
		out = append(out, v.Version)
	}
	return out
}

// Latest is the newest version that is not yanked, or nil.
func (e *Entry) Latest() *Version {
	for _, v := range e.Versions {
		if v.Yanked == "" {
			return v
		}
	}
	return nil
}

// SplitRef splits NAME[@VER].
func SplitRef(ref string) (name, ver string) {
	name, ver, _ = strings.Cut(ref, "@")
	return name, ver
}

var (
	nameRe   = regexp.MustCompile(`^([a-z0-9][a-z0-9-]*/)?[a-z0-9][a-z0-9-]*$`)
	sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ValidName checks an entry name: lowercase letters, digits and '-', optionally publisher/name.
func ValidName(name string) error {
	if !nameRe.MatchString(name) {
		return fmt.Errorf("name %q: want lowercase letters, digits and '-', optionally namespaced as publisher/name", name)
	}
	return nil
}

// maxIndexSize bounds registry.yaml; 10,000 entries are a few MiB.
const maxIndexSize = 64 << 20

// ParseIndex reads registry.yaml. Every problem is reported, each as FILE:LINE:COL.
func ParseIndex(file string, data []byte) (*Index, error) {
	if len(data) > maxIndexSize {
		return nil, fmt.Errorf("%s: the index is larger than %d MiB", file, maxIndexSize>>20)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, chobolo.SyntaxError(file, data, err)
	}
	p := &parser{file: file}
	ix := &Index{File: file, Entries: map[string]*Entry{}}
	if len(doc.Content) == 0 {
		return ix, nil
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, p.fail(top, "an index is a mapping with the key styx")
	}
	styx := mapGet(top, "styx")
	p.keys(top, "", "styx")
	if styx != nil && styx.ShortTag() != "!!null" {
		if styx.Kind != yaml.MappingNode {
			p.errorf(styx, "styx: want a mapping of entry names to entries")
		} else {
			for i := 0; i+1 < len(styx.Content); i += 2 {
				if e := p.entry(styx.Content[i], styx.Content[i+1]); e != nil {
					if _, dup := ix.Entries[e.Name]; dup {
						p.errorf(styx.Content[i], "%s: declared twice", e.Name)
					}
					ix.Entries[e.Name] = e
				}
			}
		}
	}
	for _, e := range ix.Entries {
		for _, v := range e.Versions {
			for dep := range v.Requires {
				if _, ok := ix.Entries[dep]; !ok {
					p.problems = append(p.problems, problem{v.Pos, fmt.Sprintf("%s: %s@%s requires %s, which the index does not have", v.Pos, e.Name, v.Version, dep)})
				}
			}
		}
	}
	if len(p.problems) > 0 {
		slices.SortStableFunc(p.problems, func(a, b problem) int { // in the file's order
			return cmp.Or(cmp.Compare(a.pos.Line, b.pos.Line), cmp.Compare(a.pos.Col, b.pos.Col))
		})
		var lines []string
		for _, pr := range p.problems {
			lines = append(lines, pr.msg)
		}
		return nil, errors.New(strings.Join(lines, "\n"))
	}
	return ix, nil
}

type parser struct {
	file     string
	problems []problem
}

type problem struct {
	pos chobolo.Pos
	msg string
}

func (p *parser) pos(n *yaml.Node) chobolo.Pos {
	return chobolo.Pos{File: p.file, Line: n.Line, Col: n.Column}
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.problems = append(p.problems, problem{p.pos(n), fmt.Sprintf("%s: %s", p.pos(n), fmt.Sprintf(format, args...))})
}

func (p *parser) fail(n *yaml.Node, format string, args ...any) error {
	p.errorf(n, format, args...)
	return errors.New(p.problems[0].msg)
}

// keys reports keys of m that are not in known.
func (p *parser) keys(m *yaml.Node, where string, known ...string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if !slices.Contains(known, k.Value) {
			p.errorf(k, "%sunknown key %q (known: %s)%s", where, k.Value, strings.Join(known, ", "), chobolo.DidYouMean(k.Value, known))
		}
	}
}

// str reads a scalar string field; null is "".
func (p *parser) str(m *yaml.Node, key, where string) string {
	n := mapGet(m, key)
	if n == nil || n.ShortTag() == "!!null" {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "%s%s: want a string", where, key)
		return ""
	}
	return n.Value
}

var entryKeys = []string{"name", "kind", "repo", "about", "version", "hash", "license", "tags", "key", "readme", "versions"}
var versionKeys = []string{"version", "url", "sha256", "sig", "chaos", "requires", "yanked"}

func (p *parser) entry(k, m *yaml.Node) *Entry {
	name := k.Value
	where := name + ": "
	if err := ValidName(name); err != nil {
		p.errorf(k, "%v", err)
		return nil
	}
	if m.Kind != yaml.MappingNode {
		p.errorf(m, "%swant a mapping (name, about, versions, ...)", where)
		return nil
	}
	p.keys(m, where, entryKeys...)
	e := &Entry{Name: name, Pos: p.pos(k), About: p.str(m, "about", where), Repo: p.str(m, "repo", where),
		License: p.str(m, "license", where), Key: p.str(m, "key", where), Readme: p.str(m, "readme", where)}
	if n := p.str(m, "name", where); n != "" && n != name {
		p.errorf(mapGet(m, "name"), "%sname %q differs from the entry's key %q", where, n, name)
	}
	if t := mapGet(m, "tags"); t != nil && t.ShortTag() != "!!null" {
		if t.Kind != yaml.SequenceNode {
			p.errorf(t, "%stags: want a list of words", where)
		}
		for _, c := range t.Content {
			if c.Kind != yaml.ScalarNode {
				p.errorf(c, "%stags: want a word", where)
				continue
			}
			e.Tags = append(e.Tags, c.Value)
		}
	}
	kind := p.str(m, "kind", where)
	versions := mapGet(m, "versions")
	if versions == nil {
		// The original's format: one version of a Python wheel, {name, repo, about, version, hash}.
		if kind != "" && kind != string(KindWheel) {
			p.errorf(mapGet(m, "kind"), "%skind %s needs versions: [{version, url, sha256, sig}]", where, kind)
			return nil
		}
		e.Kind = KindWheel
		vn := mapGet(m, "version")
		if vn == nil {
			p.errorf(k, "%sneither versions nor version", where)
			return nil
		}
		v := &Version{Version: p.str(m, "version", where), SHA256: p.str(m, "hash", where), Pos: p.pos(vn)}
		if p.version(v, vn, where) {
			e.Versions = []*Version{v}
		}
		return e
	}
	for _, old := range []string{"version", "hash"} {
		if n := mapGet(m, old); n != nil {
			p.errorf(n, "%s%s: belongs in versions (the original's one-version form has no versions list)", where, old)
		}
	}
	switch Kind(kind) {
	case KindSoul, KindChobolo:
		e.Kind = Kind(kind)
	case "":
		p.errorf(k, "%skind: missing (soul or chobolo)", where)
	default:
		p.errorf(mapGet(m, "kind"), "%skind %q: want soul or chobolo", where, kind)
	}
	// A missing key or sig is an unsigned entry: it loads (and lists) but installs only with
	// --allow-unsigned, for local development.
	if e.Key != "" {
		if _, err := ParsePublicKey(e.Key); err != nil {
			p.errorf(mapGet(m, "key"), "%s%v", where, err)
		}
	}
	if versions.Kind != yaml.SequenceNode {
		p.errorf(versions, "%sversions: want a list", where)
		return nil
	}
	for _, vn := range versions.Content {
		if vn.Kind != yaml.MappingNode {
			p.errorf(vn, "%sversions: want a mapping (version, url, sha256, sig, ...)", where)
			continue
		}
		p.keys(vn, where, versionKeys...)
		v := &Version{Version: p.str(vn, "version", where), URL: p.str(vn, "url", where),
			SHA256: p.str(vn, "sha256", where), Sig: p.str(vn, "sig", where), Chaos: p.str(vn, "chaos", where), Pos: p.pos(vn)}
		if !p.version(v, vn, where) {
			continue
		}
		at := where + v.Version + ": "
		if v.URL == "" {
			p.errorf(vn, "%surl: missing (where the artifact is)", at)
		}
		if v.Chaos != "" {
			c, err := semver.NewConstraint(v.Chaos)
			if err != nil {
				p.errorf(mapGet(vn, "chaos"), "%schaos %q: %v", at, v.Chaos, err)
			}
			v.chaos = c
		}
		if y := mapGet(vn, "yanked"); y != nil {
			switch {
			case y.Kind != yaml.ScalarNode:
				p.errorf(y, "%syanked: want true or the reason", at)
			case y.ShortTag() == "!!bool" && y.Value == "true":
				v.Yanked = "yanked"
			case y.ShortTag() == "!!bool" || y.ShortTag() == "!!null":
			default:
				v.Yanked = y.Value
			}
		}
		if r := mapGet(vn, "requires"); r != nil && r.ShortTag() != "!!null" {
			p.requires(v, r, at)
		}
		for _, old := range e.Versions {
			if old.sem != nil && old.sem.Equal(v.sem) {
				p.errorf(mapGet(vn, "version"), "%sversion %s is listed twice", where, v.Version)
			}
		}
		e.Versions = append(e.Versions, v)
	}
	slices.SortStableFunc(e.Versions, func(a, b *Version) int { return b.sem.Compare(a.sem) })
	return e
}

// version parses v.Version and the hash; it reports false when the version is unusable.
func (p *parser) version(v *Version, n *yaml.Node, where string) bool {
	if v.Version == "" {
		p.errorf(n, "%sversion: missing", where)
		return false
	}
	s, err := semver.NewVersion(v.Version)
	if err != nil {
		p.errorf(cmp.Or(mapGet(n, "version"), n), "%sversion %q: %v", where, v.Version, err)
		return false
	}
	v.sem = s
	if v.SHA256 != "" && !sha256Re.MatchString(v.SHA256) {
		hn := cmp.Or(mapGet(n, "sha256"), mapGet(n, "hash"), n)
		p.errorf(hn, "%s%s: sha256 %q: want 64 lowercase hex digits", where, v.Version, v.SHA256)
	}
	return true
}

func (p *parser) requires(v *Version, r *yaml.Node, at string) {
	if r.Kind != yaml.MappingNode {
		p.errorf(r, "%srequires: want a mapping of entry names to version ranges", at)
		return
	}
	v.Requires = map[string]string{}
	v.requires = map[string]*semver.Constraints{}
	for i := 0; i+1 < len(r.Content); i += 2 {
		k, c := r.Content[i], r.Content[i+1]
		if err := ValidName(k.Value); err != nil {
			p.errorf(k, "%srequires: %v", at, err)
			continue
		}
		rng := c.Value
		if c.Kind != yaml.ScalarNode || c.ShortTag() == "!!null" {
			rng = "*"
		}
		con, err := semver.NewConstraint(rng)
		if err != nil {
			p.errorf(c, "%srequires %s: range %q: %v", at, k.Value, rng, err)
			continue
		}
		v.Requires[k.Value] = rng
		v.requires[k.Value] = con
	}
}

func mapGet(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// digestHex is the lowercase hex of a sum.
func digestHex(sum []byte) string { return hex.EncodeToString(sum) }
