package transport

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	sshconfig "github.com/kevinburke/ssh_config"
)

// clientConfig is a parsed OpenSSH client configuration (or none).
type clientConfig struct{ c *sshconfig.Config }

var sshConfigCache sync.Map // file -> *clientConfig

// loadSSHConfig reads an OpenSSH client configuration once per process: file "" means
// ~/.ssh/config, "none" means no file. A missing file is an empty configuration; one that cannot be
// read or parsed (`Match exec`, which would run commands, is not supported) is too, with a warning
// naming the file and line through Notice, once.
func loadSSHConfig(file string) *clientConfig {
	if file == "none" {
		return &clientConfig{}
	}
	file = cmp.Or(file, filepath.Join(homeDir(), ".ssh", "config"))
	if v, ok := sshConfigCache.Load(file); ok {
		return v.(*clientConfig)
	}
	cc := &clientConfig{}
	f, err := os.Open(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		Notice(fmt.Sprintf("warning: %v: none of its settings are used", err))
	default:
		if cc.c, err = sshconfig.Decode(f); err != nil {
			Notice(fmt.Sprintf("warning: %s: none of its settings are used", configError(file, err)))
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

// libPos is the position the ssh_config library puts before its messages: "(LINE, COL): ".
var libPos = regexp.MustCompile(`^\((\d+), (\d+)\): `)

// configError is FILE:LINE:COL: MESSAGE for a parse error of the ssh_config library.
func configError(file string, err error) string {
	msg := err.Error()
	if m := libPos.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s:%s:%s: %s", file, m[1], m[2], msg[len(m[0]):])
	}
	return file + ": " + msg
}
