package engine

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

func TestOverlap(t *testing.T) {
	exact := func(p string) Claim { return Claim{Path: p} }
	tree := func(p string) Claim { return Claim{Path: p, Tree: true} }
	glob := func(p string) Claim { return Claim{Path: p, Glob: true} }
	cases := []struct {
		a, b Claim
		want bool
	}{
		{exact("/etc/hostname"), exact("/etc/hostname"), true},
		{exact("/etc/hostname"), exact("/etc/hosts"), false},
		{exact("/etc/yum.repos.d/x.repo"), tree("/etc/yum.repos.d"), true},
		{exact("/etc/yum.repos.d"), tree("/etc/yum.repos.d"), true},
		{exact("/etc/yum.repos.dx"), tree("/etc/yum.repos.d"), false},
		{tree("/etc/apt"), tree("/etc/apt/sources.list.d"), true},
		{tree("/etc/apt/sources.list.d"), tree("/etc/apt"), true},
		{tree("/etc/aptx"), tree("/etc/apt"), false},
		{exact("/etc/sudoers.d/99-chaos-alice"), glob("/etc/sudoers.d/99-chaos-*"), true},
		{glob("/etc/sudoers.d/99-chaos-*"), exact("/etc/sudoers.d/99-chaos-alice"), true},
		{exact("/etc/sudoers.d/alice"), glob("/etc/sudoers.d/99-chaos-*"), false},
		{exact("/etc/sudoers.d"), glob("/etc/sudoers.d/99-chaos-*"), false},
		{tree("/etc/sudoers.d"), glob("/etc/sudoers.d/99-chaos-*"), true},
		{tree("/etc"), glob("/etc/sudoers.d/99-chaos-*"), true},
		{tree("/etc/sudoers.d/99-chaos-a"), glob("/etc/sudoers.d/99-chaos-*"), true},
		{tree("/etc/ssh"), glob("/etc/sudoers.d/99-chaos-*"), false},
		{glob("/etc/apt/sources.list.d/chaos-*.sources"), glob("/etc/apt/sources.list.d/chaos-*.sources"), true},
		{glob("/etc/apt/sources.list.d/chaos-*.sources"), glob("/etc/apt/keyrings/chaos-*.asc"), false},
	}
	for _, tc := range cases {
		if got := Overlap(tc.a, tc.b); got != tc.want {
			t.Errorf("Overlap(%+v, %+v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := Overlap(tc.b, tc.a); got != tc.want {
			t.Errorf("Overlap(%+v, %+v) = %v, want %v (not symmetric)", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestConflictsListsEveryPair(t *testing.T) {
	pos := func(l int) chobolo.Pos { return chobolo.Pos{File: "c.yml", Line: l, Col: 3} }
	host := []OwnedClaim{
		{Role: "hostname", Claim: Claim{Path: "/etc/hostname", Pos: pos(1), Why: "the declared hostname"}},
		{Role: "hostname", Claim: Claim{Path: "/etc/hosts", Pos: pos(1)}},
	}
	users := []OwnedClaim{{Role: "users", Claim: Claim{Path: "/etc/sudoers.d/99-chaos-*", Glob: true, Pos: pos(2)}}}
	files := []OwnedClaim{
		{Role: "files", Claim: Claim{Path: "/etc/motd", Pos: pos(10)}},
		{Role: "files", Claim: Claim{Path: "/etc/hosts", Pos: pos(11)}},
		{Role: "files", Claim: Claim{Path: "/etc/hostname", Pos: pos(12)}},
		{Role: "files", Claim: Claim{Path: "/etc/sudoers.d/99-chaos-bob", Pos: pos(13)}},
	}
	got := Conflicts([][]OwnedClaim{host, users, files})
	var lines []string
	for _, c := range got {
		lines = append(lines, c.String())
	}
	want := []string{
		"c.yml:11:3: role files and role hostname both manage /etc/hosts; give each path one owner:\n" +
			"    c.yml:1:3: role hostname manages /etc/hosts\n" +
			"    c.yml:11:3: role files manages /etc/hosts",
		"c.yml:12:3: role files and role hostname both manage /etc/hostname; give each path one owner:\n" +
			"    c.yml:1:3: role hostname manages /etc/hostname: the declared hostname\n" +
			"    c.yml:12:3: role files manages /etc/hostname",
		"c.yml:13:3: role files and role users both manage /etc/sudoers.d/99-chaos-bob; give each path one owner:\n" +
			"    c.yml:2:3: role users manages /etc/sudoers.d/99-chaos-* (the files this pattern matches)\n" +
			"    c.yml:13:3: role files manages /etc/sudoers.d/99-chaos-bob",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("conflicts:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if got := Conflicts([][]OwnedClaim{host, users}); len(got) != 0 {
		t.Errorf("no shared path, got %v", got)
	}
}

// ownerRole is a role with fixed up-front claims.
type ownerRole struct {
	metaRole
	claims []Claim
}

func (r ownerRole) Owns(string, *chobolo.Chobolo) []Claim { return r.claims }

// TestCheckPlannedClaims: the claims a plan makes after the probe are checked against every other
// role's up-front claims and plan claims, never against the same role's; no plan claim, no check.
func TestCheckPlannedClaims(t *testing.T) {
	pos := func(l int) chobolo.Pos { return chobolo.Pos{File: "c.yml", Line: l, Col: 3} }
	host := ownerRole{metaRole{Meta{Name: "hostname"}}, []Claim{{Path: "/etc/hostname", Pos: pos(1)}}}
	files := ownerRole{metaRole{Meta{Name: "files"}}, []Claim{{Path: "/etc/motd", Pos: pos(5)}}}
	soul := metaRole{Meta{Name: "soul"}} // no Owner: its plan claims only
	roles := []Role{host, files, soul}
	c := &chobolo.Chobolo{}
	for _, tc := range []struct {
		name  string
		plans []*RolePlan
		want  string
	}{
		{"none", []*RolePlan{{Role: "hostname"}, {Role: "files"}}, ""},
		{"elsewhere", []*RolePlan{{Role: "files", Claims: []Claim{{Path: "/var/lib/pg/.pgpass", Pos: pos(7)}}}}, ""},
		{"own up-front claim", []*RolePlan{{Role: "files", Claims: []Claim{{Path: "/etc/motd", Pos: pos(7)}}}}, ""},
		{"another role's", []*RolePlan{{Role: "files", Claims: []Claim{{Path: "/etc/hostname", Pos: pos(7), Why: "in etcsvc's home"}}}},
			"c.yml:7:3: role files and role hostname both manage /etc/hostname"},
		{"two plans", []*RolePlan{{Role: "files", Claims: []Claim{{Path: "/srv/x", Pos: pos(7)}}}, {Role: "soul", Claims: []Claim{{Path: "/srv", Tree: true, Pos: pos(9)}}}},
			"c.yml:9:3: role soul and role files both manage /srv/x"},
	} {
		err := CheckPlannedClaims(roles, tc.plans, c, "debian")
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
