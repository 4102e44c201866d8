package engine

import (
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// SecretReader is a role whose secrets depend on the Ch-obolo: the files role reads the paths its
// entries declare (files[].secrets, secrets.templates[].vars). The engine adds them to Meta.Secrets.
type SecretReader interface {
	SecretPaths(c *chobolo.Chobolo) []string
}

// scopedSecrets lets a role read only the secret paths (and what is below them) it declares.
type scopedSecrets struct {
	store SecretStore
	keys  []string
}

func (s scopedSecrets) Get(path string) (string, bool) {
	for _, k := range s.keys {
		if path == k || strings.HasPrefix(path, k+".") {
			return s.store.Get(path)
		}
	}
	return "", false
}

// roleEnv is env as role sees it for c: secrets limited to the paths the role declares, none when
// it declares none.
func roleEnv(env *Env, role Role, c *chobolo.Chobolo) *Env {
	if env.Secrets == nil {
		return env
	}
	keys := role.Meta().Secrets
	if r, ok := role.(SecretReader); ok {
		keys = append(keys[:len(keys):len(keys)], r.SecretPaths(c)...)
	}
	scoped := *env
	scoped.Secrets = nil
	if len(keys) > 0 {
		scoped.Secrets = scopedSecrets{store: env.Secrets, keys: keys}
	}
	return &scoped
}
