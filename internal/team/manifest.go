package team

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/secrets"
)

// ManifestName is the team repository's description, at its root.
const ManifestName = ".chaos.yml"

// Manifest is .chaos.yml, in the original's shape.
type Manifest struct {
	Company string   `yaml:"company"`
	Teams   []Member `yaml:"teams"`
	// Engine lists the key kinds the team uses: age, gpg.
	Engine []string `yaml:"engine"`
}

// Member is one team of the company and its people.
type Member struct {
	Name   string   `yaml:"name"`
	People []string `yaml:"people,omitempty"`
}

// Validate checks every name that will become a path, and the engines.
func (m *Manifest) Validate() error {
	if err := CheckName("company", m.Company); err != nil {
		return err
	}
	if len(m.Teams) == 0 {
		return fmt.Errorf("no teams listed")
	}
	seen := map[string]bool{}
	for _, t := range m.Teams {
		if err := CheckName("team", t.Name); err != nil {
			return err
		}
		if seen[t.Name] {
			return fmt.Errorf("team %q listed twice", t.Name)
		}
		seen[t.Name] = true
		for _, p := range t.People {
			if err := CheckName("person", p); err != nil {
				return fmt.Errorf("team %s: %w", t.Name, err)
			}
		}
	}
	for _, e := range m.Engine {
		if e != "age" && e != "gpg" && e != "pgp" {
			return fmt.Errorf("engine %q: want age or gpg", e)
		}
	}
	return nil
}

// ReadManifest reads and validates REPO/.chaos.yml, which must be a regular file (not a symlink).
func ReadManifest(repo string) (*Manifest, error) {
	p := filepath.Join(repo, ManifestName)
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, fmt.Errorf("%s: not a team repository: %w", repo, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file; refused", p)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("team: %w", err)
	}
	var m Manifest
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &m, nil
}

// add records a team and person (person may be "") and an engine; it reports whether anything
// changed.
func (m *Manifest) add(team, person string, engines []string) {
	i := slices.IndexFunc(m.Teams, func(t Member) bool { return t.Name == team })
	if i < 0 {
		m.Teams = append(m.Teams, Member{Name: team})
		i = len(m.Teams) - 1
	}
	if person != "" && !slices.Contains(m.Teams[i].People, person) {
		m.Teams[i].People = append(m.Teams[i].People, person)
	}
	for _, e := range engines {
		if !slices.Contains(m.Engine, e) {
			m.Engine = append(m.Engine, e)
		}
	}
}

func (m *Manifest) write(repo string) error {
	data, err := yaml.Marshal(m)
	if err != nil {
		return fmt.Errorf("team: %w", err)
	}
	return secrets.WriteFileAtomic(filepath.Join(repo, ManifestName), data, 0o644)
}
