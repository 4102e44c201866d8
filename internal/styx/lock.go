package styx

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/secrets"
)

// LockFile is the lock's name, beside the Ch-obolo.
const LockFile = "styx.lock"

// Lock pins exact versions and hashes of Styx entries for one Ch-obolo.
type Lock struct {
	Registry string               `yaml:"registry,omitempty" json:"registry,omitempty"`
	Entries  map[string]LockEntry `yaml:"entries" json:"entries"`
}

// LockEntry pins one entry.
type LockEntry struct {
	Version string `yaml:"version" json:"version"`
	Kind    Kind   `yaml:"kind" json:"kind"`
	SHA256  string `yaml:"sha256,omitempty" json:"sha256,omitempty"`
	// Tree is TreeDigest of the installed directory: what chaos apply compares a Soul with.
	Tree string `yaml:"tree" json:"tree"`
}

// ReadLock reads a lock; a missing file is (nil, nil).
func ReadLock(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("styx lock: %w", err)
	}
	var l Lock
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	for name := range l.Entries {
		if err := ValidName(name); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return &l, nil
}

// Write saves the lock atomically.
func (l *Lock) Write(path string) error {
	data, err := marshal(l)
	if err != nil {
		return err
	}
	head := "# chaos styx lock: the exact Styx versions this Ch-obolo was tested with.\n" +
		"# chaos styx invoke (no names) installs them; chaos apply refuses a Soul that differs.\n"
	return secrets.WriteFileAtomic(path, append([]byte(head), data...), 0o644)
}

// Lock pins every installed entry.
func (c *Client) Lock() (*Lock, error) {
	rs, err := c.Installed()
	if err != nil {
		return nil, err
	}
	l := &Lock{Registry: c.opts.Registry, Entries: map[string]LockEntry{}}
	for _, r := range rs {
		if _, dup := l.Entries[r.Name]; dup {
			return nil, fmt.Errorf("%s: several versions are installed (%s): destroy the ones this Ch-obolo does not use", r.Name, r.Version)
		}
		l.Entries[r.Name] = LockEntry{Version: r.Version, Kind: r.Kind, SHA256: r.SHA256, Tree: r.Tree}
	}
	return l, nil
}

// InstalledSoul is a Soul as discovered on this machine.
type InstalledSoul struct {
	Name, Version, Dir string
}

// CheckSouls compares the Souls the lock pins with those installed: each must be there, at the
// locked version, with the locked tree. The error lists every difference.
func (l *Lock) CheckSouls(installed []InstalledSoul) error {
	if l == nil {
		return nil
	}
	byName := map[string]InstalledSoul{}
	for _, s := range installed {
		byName[s.Name] = s
	}
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(l.Entries)) {
		le := l.Entries[name]
		if le.Kind != KindSoul {
			continue
		}
		s, ok := byName[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s@%s is locked but not installed (chaos styx invoke)", name, le.Version))
		case !sameVersionText(s.Version, le.Version):
			problems = append(problems, fmt.Sprintf("%s is %s at %s, the lock says %s", name, s.Version, s.Dir, le.Version))
		default:
			tree, err := TreeDigest(s.Dir)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			} else if tree != le.Tree {
				problems = append(problems, fmt.Sprintf("%s %s at %s differs from the lock (%s, locked %s)", name, s.Version, s.Dir, tree, le.Tree))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %s", LockFile, strings.Join(problems, "; "))
	}
	return nil
}

func sameVersionText(a, b string) bool {
	return strings.TrimPrefix(a, "v") == strings.TrimPrefix(b, "v")
}
