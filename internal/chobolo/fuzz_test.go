package chobolo

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzLoadBytes: the loader never panics, and whatever it accepts validates again cleanly and
// survives a round trip through YAML unchanged (so what roles see is what the file said).
func FuzzLoadBytes(f *testing.F) {
	for _, name := range []string{"hostile.yml", "boilerplate.golden.yml"} {
		if data, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(uncomment(Boilerplate())))
	for _, s := range []string{
		"hostname: h\nusers: [{name: a, uid: 1}]\npackages: [git, {name: x, debian: y}]\n",
		"x-a: &a {shell: zsh}\nusers: [{<<: *a, name: b}]\n",
		"files: [{path: /a, mode: 0644}, {path: /b, state: link, target: c}]\n",
		"pacotes: [a]\nparticoes: {partitions: [{mount_point: /}]}\n",
		"imports: [a.yml]\nregion: {locale: C.UTF-8}\n",
		"services: [a, {name: b.timer, running: no}]\nrepos: {apt: [{name: r, uris: [http://a], suites: [./]}]}\n",
		"a: &a [*a]\n", "--- a\n--- b\n", "\t", "{", "[[[[[", "hostname: !!binary aGk=\n",
	} {
		f.Add([]byte(s))
	}
	fsys := memFS{"a.yml": "hostname: h\n", "common.yml": "", "base.yml": "", "keys/docker.asc": "KEY"}
	opts := LoadOptions{ReadFile: fsys.read}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := LoadBytes("c.yml", data, opts)
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error of type %T", err)
			}
			if strings.Contains(err.Error(), "internal error") {
				t.Fatalf("the key table and the struct disagree: %v", err)
			}
			return
		}
		if err := Validate(c, opts); err != nil {
			t.Fatalf("loaded Ch-obolo does not re-validate: %v", err)
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		c2, err := LoadBytes("c.yml", out, opts)
		if err != nil {
			t.Fatalf("round trip does not load: %v\n%s", err, out)
		}
		// JSON, because YAML's omitempty cannot tell an empty list from an absent one (Has does).
		j1, _ := json.Marshal(typed(c))
		j2, _ := json.Marshal(typed(c2))
		if string(j1) != string(j2) {
			t.Fatalf("round trip changed the Ch-obolo:\n%s", out)
		}
	})
}

// typed is the part of a Chobolo that comes from the typed keys.
func typed(c *Chobolo) Chobolo {
	t := Chobolo{Core: c.Core, Hostname: c.Hostname, Users: c.Users, Packages: c.Packages, BaseOverride: c.BaseOverride,
		Repos: c.Repos, Services: c.Services, Region: c.Region, Files: c.Files}
	t.Repos.Extra = nil
	return t
}
