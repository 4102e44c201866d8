package engine

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// metaRole is a role reduced to its Meta: Select only reads names and aliases for tags.
type metaRole struct{ m Meta }

func (r metaRole) Meta() Meta                                            { return r.m }
func (r metaRole) Probe(*Env, *chobolo.Chobolo) []ProbeSection           { return nil }
func (r metaRole) Plan(*Env, *chobolo.Chobolo, Facts) (*RolePlan, error) { return nil, nil }

// TestRegistryUnknownTagSuggests: an unknown tag names the closest role or alias when it is a likely
// typo, and nothing when it is not.
func TestRegistryUnknownTagSuggests(t *testing.T) {
	r := NewRegistry(metaRole{Meta{Name: "packages", Aliases: []string{"pkgs"}}},
		metaRole{Meta{Name: "users", Aliases: []string{"accounts"}}})
	for _, tc := range []struct{ tag, want string }{
		{"pakages", `unknown role or alias "pakages"; did you mean packages? (see`},
		{"acounts", `unknown role or alias "acounts"; did you mean accounts? (see`},
		{"zzz", `unknown role or alias "zzz" (see`},
	} {
		_, _, err := r.Select([]string{tc.tag}, &chobolo.Chobolo{}, "debian")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Select(%q): %v, want %q", tc.tag, err, tc.want)
		}
	}
}
