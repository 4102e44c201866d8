package team

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ch-aos-ch/chaos/internal/secrets"
)

// DefaultSecretsFile is the secrets file of a team group: TEAMDIR/secrets/[GROUP/]secrets.yml.
const DefaultSecretsFile = "secrets.yml"

// Resolved is an active team's directory, with every symlink resolved (the activation link).
type Resolved struct {
	Ref
	Dir string
}

// Open finds the active team of ref: TEAMS/COMPANY/TEAM, the link made by Activate. The link is
// followed one step only, and the team directory and its company directory must still be real
// directories: a later `git pull` could have turned them into symlinks.
func Open(ref Ref) (Resolved, error) {
	teams, err := Dir()
	if err != nil {
		return Resolved{}, err
	}
	link := filepath.Join(teams, ref.Company, ref.Team)
	target, err := os.Readlink(link)
	if err != nil {
		return Resolved{}, fmt.Errorf("team %s.%s is not active (chaos team activate REPO, or team init/clone): %w", ref.Company, ref.Team, err)
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(link), target)
	}
	for _, d := range []string{target, filepath.Dir(target)} {
		fi, err := os.Lstat(d)
		if err != nil {
			return Resolved{}, fmt.Errorf("team %s.%s: %w (chaos team prune removes links to removed repositories)", ref.Company, ref.Team, err)
		}
		if !fi.IsDir() {
			return Resolved{}, fmt.Errorf("team %s.%s: %s is not a directory (a symlink?); refused", ref.Company, ref.Team, d)
		}
	}
	return Resolved{Ref: ref, Dir: target}, nil
}

// Path returns TEAMDIR/rel, proven inside the team directory with no symlink on the way.
func (r Resolved) Path(rel string) (string, error) {
	p, err := Inside(r.Dir, rel)
	if err != nil {
		return "", fmt.Errorf("team %s.%s: %w", r.Company, r.Team, err)
	}
	return p, nil
}

// SecretSources are the secrets file and sops configuration of `-t company.team[.group]`: file
// and sopsFile (-sf, -ss) are relative to the team directory; by default the file is
// secrets/[GROUP/]secrets.yml and the configuration the team's sops-config.yml. The group's
// directory must exist.
func SecretSources(ref Ref, file, sopsFile string) (secrets.Sources, error) {
	r, err := Open(ref)
	if err != nil {
		return secrets.Sources{}, err
	}
	if ref.Group != "" {
		g, err := r.Path(filepath.Join("secrets", ref.Group))
		if err != nil {
			return secrets.Sources{}, err
		}
		if fi, err := os.Stat(g); err != nil || !fi.IsDir() {
			return secrets.Sources{}, fmt.Errorf("team %s: no group %q (%s does not exist)", ref, ref.Group, g)
		}
	}
	var src secrets.Sources
	if src.File, err = r.Path(cmp.Or(file, filepath.Join("secrets", ref.Group, DefaultSecretsFile))); err != nil {
		return src, err
	}
	if src.Sops, err = r.Path(cmp.Or(sopsFile, SopsConfigName)); err != nil {
		return src, err
	}
	return src, nil
}
