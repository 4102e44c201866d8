package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/shell"
)

// PackagesRole is the name every core's packages role registers under: it installs the Needs of
// the other roles.
const PackagesRole = "packages"

// Need is a package a role needs on the target to carry out its plan: a tool it runs (locale-gen,
// visudo) that the base system may lack. The core's packages role installs it in its own
// transaction, before the role runs (packages order first), and never prunes it while the need
// stands; when the need goes, the package is an undeclared one like any other.
type Need struct {
	// Package is the name as `packages` would write it; the packages role resolves it through the
	// package map for the core.
	Package string `json:"package"`
	// Role is the role that needs it (filled by the engine).
	Role string `json:"role"`
	// Why says what for, shown in the plan: "locale-gen for region.locale".
	Why string      `json:"why"`
	Pos chobolo.Pos `json:"pos,omitzero"`
	// Command is the tool itself (a name looked up on the target's PATH, or an absolute path). When
	// the package is not installed but the command is there (installed another way: by hand, from
	// source, by another package manager), the need is met and nothing is installed for it.
	Command string `json:"command,omitempty"`
	// Present is set by the engine when the probe found Command on the target.
	Present bool `json:"present,omitempty"`
}

// needsSection is the probe section that tells which needs' commands are on the target: one line
// per command found. Nil when no need names a command.
func needsSection(needs []Need) []ProbeSection {
	var b strings.Builder
	seen := map[string]bool{}
	for _, n := range needs {
		if n.Command == "" || seen[n.Command] {
			continue
		}
		seen[n.Command] = true
		q := shell.Quote(n.Command)
		fmt.Fprintf(&b, "command -v -- %s >/dev/null 2>&1 && printf '%%s\\n' %s\n", q, q)
	}
	if b.Len() == 0 {
		return nil
	}
	b.WriteString("exit 0\n")
	return []ProbeSection{{Name: needsSectionName, Script: b.String()}}
}

const needsSectionName = "chaos.needs"

// markPresent sets Present on the needs whose command the probe found.
func markPresent(needs []Need, out Output) []Need {
	found := map[string]bool{}
	for line := range strings.Lines(out.Stdout) {
		found[strings.TrimRight(line, "\n")] = true
	}
	marked := slices.Clone(needs)
	for i := range marked {
		marked[i].Present = marked[i].Command != "" && found[marked[i].Command]
	}
	return marked
}

// Needer is implemented by roles that run tools the base system may lack. Needs must be pure: the
// Ch-obolo and the core (env has only Target, Core and Chroot set) decide them, not facts.
type Needer interface {
	Needs(env *Env, c *chobolo.Chobolo) []Need
}

// collectNeeds asks the roles what they need, and makes sure a packages role runs to install it.
// When the core's packages role is selected, it gets the needs of the selected roles and of every
// other role the Ch-obolo has data for: a need stands while its section is declared, whatever the
// tags select (`chaos apply packages` must not prune what region needs). When it is not selected
// (tags, or the Ch-obolo's keys), it is added in needs-only mode (Env.NeedsOnly) for the needs of
// the selected roles, unless skip drops it. It returns the roles to run, the needs, whether a
// packages role serves them, whether it runs for them only, and notes.
func (r *Registry) collectNeeds(roles []Role, env *Env, c *chobolo.Chobolo, core string, skip func(string) string) ([]Role, []Need, bool, bool, []string) {
	seen := map[string]bool{}
	for _, role := range roles {
		seen[role.Meta().Name] = true
	}
	needsOf := func(rs []Role) (needs []Need, by []string) {
		for _, role := range rs {
			n, ok := role.(Needer)
			if !ok {
				continue
			}
			name := role.Meta().Name
			for _, need := range n.Needs(roleEnv(env, role, c), c) {
				need.Role = name
				needs = append(needs, need)
				if !slices.Contains(by, name) {
					by = append(by, name)
				}
			}
		}
		return needs, by
	}
	if seen[PackagesRole] {
		var declared []Role
		for _, role := range r.All() {
			m := role.Meta()
			if !seen[m.Name] && hasAnyKey(c, m.Keys) {
				if impl := r.forCore(m.Name, core); impl != nil {
					seen[m.Name] = true
					declared = append(declared, impl)
				}
			}
		}
		needs, _ := needsOf(append(slices.Clone(roles), declared...))
		return roles, needs, true, false, nil
	}
	needs, by := needsOf(roles)
	pkgs := r.forCore(PackagesRole, core)
	if len(needs) == 0 || pkgs == nil {
		return roles, needs, false, false, nil
	}
	if skip != nil {
		if why := skip(PackagesRole); why != "" {
			return roles, needs, false, false, []string{fmt.Sprintf("role %s: skipped (%s): what %s needs is not installed by chaos", PackagesRole, why, strings.Join(by, ", "))}
		}
	}
	roles = append(slices.Clone(roles), pkgs)
	sortRoles(roles)
	note := fmt.Sprintf("role %s: runs only to install what %s needs (nothing declared under `packages` is installed or pruned in this run)", PackagesRole, strings.Join(by, ", "))
	return roles, needs, true, true, []string{note}
}
