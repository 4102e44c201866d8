// Package config is the controller's configuration: config.yml in the chaos config directory
// ($CHAOS_CONFIG_DIR, else $XDG_CONFIG_HOME/chaos, else ~/.config/chaos). The key names are the
// original Ch-aOS's, so an existing config keeps working.
//
// A command loads it once and passes the value to whoever reads a setting (the CLI caches it on its
// app value; a library caller loads it, or builds one, and passes it in). Every known key is typed
// and checked when the file is read, with FILE:LINE:COL; keys this version does not know are kept,
// so Save never drops them. secret_providers alone is decoded on use (Providers), so that a broken
// provider entry does not stop commands that need no provider.
package config

import (
	"github.com/ch-aos-ch/chaos/pkg/soul"

	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/secrets/providers"
)

// FileName is the configuration file's name in Dir.
const FileName = "config.yml"

// Config is config.yml.
type Config struct {
	// Path is the file the config came from ("" when none exists yet).
	Path string
	// Dir is the config directory, set also when no file exists: chaos's secrets keys (keys/) and
	// the original's sops-config.yml live there, and Save writes FileName in it for a Config built
	// by hand (a loaded one goes back where it came from).
	Dir string

	// ChoboloFile is chobolo_file: the Ch-obolo used without -c.
	ChoboloFile string
	// SecretsFile is secrets_file: the secrets file used without -sf.
	SecretsFile string
	// SopsFile is sops_file: the sops configuration used without -ss.
	SopsFile string
	// Aliases is aliases: alias -> space-separated tags (roles or other aliases).
	Aliases map[string]string
	// AliasPos is where each alias's expansion is written, for errors FILE:LINE:COL.
	AliasPos map[string]chobolo.Pos
	// Limani is limani: the logbook DSN ("" = the default SQLite file, "off" = no logbook).
	Limani string
	// Limanis is limanis: logbook sinks installed Souls provide, each sent every event of a run.
	Limanis []string
	// Retention is generations: how many generations, and how many bytes of them, each host keeps
	// (zero values: the engine's defaults).
	Retention Retention
	// Styx is styx: the registry's settings and the publisher keys pinned on first use.
	Styx Styx
	// SelfUpdate is self_update: whether `chaos self-update` may run, and from where.
	SelfUpdate SelfUpdate

	// file is where Save writes: the path given to LoadFile.
	file string
	// Souls provide the `type: soul` secret providers (the command's Soul runtime); nil: none.
	Souls soul.Kinds
	// providers is secret_providers, decoded by Providers.
	providers *yaml.Node
	// rest is the whole file as read, so that Save keeps keys this version does not know.
	rest map[string]any
	// loaded is Retention as read, so that Save rewrites generations only when it changed.
	loaded Retention
}

// Styx is the `styx:` section: {registry: URL, index_keys: [KEY], publishers: {NAME: KEY}}.
type Styx struct {
	// Registry is the index URL ($CHAOS_STYX_REGISTRY and --registry win over it).
	Registry string `yaml:"registry,omitempty"`
	// IndexKeys are public keys trusted to sign an index besides the shipped maintainers' key
	// (a company's own index).
	IndexKeys []string `yaml:"index_keys,omitempty"`
	// Publishers are the publisher keys pinned on first use: publisher -> authorized_keys line.
	Publishers map[string]string `yaml:"publishers,omitempty"`
}

// Retention is the `generations:` section: {keep: N, max_size: SIZE}.
type Retention struct {
	Keep     int   // generations kept on each host, the newest always among them (0: engine.DefaultKeep)
	MaxBytes int64 // their total size (0: engine.DefaultMaxBytes)
}

// SelfUpdate is the `self_update:` section: {enabled: BOOL, url: URL, public_key: KEY}. Self-update
// is off unless enabled is true (or `chaos self-update --enable`); url and public_key replace the
// official release directory and key (a fork's or a mirror's).
type SelfUpdate struct {
	Enabled   bool
	URL       string
	PublicKey string
}

// Dir is $CHAOS_CONFIG_DIR, else $XDG_CONFIG_HOME/chaos, else ~/.config/chaos.
func Dir() (string, error) {
	if d := os.Getenv("CHAOS_CONFIG_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "chaos"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	return filepath.Join(home, ".config", "chaos"), nil
}

// Load reads FileName in Dir(); a missing file is an empty config.
func Load() (*Config, error) {
	d, err := Dir()
	if err != nil {
		return nil, err
	}
	return LoadFile(filepath.Join(d, FileName))
}

// LoadFile reads the config at path; a missing file is an empty config that Save creates there.
func LoadFile(path string) (*Config, error) {
	c := &Config{Dir: filepath.Dir(path), file: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c.Path = path
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, chobolo.SyntaxError(path, data, err)
	}
	if len(doc.Content) == 0 {
		return c, nil
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		if top.ShortTag() == "!!null" {
			return c, nil
		}
		return nil, c.bad(top, "want a mapping of settings (chobolo_file, secrets_file, aliases, ...)")
	}
	if err := doc.Decode(&c.rest); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if err := c.decode(top.Content[i], top.Content[i+1]); err != nil {
			return nil, err
		}
	}
	c.loaded = c.Retention
	return c, nil
}

// decode sets the field of one top-level key.
func (c *Config) decode(k, v *yaml.Node) error {
	str := func(dst *string) error {
		if v.Kind != yaml.ScalarNode {
			return c.bad(v, "%s: want a string", k.Value)
		}
		*dst = scalar(v)
		return nil
	}
	switch k.Value {
	case "chobolo_file":
		return str(&c.ChoboloFile)
	case "secrets_file":
		return str(&c.SecretsFile)
	case "sops_file":
		return str(&c.SopsFile)
	case "limani":
		return str(&c.Limani)
	case "limanis":
		return c.decodeLimanis(v)
	case "aliases":
		return c.decodeAliases(v)
	case "generations":
		return c.decodeRetention(v)
	case "self_update":
		return c.decodeSelfUpdate(v)
	case "secret_providers":
		c.providers = v
	case "styx":
		if v.ShortTag() == "!!null" {
			return nil
		}
		if v.Kind != yaml.MappingNode {
			return c.bad(v, "styx: want a mapping (registry, index_keys, publishers)")
		}
		for j := 0; j+1 < len(v.Content); j += 2 {
			if k := v.Content[j].Value; k != "registry" && k != "index_keys" && k != "publishers" {
				return c.bad(v.Content[j], "styx: unknown key %q (known: registry, index_keys, publishers)", k)
			}
		}
		if err := v.Decode(&c.Styx); err != nil {
			return c.bad(v, "styx: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
	}
	return nil
}

// decodeAliases reads `aliases: {NAME: "TAG TAG ..."}` with the position of each expansion.
func (c *Config) decodeAliases(m *yaml.Node) error {
	if m.Kind != yaml.MappingNode {
		if m.ShortTag() == "!!null" {
			return nil
		}
		return c.bad(m, "aliases: want a mapping of alias to space-separated roles")
	}
	c.Aliases = map[string]string{}
	c.AliasPos = map[string]chobolo.Pos{}
	for j := 0; j+1 < len(m.Content); j += 2 {
		k, v := m.Content[j], m.Content[j+1]
		if v.Kind != yaml.ScalarNode {
			return c.bad(v, "aliases.%s: want the roles as one string, separated by spaces", k.Value)
		}
		c.Aliases[k.Value] = scalar(v)
		c.AliasPos[k.Value] = c.pos(v)
	}
	return nil
}

// decodeLimanis reads `limanis: [SINK, ...]`, the names of logbook sinks Souls provide.
func (c *Config) decodeLimanis(l *yaml.Node) error {
	if l.ShortTag() == "!!null" {
		return nil
	}
	if l.Kind != yaml.SequenceNode {
		return c.bad(l, "limanis: want a list of logbook sink names (the limanis installed Souls provide)")
	}
	for _, n := range l.Content {
		if n.Kind != yaml.ScalarNode || scalar(n) == "" {
			return c.bad(n, "limanis: want a logbook sink's name")
		}
		c.Limanis = append(c.Limanis, n.Value)
	}
	return nil
}

// decodeRetention reads `generations: {keep: N, max_size: SIZE}`.
func (c *Config) decodeRetention(g *yaml.Node) error {
	if g.Kind != yaml.MappingNode {
		return c.bad(g, "generations: want a mapping with keep and max_size")
	}
	for j := 0; j+1 < len(g.Content); j += 2 {
		k, v := g.Content[j], g.Content[j+1]
		switch k.Value {
		case "keep":
			n, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || n < 1 {
				return c.bad(v, "generations.keep: want a whole number of generations, at least 1 (got %q)", v.Value)
			}
			c.Retention.Keep = n
		case "max_size":
			n, err := engine.ParseBytes(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || n < 1 {
				return c.bad(v, "generations.max_size: want a size such as 256MiB or 1G (got %q)", v.Value)
			}
			c.Retention.MaxBytes = n
		default:
			return c.bad(k, "generations: unknown key %q (known: keep, max_size)", k.Value)
		}
	}
	return nil
}

// decodeSelfUpdate reads `self_update: {enabled: BOOL, url: URL, public_key: KEY}`.
func (c *Config) decodeSelfUpdate(m *yaml.Node) error {
	if m.Kind != yaml.MappingNode {
		return c.bad(m, "self_update: want a mapping with enabled, url and public_key")
	}
	for j := 0; j+1 < len(m.Content); j += 2 {
		k, v := m.Content[j], m.Content[j+1]
		if v.Kind != yaml.ScalarNode {
			return c.bad(v, "self_update.%s: want a single value", k.Value)
		}
		switch k.Value {
		case "enabled":
			b, err := strconv.ParseBool(v.Value)
			if err != nil {
				return c.bad(v, "self_update.enabled: want true or false (got %q)", v.Value)
			}
			c.SelfUpdate.Enabled = b
		case "url":
			c.SelfUpdate.URL = scalar(v)
		case "public_key":
			c.SelfUpdate.PublicKey = scalar(v)
		default:
			return c.bad(k, "self_update: unknown key %q (known: enabled, url, public_key)", k.Value)
		}
	}
	return nil
}

// scalar is a scalar's text; null ("~", or nothing after the colon) is "", as when decoding into a
// string.
func scalar(n *yaml.Node) string {
	if n.ShortTag() == "!!null" {
		return ""
	}
	return n.Value
}

func (c *Config) pos(n *yaml.Node) chobolo.Pos {
	return chobolo.Pos{File: c.Path, Line: n.Line, Col: n.Column}
}

func (c *Config) bad(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s: %s", c.pos(n), fmt.Sprintf(format, args...))
}

// Providers decodes `secret_providers:`: named providers of private keys, and `default: NAME`.
func (c *Config) Providers() (providers.Set, error) {
	set := providers.Set{Providers: map[string]providers.Config{}, Souls: c.Souls}
	if c.providers == nil || c.providers.ShortTag() == "!!null" {
		return set, nil
	}
	if c.providers.Kind != yaml.MappingNode {
		return set, c.bad(c.providers, "secret_providers: want a mapping of provider names to settings")
	}
	for i := 0; i+1 < len(c.providers.Content); i += 2 {
		name, n := c.providers.Content[i].Value, c.providers.Content[i+1]
		if name == "default" && n.Kind == yaml.ScalarNode {
			set.Default = n.Value
			continue
		}
		var pc providers.Config
		if err := n.Decode(&pc); err != nil {
			return set, fmt.Errorf("%s: secret_providers.%s: %w", c.pos(n), name, err)
		}
		set.Providers[name] = pc
	}
	return set, nil
}

// Save writes the config where it was loaded from (a Config built by hand: FileName in Dir), creating
// the directory (mode 0700), atomically: a temp file, fsynced, renamed over the file, and the
// directory fsynced. Keys this version does not know are kept as read;
// generations is rewritten only when Retention changed.
func (c *Config) Save() error {
	p := c.file
	if p == "" {
		if c.Dir == "" {
			return errors.New("config: no directory to save to")
		}
		p = filepath.Join(c.Dir, FileName)
	}
	all := maps.Clone(c.rest)
	if all == nil {
		all = map[string]any{}
	}
	set := func(k, v string) {
		if v == "" {
			delete(all, k)
		} else {
			all[k] = v
		}
	}
	set("chobolo_file", c.ChoboloFile)
	set("secrets_file", c.SecretsFile)
	set("sops_file", c.SopsFile)
	set("limani", c.Limani)
	if len(c.Limanis) > 0 {
		all["limanis"] = c.Limanis
	} else {
		delete(all, "limanis")
	}
	if len(c.Aliases) > 0 {
		all["aliases"] = c.Aliases
	} else {
		delete(all, "aliases")
	}
	if c.Styx.Registry != "" || len(c.Styx.IndexKeys) > 0 || len(c.Styx.Publishers) > 0 {
		all["styx"] = c.Styx
	} else {
		delete(all, "styx")
	}
	if c.Retention != c.loaded {
		g := map[string]any{}
		if c.Retention.Keep > 0 {
			g["keep"] = c.Retention.Keep
		}
		if c.Retention.MaxBytes > 0 {
			g["max_size"] = strconv.FormatInt(c.Retention.MaxBytes, 10)
		}
		if len(g) > 0 {
			all["generations"] = g
		} else {
			delete(all, "generations")
		}
	}
	data, err := yaml.Marshal(all)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := secrets.WriteFileAtomic(p, data, 0o600); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	c.Path, c.file, c.loaded = p, p, c.Retention
	return nil
}

// SecretDefaults are the config's settings for secrets.Resolve; chobolo is the Ch-obolo the command
// uses (-c), "" for chobolo_file.
func (c *Config) SecretDefaults(chobolo string) secrets.Defaults {
	if chobolo == "" {
		chobolo = c.ChoboloFile
	}
	return secrets.Defaults{File: c.SecretsFile, Sops: c.SopsFile, Chobolo: chobolo, ConfigDir: c.Dir}
}

// KeyringOptions are the config's settings for secrets.LoadKeyring; provider is -p ("" for none).
func (c *Config) KeyringOptions(provider string) secrets.KeyringOptions {
	return secrets.KeyringOptions{ConfigDir: c.Dir, Providers: c.Providers, Provider: provider}
}
