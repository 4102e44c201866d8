package secrets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/getsops/sops/v3/config"
	"go.yaml.in/yaml/v3"
)

// FindSopsConfig returns the sops configuration for a secrets file: explicit when given (it must
// exist), else the nearest .sops.yaml in the file's directory or above (sops itself searches from
// the working directory; starting at the file finds the repository's config wherever chaos runs),
// else the nearest one from the working directory. "" means none.
func FindSopsConfig(secretsFile, explicit string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("sops config: %w", err)
		}
		return explicit, nil
	}
	abs, err := filepath.Abs(secretsFile)
	if err != nil {
		return "", fmt.Errorf("sops config: %w", err)
	}
	if r, err := config.LookupConfigFile(abs); err == nil {
		return r.Path, nil
	}
	if r, err := config.LookupConfigFile("./x"); err == nil {
		return r.Path, nil
	}
	return "", nil
}

func sopsConfigFor(abs, explicit string) (string, error) { return FindSopsConfig(abs, explicit) }

func storesConfig(abs, explicit string) (*config.StoresConfig, error) {
	p, err := sopsConfigFor(abs, explicit)
	if err != nil || p == "" {
		return config.NewStoresConfig(), err
	}
	sc, err := config.LoadStoresConfig(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return sc, nil
}

// SopsConfig is a .sops.yaml edited as a YAML node tree, so that comments, order and keys chaos does
// not know (kms, hc_vault, destination_rules, ...) survive every change. (The original rewrote the
// file through OmegaConf and lost its comments.)
type SopsConfig struct {
	Path string
	doc  yaml.Node
}

// KeyKinds are the master key types chaos manages in creation rules, as named in key_groups.
var KeyKinds = []string{"age", "pgp", "hc_vault"}

// flatName is a key type's name on a rule without key_groups: sops spells Vault keys
// hc_vault_transit_uri there.
func flatName(kind string) string {
	if kind == "hc_vault" {
		return "hc_vault_transit_uri"
	}
	return kind
}

// keyNames are every name a managed key type has, in key groups and on rules.
var keyNames = []string{"age", "pgp", "hc_vault", "hc_vault_transit_uri"}

// LoadSopsConfig reads a .sops.yaml for editing.
func LoadSopsConfig(path string) (*SopsConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sops config: %w", err)
	}
	c := &SopsConfig{Path: path}
	if err := yaml.Unmarshal(data, &c.doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.doc.Kind == 0 {
		c.doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	if c.root().Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not a mapping", path)
	}
	return c, nil
}

// NewSopsConfig starts a configuration with one creation rule for the given age recipients.
// pathRegex may be empty (the rule then matches every file).
func NewSopsConfig(path, pathRegex string, recipients []string) *SopsConfig {
	rule := &yaml.Node{Kind: yaml.MappingNode}
	if pathRegex != "" {
		setKey(rule, "path_regex", scalar(pathRegex))
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range recipients {
		seq.Content = append(seq.Content, scalar(r))
	}
	setKey(rule, "key_groups", &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{
		mapping("age", seq),
	}})
	root := mapping("creation_rules", &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{rule}})
	root.HeadComment = "sops configuration written by `chaos secrets init`; the sops CLI reads it too."
	return &SopsConfig{Path: path, doc: yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}}
}

func (c *SopsConfig) root() *yaml.Node { return c.doc.Content[0] }

func (c *SopsConfig) rules() []*yaml.Node {
	r := getKey(c.root(), "creation_rules")
	if r == nil || r.Kind != yaml.SequenceNode {
		return nil
	}
	return r.Content
}

// Rules is the number of creation rules.
func (c *SopsConfig) Rules() int { return len(c.rules()) }

// RuleFor returns the index of the creation rule sops would use for file (the first whose
// path_regex matches the path relative to the config's directory), or -1.
func (c *SopsConfig) RuleFor(file string) (int, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return -1, err
	}
	dir, err := filepath.Abs(filepath.Dir(c.Path))
	if err != nil {
		return -1, err
	}
	rel := strings.TrimPrefix(abs, dir+string(filepath.Separator))
	for i, r := range c.rules() {
		re := getKey(r, "path_regex")
		if re == nil || re.Value == "" {
			return i, nil
		}
		rx, err := regexp.Compile(re.Value)
		if err != nil {
			return -1, fmt.Errorf("%s: creation rule %d: path_regex: %w", c.Path, i, err)
		}
		if rx.MatchString(rel) {
			return i, nil
		}
	}
	return -1, nil
}

// Keys lists the keys of a kind ("age" or "pgp") in rule i (every rule when i < 0), by key group,
// without duplicates.
func (c *SopsConfig) Keys(kind string, i int) []string {
	var out []string
	for j, r := range c.rules() {
		if i >= 0 && j != i {
			continue
		}
		for _, g := range ruleGroups(r) {
			for _, k := range keyList(getKey(g, kind)) {
				if !slices.Contains(out, k) {
					out = append(out, k)
				}
			}
		}
	}
	return out
}

// ruleGroups returns the key groups of a rule: its key_groups entries, or the rule itself when the
// keys sit directly on it (one implicit group).
func ruleGroups(rule *yaml.Node) []*yaml.Node {
	if kg := getKey(rule, "key_groups"); kg != nil && kg.Kind == yaml.SequenceNode && len(kg.Content) > 0 {
		return kg.Content
	}
	return []*yaml.Node{rule}
}

// AddKey adds a key of kind to key group g of rule i. g may equal the number of groups to start a
// new group; keys written directly on the rule then move into key_groups first.
func (c *SopsConfig) AddKey(i, g int, kind, key string) error {
	rules := c.rules()
	if i < 0 || i >= len(rules) {
		return fmt.Errorf("%s: no creation rule %d (there are %d)", c.Path, i, len(rules))
	}
	rule := rules[i]
	groups := ruleGroups(rule)
	kg := getKey(rule, "key_groups")
	flat := kg == nil || len(kg.Content) == 0
	switch {
	case g < 0 || g > len(groups):
		return fmt.Errorf("%s: rule %d has %d key group(s); use 0..%d", c.Path, i, len(groups), len(groups))
	case g == len(groups) && flat:
		// Move the rule's own keys into key_groups[0] so that a second group can exist.
		first := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range KeyKinds {
			if v := getKey(rule, flatName(k)); v != nil {
				if l := keyList(v); len(l) > 0 {
					setKey(first, k, seqOf(l))
				}
				delKey(rule, flatName(k))
			}
		}
		kg = &yaml.Node{Kind: yaml.SequenceNode}
		if len(first.Content) > 0 {
			kg.Content = append(kg.Content, first)
		}
		setKey(rule, "key_groups", kg)
		g = len(kg.Content)
		kg.Content = append(kg.Content, &yaml.Node{Kind: yaml.MappingNode})
	case g == len(groups):
		kg.Content = append(kg.Content, &yaml.Node{Kind: yaml.MappingNode})
	}
	target, name := rule, flatName(kind)
	if kg := getKey(rule, "key_groups"); kg != nil && len(kg.Content) > 0 {
		target, name = kg.Content[g], kind
	}
	cur := getKey(target, name)
	list := keyList(cur)
	if slices.Contains(list, key) {
		return nil
	}
	if cur != nil && cur.Kind == yaml.ScalarNode {
		// Keep sops's comma-separated form when that is what the user wrote.
		if cur.Value == "" {
			cur.Value = key
		} else {
			cur.Value += "," + key
		}
		return nil
	}
	if cur == nil {
		cur = &yaml.Node{Kind: yaml.SequenceNode}
		setKey(target, name, cur)
	}
	cur.Content = append(cur.Content, scalar(key))
	return nil
}

// RemoveKey removes key (any kind) from rule i, or from every rule when i < 0, dropping key groups
// it leaves empty. It reports how many occurrences it removed.
func (c *SopsConfig) RemoveKey(i int, key string) int {
	n := 0
	for j, r := range c.rules() {
		if i >= 0 && i != j {
			continue
		}
		for _, g := range ruleGroups(r) {
			for _, kind := range keyNames {
				v := getKey(g, kind)
				l := keyList(v)
				if !slices.Contains(l, key) {
					continue
				}
				l = slices.DeleteFunc(l, func(s string) bool { return s == key })
				n++
				switch {
				case len(l) == 0:
					delKey(g, kind)
				case v.Kind == yaml.ScalarNode:
					v.Value = strings.Join(l, ",")
				default:
					v.Content = seqOf(l).Content
				}
			}
		}
		if kg := getKey(r, "key_groups"); kg != nil {
			kg.Content = slices.DeleteFunc(kg.Content, func(g *yaml.Node) bool {
				for _, kind := range KeyKinds {
					if len(keyList(getKey(g, kind))) > 0 {
						return false
					}
				}
				// A group with other key types (kms, gcp_kms, ...) is not empty.
				for k := 0; k+1 < len(g.Content); k += 2 {
					if !slices.Contains(KeyKinds, g.Content[k].Value) {
						return false
					}
				}
				return true
			})
		}
	}
	return n
}

// Groups is the number of key groups of rule i.
func (c *SopsConfig) Groups(i int) int {
	rules := c.rules()
	if i < 0 || i >= len(rules) {
		return 0
	}
	return len(ruleGroups(rules[i]))
}

// SetShamir sets shamir_threshold on rule i; 0 removes it (all groups are then needed).
func (c *SopsConfig) SetShamir(i, n int) error {
	rules := c.rules()
	if i < 0 || i >= len(rules) {
		return fmt.Errorf("%s: no creation rule %d", c.Path, i)
	}
	if n == 0 {
		delKey(rules[i], "shamir_threshold")
		return nil
	}
	setKey(rules[i], "shamir_threshold", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(n)})
	return nil
}

// Bytes renders the configuration.
func (c *SopsConfig) Bytes() ([]byte, error) {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&c.doc); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Path, err)
	}
	return []byte(b.String()), nil
}

// Save writes the configuration atomically, keeping the file's mode.
func (c *SopsConfig) Save() error {
	data, err := c.Bytes()
	if err != nil {
		return err
	}
	return WriteFileAtomic(c.Path, data, 0o644)
}

// WriteFileAtomic writes data to a temp file in path's directory, fsyncs and renames it over path.
// An existing file keeps its mode; a new one gets mode.
func WriteFileAtomic(path string, data []byte, mode fs.FileMode) error {
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func getKey(m *yaml.Node, k string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == k {
			return m.Content[i+1]
		}
	}
	return nil
}

func setKey(m *yaml.Node, k string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == k {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, scalar(k), v)
}

func delKey(m *yaml.Node, k string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == k {
			m.Content = slices.Delete(m.Content, i, i+2)
			return
		}
	}
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func mapping(k string, v *yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{scalar(k), v}}
}

func seqOf(l []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode}
	for _, s := range l {
		n.Content = append(n.Content, scalar(s))
	}
	return n
}

// keyList reads a key field the way sops does: a comma-separated string or a list of strings.
func keyList(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	var out []string
	switch n.Kind {
	case yaml.ScalarNode:
		for _, k := range strings.Split(n.Value, ",") {
			if k = strings.TrimSpace(k); k != "" {
				out = append(out, k)
			}
		}
	case yaml.SequenceNode:
		for _, e := range n.Content {
			if k := strings.TrimSpace(e.Value); k != "" {
				out = append(out, k)
			}
		}
	}
	return out
}

// ParseSopsConfig reads a sops configuration from data (for `chaos secrets edit -s`) and checks
// what sops would otherwise only find when a file is encrypted: every path_regex compiles, every
// age, PGP and Vault key parses, every rule has a key, and shamir_threshold is one a set of key
// groups can meet. Key types chaos does not manage (kms, gcp_kms, ...) are left to sops.
func ParseSopsConfig(path string, data []byte) (*SopsConfig, error) {
	c := &SopsConfig{Path: path}
	if err := yaml.Unmarshal(data, &c.doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.doc.Kind == 0 || c.root().Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not a mapping with creation_rules", path)
	}
	if cr := getKey(c.root(), "creation_rules"); cr == nil || cr.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s: creation_rules: want a list of rules", path)
	}
	for i, r := range c.rules() {
		at := func(n *yaml.Node) string { return fmt.Sprintf("%s:%d: creation rule %d", path, n.Line, i) }
		if r.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: not a mapping", at(r))
		}
		if re := getKey(r, "path_regex"); re != nil {
			if _, err := regexp.Compile(re.Value); err != nil {
				return nil, fmt.Errorf("%s: path_regex: %w", at(re), err)
			}
		}
		groups := ruleGroups(r)
		n := 0
		for _, g := range groups {
			for _, kind := range KeyKinds {
				name := kind
				if g == r {
					name = flatName(kind)
				}
				for _, k := range keyList(getKey(g, name)) {
					if _, err := MasterKey(kind, k); err != nil {
						return nil, fmt.Errorf("%s: %w", at(g), err)
					}
					n++
				}
			}
			for _, name := range []string{"kms", "gcp_kms", "azure_keyvault", "hckms"} {
				if v := getKey(g, name); v != nil && (v.Value != "" || len(v.Content) > 0) {
					n++ // a cloud key: sops checks it itself
				}
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("%s: no keys (age, pgp, hc_vault, kms, ...): nothing could encrypt a file it matches", at(r))
		}
		if st := getKey(r, "shamir_threshold"); st != nil {
			t, err := strconv.Atoi(st.Value)
			if err != nil || t < 0 || t == 1 || t > len(groups) {
				return nil, fmt.Errorf("%s: shamir_threshold %s: want 0 (all groups) or 2..%d", at(st), st.Value, len(groups))
			}
		}
	}
	return c, nil
}
