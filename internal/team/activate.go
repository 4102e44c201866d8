package team

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// companyDir returns TEAMS/company, created 0700 when create, and refuses a symlink there.
func companyDir(company string, create bool) (string, error) {
	if err := CheckName("company", company); err != nil {
		return "", err
	}
	teams, err := Dir()
	if err != nil {
		return "", err
	}
	d := filepath.Join(teams, company)
	if create {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", fmt.Errorf("team: %w", err)
		}
	}
	fi, err := os.Lstat(d)
	if err != nil {
		return "", fmt.Errorf("team: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s: not a directory; refused", d)
	}
	return d, nil
}

// Activate links every team of the repository's .chaos.yml into the teams directory
// (TEAMS/COMPANY/TEAM -> REPO/COMPANY/TEAM) and returns the links. Each team directory must exist
// as a real directory inside the repository; a link to another repository's copy of the team is
// replaced, anything else in its place is refused.
func Activate(repo string) ([]string, error) {
	repo, err := realDir(repo)
	if err != nil {
		return nil, err
	}
	m, err := ReadManifest(repo)
	if err != nil {
		return nil, err
	}
	type link struct{ from, to string }
	var todo []link
	for _, t := range m.Teams {
		dir, err := Inside(repo, filepath.Join(m.Company, t.Name))
		if err != nil {
			return nil, err
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%s: team %s is listed in %s but has no directory", repo, t.Name, ManifestName)
		}
		todo = append(todo, link{to: dir, from: t.Name})
	}
	cd, err := companyDir(m.Company, true)
	if err != nil {
		return nil, err
	}
	var links []string
	for _, l := range todo {
		p := filepath.Join(cd, l.from)
		if fi, err := os.Lstat(p); err == nil {
			if fi.Mode()&fs.ModeSymlink == 0 {
				return links, fmt.Errorf("%s: exists and is not a team link; refused", p)
			}
			if err := os.Remove(p); err != nil {
				return links, fmt.Errorf("team: %w", err)
			}
		}
		if err := os.Symlink(l.to, p); err != nil {
			return links, fmt.Errorf("team: %w", err)
		}
		links = append(links, p)
	}
	return links, nil
}

// Deactivate removes the links of the named teams of company, or of all its teams when none are
// named. Only symlinks are removed.
func Deactivate(company string, teams ...string) ([]string, error) {
	cd, err := companyDir(company, false)
	if err != nil {
		return nil, err
	}
	if len(teams) == 0 {
		entries, err := os.ReadDir(cd)
		if err != nil {
			return nil, fmt.Errorf("team: %w", err)
		}
		for _, e := range entries {
			teams = append(teams, e.Name())
		}
	}
	var removed []string
	for _, t := range teams {
		if err := CheckName("team", t); err != nil {
			return removed, err
		}
		p := filepath.Join(cd, t)
		fi, err := os.Lstat(p)
		if err != nil {
			return removed, fmt.Errorf("team %s.%s is not active: %w", company, t, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return removed, fmt.Errorf("%s: not a team link; left alone", p)
		}
		if err := os.Remove(p); err != nil {
			return removed, fmt.Errorf("team: %w", err)
		}
		removed = append(removed, p)
	}
	os.Remove(cd) // only when empty
	return removed, nil
}

// Active is one activated team.
type Active struct {
	Company, Team string
	Link          string // TEAMS/COMPANY/TEAM
	Target        string // where it points
	Dangling      bool   // the target is gone (removed or moved repository)
}

// List returns the active teams, of the given companies or all, sorted.
func List(companies ...string) ([]Active, error) {
	teams, err := Dir()
	if err != nil {
		return nil, err
	}
	if len(companies) == 0 {
		entries, err := os.ReadDir(teams)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("team: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() && validName.MatchString(e.Name()) {
				companies = append(companies, e.Name())
			}
		}
	}
	var out []Active
	for _, c := range companies {
		if err := CheckName("company", c); err != nil {
			return nil, err
		}
		entries, err := os.ReadDir(filepath.Join(teams, c))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("team: %w", err)
		}
		for _, e := range entries {
			if e.Type()&fs.ModeSymlink == 0 {
				continue
			}
			p := filepath.Join(teams, c, e.Name())
			target, err := os.Readlink(p)
			if err != nil {
				return nil, fmt.Errorf("team: %w", err)
			}
			fi, err := os.Stat(p)
			out = append(out, Active{Company: c, Team: e.Name(), Link: p, Target: target, Dangling: err != nil || !fi.IsDir()})
		}
	}
	slices.SortFunc(out, func(a, b Active) int { return strings.Compare(a.Company+"."+a.Team, b.Company+"."+b.Team) })
	return out, nil
}

// Prune removes the dangling links of the given companies (or all) and returns them.
func Prune(companies ...string) ([]string, error) {
	act, err := List(companies...)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, a := range act {
		if !a.Dangling {
			continue
		}
		if err := os.Remove(a.Link); err != nil {
			return removed, fmt.Errorf("team: %w", err)
		}
		removed = append(removed, a.Link)
		os.Remove(filepath.Dir(a.Link)) // the company's directory, only when empty
	}
	return removed, nil
}

// Clone clones a team repository into dest (which must not exist), checks its .chaos.yml and
// activates its teams. A clone that is not a valid team repository is removed again. The URL
// goes to git after "--", so it cannot be read as an option (the original passed it bare).
func Clone(ctx context.Context, url, dest string) ([]string, error) {
	if url == "" || strings.HasPrefix(url, "-") {
		return nil, fmt.Errorf("team clone: invalid repository URL %q", url)
	}
	if _, err := os.Lstat(dest); err == nil {
		return nil, fmt.Errorf("team clone: %s already exists", dest)
	}
	cmd := exec.CommandContext(ctx, "git", "clone", "--quiet", "--", url, dest)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dest)
		return nil, fmt.Errorf("git clone %s: %v: %s", url, err, strings.TrimSpace(string(out)))
	}
	links, err := Activate(dest)
	if err != nil {
		for _, l := range links {
			os.Remove(l)
		}
		os.RemoveAll(dest)
		return nil, fmt.Errorf("team clone %s: %w (the clone was removed)", url, err)
	}
	return links, nil
}
