package engine

import (
	"slices"
	"testing"
)

func TestPlanDiff(t *testing.T) {
	step := func(changes ...Change) Step { return Step{Changes: changes} }
	enable := Change{Kind: Add, Subject: "service foo.service", Detail: "enable"}
	prune := Change{Kind: Del, Subject: "service bar.service", Detail: "disable (enabled but not declared)"}
	fresh := Change{Kind: Del, Subject: "service nginx.service", Detail: "disable (enabled by a package installed in this run, not declared)"}
	approved := &RolePlan{Steps: []Step{step(prune), step(enable)}}
	cases := []struct {
		name string
		now  *RolePlan
		want []string
	}{
		{"same", &RolePlan{Steps: []Step{step(prune), step(enable)}}, nil},
		{"added and dropped", &RolePlan{Steps: []Step{step(prune, fresh)}}, []string{
			"- service nginx.service: disable (enabled by a package installed in this run, not declared)",
			"no longer needed: + service foo.service: enable"}},
		{"empty now", &RolePlan{}, []string{"no longer needed: - service bar.service: disable (enabled but not declared)",
			"no longer needed: + service foo.service: enable"}},
	}
	for _, tc := range cases {
		if got := planDiff(approved, tc.now); !slices.Equal(got, tc.want) {
			t.Errorf("%s: planDiff = %q, want %q", tc.name, got, tc.want)
		}
	}
}
