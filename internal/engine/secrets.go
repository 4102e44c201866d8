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
	if !s.allowed(path) {
		return "", false
	}
	return s.store.Get(path)
}

// Lookup implements SecretTree when the store does, within the same scope.
func (s scopedSecrets) Lookup(path string) (any, bool) {
	t, ok := s.store.(SecretTree)
	if !ok || !s.allowed(path) {
		return nil, false
	}
	return t.Lookup(path)
}

func (s scopedSecrets) allowed(path string) bool {
	for _, k := range s.keys {
		if path == k || strings.HasPrefix(path, k+".") {
			return true
		}
	}
	return false
}

// SecretTree is a SecretStore that also hands out subtrees: a map[string]any, []any or scalar at a
// dotted path (secrets.Values does). The files role's Jinja2 templates loop over them.
type SecretTree interface {
	Lookup(path string) (any, bool)
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
