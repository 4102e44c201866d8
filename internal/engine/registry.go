package engine

import (
	"fmt"
	"slices"
	"sort"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// Registry holds the roles chaos knows. Several roles may share a name when they serve different
// cores (the Debian and the Arch `packages` role); the one matching the target's core is chosen.
type Registry struct {
	roles []Role
}

// NewRegistry returns a registry holding roles.
func NewRegistry(roles ...Role) *Registry {
	r := &Registry{}
	for _, role := range roles {
		r.Register(role)
	}
	return r
}

// Register adds a role.
func (r *Registry) Register(role Role) { r.roles = append(r.roles, role) }

// All returns every registered role, sorted by order then name.
func (r *Registry) All() []Role {
	out := slices.Clone(r.roles)
	sortRoles(out)
	return out
}

// Canonical maps a tag or alias to the role name, or "" when unknown.
func (r *Registry) Canonical(tag string) string {
	for _, role := range r.roles {
		m := role.Meta()
		if m.Name == tag || slices.Contains(m.Aliases, tag) {
			return m.Name
		}
	}
	return ""
}

// unknownTag is the error for a tag that names no role, suggesting the closest role name or alias
// by the loader's rule for keys.
func (r *Registry) unknownTag(tag string) error {
	var known []string
	for _, role := range r.roles {
		m := role.Meta()
		known = append(known, m.Name)
		known = append(known, m.Aliases...)
	}
	return fmt.Errorf("unknown role or alias %q%s (see `chaos check roles`)", tag, chobolo.DidYouMean(tag, known))
}

// Aliases returns alias -> role name for every role.
func (r *Registry) Aliases() map[string]string {
	out := map[string]string{}
	for _, role := range r.roles {
		m := role.Meta()
		for _, a := range m.Aliases {
			out[a] = m.Name
		}
	}
	return out
}

func supports(m Meta, core string) bool {
	return len(m.Cores) == 0 || slices.Contains(m.Cores, core)
}

// Select picks the roles to run on a host of the given core. With tags, exactly those roles (by name
// or alias) run, and a tag without an implementation for the core is an error. Without tags, every
// role with data in the Ch-obolo runs; declared sections that no role on this core handles are
// returned as notes.
func (r *Registry) Select(tags []string, c *chobolo.Chobolo, core string) ([]Role, []string, error) {
	var out []Role
	var notes []string
	seen := map[string]bool{}
	if len(tags) > 0 {
		for _, tag := range tags {
			name := r.Canonical(tag)
			if name == "" {
				return nil, nil, r.unknownTag(tag)
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			role := r.forCore(name, core)
			if role == nil {
				return nil, nil, fmt.Errorf("role %q has no implementation for the %s core yet", name, core)
			}
			out = append(out, role)
		}
		sortRoles(out)
		return out, nil, nil
	}
	for _, role := range r.All() {
		m := role.Meta()
		if seen[m.Name] || !hasAnyKey(c, m.Keys) {
			continue
		}
		if impl := r.forCore(m.Name, core); impl != nil {
			seen[m.Name] = true
			out = append(out, impl)
		}
	}
	for _, role := range r.All() {
		m := role.Meta()
		if !seen[m.Name] && hasAnyKey(c, m.Keys) {
			seen[m.Name] = true
			notes = append(notes, fmt.Sprintf("role %s: not available for the %s core yet, skipped", m.Name, core))
		}
	}
	sortRoles(out)
	return out, notes, nil
}

func (r *Registry) forCore(name, core string) Role {
	for _, role := range r.roles {
		m := role.Meta()
		if m.Name == name && supports(m, core) {
			return role
		}
	}
	return nil
}

func hasAnyKey(c *chobolo.Chobolo, keys []string) bool {
	for _, k := range keys {
		if c.Has(k) {
			return true
		}
	}
	return false
}

func sortRoles(rs []Role) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i].Meta(), rs[j].Meta()
		if a.Order != b.Order {
			return a.Order < b.Order
		}
		return a.Name < b.Name
	})
}
