package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// Config is ~/.config/chaos/config.yml. The key names are the original Ch-aOS's, so an existing
// config keeps working.
type Config struct {
	ChoboloFile string            `yaml:"chobolo_file,omitempty"`
	SecretsFile string            `yaml:"secrets_file,omitempty"`
	SopsFile    string            `yaml:"sops_file,omitempty"`
	Aliases     map[string]string `yaml:"aliases,omitempty"`
	// rest keeps keys this version does not know, so saving never drops them.
	rest map[string]any
	// aliasPos is where each alias's expansion is written, for errors about it.
	aliasPos map[string]chobolo.Pos
}

// ConfigDir is $CHAOS_CONFIG_DIR, else $XDG_CONFIG_HOME/chaos, else ~/.config/chaos.
func ConfigDir() (string, error) {
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

func configPath() (string, error) {
	d, err := ConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "config.yml"), nil
}

// LoadConfig reads the config; a missing file is an empty config.
func LoadConfig() (*Config, error) {
	p, err := configPath()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var c Config
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("config %s: %w", p, err)
	}
	if err := yaml.Unmarshal(data, &c.rest); err != nil {
		return nil, fmt.Errorf("config %s: %w", p, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err == nil && len(doc.Content) == 1 {
		c.aliasPos = aliasPositions(p, doc.Content[0])
	}
	return &c, nil
}

// aliasPositions maps each alias under the aliases key of the config's top mapping to the position
// of its expansion.
func aliasPositions(file string, top *yaml.Node) map[string]chobolo.Pos {
	out := map[string]chobolo.Pos{}
	if top.Kind != yaml.MappingNode {
		return out
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != "aliases" || top.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		m := top.Content[i+1]
		for j := 0; j+1 < len(m.Content); j += 2 {
			v := m.Content[j+1]
			out[m.Content[j].Value] = chobolo.Pos{File: file, Line: v.Line, Col: v.Column}
		}
	}
	return out
}

// Save writes the config atomically, keeping unknown keys.
func (c *Config) Save() error {
	p, err := configPath()
	if err != nil {
		return err
	}
	all := map[string]any{}
	for k, v := range c.rest {
		all[k] = v
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
	if len(c.Aliases) > 0 {
		all["aliases"] = c.Aliases
	}
	data, err := yaml.Marshal(all)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return os.Rename(tmp, p)
}
