package engine

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// Claim is a path a role will manage on the target for a given Ch-obolo: one role writes, edits or
// removes it, so no other role may. Claims are data computed from the Ch-obolo alone, without a host,
// so the ownership check runs under --dry and in `chaos check chobolo` too.
type Claim struct {
	// Path is absolute. With Tree, the role manages the path and everything below it; with Glob, the
	// last element is a shell pattern (path.Match) naming the files the role manages in that
	// directory, e.g. /etc/sudoers.d/99-chaos-* (a namespace the role prunes).
	Path string
	Tree bool
	Glob bool
	// Pos is where the Ch-obolo declares what makes the role manage the path.
	Pos chobolo.Pos
	// Why says what the role does there ("the declared hostname").
	Why string
}

// Owner is implemented by roles that manage files: Owns returns the paths the role will manage on a
// target of the given core for this Ch-obolo (nothing when the Ch-obolo declares nothing for it).
// It must be pure and must only claim what the role actually writes, edits or prunes there. The
// caller must not change the claims (a role may return ones it remembers).
type Owner interface {
	Owns(core string, c *chobolo.Chobolo) []Claim
}

// OwnedClaim is a claim with the role that made it.
type OwnedClaim struct {
	Role string
	Claim
}

func (o OwnedClaim) String() string {
	p := o.Path
	switch {
	case o.Tree:
		p += "/ (and everything below it)"
	case o.Glob:
		p += " (the files this pattern matches)"
	}
	s := fmt.Sprintf("%s: role %s manages %s", o.Pos, o.Role, p)
	if o.Why != "" {
		s += ": " + o.Why
	}
	return s
}

// Conflict is a path two roles would both manage.
type Conflict struct {
	A, B OwnedClaim
}

func (c Conflict) String() string {
	return fmt.Sprintf("%s: role %s and role %s both manage %s; give each path one owner:\n    %s\n    %s",
		c.B.Pos, c.B.Role, c.A.Role, overlapName(c.A.Claim, c.B.Claim), c.A, c.B)
}

// OwnershipError lists every path two roles would manage.
type OwnershipError struct{ Conflicts []Conflict }

func (e *OwnershipError) Error() string {
	lines := make([]string, len(e.Conflicts))
	for i, c := range e.Conflicts {
		lines[i] = c.String()
	}
	return strings.Join(lines, "\n")
}

// CheckOwners computes the claims of every role the Ch-obolo makes run on core and returns an
// *OwnershipError listing each path two roles would manage, or nil. Tags do not narrow it: a
// Ch-obolo in which two roles fight over a file is wrong whichever of them runs today.
func (r *Registry) CheckOwners(c *chobolo.Chobolo, core string) error {
	roles, _, err := r.Select(nil, c, core)
	if err != nil {
		return err
	}
	return checkClaims(roles, c, core, nil)
}

// checkClaims is CheckOwners over roles, each role's claims joined by late[its name]: the claims
// its plan made (RolePlan.Claims).
func checkClaims(roles []Role, c *chobolo.Chobolo, core string, late map[string][]Claim) error {
	var byRole [][]OwnedClaim
	for _, role := range roles {
		o, ok := role.(Owner)
		name := role.Meta().Name // once: a role's Meta is a large struct (a fifth of this check at 1,000 files)
		if !ok && len(late[name]) == 0 {
			continue
		}
		var owns []Claim
		if ok {
			owns = o.Owns(core, c)
		}
		claims := make([]OwnedClaim, 0, len(owns)+len(late[name]))
		for _, cl := range owns {
			claims = append(claims, OwnedClaim{Role: name, Claim: cl})
		}
		for _, cl := range late[name] {
			claims = append(claims, OwnedClaim{Role: name, Claim: cl})
		}
		byRole = append(byRole, claims)
	}
	if cs := Conflicts(byRole); len(cs) > 0 {
		return &OwnershipError{Conflicts: cs}
	}
	return nil
}

// CheckPlannedClaims checks the claims the plans made (RolePlan.Claims: paths only the probe could
// locate) against every role's claims, as CheckOwners does before the probe. Nothing is checked
// twice when no plan made any: CheckOwners has refused every conflict among the static claims.
func CheckPlannedClaims(roles []Role, plans []*RolePlan, c *chobolo.Chobolo, core string) error {
	var late map[string][]Claim
	for _, rp := range plans {
		if len(rp.Claims) > 0 {
			if late == nil {
				late = map[string][]Claim{}
			}
			late[rp.Role] = append(late[rp.Role], rp.Claims...)
		}
	}
	if late == nil {
		return nil
	}
	return checkClaims(roles, c, core, late)
}

// Conflicts checks every pair of roles (each a list of claims of one role): for each claim of the
// later role, the first claim of the earlier role it overlaps is a conflict. Claims of one role
// never conflict with each other (a role orders its own writes).
func Conflicts(byRole [][]OwnedClaim) []Conflict {
	var out []Conflict
	for j := range byRole {
		for i := range j {
			for _, b := range byRole[j] {
				for _, a := range byRole[i] {
					if Overlap(a.Claim, b.Claim) {
						out = append(out, Conflict{A: a, B: b})
						break
					}
				}
			}
		}
	}
	slices.SortStableFunc(out, func(x, y Conflict) int { return strings.Compare(x.B.Pos.String(), y.B.Pos.String()) })
	return out
}

// Overlap reports whether two claims can name the same path. Patterns are only allowed in the last
// element, so two patterns overlap when they are in the same directory and one matches the other
// read as a name (conservative enough for the prefixes roles use: chaos-*.sources).
func Overlap(a, b Claim) bool {
	if a.Glob && !b.Glob {
		a, b = b, a
	}
	// Now a is no pattern unless both are.
	switch {
	case a.Glob: // both patterns
		if path.Dir(a.Path) != path.Dir(b.Path) {
			return false
		}
		m1, _ := path.Match(path.Base(a.Path), path.Base(b.Path))
		m2, _ := path.Match(path.Base(b.Path), path.Base(a.Path))
		return m1 || m2
	case b.Glob:
		if a.Tree && within(path.Dir(b.Path), a.Path) {
			return true
		}
		m, _ := path.Match(b.Path, a.Path)
		return m
	case a.Tree && b.Tree:
		return within(a.Path, b.Path) || within(b.Path, a.Path)
	case a.Tree:
		return within(b.Path, a.Path)
	case b.Tree:
		return within(a.Path, b.Path)
	}
	return a.Path == b.Path
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// overlapName is the path two overlapping claims share, for the message: the more specific one.
func overlapName(a, b Claim) string {
	switch {
	case !a.Tree && !a.Glob:
		return a.Path
	case !b.Tree && !b.Glob:
		return b.Path
	case a.Tree && b.Tree && within(a.Path, b.Path):
		return a.Path
	case a.Tree && b.Tree:
		return b.Path
	case a.Glob:
		return a.Path
	}
	return b.Path
}
