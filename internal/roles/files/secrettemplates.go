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
	"github.com/ch-aos-ch/chaos/internal/pathrules"
)

// The original Ch-aOS's secrets.templates (its chaos-secrets plugin): a template in the templates
// directory, rendered with the top-level secrets named in vars and written to `to` under the
// owner's home. Each entry becomes one more secret file of this role, after files[] (its Index is
// len(c.Files)+i), in the same ledger.

// ownerHome is the home of a template's owner when the Ch-obolo tells it: root's, or a user the
// Ch-obolo declares (the users role may create the account in the same apply, so the target cannot
// tell it yet). Any other owner's home is read from the target's passwd by the probe
// (templateHomes), as the original's ~owner did.
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

// templatePath is where secrets.templates entry t lands: p when the Ch-obolo tells the owner's
// home, else "" and rel, the cleaned `to` the probe joins to the home it reads on the target.
func templatePath(c *chobolo.Chobolo, t chobolo.SecretTemplate) (p, rel string, err error) {
	rel = strings.TrimPrefix(t.To, "./")
	if rel == "" || path.IsAbs(rel) || slices.Contains(strings.Split(rel, "/"), "..") {
		return "", "", fmt.Errorf("to %q: want a path relative to the owner's home, without ..", t.To)
	}
	rel = path.Clean(rel)
	home, ok := ownerHome(c, t.Owner)
	if !ok {
		if err := chobolo.ValidAbsPath("/" + rel); err != nil {
			return "", "", fmt.Errorf("to %q: %v", t.To, err)
		}
		return "", rel, nil
	}
	p = path.Join(home, rel)
	if err := chobolo.ValidAbsPath(p); err != nil {
		return "", "", err
	}
	return p, "", nil
}

// homeKey is a declared path the probe locates: rel under the home of owner, reported under index.
type homeKey struct {
	index      int
	owner, rel string
}

// resolveHomes puts the paths the probe located (f.Homes) into the entries waiting for them
// (HomeRel), with the checks Validate makes of every other path: valid, not forbidden, declared
// once, not below a path declared absent. An owner the target does not know is an error at the
// entry's owner (installing: the packages this plan installs, one of which may create the
// account). claims are the paths the role now manages that Owns could not name: the engine checks
// them against the other roles' claims before anything is applied.
func resolveHomes(c *chobolo.Chobolo, desired []Desired, f *Facts, installing []string) (claims []engine.Claim, errs []chobolo.Diagnostic) {
	byPath := map[string]int{}
	for _, d := range desired {
		if d.HomeRel == "" {
			byPath[d.Path] = d.Index
		}
	}
	name := func(i int) string {
		if i < len(c.Files) {
			return fmt.Sprintf("files[%d]", i)
		}
		return fmt.Sprintf("secrets.templates[%d]", i-len(c.Files))
	}
	for k := range desired {
		d := &desired[k]
		if d.HomeRel == "" {
			continue
		}
		at := func(key string) chobolo.Pos { return c.Pos(name(d.Index) + key) }
		p, ok := f.Homes[d.Index]
		switch {
		case !ok:
			errs = append(errs, diag(at(".owner"), "the probe did not read the home of %s", d.Owner))
			continue
		case p == "":
			msg := fmt.Sprintf("user %s is not in the target's user database, or has no home there: its home is where `to` is written; declare it under users, or create it first", d.Owner)
			if len(installing) > 0 {
				msg += fmt.Sprintf(" (a package this plan installs (%s) may create it: apply again once it exists)", strings.Join(installing, ", "))
			}
			errs = append(errs, diag(at(".owner"), "%s", msg))
			continue
		}
		if err := chobolo.ValidAbsPath(p); err != nil || path.Clean(p) != p {
			errs = append(errs, diag(at(".to"), "%s's home on the target gives the path %q, which chaos does not manage (not a clean absolute path)", d.Owner, p))
			continue
		}
		if pathrules.UnderAny(p, forbidden) {
			errs = append(errs, diag(at(".to"), "refusing to manage %s (%s's home on the target is under a path chaos never manages)", p, d.Owner))
			continue
		}
		if j, dup := byPath[p]; dup {
			errs = append(errs, diag(at(".to"), "%s (in %s's home on the target) is declared twice (also %s)", p, d.Owner, name(j)))
			continue
		}
		byPath[p] = d.Index
		d.Path = p
		claims = append(claims, engine.Claim{Path: p, Pos: at(".to"), Why: "declared under secrets.templates, in " + d.Owner + "'s home on the target"})
	}
	for _, a := range desired {
		if a.State != "absent" {
			continue
		}
		for _, d := range desired {
			if d.HomeRel != "" && d.Path != "" && strings.HasPrefix(d.Path, a.Path+"/") {
				errs = append(errs, diag(d.Pos, "%s is declared below %s, which is declared absent", d.Path, a.Path))
			}
		}
	}
	return claims, errs
}

// validateTemplate turns secrets.templates[i] into a Desired entry, rendered when sm says so.
func validateTemplate(c *chobolo.Chobolo, i int, t chobolo.SecretTemplate, seen map[string]int, sm secretsMode) (Desired, *chobolo.Diagnostic) {
	at := func(k string) chobolo.Pos { return c.Pos(fmt.Sprintf("secrets.templates[%d]%s", i, k)) }
	fail := func(pos chobolo.Pos, format string, args ...any) (Desired, *chobolo.Diagnostic) {
		d := diag(pos, format, args...)
		return Desired{}, &d
	}
	p, rel, err := templatePath(c, t)
	if err != nil {
		return fail(at(".to"), "%v", err)
	}
	if err := chobolo.ValidUserName(t.Owner); err != nil && t.Owner != "root" {
		return fail(at(".owner"), "%v", err)
	}
	if j, dup := seen[p]; dup && p != "" {
		return fail(at(".to"), "%s is declared twice (also files[%d])", p, j)
	}
	if p != "" {
		seen[p] = len(c.Files) + i
	}
	mode, err := ParseMode(t.Mode)
	if err != nil {
		return fail(at(".mode"), "%v", err)
	}
	d := Desired{Index: len(c.Files) + i, Path: p, HomeRel: rel, State: "present", Owner: t.Owner, Mode: mode, ModeSet: true,
		Secret: true, SecretSource: true, ManageContent: true, Pos: at("")}
	if home, _ := ownerHome(c, t.Owner); p != "" && t.Owner != "root" && path.Dir(p) == home {
		d.HomeByUsers = true
	}
	name := cmp.Or(t.Source, t.From)
	text, err := expandIncludes(t.From, t.Text, t.Includes, nil)
	if err != nil {
		return fail(at(".from"), "%s: %v", name, err)
	}
	// An included template goes to the Jinja engine: chaos's strict renderer would give positions
	// in the spliced text, not in the files the user wrote.
	full := len(t.Includes) > 0
	if _, err := renderJinja(name, text, t.Vars, nil, "", full); err != nil && !errors.Is(err, errNoSecrets) {
		return fail(at(".from"), "%v", err)
	}
	if !sm.render {
		return d, nil
	}
	if sm.store == nil {
		return fail(at(".vars"), "%s reads secrets (%s): %v; nothing was changed", p, strings.Join(t.Vars, ", "), errNoSecrets)
	}
	out, err := renderJinja(name, text, t.Vars, sm.store, t.Escape, full)
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
func renderJinja(name, text string, vars []string, store engine.SecretStore, escape string, full bool) ([]byte, error) {
	// Jinja2 drops one trailing newline of the template (keep_trailing_newline=False).
	text = strings.TrimSuffix(text, "\n")
	if full || !simpleJinja(text) {
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

// expandIncludes splices into text (the template at rel) the files its {% include "NAME" %} tags
// name, from includes (the loader read them; NAME is relative to the including template), as
// Jinja2 renders an include with the including template's context: each included file without one
// trailing newline (Jinja2's keep_trailing_newline=False), with the tag's whitespace control. chain
// are the templates including this one.
func expandIncludes(rel, text string, includes map[string]string, chain []string) (string, error) {
	incs, err := chobolo.JinjaIncludes(text)
	if err != nil || len(incs) == 0 {
		return text, err
	}
	chain = append(chain, rel)
	var b strings.Builder
	last := 0
	for _, inc := range incs {
		target := path.Join(path.Dir(rel), inc.Name)
		sub, ok := includes[target]
		// The loader refused names that leave the templates directory; only what it read is here.
		switch {
		case slices.Contains(chain, target) || len(chain) > 16:
			return "", fmt.Errorf("%s:%s: include %q: a cycle or more than 16 nested includes", rel, inc.Loc, inc.Name)
		case !ok:
			return "", fmt.Errorf("%s:%s: include %q: %s was not read with the Ch-obolo", rel, inc.Loc, inc.Name, target)
		}
		sub, err := expandIncludes(target, strings.TrimSuffix(sub, "\n"), includes, chain)
		if err != nil {
			return "", err
		}
		before := text[last:inc.Start]
		if inc.TrimBefore {
			before = strings.TrimRight(before, " \t\r\n")
		}
		b.WriteString(before)
		b.WriteString(sub)
		last = inc.End
		if inc.TrimAfter {
			last = len(text) - len(strings.TrimLeft(text[last:], " \t\r\n"))
		}
	}
	b.WriteString(text[last:])
	return b.String(), nil
}

// renderFullJinja renders a template with statements or filters with github.com/ardanlabs/jinja (a
// pure-Go Jinja engine: if/elif/else, for with loop.*, set, macros, Jinja2's filters and tests; not
// import/extends, which the original's templates directory never needed; includes are spliced in
// before, expandIncludes). Its context is
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
