package pkggraph

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
)

// graph: app -> (helper | helper2); helper2 -> lib; tool -> lib; base -> core.
var graph = map[string][][]string{
	"app":     {{"helper", "helper2"}},
	"helper2": {{"lib"}},
	"tool":    {{"lib"}},
	"base":    {{"core"}},
	"self":    {{"self", "other"}},
}

func deps(n string) [][]string { return graph[n] }

func TestKeep(t *testing.T) {
	for _, tc := range []struct {
		name       string
		roots      []string
		candidates []string
		want       string // needed packages, sorted
	}{
		{"first provider", []string{"app"}, nil, "app helper"},
		{"candidate skipped for a staying alternative", []string{"app"}, []string{"helper"}, "app helper2 lib"},
		{"all candidates: the first is kept", []string{"app"}, []string{"helper", "helper2"}, "app helper"},
		{"satisfied by a needed package", []string{"tool", "app"}, []string{"helper"}, "app helper2 lib tool"},
		{"self-satisfied", []string{"self"}, nil, "self"},
		{"unknown package", []string{"nothing"}, nil, "nothing"},
	} {
		c := map[string]bool{}
		for _, n := range tc.candidates {
			c[n] = true
		}
		w := Keep(deps, tc.roots, c)
		var got []string
		for _, n := range []string{"app", "base", "core", "helper", "helper2", "lib", "nothing", "other", "self", "tool"} {
			if w.Needed[n] {
				got = append(got, n)
			}
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: needed %v, want %s", tc.name, got, tc.want)
		}
	}
}

func TestChain(t *testing.T) {
	w := Keep(deps, []string{"app", "base"}, map[string]bool{"helper": true})
	w.Parent["new"] = NewPackages
	for _, tc := range []struct{ n, want string }{
		{"lib", "declared package app requires it (app -> helper2 -> lib)"},
		{"helper2", "declared package app requires it"},
		{"core", "package base requires it"},
		{"new", "a declared package about to be installed requires it"},
	} {
		if got := w.Chain(tc.n, map[string]bool{"app": true}, "requires"); got != tc.want {
			t.Errorf("Chain(%s) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestWants(t *testing.T) {
	c := &chobolo.Chobolo{File: "m.yml"}
	c.Packages = []chobolo.Package{{Name: "zsh"}, {Name: "git"}, {Name: "zsh"}}
	for i := range c.Packages {
		c.SetPos("packages["+string(rune('0'+i))+"]", chobolo.Pos{File: "m.yml", Line: 2 + i, Col: 5})
	}
	c.Users = []chobolo.User{{Name: "alice", Shell: "/usr/bin/zsh"}, {Name: "bob", Shell: "/bin/elvish2"}, {Name: "carol", Shell: "/bin/fish", State: "absent"}, {Name: "dan", Shell: "/bin/sh"}}
	valid := func(n string) error {
		if strings.ContainsAny(n, " ;") {
			return errInvalid
		}
		return nil
	}
	s := NewWants(valid)
	if err := s.AddPackages(c, "debian", nil); err != nil {
		t.Fatal(err)
	}
	notes, err := s.AddShells(c, map[string]string{"zsh": "zsh", "fish": "fish", "sh": ""})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range s.List {
		got = append(got, w.Name+"@"+w.Pos.String()+"("+w.Why+")")
	}
	if want := "zsh@m.yml:2:5(packages[0]) git@m.yml:3:5(packages[1])"; strings.Join(got, " ") != want {
		t.Errorf("wants %v, want %s", got, want)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], `"/bin/elvish2" of user bob`) {
		t.Errorf("notes %q", notes)
	}
	if err := s.Add(Want{Name: "a;b", Pos: chobolo.Pos{File: "m.yml", Line: 9, Col: 3}, Why: "packages[7]"}); err == nil || err.Error() != "m.yml:9:3: packages[7]: invalid" {
		t.Errorf("err = %v", err)
	}
}

type invalid struct{}

func (invalid) Error() string { return "invalid" }

var errInvalid error = invalid{}

// TestWithNeeds: the needs of other roles join the desired set, resolved through the package map for
// the core, validated like declared packages, explained by who needs them; a need already declared
// keeps its declaration.
func TestWithNeeds(t *testing.T) {
	want := []Want{{Name: "sudo", Pos: chobolo.Pos{File: "m.yml", Line: 2, Col: 5}, Why: "packages[0]"}}
	resolve := func(p chobolo.Package, core string) ([]string, bool) {
		if p.Name == "timesync" && core == "debian" {
			return []string{"systemd-timesyncd"}, true
		}
		return nil, false
	}
	valid := func(n string) error {
		if strings.ContainsAny(n, " ;") {
			return errInvalid
		}
		return nil
	}
	needs := []engine.Need{
		{Package: "sudo", Role: "users", Why: "visudo", Pos: chobolo.Pos{File: "m.yml", Line: 9, Col: 7}},
		{Package: "locales", Role: "region", Why: "locale-gen for region.locale", Pos: chobolo.Pos{File: "m.yml", Line: 12, Col: 3}},
		{Package: "timesync", Role: "region"},
	}
	got, err := WithNeeds(want, needs, "debian", resolve, valid)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, w := range got {
		s = append(s, w.Name+"@"+w.Pos.String()+"("+w.Why+")")
	}
	if exp := "sudo@m.yml:2:5(packages[0]) locales@m.yml:12:3(needed by region: locale-gen for region.locale) systemd-timesyncd@<unknown>(needed by region)"; strings.Join(s, " ") != exp {
		t.Errorf("got %s\nwant %s", strings.Join(s, " "), exp)
	}
	if _, err := WithNeeds(nil, []engine.Need{{Package: "a;b", Role: "x", Pos: chobolo.Pos{File: "m.yml", Line: 4, Col: 1}}}, "debian", nil, valid); err == nil || !strings.HasPrefix(err.Error(), "m.yml:4:1: ") {
		t.Errorf("invalid need: %v", err)
	}
}
