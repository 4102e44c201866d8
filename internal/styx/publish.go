package styx

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/souls"
)

// MetaFile describes what publish packs, beside the content: required for a Ch-obolo bundle,
// optional for a Soul (whose soul.yaml gives the name, version and about).
const MetaFile = "styx.yaml"

// Meta is styx.yaml.
type Meta struct {
	Name     string            `yaml:"name"`
	Version  string            `yaml:"version"`
	Kind     Kind              `yaml:"kind"`
	About    string            `yaml:"about"`
	Repo     string            `yaml:"repo"`
	License  string            `yaml:"license"`
	Tags     []string          `yaml:"tags"`
	Chaos    string            `yaml:"chaos"`
	Requires map[string]string `yaml:"requires"`
}

// Published is the result of Publish.
type Published struct {
	Entry   *Entry
	Version *Version
	// File is the artifact written, named NAME-VERSION.tar.gz (publisher/name: publisher.name);
	// "" for a git tag.
	File string
}

// ReadMeta reads what DIR publishes: styx.yaml, completed from soul.yaml for a Soul.
func ReadMeta(dir string) (Meta, error) {
	var m Meta
	data, err := os.ReadFile(filepath.Join(dir, MetaFile))
	switch {
	case err == nil:
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&m); err != nil {
			return m, fmt.Errorf("%s: %s", filepath.Join(dir, MetaFile), strings.TrimPrefix(err.Error(), "yaml: "))
		}
	case !errors.Is(err, fs.ErrNotExist):
		return m, fmt.Errorf("publish: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, souls.ManifestFile)); err == nil {
		s, err := souls.Load(dir)
		if err != nil {
			return m, err
		}
		m.Kind = cmp.Or(m.Kind, KindSoul)
		m.Name, m.Version, m.About = cmp.Or(m.Name, s.Manifest.Name), cmp.Or(m.Version, s.Manifest.Version), cmp.Or(m.About, s.Manifest.About)
		if m.Name != s.Manifest.Name || m.Version != s.Manifest.Version {
			return m, fmt.Errorf("publish: %s says %s %s, soul.yaml says %s %s", MetaFile, m.Name, m.Version, s.Manifest.Name, s.Manifest.Version)
		}
	} else if m.Kind == "" {
		if _, err := os.Stat(filepath.Join(dir, chobolo.StyxBundleEntry)); err != nil {
			return m, fmt.Errorf("publish: %s is neither a Soul (soul.yaml) nor a Ch-obolo bundle (%s and %s)", dir, MetaFile, chobolo.StyxBundleEntry)
		}
		m.Kind = KindChobolo
	}
	switch m.Kind {
	case KindSoul:
	case KindChobolo:
		if _, err := os.Stat(filepath.Join(dir, chobolo.StyxBundleEntry)); err != nil {
			return m, fmt.Errorf("publish: a Ch-obolo bundle needs %s at its top (what imports: [{styx: NAME@VERSION}] reads)", chobolo.StyxBundleEntry)
		}
	default:
		return m, fmt.Errorf("publish: kind %q: want soul or chobolo", m.Kind)
	}
	if err := ValidName(m.Name); err != nil {
		return m, fmt.Errorf("publish: %w", err)
	}
	if _, err := semver.NewVersion(m.Version); err != nil {
		return m, fmt.Errorf("publish: version %q: %v", m.Version, err)
	}
	return m, nil
}

// Publish packs dir reproducibly into outDir, signs the artifact, and returns the index entry
// to add. baseURL is where the artifact will be served (its URL is baseURL/FILE).
//
// src may instead be a git tag, git+REPO#TAG: the artifact is then the tag's tree (what its
// checkout packs to), nothing is written, and the entry's URL is src.
func Publish(ctx context.Context, src, outDir, baseURL string, signer *Signer) (*Published, error) {
	dir := src
	var data []byte
	if repo, tag, ok := GitArtifact(src); ok {
		var err error
		if data, err = PackGitTag(ctx, repo, tag, DefaultLimits); err != nil {
			return nil, err
		}
		tmp, err := os.MkdirTemp("", "chaos-styx-publish-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "tag")
		if err := Unpack(bytes.NewReader(data), dir, DefaultLimits); err != nil {
			return nil, err
		}
	}
	m, err := ReadMeta(dir)
	if err != nil {
		return nil, err
	}
	var file, url string
	if data == nil {
		var buf bytes.Buffer
		if err := PackGzip(dir, &buf); err != nil {
			return nil, err
		}
		data = buf.Bytes()
		name := dirName(m.Name) + "-" + strings.TrimPrefix(m.Version, "v") + ".tar.gz"
		file, url = filepath.Join(outDir, name), strings.TrimSuffix(baseURL, "/")+"/"+name
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		if err := secrets.WriteFileAtomic(file, data, 0o644); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
	} else {
		url = src
	}
	sig, err := signer.Sign(NamespaceArtifact, data)
	if err != nil {
		return nil, err
	}
	readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	v := &Version{Version: m.Version, URL: url, SHA256: sumHex(data),
		Sig: sig, Chaos: m.Chaos, Requires: m.Requires}
	e := &Entry{Name: m.Name, Kind: m.Kind, About: m.About, Repo: m.Repo, License: m.License, Tags: m.Tags,
		Key: signer.Public().String(), Readme: string(readme), Versions: []*Version{v}}
	return &Published{Entry: e, Version: v, File: file}, nil
}

// entryNode is the YAML of an entry (without its versions) and of one version, as the index
// writes them.
func (p *Published) entryNode() (*yaml.Node, *yaml.Node, error) {
	e := p.Entry
	fields := yaml.Node{Kind: yaml.MappingNode}
	add := func(m *yaml.Node, k string, v any) error {
		var n yaml.Node
		if err := n.Encode(v); err != nil {
			return err
		}
		if s, ok := v.(string); ok && strings.Contains(s, "\n") {
			n.Style = yaml.LiteralStyle
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &n)
		return nil
	}
	for _, kv := range []struct {
		k string
		v any
	}{{"kind", string(e.Kind)}, {"about", e.About}, {"repo", e.Repo}, {"license", e.License}, {"tags", e.Tags}, {"key", e.Key}, {"readme", e.Readme}} {
		if s, ok := kv.v.(string); ok && s == "" {
			continue
		}
		if t, ok := kv.v.([]string); ok && len(t) == 0 {
			continue
		}
		if err := add(&fields, kv.k, kv.v); err != nil {
			return nil, nil, err
		}
	}
	v := p.Version
	ver := yaml.Node{Kind: yaml.MappingNode}
	for _, kv := range []struct {
		k string
		v any
	}{{"version", v.Version}, {"url", v.URL}, {"sha256", v.SHA256}, {"sig", v.Sig}, {"chaos", v.Chaos}} {
		if kv.v.(string) != "" {
			if err := add(&ver, kv.k, kv.v); err != nil {
				return nil, nil, err
			}
		}
	}
	if len(v.Requires) > 0 {
		if err := add(&ver, "requires", v.Requires); err != nil {
			return nil, nil, err
		}
	}
	return &fields, &ver, nil
}

// EntryYAML is the registry entry to add to the index's styx: mapping.
func (p *Published) EntryYAML() (string, error) {
	fields, ver, err := p.entryNode()
	if err != nil {
		return "", err
	}
	fields.Content = append(fields.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "versions"},
		&yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{ver}})
	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: p.Entry.Name}, fields}}
	out, err := marshal(doc)
	return string(out), err
}

// marshal writes YAML indented by two spaces, as the original's registry.yaml is.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	err := enc.Close()
	return buf.Bytes(), err
}

// AddToIndex adds the published version to the index clone at repoDir (registry.yaml, creating the
// entry when it is new, keeping everything else), and commits it there with go-git. The
// maintainers then review it and sign the index (SignIndex) before pushing.
func (p *Published) AddToIndex(repoDir string) (string, error) {
	file := filepath.Join(repoDir, IndexFile)
	data, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	var doc yaml.Node
	if len(bytes.TrimSpace(data)) > 0 {
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return "", chobolo.SyntaxError(file, data, err)
		}
	}
	if len(doc.Content) == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	top := doc.Content[0]
	styx := mapGet(top, "styx")
	if styx == nil || styx.Kind != yaml.MappingNode {
		styx = &yaml.Node{Kind: yaml.MappingNode}
		top.Content = append(top.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "styx"}, styx)
	}
	fields, ver, err := p.entryNode()
	if err != nil {
		return "", err
	}
	entry := mapGet(styx, p.Entry.Name)
	if entry == nil {
		fields.Content = append(fields.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "versions"}, &yaml.Node{Kind: yaml.SequenceNode})
		styx.Content = append(styx.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: p.Entry.Name}, fields)
		entry = fields
	}
	versions := mapGet(entry, "versions")
	if versions == nil || versions.Kind != yaml.SequenceNode {
		return "", fmt.Errorf("%s: %s has no versions list (an entry in the original's format): convert it first", file, p.Entry.Name)
	}
	for _, v := range versions.Content {
		if n := mapGet(v, "version"); n != nil && sameVersionText(n.Value, p.Version.Version) {
			return "", fmt.Errorf("%s: %s %s is already in the index: publish a new version (versions are immutable)", file, p.Entry.Name, p.Version.Version)
		}
	}
	if key := mapGet(entry, "key"); key != nil && strings.TrimSpace(key.Value) != "" {
		if k, err := ParsePublicKey(key.Value); err == nil && !k.Equal(mustKey(p.Entry.Key)) {
			return "", fmt.Errorf("%s: %s is published with the key %s; this version is signed by %s", file, p.Entry.Name, k.Fingerprint(), mustKey(p.Entry.Key).Fingerprint())
		}
	}
	versions.Content = append(versions.Content, ver)
	out, err := marshal(&doc)
	if err != nil {
		return "", err
	}
	if _, err := ParseIndex(file, out); err != nil {
		return "", fmt.Errorf("the index would not load: %w", err)
	}
	if err := secrets.WriteFileAtomic(file, out, 0o644); err != nil {
		return "", err
	}
	return commitFiles(repoDir, fmt.Sprintf("styx: %s %s", p.Entry.Name, p.Version.Version), IndexFile)
}

func mustKey(s string) PublicKey {
	k, _ := ParsePublicKey(s)
	return k
}

// SignIndex signs repoDir/registry.yaml with the maintainers' key, after checking that it loads,
// and commits registry.yaml.sig.
func SignIndex(repoDir string, signer *Signer) (string, error) {
	file := filepath.Join(repoDir, IndexFile)
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	if _, err := ParseIndex(file, data); err != nil {
		return "", err
	}
	sig, err := signer.Sign(NamespaceIndex, data)
	if err != nil {
		return "", err
	}
	if err := secrets.WriteFileAtomic(filepath.Join(repoDir, IndexSigFile), []byte(sig), 0o644); err != nil {
		return "", err
	}
	return commitFiles(repoDir, "styx: sign the index", IndexFile, IndexSigFile)
}

// commitFiles commits files in the git repository at dir, creating the repository when there is
// none, and returns the commit's hash.
func commitFiles(dir, msg string, files ...string) (string, error) {
	repo, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainInit(dir, false)
	}
	if err != nil {
		return "", fmt.Errorf("index repository %s: %w", dir, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", fmt.Errorf("index repository %s: %w", dir, err)
	}
	for _, f := range files {
		if _, err := wt.Add(f); err != nil {
			return "", fmt.Errorf("index repository %s: %w", dir, err)
		}
	}
	sig := &object.Signature{Name: "chaos styx", Email: "styx@localhost", When: time.Now()}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, AllowEmptyCommits: false})
	if err != nil {
		return "", fmt.Errorf("index repository %s: %w", dir, err)
	}
	return h.String(), nil
}
