package fleet

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// Restrictions are fleet.restrictions (or the original's top-level `restrictions`): per host, group
// or host glob, the roles that may run (allow_list) or must not (black_list).
//
//   - A host matched by an allow_list entry runs only the roles set to true there.
//   - black_list.KEY.ROLE: true skips that role; black_list.KEY: {} skips every role (unless an
//     allow_list entry for the host says which ones run).
//   - A role both allowed and black-listed for a host is an error.
//   - A host matched by neither runs everything.
type Restrictions struct {
	rules   []rule
	pending *yaml.Node
}

type rule struct {
	allow bool
	key   string          // host name, group name or host glob
	roles map[string]bool // canonical role name -> true; empty for "all roles" (black_list only)
	pos   chobolo.Pos
}

func (d *decoder) restrictions(f *Fleet, n *yaml.Node, canonical func(string) string) {
	if !d.mapping(n, "restrictions") {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var allow bool
		switch k.Value {
		case "allow_list":
			allow = true
		case "black_list", "deny_list":
		default:
			d.errorf(k, "restrictions: unknown key %q (known: allow_list, black_list)", k.Value)
			continue
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			continue
		}
		if !d.mapping(v, "restrictions."+k.Value) {
			continue
		}
		for j := 0; j+1 < len(v.Content); j += 2 {
			hk, hv := v.Content[j], v.Content[j+1]
			r := rule{allow: allow, key: hk.Value, roles: map[string]bool{}, pos: d.c.NodePos(hk)}
			what := "restrictions." + k.Value + "." + hk.Value
			switch {
			case hv.Kind == yaml.ScalarNode && hv.Tag == "!!null":
			case hv.Kind == yaml.SequenceNode: // [users, packages] is accepted as a list of true
				for _, item := range hv.Content {
					d.addRole(&r, item, true, what, canonical)
				}
			case hv.Kind == yaml.MappingNode:
				for m := 0; m+1 < len(hv.Content); m += 2 {
					on := d.boolVal(hv.Content[m+1], what+"."+hv.Content[m].Value)
					d.addRole(&r, hv.Content[m], on, what, canonical)
				}
			default:
				d.errorf(hv, "%s must map role names to true/false (or be {} for every role)", what)
				continue
			}
			if allow && len(r.roles) == 0 {
				d.errorf(hk, "%s: an empty allow list would run nothing; use black_list.%s: {} to skip the host's roles", what, hk.Value)
				continue
			}
			f.Restrictions.rules = append(f.Restrictions.rules, r)
		}
	}
}

func (d *decoder) addRole(r *rule, n *yaml.Node, on bool, what string, canonical func(string) string) {
	name := n.Value
	if canonical != nil {
		if c := canonical(name); c != "" {
			name = c
		} else {
			d.errorf(n, "%s: unknown role %q (see `chaos check roles`)", what, n.Value)
			return
		}
	}
	if on {
		r.roles[name] = true
	}
}

func (r rule) matches(h *Host) bool {
	return matchName(r.key, h.Name) || slices.Contains(h.Groups, r.key)
}

// For returns the Skip function for one host (engine.Request.Skip): the reason a role does not run
// there, or "". It fails when a role is both allowed and black-listed for the host.
func (rs Restrictions) For(h *Host) (func(role string) string, error) {
	var allow, black []rule
	for _, r := range rs.rules {
		if !r.matches(h) {
			continue
		}
		if r.allow {
			allow = append(allow, r)
		} else {
			black = append(black, r)
		}
	}
	if len(allow) == 0 && len(black) == 0 {
		return nil, nil
	}
	allowed := map[string]string{}
	for _, r := range allow {
		for role := range r.roles {
			allowed[role] = r.key
		}
	}
	for _, r := range black {
		var conflicts []string
		for role := range r.roles {
			if _, ok := allowed[role]; ok {
				conflicts = append(conflicts, role)
			}
		}
		if len(conflicts) > 0 {
			sort.Strings(conflicts)
			return nil, fmt.Errorf("%s: restrictions: role %s is both allowed (allow_list.%s) and black-listed (black_list.%s) for host %s",
				r.pos, strings.Join(conflicts, ", "), allowed[conflicts[0]], r.key, h.Name)
		}
	}
	return func(role string) string {
		for _, r := range black {
			if len(r.roles) == 0 && len(allow) == 0 {
				return fmt.Sprintf("host %s is black-listed for every role (restrictions.black_list.%s)", h.Name, r.key)
			}
			if r.roles[role] {
				return fmt.Sprintf("black-listed for %s (restrictions.black_list.%s)", h.Name, r.key)
			}
		}
		if len(allow) > 0 {
			if _, ok := allowed[role]; !ok {
				keys := make([]string, 0, len(allow))
				for _, r := range allow {
					keys = append(keys, r.key)
				}
				return fmt.Sprintf("not in the allow list for %s (restrictions.allow_list.%s)", h.Name, strings.Join(keys, ", "))
			}
		}
		return ""
	}, nil
}
