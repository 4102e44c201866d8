package pkggraph

import (
	"fmt"
	"path"
	"slices"
	"strconv"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/pkgmap"
)

// Want is one package (or dnf group) a Ch-obolo wants on a host.
type Want struct {
	Name string
	Pos  chobolo.Pos
	Why  string // "packages[3]", "login shell of user alice"
	// Unmapped is true when the package map has no entry for the name (it is used as-is).
	Unmapped bool
	// IfInstalled marks a need whose tool is already on the target (engine.Need.Present): the
	// package is kept when installed but not installed when missing (see DropMissing).
	IfInstalled bool
}

// DropMissing removes the IfInstalled wants whose package is not installed: their tool came
// another way, so there is nothing to install or keep.
func DropMissing(want []Want, installed func(name string) bool) []Want {
	return slices.DeleteFunc(slices.Clone(want), func(w Want) bool { return w.IfInstalled && !installed(w.Name) })
}

// Wants collects the desired set: every name validated before it can reach argv (an invalid one is
// an error naming its position), duplicates keeping their first declaration.
type Wants struct {
	List  []Want
	valid func(string) error
	seen  map[string]bool
}

// NewWants returns an empty set whose names are checked with valid (the core's name rules).
func NewWants(valid func(string) error) *Wants {
	return &Wants{valid: valid, seen: map[string]bool{}}
}

// Add adds w unless its name is already in the set.
func (s *Wants) Add(w Want) error {
	if err := s.valid(w.Name); err != nil {
		return fmt.Errorf("%s: %s: %w", w.Pos, w.Why, err)
	}
	if !s.seen[w.Name] {
		s.seen[w.Name] = true
		s.List = append(s.List, w)
	}
	return nil
}

// AddPackages adds `packages`, each entry resolved through the package map for core.
func (s *Wants) AddPackages(c *chobolo.Chobolo, core string, resolve pkgmap.Resolver) error {
	for i, p := range c.Packages {
		where := "packages[" + strconv.Itoa(i) + "]"
		names, known, err := pkgmap.Entry(p, core, resolve)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", c.Pos(where), where, err)
		}
		for _, n := range names {
			if err := s.Add(Want{Name: n, Pos: c.Pos(where), Why: where, Unmapped: !known}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Desired is the desired set of a core whose packages role wants `packages` (through the package
// map) and the packages of the declared users' login shells, with notes for shells no package is
// known for.
func Desired(c *chobolo.Chobolo, core string, resolve pkgmap.Resolver, valid func(string) error, shells map[string]string) ([]Want, []string, error) {
	s := NewWants(valid)
	if err := s.AddPackages(c, core, resolve); err != nil {
		return nil, nil, err
	}
	notes, err := s.AddShells(c, shells)
	if err != nil {
		return nil, nil, err
	}
	return s.List, notes, nil
}

// Capture declares names in into (`chaos init chobolo --from`): each as a package, with an override
// for core when the package map would resolve the name to something else, and `packages` marked
// declared, so that the captured Ch-obolo installs and removes nothing on the host it came from.
func Capture(into *chobolo.Chobolo, names []string, core string, resolve pkgmap.Resolver) {
	for _, n := range names {
		p := chobolo.Package{Name: n}
		if resolve != nil {
			if res, ok := resolve(p, core); ok && !slices.Equal(res, []string{n}) {
				p.Overrides = map[string][]string{core: {n}}
			}
		}
		into.Packages = append(into.Packages, p)
	}
	into.SetKey("packages", chobolo.Pos{})
}

// AddShells adds the packages providing the login shells of the declared users: shells maps a
// shell's file name to its package ("" = nothing to install, e.g. sh or nologin). A shell the table
// does not know gets a note instead.
func (s *Wants) AddShells(c *chobolo.Chobolo, shells map[string]string) (notes []string, err error) {
	for i, u := range c.Users {
		if u.State == "absent" || u.Shell == "" {
			continue
		}
		where := "users[" + strconv.Itoa(i) + "].shell"
		pkg, known := shells[path.Base(u.Shell)]
		switch {
		case !known:
			notes = append(notes, fmt.Sprintf("%s: no package is known to provide the shell %q of user %s; install it with `packages`", c.Pos(where), u.Shell, u.Name))
		case pkg != "":
			if err := s.Add(Want{Name: pkg, Pos: c.Pos(where), Why: "login shell of user " + u.Name}); err != nil {
				return nil, err
			}
		}
	}
	return notes, nil
}

// WithNeeds is want plus the packages the plan's roles need (engine.Need), each resolved through
// the package map for core and validated like a declared package; a need already wanted keeps its
// declaration. The need's text ("needed by region: locale-gen for region.locale") is its Why, which
// the plan shows next to the package.
func WithNeeds(want []Want, needs []engine.Need, core string, resolve pkgmap.Resolver, valid func(string) error) ([]Want, error) {
	if len(needs) == 0 {
		return want, nil
	}
	s := NewWants(valid)
	for _, w := range want {
		if err := s.Add(w); err != nil {
			return nil, err
		}
	}
	for _, n := range needs {
		names, known, err := pkgmap.Entry(chobolo.Package{Name: n.Package}, core, resolve)
		if err != nil {
			return nil, fmt.Errorf("%s: role %s: %w", n.Pos, n.Role, err)
		}
		for _, name := range names {
			if err := s.Add(Want{Name: name, Pos: n.Pos, Why: NeedWhy(n), Unmapped: !known, IfInstalled: n.Present}); err != nil {
				return nil, err
			}
		}
	}
	return s.List, nil
}

// RunWants is what a core's packages role installs and keeps in one run: the Ch-obolo's desired set
// (from declared, which also returns notes) plus what the other roles need (env.Needs), or only the
// latter when the role runs just for them (env.NeedsOnly).
func RunWants(env *engine.Env, core string, resolve pkgmap.Resolver, valid func(string) error, declared func() ([]Want, []string, error)) ([]Want, []string, error) {
	var want []Want
	var notes []string
	if !env.NeedsOnly {
		var err error
		if want, notes, err = declared(); err != nil {
			return nil, nil, err
		}
	}
	want, err := WithNeeds(want, env.Needs, core, resolve, valid)
	return want, notes, err
}

// NeedWhy is how the plan explains a package a role needs.
func NeedWhy(n engine.Need) string {
	if n.Why == "" {
		return "needed by " + n.Role
	}
	return "needed by " + n.Role + ": " + n.Why
}
