// Package team is the original Ch-aOS's shared team repository: a git repository holding, per
// company and team, the team's sops-encrypted secrets, its members' rambles and the sops
// configuration that says who can read them, plus .chaos.yml naming the company, its teams and
// their people. Activating a repository links each team into chaos's teams directory, where
// `-t company.team[.group]` finds it.
//
// Layout (as the original's `team init` made it):
//
//	REPO/.chaos.yml                         company, teams[{name, people}], engine
//	REPO/COMPANY/TEAM/sops-config.yml       creation rules for secrets/dev, secrets/prod, ramblings
//	REPO/COMPANY/TEAM/secrets/{dev,prod}/   secrets files (secrets.yml by default)
//	REPO/COMPANY/TEAM/ramblings/PERSON/     rambles (internal/ramble)
//	TEAMS/COMPANY/TEAM -> REPO/COMPANY/TEAM  the activation symlink
//
// A repository may come from anyone (`team clone`), so every name is validated before it becomes
// a path, every path is proven to stay inside its root, and symlinks inside a team repository are
// refused: the original joined the names unchecked and followed whatever it found.
package team

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/datadir"
)

// validName is what a company, team, group or person may be called: one path component that
// cannot be ".", ".." or hidden, and no dot, which separates them in company.team.group.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// CheckName refuses a name that is not a safe single path component.
func CheckName(kind, name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("invalid %s name %q: use letters, digits, '-' and '_' (at most 64, not starting with '-' or '_')", kind, name)
	}
	return nil
}

// Ref is company.team[.group]; Group is a secrets group (dev, prod) for -t, a person for rambles.
type Ref struct {
	Company, Team, Group string
}

// ParseRef parses and validates company.team[.group].
func ParseRef(s string) (Ref, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Ref{}, fmt.Errorf("team %q: want company.team or company.team.group", s)
	}
	r := Ref{Company: parts[0], Team: parts[1]}
	if len(parts) == 3 {
		r.Group = parts[2]
	}
	for i, c := range []struct{ kind, name string }{{"company", r.Company}, {"team", r.Team}, {"group", r.Group}} {
		if i >= len(parts) {
			break
		}
		if err := CheckName(c.kind, c.name); err != nil {
			return Ref{}, fmt.Errorf("team %q: %w", s, err)
		}
	}
	return r, nil
}

func (r Ref) String() string {
	if r.Group == "" {
		return r.Company + "." + r.Team
	}
	return r.Company + "." + r.Team + "." + r.Group
}

// Dir returns chaos's teams directory, where activation links live: $CHAOS_TEAMS_DIR, else the
// original's $CHAOS_TEAM_DIR (it read one and wrote the other), else $XDG_DATA_HOME/chaos/teams,
// else ~/.local/share/chaos/teams.
func Dir() (string, error) {
	if d := cmp.Or(os.Getenv("CHAOS_TEAMS_DIR"), os.Getenv("CHAOS_TEAM_DIR")); d != "" {
		return filepath.Abs(d)
	}
	return datadir.Path("teams")
}

// Inside returns root/rel after proving that it stays inside root: rel must be relative, must not
// climb out with "..", and no existing component below root may be a symlink (a repository
// cloned from someone else could point one anywhere). Components that do not exist yet are
// allowed, so that a file can be created.
func Inside(root, rel string) (string, error) {
	if filepath.IsAbs(rel) {
		return "", fmt.Errorf("%s: must be relative to %s", rel, root)
	}
	clean := filepath.Clean(rel)
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s: leaves %s", rel, root)
	}
	p := root
	if clean == "." {
		return p, nil
	}
	for _, c := range strings.Split(clean, string(filepath.Separator)) {
		p = filepath.Join(p, c)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("team: %w", err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return "", fmt.Errorf("%s: is a symlink inside %s; refused (a team repository must not redirect paths)", p, root)
		}
	}
	return filepath.Join(root, clean), nil
}

// realDir resolves dir to an absolute path without symlinks and checks that it is a directory.
func realDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("team: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("team: %w", err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("team: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s: not a directory", dir)
	}
	return real, nil
}
