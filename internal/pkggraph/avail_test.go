package pkggraph

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// TestCheckAvailable: from the probe's lines, a missing name the repositories lack is an error at its
// declaration (with the closest offered name when one is close), an offered or installed name passes,
// and where the host cannot tell (no lists, repositories refreshing) a warning says so.
func TestCheckAvailable(t *testing.T) {
	pos := func(l int) chobolo.Pos { return chobolo.Pos{File: "m.yml", Line: l, Col: 5} }
	install := []Want{
		{Name: "htop", Pos: pos(2), Why: "packages[0]"},
		{Name: "neovm", Pos: pos(3), Why: "packages[1]"},
		{Name: "zzz:i386", Pos: pos(4), Why: "packages[2]", Unmapped: true},
		{Name: "git", Pos: pos(5), Why: "packages[3]"}, // not reported missing by the probe
	}
	var av Availability
	av.AvailLines("@missing htop neovm zzz:i386\n@have htop\n@near neovm neovim\n@near neovm nemo\nunrelated line\n")
	errs, warns := CheckAvailable(install, &av, "repos.apt")
	var got []string
	for _, e := range errs {
		got = append(got, e.String())
	}
	want := []string{
		"m.yml:3:5: error: packages[1]: no package neovm in the configured repositories; did you mean neovim?",
		"m.yml:4:5: error: packages[2]: no package zzz:i386 in the configured repositories; check the spelling, or add the repository that has it under repos.apt (the package map has no entry for it: if this distribution calls it differently, declare an override)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || len(warns) != 0 {
		t.Errorf("errors:\n%s\nwant:\n%s\nwarnings: %q", strings.Join(got, "\n"), strings.Join(want, "\n"), warns)
	}

	av.Changed = []string{"extra"}
	if errs, warns := CheckAvailable(install, &av, "repos.apt"); len(errs) != 0 || len(warns) != 2 ||
		warns[0] != "m.yml:3:5: cannot verify package neovm: this plan adds or changes repositories (extra) first" {
		t.Errorf("refreshing: errors %v, warnings %q", errs, warns)
	}
	av = Availability{}
	av.AvailLines("@missing neovm\n@unknown apt has no package lists yet\n")
	if errs, warns := CheckAvailable(install, &av, "repos.apt"); len(errs) != 0 || len(warns) != 1 ||
		warns[0] != "m.yml:3:5: cannot verify package neovm: apt has no package lists yet" {
		t.Errorf("no lists: errors %v, warnings %q", errs, warns)
	}
	if errs, warns := CheckAvailable(install, &Availability{}, "repos.apt"); len(errs)+len(warns) != 0 {
		t.Errorf("nothing probed: errors %v, warnings %q", errs, warns)
	}
}
