package files

import (
	"cmp"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/ardanlabs/jinja"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
)

// The original Ch-aOS's secrets.templates (its chaos-secrets plugin): a template in the templates
// directory, rendered with the top-level secrets named in vars and written to `to` under the
// owner's home. Each entry becomes one more secret file of this role, after files[] (its Index is
// len(c.Files)+i), in the same ledger.

// ownerHome is the home of a template's owner: root's, or a user the Ch-obolo declares (the
// original read it from the target's passwd; every account it managed was declared).
func ownerHome(c *chobolo.Chobolo, owner string) (string, bool) {
	if owner == "root" {
		return "/root", true
	}
	for _, u := range c.Users {
		if u.Name == owner && u.State != "absent" {
			if u.Home != "" {
				return u.Home, true
			}
			return "/home/" + u.Name, true
		}
	}
	return "", false
}

// templatePath is where secrets.templates entry t lands, or an error.
func templatePath(c *chobolo.Chobolo, t chobolo.SecretTemplate) (string, error) {
	to := strings.TrimPrefix(t.To, "./")
	if to == "" || path.IsAbs(to) || slices.Contains(strings.Split(to, "/"), "..") {
		return "", fmt.Errorf("to %q: want a path relative to the owner's home, without ..", t.To)
	}
	home, ok := ownerHome(c, t.Owner)
	if !ok {
		return "", fmt.Errorf("owner %q is not declared under users (its home is where to is written), nor root", t.Owner)
	}
	p := path.Join(home, to)
	if err := chobolo.ValidAbsPath(p); err != nil {
		return "", err
	}
	return p, nil
}

// validateTemplate turns secrets.templates[i] into a Desired entry, rendered when sm says so.
func validateTemplate(c *chobolo.Chobolo, i int, t chobolo.SecretTemplate, seen map[string]int, sm secretsMode) (Desired, *chobolo.Diagnostic) {
	at := func(k string) chobolo.Pos { return c.Pos(fmt.Sprintf("secrets.templates[%d]%s", i, k)) }
	fail := func(pos chobolo.Pos, format string, args ...any) (Desired, *chobolo.Diagnostic) {
		d := diag(pos, format, args...)
		return Desired{}, &d
	}
	p, err := templatePath(c, t)
	if err != nil {
		return fail(at(".to"), "%v", err)
	}
	if err := chobolo.ValidUserName(t.Owner); err != nil && t.Owner != "root" {
		return fail(at(".owner"), "%v", err)
	}
	if j, dup := seen[p]; dup {
		return fail(at(".to"), "%s is declared twice (also files[%d])", p, j)
	}
	seen[p] = len(c.Files) + i
	mode, err := ParseMode(t.Mode)
	if err != nil {
		return fail(at(".mode"), "%v", err)
	}
	d := Desired{Index: len(c.Files) + i, Path: p, State: "present", Owner: t.Owner, Mode: mode, ModeSet: true,
		Secret: true, SecretSource: true, ManageContent: true, Pos: at("")}
	if home, _ := ownerHome(c, t.Owner); t.Owner != "root" && path.Dir(p) == home {
		d.HomeByUsers = true
	}
	name := cmp.Or(t.Source, t.From)
	if _, err := renderJinja(name, t.Text, t.Vars, nil, ""); err != nil && !errors.Is(err, errNoSecrets) {
		return fail(at(".from"), "%v", err)
	}
	if !sm.render {
		return d, nil
	}
	if sm.store == nil {
		return fail(at(".vars"), "%s reads secrets (%s): %v; nothing was changed", p, strings.Join(t.Vars, ", "), errNoSecrets)
	}
	out, err := renderJinja(name, t.Text, t.Vars, sm.store, t.Escape)
	if err != nil {
		return fail(at(".from"), "%v", err)
	}
	d.Content = out
	return d, nil
}

// jinjaTag finds the original's Jinja2 tags: {{ expr }}, {# comment #}, {% statement %}, each
// with optional whitespace control (-).
var jinjaTag = regexp.MustCompile(`(?s)\{\{-?(.*?)-?\}\}|\{#.*?#\}|\{%-?.*?-?%\}`)

// jinjaVar is the expression chaos renders: a variable, or a key below it (a.b).
var jinjaVar = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_-]*)*)\s*$`)

// renderJinja renders a secrets.templates template. The original's documented templates use
// {{ VAR }} and {{ VAR.KEY }} substitutions of the secrets named in vars (with comments and
// whitespace control): chaos renders those itself, strictly (a name not in vars or a missing secret
// is an error at its position, where Jinja2 printed nothing). A template with statements ({% if %},
// {% for %}, {% set %}, macros) or filters goes to a Jinja engine (renderFullJinja). store nil only
// checks the template (errNoSecrets when it reads a secret).
func renderJinja(name, text string, vars []string, store engine.SecretStore, escape string) ([]byte, error) {
	// Jinja2 drops one trailing newline of the template (keep_trailing_newline=False).
	text = strings.TrimSuffix(text, "\n")
	if !simpleJinja(text) {
		return renderFullJinja(name, text, vars, store, escape)
	}
	var get func(string) (string, bool)
	if store != nil {
		get = store.Get
	}
	var out limitedBuffer
	last := 0
	for _, m := range jinjaTag.FindAllStringSubmatchIndex(text, -1) {
		lit := text[last:m[0]]
		tag := text[m[0]:m[1]]
		if strings.HasPrefix(tag, "{{-") || strings.HasPrefix(tag, "{%-") || strings.HasPrefix(tag, "{#-") {
			lit = strings.TrimRight(lit, " \t\r\n")
		}
		if _, err := out.WriteString(lit); err != nil {
			return nil, err
		}
		last = m[1]
		if strings.HasSuffix(tag, "-}}") || strings.HasSuffix(tag, "-%}") || strings.HasSuffix(tag, "-#}") {
			rest := strings.TrimLeft(text[last:], " \t\r\n")
			last = len(text) - len(rest)
		}
		line := 1 + strings.Count(text[:m[0]], "\n")
		col := m[0] - strings.LastIndexByte(text[:m[0]], '\n')
		loc := fmt.Sprintf("%s:%d:%d", name, line, col)
		if strings.HasPrefix(tag, "{#") {
			continue
		}
		v := jinjaVar.FindStringSubmatch(text[m[2]:m[3]])
		if !slices.Contains(vars, v[1]) {
			return nil, fmt.Errorf("%s: %s is not in this template's vars: %v", loc, v[1], vars)
		}
		if get == nil {
			continue
		}
		p := v[1] + v[2]
		val, ok := get(p)
		if !ok {
			return nil, fmt.Errorf("%s: secret %q is not in the secrets file (or is not a single value)", loc, p)
		}
		val, err := Escape(escape, val)
		if err != nil {
			return nil, fmt.Errorf("%s: secret %q %v", loc, p, err)
		}
		if _, err := out.WriteString(val); err != nil {
			return nil, err
		}
	}
	if _, err := out.WriteString(text[last:]); err != nil {
		return nil, err
	}
	if get == nil {
		for _, m := range jinjaTag.FindAllString(text, -1) {
			if strings.HasPrefix(m, "{{") {
				return nil, errNoSecrets
			}
		}
	}
	return out.Bytes(), nil
}

// simpleJinja reports whether text uses only comments and {{ VAR[.KEY] }} tags.
func simpleJinja(text string) bool {
	for _, m := range jinjaTag.FindAllStringSubmatchIndex(text, -1) {
		tag := text[m[0]:m[1]]
		switch {
		case strings.HasPrefix(tag, "{#"):
		case strings.HasPrefix(tag, "{%") || !jinjaVar.MatchString(text[m[2]:m[3]]):
			return false
		}
	}
	return true
}

// renderFullJinja renders a template with statements or filters with github.com/ardanlabs/jinja (a
// pure-Go Jinja engine: if/elif/else, for with loop.*, set, macros, Jinja2's filters and tests; not
// include/import/extends, which the original's templates directory never needed). Its context is
// what the original gave Jinja2: the secrets named in vars, whole (maps and lists too). escape is
// applied to every string inside them before rendering, so filters and comparisons see escaped
// values (Jinja2's autoescape escaped on output); numbers and booleans stay as they are. An
// undefined name prints nothing, as in Jinja2. Errors never quote a secret value.
func renderFullJinja(name, text string, vars []string, store engine.SecretStore, escape string) ([]byte, error) {
	tmpl, err := jinja.Compile(text)
	if err != nil {
		return nil, fmt.Errorf("%s: Jinja2: %v", name, err)
	}
	if store == nil {
		if len(vars) > 0 {
			return nil, errNoSecrets
		}
		store = noSecrets{}
	}
	tree, _ := store.(engine.SecretTree)
	data := make(map[string]any, len(vars))
	var leaves []string
	for _, v := range vars {
		var val any
		var ok bool
		if tree != nil {
			val, ok = tree.Lookup(v)
		} else {
			val, ok = store.Get(v)
		}
		if !ok {
			return nil, fmt.Errorf("%s: secret %q is not in the secrets file", name, v)
		}
		if data[v], err = escapeTree(escape, val, &leaves); err != nil {
			return nil, fmt.Errorf("%s: secret %q %v", name, v, err)
		}
	}
	out, err := tmpl.Render(data)
	if err != nil {
		msg := err.Error()
		for _, l := range leaves {
			if len(l) >= 4 && strings.Contains(msg, l) {
				msg = "(the engine's message is withheld: it quotes a secret)"
				break
			}
		}
		return nil, fmt.Errorf("%s: Jinja2: %s", name, msg)
	}
	var b limitedBuffer
	if _, err := b.WriteString(out); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

type noSecrets struct{}

func (noSecrets) Get(string) (string, bool) { return "", false }

// escapeTree copies a secrets subtree with every string escaped for format, collecting the strings
// (raw and escaped) so that error messages can be checked for them.
func escapeTree(format string, v any, leaves *[]string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			var err error
			if out[k], err = escapeTree(format, e, leaves); err != nil {
				return nil, err
			}
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var err error
			if out[i], err = escapeTree(format, e, leaves); err != nil {
				return nil, err
			}
		}
		return out, nil
	case string:
		e, err := Escape(format, x)
		if err != nil {
			return nil, err
		}
		*leaves = append(*leaves, x, e)
		return e, nil
	}
	return v, nil
}
