package engine

import "strings"

// scopedSecrets lets a role read only the top-level secret keys its Meta declares.
type scopedSecrets struct {
	store SecretStore
	keys  []string
}

func (s scopedSecrets) Get(path string) (string, bool) {
	top, _, _ := strings.Cut(path, ".")
	for _, k := range s.keys {
		if k == top {
			return s.store.Get(path)
		}
	}
	return "", false
}

// roleEnv is env as one role sees it: secrets limited to the keys the role declares, none when it
// declares none.
func roleEnv(env *Env, m Meta) *Env {
	if env.Secrets == nil {
		return env
	}
	scoped := *env
	scoped.Secrets = nil
	if len(m.Secrets) > 0 {
		scoped.Secrets = scopedSecrets{store: env.Secrets, keys: m.Secrets}
	}
	return &scoped
}
