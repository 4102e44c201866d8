package fleet

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SecretRef reads a {secret: PATH} reference: how fleet settings and boat configs name a value of
// the secrets file (a dotted path, as `chaos secrets cat` takes) without containing it. A plain
// value is refused: secrets do not belong in the Ch-obolo.
func SecretRef(n *yaml.Node, what string) (string, error) {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return "", fmt.Errorf("%s: name a secret, e.g. {secret: hosts.web1.sudo}; secret values do not belong in the Ch-obolo", what)
	}
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 || n.Content[0].Value != "secret" {
		return "", fmt.Errorf("%s must be {secret: PATH} (a dotted path in the secrets file)", what)
	}
	v := n.Content[1]
	p := strings.TrimSpace(v.Value)
	if v.Kind != yaml.ScalarNode || p == "" || strings.ContainsAny(p, " \t\n\r\x00") {
		return "", fmt.Errorf("%s: secret must be a dotted path such as hosts.web1.sudo", what)
	}
	return p, nil
}

// BecomeSecret is the secrets path of a host's sudo password: the host's own become_password, else
// that of the first group (in declaration order) the host belongs to; "" when none names one.
func (f *Fleet) BecomeSecret(h *Host) string {
	if h.BecomeSecret != "" {
		return h.BecomeSecret
	}
	for _, g := range f.Groups {
		if g.BecomeSecret != "" && containsStr(h.Groups, g.Name) {
			return g.BecomeSecret
		}
	}
	return ""
}

func containsStr(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
