package chobolo

import "go.yaml.in/yaml/v3"

// merge combines an imported tree (base) with the importing file's tree (over), following the
// `combine` strategy: mappings merge key by key, lists concatenate, and on anything else over wins.
// In a list whose items are identified by a key (users by name, files by path, ...) an item of over
// replaces the base item with the same identity, in place, instead of duplicating it. Nodes are
// reused, never copied, so every value keeps the position where it was written. spec (may be nil)
// describes the nodes, to find those identities.
func (l *loader) merge(base, over *yaml.Node, spec *key) *yaml.Node {
	switch {
	case base == nil:
		return over
	case over == nil:
		return base
	case base.Kind == yaml.MappingNode && over.Kind == yaml.MappingNode:
		return l.mergeMaps(base, over, spec)
	case base.Kind == yaml.SequenceNode && over.Kind == yaml.SequenceNode:
		return l.mergeLists(base, over, spec)
	}
	return over
}

func (l *loader) mergeMaps(base, over *yaml.Node, spec *key) *yaml.Node {
	out := l.container(over)
	overAt := map[string]int{}
	for i := 0; i+1 < len(over.Content); i += 2 {
		overAt[over.Content[i].Value] = i
	}
	for i := 0; i+1 < len(base.Content); i += 2 {
		k, v := base.Content[i], base.Content[i+1]
		if j, ok := overAt[k.Value]; ok {
			var f *key
			if spec != nil {
				f = field(spec.fields, k.Value)
			}
			k, v = over.Content[j], l.merge(v, over.Content[j+1], f)
		}
		out.Content = append(out.Content, k, v)
	}
	inBase := keySet(base.Content)
	for i := 0; i+1 < len(over.Content); i += 2 {
		if !inBase[over.Content[i].Value] {
			out.Content = append(out.Content, over.Content[i], over.Content[i+1])
		}
	}
	return out
}

func (l *loader) mergeLists(base, over *yaml.Node, spec *key) *yaml.Node {
	out := l.container(over)
	out.Content = append(out.Content, base.Content...)
	mergeKey := ""
	if spec != nil {
		mergeKey = spec.mergeKey
	}
	// Identities of base items not replaced yet; a second over item with the same identity is
	// appended, so validation reports it as a duplicate of the first.
	byID := map[string]int{}
	for i, item := range base.Content {
		if id := itemID(item, mergeKey); id != "" {
			if _, dup := byID[id]; !dup {
				byID[id] = i
			}
		}
	}
	for _, item := range over.Content {
		if id := itemID(item, mergeKey); id != "" {
			if i, ok := byID[id]; ok {
				out.Content[i] = item
				delete(byID, id)
				continue
			}
		}
		out.Content = append(out.Content, item)
	}
	return out
}

// itemID is the identity of a list item: the value of mergeKey in a mapping item, or the text of a
// scalar item (so that plain lists such as aurPackages do not repeat an imported name).
func itemID(item *yaml.Node, mergeKey string) string {
	switch {
	case item.Kind == yaml.ScalarNode:
		return "=" + item.Value
	case mergeKey != "" && item.Kind == yaml.MappingNode:
		if v := mapValue(item, mergeKey); v != nil && v.Kind == yaml.ScalarNode {
			return "=" + v.Value
		}
	}
	return ""
}

// withoutKeys returns a copy of mapping m without the top-level keys present in mapping drop: the
// `override` strategy, where the importing file's sections replace the import's entirely.
func (l *loader) withoutKeys(m, drop *yaml.Node) *yaml.Node {
	out := l.container(m)
	dropped := keySet(drop.Content)
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !dropped[m.Content[i].Value] {
			out.Content = append(out.Content, m.Content[i], m.Content[i+1])
		}
	}
	return out
}

// container is an empty copy of mapping or sequence n, at n's position and in n's file.
func (l *loader) container(n *yaml.Node) *yaml.Node {
	return l.node(l.files[n], &yaml.Node{Kind: n.Kind, Tag: n.Tag, Style: n.Style, Line: n.Line, Column: n.Column})
}

func mapIndex(m *yaml.Node, key string) (int, bool) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i, true
		}
	}
	return 0, false
}
