// Package souls finds installed Souls (plugins), reads their manifests and runs their processes.
// The protocol and the Go SDK are pkg/soul; this package is chaos's side of it.
package souls

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/datadir"
	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// ManifestFile is the name of a Soul's manifest in its directory.
const ManifestFile = "soul.yaml"

// Soul is an installed Soul: its directory and manifest.
type Soul struct {
	Dir      string
	File     string // Dir/soul.yaml
	Manifest soul.Manifest
	// Pos says where each manifest entry is declared, by path ("roles[0].keys"), for errors.
	Pos map[string]chobolo.Pos
}

func (s *Soul) timeout() time.Duration {
	if d, err := time.ParseDuration(s.Manifest.Timeout); err == nil && d > 0 {
		return d
	}
	return DefaultTimeout
}

// Paths are the directories Souls are installed in, first wins for a name: each entry of
// $CHAOS_SOUL_PATH (colon-separated), then ~/.local/share/chaos/souls ($XDG_DATA_HOME), then
// /usr/share/chaos/souls.
func Paths() []string {
	var out []string
	for _, p := range filepath.SplitList(os.Getenv("CHAOS_SOUL_PATH")) {
		if p != "" {
			out = append(out, p)
		}
	}
	if p, err := datadir.Path("souls"); err == nil {
		out = append(out, p)
	}
	return append(out, "/usr/share/chaos/souls")
}

// Discover reads every Soul under paths (each a directory of Soul directories). A Soul whose
// manifest is invalid is an error naming FILE:LINE:COL, and the others still load; a name found
// twice keeps the first (an earlier path overrides a later one, as PATH does).
func Discover(paths []string) ([]*Soul, []error) {
	var out []*Soul
	var errs []error
	seen := map[string]string{}
	for _, dir := range paths {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("souls: %w", err))
			continue
		}
		for _, e := range entries {
			sd := filepath.Join(dir, e.Name())
			if fi, err := os.Stat(sd); err != nil || !fi.IsDir() {
				continue
			}
			if _, err := os.Stat(filepath.Join(sd, ManifestFile)); err != nil {
				continue
			}
			s, err := Load(sd)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if _, ok := seen[s.Manifest.Name]; ok {
				continue
			}
			seen[s.Manifest.Name] = sd
			out = append(out, s)
		}
	}
	return out, errs
}

var nameRe = regexp.MustCompile(`^([a-z0-9][a-z0-9-]*/)?[a-z0-9][a-z0-9-]*$`)

// Load reads and checks the Soul in dir.
func Load(dir string) (*Soul, error) {
	// The process runs in its directory, and the executable is named relative to it.
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	file := filepath.Join(dir, ManifestFile)
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("soul: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	s := &Soul{Dir: dir, File: file, Pos: map[string]chobolo.Pos{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s.Manifest); err != nil {
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 1 {
		positions(file, "", doc.Content[0], s.Pos)
	}
	pos := func(key string) string { return s.Pos[key].String() }
	m := &s.Manifest
	var problems []string
	bad := func(key, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s: %s", cmp.Or(pos(key), file), fmt.Sprintf(format, args...)))
	}
	if !nameRe.MatchString(m.Name) {
		bad("name", "name %q: want lowercase letters, digits and '-' (publisher/name when namespaced)", m.Name)
	}
	if m.Protocol != soul.ProtocolVersion {
		bad("protocol", "protocol %d: this chaos speaks protocol %d", m.Protocol, soul.ProtocolVersion)
	}
	if len(m.Exec) == 0 {
		bad("exec", "exec: the executable to run is missing")
	}
	if m.Timeout != "" {
		if d, err := time.ParseDuration(m.Timeout); err != nil || d <= 0 {
			bad("timeout", "timeout %q: want a duration such as 30s", m.Timeout)
		}
	}
	for i, r := range m.Roles {
		key := fmt.Sprintf("roles[%d]", i)
		if !nameRe.MatchString(r.Name) || strings.Contains(r.Name, "/") {
			bad(key+".name", "role name %q: want lowercase letters, digits and '-'", r.Name)
		}
		if len(r.Keys) == 0 {
			bad(key, "role %s: keys: name the top-level Ch-obolo keys it reads", r.Name)
		}
		if r.Schema != "" {
			if _, err := os.Stat(filepath.Join(dir, r.Schema)); err != nil {
				bad(key+".schema", "role %s: schema %s: %v", r.Name, r.Schema, err)
			}
		}
	}
	for _, kind := range []struct {
		key   string
		specs []soul.KindSpec
	}{{"boats", m.Boats}, {"providers", m.Providers}, {"limanis", m.Limanis}, {"chimera", m.Chimera}} {
		key, specs := kind.key, kind.specs
		seen := map[string]bool{}
		for i, sp := range specs {
			at := fmt.Sprintf("%s[%d]", key, i)
			if !nameRe.MatchString(sp.Name) || strings.Contains(sp.Name, "/") {
				bad(at+".name", "%s name %q: want lowercase letters, digits and '-'", key, sp.Name)
			} else if seen[sp.Name] {
				bad(at+".name", "%s: %q is declared twice", key, sp.Name)
			}
			seen[sp.Name] = true
		}
	}
	for topic, f := range m.Explanations {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			bad("explanations."+topic, "explanation %s: %v", topic, err)
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return s, nil
}

// positions records where every mapping key and sequence item under n is, by path.
func positions(file, path string, n *yaml.Node, out map[string]chobolo.Pos) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			out[p] = chobolo.Pos{File: file, Line: k.Line, Col: k.Column}
			positions(file, p, n.Content[i+1], out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			out[p] = chobolo.Pos{File: file, Line: c.Line, Col: c.Column}
			positions(file, p, c, out)
		}
	}
}

// passEnv is the environment a Soul process gets.
func passEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}
