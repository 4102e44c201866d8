package chobolo

import "go.yaml.in/yaml/v3"

// Old Ch-aOS spellings keep loading so that existing Ch-obolos work unchanged, with a warning that
// names the current spelling. Writing both spellings is an error: which one wins would be a guess.

// applyLegacy renames legacy keys of one file's top-level mapping in place.
func (l *loader) applyLegacy(root *yaml.Node) {
	l.renameKeys(root, func(k string) string { return legacyTop[k] })
	if p := mapValue(root, "partitioning"); p != nil {
		l.renameDeep(p)
	}
}

// renameKeys gives the keys of mapping m for which current returns a name that name, unless it is
// also present: then the old key is reported and dropped.
func (l *loader) renameKeys(m *yaml.Node, current func(string) string) {
	out := m.Content[:0:0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if now := current(k.Value); now != "" && k.Kind == yaml.ScalarNode {
			if mapValue(m, now) != nil {
				l.d.errorf(l.pos(k), "both %s and its old spelling %s are set; keep only %s", now, k.Value, now)
				continue
			}
			l.d.warnf(l.pos(k), "%s is the old spelling of %s; rename it", k.Value, now)
			k.Value = now
		}
		out = append(out, k, m.Content[i+1])
	}
	m.Content = out
}

// renameDeep renames mount_point to mountpoint in every mapping under n (partitions are a list of
// mappings, and the installer may nest them further).
func (l *loader) renameDeep(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		l.renameKeys(n, func(k string) string {
			if k == "mount_point" {
				return "mountpoint"
			}
			return ""
		})
	}
	for _, c := range n.Content {
		l.renameDeep(c)
	}
}
