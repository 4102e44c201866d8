package chobolo

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// secretTemplates decodes secrets.templates[] (the original Ch-aOS's chaos-secrets entries) into
// c.SecretTemplates and reads each template: from TemplatesDir (the original's
// ~/.config/chaos/templates) or, without one, relative to the declaring Ch-obolo. Shapes are
// checked here, with positions; the files role checks the rest (owner, mode, paths, secrets).
func (l *loader) secretTemplates(c *Chobolo, root *yaml.Node) {
	sec := mapValue(root, "secrets")
	if sec == nil || sec.Kind != yaml.MappingNode {
		return
	}
	list := mapValue(sec, "templates")
	if list == nil {
		return
	}
	if list.Kind != yaml.SequenceNode {
		l.d.errorf(l.pos(list), "secrets.templates: want a list of {from, to, owner, mode, vars, escape}")
		return
	}
	for i, item := range list.Content {
		at := fmt.Sprintf("secrets.templates[%d]", i)
		if item.Kind != yaml.MappingNode {
			l.d.errorf(l.pos(item), "%s: want a mapping with from, to, owner, mode, vars and escape", at)
			continue
		}
		t := SecretTemplate{Escape: "html"} // the original's Jinja2 autoescape defaults to on
		ok := true
		scalar := func(k string, n *yaml.Node) string {
			if n.Kind != yaml.ScalarNode || strings.Contains(n.Value, "\n") {
				l.d.errorf(l.pos(n), "%s.%s: want a single-line string", at, k)
				ok = false
			}
			return n.Value
		}
		for j := 0; j+1 < len(item.Content); j += 2 {
			k, v := item.Content[j].Value, item.Content[j+1]
			switch k {
			case "from":
				t.From = scalar(k, v)
			case "to":
				t.To = scalar(k, v)
			case "owner":
				t.Owner = scalar(k, v)
			case "mode":
				t.Mode = scalar(k, v)
			case "escape":
				t.Escape = escapeFormat(scalar(k, v))
				if !slices.Contains(EscapeFormats, t.Escape) {
					l.d.errorf(l.pos(v), "%s.escape: %q: use true (html, the original's default), false (none), or one of %s",
						at, v.Value, strings.Join(EscapeFormats, ", "))
					ok = false
				}
			case "vars":
				items := []*yaml.Node{v}
				if v.Kind == yaml.SequenceNode {
					items = v.Content
				}
				for _, n := range items {
					t.Vars = append(t.Vars, scalar(k, n))
				}
			default:
				l.d.errorf(l.pos(item.Content[j]), "%s: unknown key %q (want from, to, owner, mode, vars, escape)", at, k)
				ok = false
			}
		}
		for _, k := range []string{"from", "to", "owner", "mode", "vars"} {
			if mapValue(item, k) == nil {
				l.d.errorf(l.pos(item), "%s: %s is required", at, k)
				ok = false
			}
		}
		if from := mapValue(item, "from"); from != nil && t.From != "" {
			if err := relativeName(t.From); err != nil {
				l.d.errorf(l.pos(from), "%s.from: %v", at, err)
				ok = false
			} else if ok {
				t.Source, t.Text, ok = l.readTemplate(from, at+".from")
			}
		}
		c.SecretTemplates = append(c.SecretTemplates, t)
	}
}

// escapeFormat maps the original's boolean escape (YAML 1.1 spellings included) to a format.
func escapeFormat(s string) string {
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return "html"
	case "false", "no", "off":
		return "none"
	}
	return s
}

// relativeName refuses what the original refused in from and to: an absolute path or "..".
func relativeName(s string) error {
	if err := relPath("path", s); err != nil {
		return err
	}
	if path.IsAbs(s) || slices.Contains(strings.Split(s, "/"), "..") {
		return fmt.Errorf("%q: want a path relative to its directory, without ..", s)
	}
	return nil
}

// readTemplate reads a secrets.templates[].from file.
func (l *loader) readTemplate(ref *yaml.Node, what string) (name, text string, ok bool) {
	if l.opts.TemplatesDir == "" {
		name = filepath.Join(filepath.Dir(l.files[ref]), ref.Value)
		text, ok = l.readRelative(ref, what)
		return name, text, ok
	}
	name = filepath.Join(l.opts.TemplatesDir, ref.Value)
	data, err := l.opts.ReadFile(name)
	if err != nil {
		l.d.errorf(l.pos(ref), "%s: cannot read %s: %s", what, name, unwrapPathError(err))
		return name, "", false
	}
	return name, string(data), true
}
