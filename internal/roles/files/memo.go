package files

import (
	"slices"
	"sync"
	"weak"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// entriesMemo remembers one value computed from a Ch-obolo's files entries alone (no template, no
// secrets, no secrets.templates: then nothing else of the Ch-obolo, the core or the secrets goes
// in). One apply without core: asks for the same value up to five times: the CLI's static check
// for each of the three cores (at once, on three goroutines: the first computes while the others
// wait), the engine's for the detected core, and Plan. The entries are compared with a copy of
// those the value was computed from, so that a Ch-obolo changed in place (as tests do) computes
// it again; the Ch-obolo itself is held weakly.
type entriesMemo[T any] struct {
	mu    sync.Mutex
	set   bool
	c     weak.Pointer[chobolo.Chobolo]
	files []chobolo.File
	val   T
}

// plainEntries reports whether c's files entries render nothing, when a value of them alone can
// be remembered.
func plainEntries(c *chobolo.Chobolo) bool {
	return len(c.SecretTemplates) == 0 && !slices.ContainsFunc(c.Files, func(f chobolo.File) bool {
		return f.Template != "" || len(f.Secrets) > 0
	})
}

// do returns the value remembered for c's entries, else compute's, remembered unless it failed.
// The value is shared: callers must not change it.
func (m *entriesMemo[T]) do(c *chobolo.Chobolo, compute func() (T, error)) (T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.set && m.c.Value() == c && slices.EqualFunc(m.files, c.Files, sameFile) {
		return m.val, nil
	}
	v, err := compute()
	if err != nil {
		return v, err
	}
	files := slices.Clone(c.Files)
	for i := range files {
		f := &files[i]
		f.Validate, f.Notify, f.Secrets = slices.Clone(f.Validate), slices.Clone(f.Notify), slices.Clone(f.Secrets)
	}
	m.set, m.c, m.files, m.val = true, weak.Make(c), files, v
	return v, nil
}

// sameFile reports whether two entries are the same declaration.
func sameFile(a, b chobolo.File) bool {
	return a.Path == b.Path && a.State == b.State && a.Content == b.Content && a.Template == b.Template &&
		a.TemplateText == b.TemplateText && a.Target == b.Target && a.Mode == b.Mode && a.Owner == b.Owner &&
		a.Group == b.Group && a.Escape == b.Escape && slices.Equal(a.Validate, b.Validate) &&
		slices.Equal(a.Notify, b.Notify) && slices.Equal(a.Secrets, b.Secrets)
}
