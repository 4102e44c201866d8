package chobolo

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file checks a document against the key table: unknown keys, YAML types and shorthands.
// Values that fail are reported and dropped from the tree, so that merging and decoding never
// meet a wrong shape and the remaining values can still be validated in the same run.

// checkTop checks the top-level mapping of one file in place. imports is handled by the caller.
func (l *loader) checkTop(root *yaml.Node) {
	known := append(fieldNames(topKeys), fieldNames(extraKeys)...)
	known = append(known, l.opts.ExtraKeys...)
	out := root.Content[:0:0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if !l.checkKey(k, "") {
			continue
		}
		name := k.Value
		switch spec := topKey(name); {
		case strings.HasPrefix(name, "x-"):
			continue // scratch space for anchors, as in Compose files; not part of the Ch-obolo
		case isNull(v):
			l.d.warnf(l.pos(k), "%s has no value and is ignored (write %s: [] or {} to declare it empty)", name, name)
			continue
		case spec != nil:
			if v = l.check(spec, v, name); v == nil {
				continue
			}
		case !slices.Contains(known, name):
			l.d.errorf(l.pos(k), "unknown top-level key %q%s", name, didYouMean(name, known))
			continue
		}
		out = append(out, k, v)
	}
	root.Content = out
}

// checkKey reports a mapping key that is not a plain string.
func (l *loader) checkKey(k *yaml.Node, path string) bool {
	if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!str" {
		return true
	}
	where := "key"
	if path != "" {
		where = path + ": key"
	}
	l.d.errorf(l.pos(k), "%s must be a string, got %s", where, describe(k))
	return false
}

// check validates n against spec at path and returns the node to keep (possibly a normalized
// copy), or nil when the value is null or wrong (wrong values are reported).
func (l *loader) check(spec *key, n *yaml.Node, path string) *yaml.Node {
	if isNull(n) {
		return nil
	}
	if n.Tag != "" && n.Tag != "!" && !strings.HasPrefix(n.Tag, "!!") && spec.kind != kindAny {
		l.d.errorf(l.pos(n), "%s: unsupported YAML tag %s", path, n.Tag)
		return nil
	}
	switch spec.kind {
	case kindAny:
		return n
	case kindString, kindText:
		if n.Kind == yaml.ScalarNode {
			switch n.ShortTag() {
			case "!!str", "!!int", "!!float", "!!timestamp":
				return n
			case "!!bool":
				l.d.errorf(l.pos(n), "%s: expected a string, got a boolean (quote it if you mean the text %q)", path, n.Value)
				return nil
			}
		}
		return l.wrongType(n, path, "a string")
	case kindBool:
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			// A quoted "yes" is a string, and the original Ch-aOS (Python) read any non-empty string,
			// "no" included, as true: refuse it rather than guess.
			if b, ok := boolSpelling(n.Value); ok {
				l.d.errorf(l.pos(n), "%s: expected a boolean, got the quoted string %q; write %s: %t", path, n.Value,
					lastPathKey(path), b)
				return nil
			}
		}
		if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!bool" || (n.ShortTag() == "!!str" && yaml11Bool(n.Value))) {
			return n
		}
		return l.wrongType(n, path, "a boolean (true or false)")
	case kindInt:
		var i int
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" && n.Decode(&i) == nil {
			return n
		}
		return l.wrongType(n, path, "an integer")
	case kindMode:
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!str") {
			return l.wrongType(n, path, `an octal mode such as "0644"`)
		}
		mode, ok := parseMode(n.Value)
		if !ok {
			l.d.errorf(l.pos(n), "%s: invalid mode %q: expected octal digits such as 0644 or 0755", path, n.Value)
			return nil
		}
		// An unquoted 644 is the decimal integer 644 for YAML (and was chmod 1204 in the original
		// Ch-aOS); reading it as octal would be a guess. 0644 and 0o644 are octal integers for YAML too.
		if n.ShortTag() == "!!int" && n.Value != "0" && !strings.HasPrefix(n.Value, "0") {
			l.d.errorf(l.pos(n), "%s: %s is a decimal integer in YAML, not an octal mode; write %s: %q",
				path, n.Value, lastPathKey(path), mode)
			return nil
		}
		// The text is kept (not the integer YAML reads from 0644) and normalized to four digits.
		c := *n
		c.Tag, c.Value, c.Style = "!!str", mode, 0
		return l.node(l.files[n], &c)
	case kindList:
		return l.checkList(spec, n, path)
	case kindMap:
		return l.checkMap(spec, n, path)
	}
	panic("chobolo: unhandled kind in key table")
}

func (l *loader) checkList(spec *key, n *yaml.Node, path string) *yaml.Node {
	if n.Kind == yaml.ScalarNode && spec.oneItem {
		n = l.node(l.files[n], &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: n.Line, Column: n.Column,
			Content: []*yaml.Node{n}})
	}
	if n.Kind != yaml.SequenceNode {
		return l.wrongType(n, path, "a list")
	}
	c := *n
	c.Content = nil
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		if isNull(item) {
			l.d.errorf(l.pos(item), "%s: empty list item", p)
			continue
		}
		if v := l.check(spec.item, item, p); v != nil {
			c.Content = append(c.Content, v)
		}
	}
	return l.node(l.files[n], &c)
}

func (l *loader) checkMap(spec *key, n *yaml.Node, path string) *yaml.Node {
	if n.Kind == yaml.ScalarNode && spec.shorthand != "" {
		// "- nginx" means "- {name: nginx}": the key node takes the scalar's position.
		k := l.node(l.files[n], &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: spec.shorthand,
			Line: n.Line, Column: n.Column})
		n = l.node(l.files[n], &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column,
			Content: []*yaml.Node{k, n}})
	}
	if n.Kind != yaml.MappingNode {
		want := "a mapping"
		if spec.shorthand != "" {
			want = "a string or a mapping"
		}
		return l.wrongType(n, path, want)
	}
	c := *n
	c.Content = nil
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !l.checkKey(k, path) {
			continue
		}
		seen[k.Value] = true
		f := field(spec.fields, k.Value)
		if f == nil {
			if spec.open {
				c.Content = append(c.Content, k, v)
				if s := suggest(k.Value, fieldNames(spec.fields)); s != "" {
					l.d.warnf(l.pos(k), "%s: key %q is kept for other cores; did you mean %s?", path, k.Value, s)
				}
				continue
			}
			l.d.errorf(l.pos(k), "%s: unknown key %q%s", path, k.Value, didYouMean(k.Value, fieldNames(spec.fields)))
			continue
		}
		if v = l.check(f, v, joinPath(path, k.Value)); v != nil {
			c.Content = append(c.Content, k, v)
		}
	}
	complete := true
	for _, f := range spec.fields {
		if f.required && !seen[f.name] {
			l.d.errorf(l.pos(n), "%s: missing required key %q", path, f.name)
			complete = false
		}
	}
	if !complete {
		return nil // unusable; dropping it spares follow-up errors about the missing value
	}
	return l.node(l.files[n], &c)
}

func (l *loader) wrongType(n *yaml.Node, path, want string) *yaml.Node {
	l.d.errorf(l.pos(n), "%s: expected %s, got %s", path, want, describe(n))
	return nil
}

// parseMode reads an octal file mode written as 644, 0644, 0o644 or 4755 and returns it with four
// digits. YAML would read an unquoted 0644 as the integer 420; the source text is what the user
// meant, so it is parsed here as octal like chmod does.
func parseMode(s string) (string, bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
	if s == "" || len(s) > 5 || strings.Trim(s, "01234567") != "" {
		return "", false
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return "", false
	}
	return fmt.Sprintf("%04o", v), true
}

// yaml11Bool reports the YAML 1.1 spellings of booleans (yes, off, ...), which the original
// Ch-aOS (PyYAML) read as booleans and the YAML library decodes into bool fields.
func yaml11Bool(s string) bool {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off", "OFF":
		return true
	}
	return false
}

// boolSpelling reads the spellings of a boolean, YAML 1.1's included, for the fix of a quoted one.
func boolSpelling(s string) (value, ok bool) {
	switch strings.ToLower(s) {
	case "true", "yes", "y", "on":
		return true, true
	case "false", "no", "n", "off":
		return false, true
	}
	return false, false
}

// lastPathKey is the key a fix is written under: "sudo" for users[0].sudo.
func lastPathKey(path string) string {
	return path[strings.LastIndexByte(path, '.')+1:]
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// describe names the YAML type of n for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!null":
		return "nothing (null)"
	case "!!bool":
		return "a boolean"
	case "!!int", "!!float":
		return "a number"
	case "!!str":
		return "a string"
	}
	return "a value tagged " + n.ShortTag()
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
