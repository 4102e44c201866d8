package chobolo

import (
	"cmp"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
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
				if ok {
					ok = l.readIncludes(from, at+".from", &t, t.From, t.Text, nil)
				}
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
	return l.readTemplateFile(ref, what, ref.Value)
}

// readTemplateFile reads rel, a path relative to the templates directory (without one, to the
// directory of the Ch-obolo that declares ref).
func (l *loader) readTemplateFile(ref *yaml.Node, what, rel string) (name, text string, ok bool) {
	name = filepath.Join(cmp.Or(l.opts.TemplatesDir, filepath.Dir(l.files[ref])), filepath.FromSlash(rel))
	data, err := l.opts.ReadFile(name)
	if err != nil {
		l.d.errorf(l.pos(ref), "%s: cannot read %s: %s", what, name, unwrapPathError(err))
		return name, "", false
	}
	return name, string(data), true
}

// maxIncludeDepth bounds nested includes (Jinja2 has no limit; a cycle is refused on its own).
const maxIncludeDepth = 16

// readIncludes reads the files text (the template at rel) includes into t.Includes, and theirs.
// A name is relative to the including template and may not leave the templates directory
// (absolute, or with ..); chain are the templates including this one, for cycles.
func (l *loader) readIncludes(ref *yaml.Node, what string, t *SecretTemplate, rel, text string, chain []string) bool {
	incs, err := JinjaIncludes(text)
	if err != nil {
		l.d.errorf(l.pos(ref), "%s: %s:%v", what, rel, err)
		return false
	}
	chain = append(chain, rel)
	for _, inc := range incs {
		if err := relativeName(inc.Name); err != nil {
			l.d.errorf(l.pos(ref), "%s: %s:%s: include %v", what, rel, inc.Loc, err)
			return false
		}
		target := path.Join(path.Dir(rel), inc.Name)
		switch {
		case slices.Contains(chain, target):
			l.d.errorf(l.pos(ref), "%s: %s:%s: include %q: %s includes itself (%s)", what, rel, inc.Loc, inc.Name, target, strings.Join(append(chain, target), " -> "))
			return false
		case len(chain) > maxIncludeDepth:
			l.d.errorf(l.pos(ref), "%s: %s:%s: include %q: more than %d nested includes", what, rel, inc.Loc, inc.Name, maxIncludeDepth)
			return false
		}
		if _, done := t.Includes[target]; done {
			continue
		}
		_, sub, ok := l.readTemplateFile(ref, fmt.Sprintf("%s: %s:%s: include %q", what, rel, inc.Loc, inc.Name), target)
		if !ok {
			return false
		}
		if t.Includes == nil {
			t.Includes = map[string]string{}
		}
		t.Includes[target] = sub
		if !l.readIncludes(ref, what, t, target, sub, chain) {
			return false
		}
	}
	return true
}

// JinjaInclude is one {% include "NAME" %} tag of a Jinja template: NAME, the tag's place in the
// text (Start, End, and Loc, its LINE:COL), and its whitespace control ({%- trims the blanks before
// the tag, -%} those after it).
type JinjaInclude struct {
	Name                  string
	Start, End            int
	Loc                   string
	TrimBefore, TrimAfter bool
}

// jinjaIncludeTag finds comments (skipped) and include statements.
var jinjaIncludeTag = regexp.MustCompile(`(?s)\{#.*?#\}|\{%(-?)\s*include\b(.*?)(-?)%\}`)

// jinjaIncludeName is the one form chaos reads: a quoted literal name.
var jinjaIncludeName = regexp.MustCompile(`^\s*(?:"([^"]*)"|'([^']*)')\s*$`)

// JinjaIncludes returns the include tags of text, in order. An include of anything but one quoted
// name (a variable, a list, ignore missing, with/without context) is an error at its LINE:COL.
func JinjaIncludes(text string) ([]JinjaInclude, error) {
	var out []JinjaInclude
	for _, m := range jinjaIncludeTag.FindAllStringSubmatchIndex(text, -1) {
		if m[2] < 0 {
			continue // a comment
		}
		line := 1 + strings.Count(text[:m[0]], "\n")
		col := m[0] - strings.LastIndexByte(text[:m[0]], '\n')
		loc := fmt.Sprintf("%d:%d", line, col)
		arg := jinjaIncludeName.FindStringSubmatch(text[m[4]:m[5]])
		if arg == nil {
			return nil, fmt.Errorf("%s: include takes one quoted file name ({%% include \"part.j2\" %%}), not %q", loc, strings.TrimSpace(text[m[4]:m[5]]))
		}
		out = append(out, JinjaInclude{Name: arg[1] + arg[2], Start: m[0], End: m[1], Loc: loc,
			TrimBefore: m[3] > m[2], TrimAfter: m[7] > m[6]})
	}
	return out, nil
}
