package styx

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
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
		"# chaos styx invoke (no names) installs them; chaos apply refuses a Soul or bundle that differs.\n"
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

// Check compares what the lock pins with what is installed: each locked Soul must be among souls,
// at the locked version, with the locked tree; each locked Ch-obolo bundle must be in bundleRoot
// with its locked tree. The error lists every difference.
func (l *Lock) Check(souls []InstalledSoul, bundleRoot string) error {
	if l == nil {
		return nil
	}
	byName := map[string]InstalledSoul{}
	for _, s := range souls {
		byName[s.Name] = s
	}
	var problems []string
	tree := func(name, what, dir, locked string) {
		got, err := TreeDigest(dir)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
		case got != locked:
			problems = append(problems, fmt.Sprintf("%s at %s differs from the lock (%s, locked %s)", what, dir, got, locked))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(l.Entries)) {
		le := l.Entries[name]
		switch le.Kind {
		case KindSoul:
			s, ok := byName[name]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s@%s is locked but not installed (chaos styx invoke)", name, le.Version))
			case !sameVersionText(s.Version, le.Version):
				problems = append(problems, fmt.Sprintf("%s is %s at %s, the lock says %s", name, s.Version, s.Dir, le.Version))
			default:
				tree(name, name+" "+s.Version, s.Dir, le.Tree)
			}
		case KindChobolo:
			dir := filepath.Join(bundleRoot, chobolo.StyxBundleName(name, le.Version))
			if _, err := os.Stat(dir); err != nil {
				problems = append(problems, fmt.Sprintf("the bundle %s@%s is locked but not installed (chaos styx invoke)", name, le.Version))
				continue
			}
			tree(name, "the bundle "+name+"@"+le.Version, dir, le.Tree)
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
