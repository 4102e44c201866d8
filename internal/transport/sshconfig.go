package transport

import (
	"os"
	"path/filepath"
	"sync"

	sshconfig "github.com/kevinburke/ssh_config"
)

// clientConfig is a parsed OpenSSH client configuration (or none).
type clientConfig struct{ c *sshconfig.Config }

var sshConfigCache sync.Map // file -> *clientConfig

// loadSSHConfig reads an OpenSSH client configuration once per process: file "" means
// ~/.ssh/config, "none" means no file. A missing or unreadable file is an empty configuration.
func loadSSHConfig(file string) *clientConfig {
	if file == "none" {
		return &clientConfig{}
	}
	if file == "" {
		file = filepath.Join(homeDir(), ".ssh", "config")
	}
	if v, ok := sshConfigCache.Load(file); ok {
		return v.(*clientConfig)
	}
	cc := &clientConfig{}
	if f, err := os.Open(file); err == nil {
		if c, err := sshconfig.Decode(f); err == nil {
			cc.c = c
		}
		_ = f.Close()
	}
	sshConfigCache.Store(file, cc)
	return cc
}

func (cc *clientConfig) get(alias, key string) string {
	if cc == nil || cc.c == nil {
		return ""
	}
	v, _ := cc.c.Get(alias, key)
	return v
}

func (cc *clientConfig) getAll(alias, key string) []string {
	if cc == nil || cc.c == nil {
		return nil
	}
	v, _ := cc.c.GetAll(alias, key)
	return v
}
