package chobolo

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// decode turns the merged, checked tree into a Chobolo. The tree has the table's shapes by now
// (check dropped everything else), so the YAML library's own decoding does the work through the
// struct tags; this only records positions and collects the parts the struct does not decode.
func (l *loader) decode(file string, root *yaml.Node) *Chobolo {
	c := &Chobolo{File: file, nodeFile: l.files}
	if root == nil {
		return c
	}
	owned := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		c.SetKey(k.Value, l.pos(v))
		l.record(c, k.Value, v)
		if topKey(k.Value) != nil {
			owned.Content = append(owned.Content, k, v)
			continue
		}
		if c.Extra == nil {
			c.Extra = map[string]*yaml.Node{}
		}
		c.Extra[k.Value] = v
	}
	if err := owned.Decode(c); err != nil {
		// check guarantees the shapes, so this is a bug in the key table or the struct tags.
		l.d.errorf(Pos{File: file}, "internal error decoding the Ch-obolo: %v", err)
		return c
	}
	if repos := mapValue(root, "repos"); repos != nil {
		for i := 0; i+1 < len(repos.Content); i += 2 {
			if k := repos.Content[i].Value; field(topKey("repos").fields, k) == nil {
				if c.Repos.Extra == nil {
					c.Repos.Extra = map[string]*yaml.Node{}
				}
				c.Repos.Extra[k] = repos.Content[i+1]
			}
		}
	}
	l.readFiles(c, root)
	return c
}

// record stores the position of n and of everything under it, under paths like users[0].name.
func (l *loader) record(c *Chobolo, path string, n *yaml.Node) {
	c.SetPos(path, l.pos(n))
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			l.record(c, path+"."+n.Content[i].Value, n.Content[i+1])
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			l.record(c, fmt.Sprintf("%s[%d]", path, i), item)
		}
	}
}

// readFiles loads the texts the Ch-obolo points at (file templates, apt key files), relative to the
// file that declared each of them, so that roles never read the controller's disk. A file that
// also has the exclusive inline value is not read: Validate reports the conflict.
func (l *loader) readFiles(c *Chobolo, root *yaml.Node) {
	l.secretTemplates(c, root)
	if files := mapValue(root, "files"); files != nil {
		for i, item := range files.Content {
			if t := mapValue(item, "template"); t != nil && mapValue(item, "content") == nil && i < len(c.Files) {
				c.Files[i].TemplateText, _ = l.readRelative(t, fmt.Sprintf("files[%d].template", i))
			}
		}
	}
	if repos := mapValue(root, "repos"); repos != nil {
		if apt := mapValue(repos, "apt"); apt != nil {
			for i, item := range apt.Content {
				if k := mapValue(item, "key_file"); k != nil && mapValue(item, "key") == nil && i < len(c.Repos.Apt) {
					c.Repos.Apt[i].KeyText, _ = l.readRelative(k, fmt.Sprintf("repos.apt[%d].key_file", i))
				}
			}
		}
	}
}
