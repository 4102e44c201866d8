package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// ChoboloFor returns the Ch-obolo for one host: c itself when neither the host nor its groups have
// vars, else the Ch-obolo file loaded again with the vars of each of the host's groups (in the order
// the groups are declared) and then the host's own vars deep-merged on top, with the loader's own
// `combine` rules: mappings merge key by key, lists concatenate, items with the same identity (users
// by name, files by path, ...) are replaced, other values are overridden. Errors in vars are
// reported against "FILE (fleet vars of HOST)".
// extraKeys are the loader's LoadOptions.ExtraKeys (the installed Souls' keys).
func ChoboloFor(c *chobolo.Chobolo, f *Fleet, h *Host, extraKeys ...string) (*chobolo.Chobolo, error) {
	type layer struct {
		name string
		vars *yaml.Node
	}
	var layers []layer
	for _, g := range f.Groups {
		if g.Vars != nil && slices.Contains(h.Groups, g.Name) {
			layers = append(layers, layer{"group " + g.Name, g.Vars})
		}
	}
	if h.Vars != nil {
		layers = append(layers, layer{"host " + h.Name, h.Vars})
	}
	if len(layers) == 0 {
		return c, nil
	}
	if c.File == "" {
		return nil, fmt.Errorf("%s: fleet vars need the Ch-obolo to be a file", h.Name)
	}
	for _, l := range layers {
		for i := 0; i+1 < len(l.vars.Content); i += 2 {
			if k := l.vars.Content[i].Value; k == "fleet" || k == "imports" || k == "restrictions" {
				return nil, fmt.Errorf("%s: fleet vars of %s: %q cannot be set per host", c.NodePos(l.vars.Content[i]), l.name, k)
			}
		}
	}
	main, err := filepath.Abs(c.File)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(main)
	virtual := map[string][]byte{}
	imports := &yaml.Node{Kind: yaml.SequenceNode}
	addImport := func(file string) {
		imports.Content = append(imports.Content, &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Value: "file"}, {Kind: yaml.ScalarNode, Value: file, Style: yaml.DoubleQuotedStyle}}})
	}
	addImport(main)
	for _, l := range layers[:len(layers)-1] {
		name := filepath.Join(dir, fmt.Sprintf("%s (fleet vars of %s)", filepath.Base(main), l.name))
		data, err := yaml.Marshal(l.vars)
		if err != nil {
			return nil, err
		}
		virtual[name] = data
		addImport(name)
	}
	last := layers[len(layers)-1]
	root := &yaml.Node{Kind: yaml.MappingNode, Content: append([]*yaml.Node{{Kind: yaml.ScalarNode, Value: "imports"}, imports},
		last.vars.Content...)}
	data, err := yaml.Marshal(root)
	if err != nil {
		return nil, err
	}
	name := filepath.Join(dir, fmt.Sprintf("%s (fleet vars of %s)", filepath.Base(main), last.name))
	hc, err := chobolo.LoadBytes(name, data, chobolo.LoadOptions{ExtraKeys: extraKeys, ReadFile: func(p string) ([]byte, error) {
		if d, ok := virtual[p]; ok {
			return d, nil
		}
		return os.ReadFile(p)
	}})
	if err != nil {
		return nil, err
	}
	return hc, nil
}
