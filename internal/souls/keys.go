package souls

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// keysJSON is what a Soul role gets of the Ch-obolo: only its own top-level keys, as JSON. Keys
// built into chaos are never a Soul's (Roles refuses them), so a Soul's keys live in c.Extra.
func keysJSON(c *chobolo.Chobolo, keys []string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	for _, k := range keys {
		n, ok := c.Extra[k]
		if !ok {
			continue
		}
		v, err := nodeValue(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", c.NodePos(n), k, err)
		}
		data, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", c.NodePos(n), k, err)
		}
		out[k] = data
	}
	return out, nil
}

// nodeValue decodes a YAML node into JSON-compatible values (maps with string keys).
func nodeValue(n *yaml.Node) (any, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	return jsonable(v)
}

func jsonable(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			x, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			t[k] = x
		}
		return t, nil
	case map[any]any:
		out := map[string]any{}
		for k, e := range t {
			x, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = x
		}
		return out, nil
	case []any:
		for i, e := range t {
			x, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			t[i] = x
		}
		return t, nil
	}
	return v, nil
}

// keyPath splits a value's path as a Soul names it, "dotfiles[0].links[1].to", into
// ["dotfiles", "0", "links", "1", "to"].
func keyPath(key string) []string {
	var out []string
	for part := range strings.SplitSeq(key, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			out = append(out, name)
		}
		for rest != "" {
			idx, after, ok := strings.Cut(rest, "]")
			if !ok {
				break
			}
			out = append(out, idx)
			_, rest, _ = strings.Cut(after, "[")
		}
	}
	return out
}

// keyPos is the Ch-obolo position of the value at path (keyPath segments) under a Soul's
// top-level key; the closest value found on the way when the path goes further than the file.
func keyPos(c *chobolo.Chobolo, segs []string) chobolo.Pos {
	if len(segs) == 0 {
		return chobolo.Pos{File: c.File}
	}
	n, ok := c.Extra[segs[0]]
	if !ok {
		return c.Pos(segs[0])
	}
	pos := c.Pos(segs[0])
	if p := c.NodePos(n); p.Line > 0 {
		pos = p
	}
	for _, s := range segs[1:] {
		n = child(n, s)
		if n == nil {
			break
		}
		pos = c.NodePos(n)
	}
	return pos
}

func child(n *yaml.Node, seg string) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == seg {
				return n.Content[i+1]
			}
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(n.Content) {
			return n.Content[i]
		}
	}
	return nil
}

// roundTrip passes v through JSON as the schema validator reads it (numbers as json.Number).
func roundTrip(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(data))
}
