package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
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
	return &c, nil
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
