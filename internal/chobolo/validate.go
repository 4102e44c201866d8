package chobolo

import (
	"cmp"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Validate checks every value of a Ch-obolo: names, paths, enumerations, cross-field rules and
// duplicates. Load calls it; code that builds or edits a Chobolo (chaos init --from, tests) calls it
// too. Positions come from the Chobolo (c.Pos), so they are exact for loaded Ch-obolos. The error is
// an Errors, or nil.
func Validate(c *Chobolo, opts LoadOptions) error {
	v := &validator{c: c, opts: opts}
	v.top()
	v.users()
	v.packages("packages", c.Packages)
	v.packages("baseOverride", c.BaseOverride)
	v.repos()
	v.services()
	v.region()
	v.files()
	if len(v.errs) == 0 {
		return nil
	}
	return Errors(sortDiags(v.errs))
}

type validator struct {
	c    *Chobolo
	opts LoadOptions
	errs []Diagnostic
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errs = append(v.errs, Diagnostic{Pos: v.c.Pos(path), Severity: SevError,
		Message: path + ": " + fmt.Sprintf(format, args...)})
}

// check reports err, if any, at path.
func (v *validator) check(path string, err error) {
	if err != nil {
		v.errorf(path, "%v", err)
	}
}

func (v *validator) enum(path, got string, allowed []string) {
	if got != "" && !slices.Contains(allowed, got) {
		v.errorf(path, "invalid value %q: expected one of %s%s", got, strings.Join(allowed, ", "), didYouMean(got, allowed))
	}
}

// unique reports the second and later occurrences of an identity among items, pointing back at
// the first one.
type unique struct {
	v     *validator
	what  string
	first map[string]string // identity -> path of the first occurrence
}

func (v *validator) unique(what string) *unique {
	return &unique{v: v, what: what, first: map[string]string{}}
}

func (u *unique) add(id, path string) {
	if id == "" {
		return
	}
	if p, dup := u.first[id]; dup {
		u.v.errorf(path, "%s %q is declared twice (first at %s)", u.what, id, u.v.c.Pos(p))
		return
	}
	u.first[id] = path
}

func (v *validator) top() {
	v.enum("core", v.c.Core, coreNames)
	if v.c.Hostname != "" || v.c.Has("hostname") {
		v.check("hostname", ValidHostname(v.c.Hostname))
	}
}

func (v *validator) users() {
	names, uids := v.unique("user"), v.unique("uid")
	for i, u := range v.c.Users {
		p := fmt.Sprintf("users[%d]", i)
		v.check(p+".name", ValidUserName(u.Name))
		names.add(u.Name, p+".name")
		if u.Shell != "" {
			v.check(p+".shell", validShell(u.Shell))
		}
		if u.Home != "" {
			v.check(p+".home", ValidAbsPath(u.Home))
		}
		groups := v.unique("group")
		for j, g := range u.Groups {
			gp := fmt.Sprintf("%s.groups[%d]", p, j)
			v.check(gp, ValidGroupName(g))
			groups.add(g, gp)
		}
		if u.UID != nil {
			if *u.UID < 0 || *u.UID >= 1<<32-1 {
				v.errorf(p+".uid", "uid %d is out of range (0 to 4294967294)", *u.UID)
			}
			uids.add(strconv.Itoa(*u.UID), p+".uid")
		}
		v.enum(p+".state", u.State, userStates)
	}
}

// validShell accepts a login shell as a bare name (a package, /bin/NAME) or an absolute path.
func validShell(s string) error {
	if strings.HasPrefix(s, "/") {
		return ValidAbsPath(s)
	}
	return checkName("shell", s, 64, func(r rune) bool { return isLower(r) || isDigit(r) },
		func(r rune) bool { return isLower(r) || isDigit(r) || strings.ContainsRune("._+-", r) },
		"a name like bash or zsh, or an absolute path")
}

func (v *validator) packages(section string, pkgs []Package) {
	names := v.unique("package")
	for i, pkg := range pkgs {
		p := fmt.Sprintf("%s[%d]", section, i)
		v.check(p+".name", ValidPackageName(pkg.Name))
		names.add(pkg.Name, p+".name")
		for _, target := range slices.Sorted(maps.Keys(pkg.Overrides)) {
			tp := p + "." + target
			if !slices.Contains(PackageTargets, target) {
				v.errorf(tp, "unknown package target %q: expected one of %s", target, strings.Join(PackageTargets, ", "))
				continue
			}
			check := ValidPackageName
			if target == "debian" {
				check = ValidDebianPackage
			}
			for j, name := range pkg.Overrides[target] {
				v.check(fmt.Sprintf("%s[%d]", tp, j), check(name))
			}
		}
	}
}

func (v *validator) repos() {
	r := v.c.Repos
	names := v.unique("apt repository")
	for i, a := range r.Apt {
		p := fmt.Sprintf("repos.apt[%d]", i)
		v.check(p+".name", fileName("apt repository name", a.Name))
		names.add(a.Name, p+".name")
		for j, t := range a.Types {
			v.enum(fmt.Sprintf("%s.types[%d]", p, j), t, aptTypes)
		}
		v.tokens(p, "uris", a.URIs, true, validURI)
		v.tokens(p, "suites", a.Suites, true, validAptWord)
		flat := len(a.Suites) > 0 && strings.HasSuffix(a.Suites[0], "/")
		switch {
		case flat && len(a.Components) > 0:
			v.errorf(p+".components", "a flat repository (suite ending in /) takes no components")
		case !flat && len(a.Suites) > 0 && len(a.Components) == 0:
			v.errorf(p, "components are required unless the suite is a flat path ending in /")
		}
		v.tokens(p, "components", a.Components, false, validAptWord)
		v.tokens(p, "architectures", a.Architectures, false, func(s string) error {
			return checkName("architecture", s, 32, isAlnum, func(r rune) bool { return isAlnum(r) || r == '-' }, "e.g. amd64")
		})
		switch {
		case a.Key != "" && a.KeyFile != "":
			v.errorf(p+".key_file", "key and key_file are exclusive; use one")
		case a.Key != "" && !strings.Contains(a.Key, "-----BEGIN PGP PUBLIC KEY BLOCK-----"):
			v.errorf(p+".key", "expected an ASCII-armored OpenPGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----)")
		case a.KeyFile != "":
			v.check(p+".key_file", relPath("key_file", a.KeyFile))
		}
	}
	for k := range r.Managed {
		if !slices.Contains([]string{"core", "extra", "extras", "multilib", "testing", "unstable"}, k) {
			v.errorf("repos.managed."+k, "unknown managed repository %q", k)
		}
	}
	tp := v.unique("pacman repository")
	for i, t := range r.ThirdParty {
		p := fmt.Sprintf("repos.third_party[%d]", i)
		v.check(p+".name", fileName("pacman repository name", t.Name))
		tp.add(t.Name, p+".name")
		if t.URL == "" && t.Include == "" {
			v.errorf(p, "needs url or include")
		}
		if t.URL != "" {
			v.check(p+".url", validURI(t.URL))
		}
		if t.Include != "" {
			v.check(p+".include", ValidAbsPath(t.Include))
		}
		for k, s := range map[string]string{"siglevel": t.SigLevel, "key": t.Key, "priority": t.Priority} {
			// These become pacman.conf lines: a newline or a bracket would start a new section.
			if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == '[' || r == ']' }); i >= 0 {
				v.errorf(p+"."+k, "contains %s", describeRune([]rune(s[i:])[0]))
			}
		}
	}
	if strings.ContainsRune(r.Options, 0) {
		v.errorf("repos.i_know_exactly_what_im_doing", "contains a NUL byte")
	}
}

// tokens checks a list of deb822 words.
func (v *validator) tokens(p, field string, list []string, required bool, check func(string) error) {
	if required && len(list) == 0 {
		v.errorf(p, "%s is required", field)
	}
	for j, s := range list {
		v.check(fmt.Sprintf("%s.%s[%d]", p, field, j), check(s))
	}
}

// fileName checks a name that becomes part of a file name (chaos-NAME.sources) or a config
// section: apt only reads files named with letters, digits, _ . and -.
func fileName(what, s string) error {
	return checkName(what, s, 64, isAlnum, func(r rune) bool { return isAlnum(r) || strings.ContainsRune("_.-", r) },
		"use letters, digits, _ . and -")
}

// validURI checks a repository URI: a scheme, and no whitespace, control or shell characters.
func validURI(s string) error {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || scheme == "" || rest == "" || !all(scheme, func(r rune) bool { return isAlnum(r) || strings.ContainsRune("+.-", r) }) {
		return fmt.Errorf("invalid URI %q: expected scheme:..., e.g. https://deb.debian.org/debian", s)
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("`\\\"'<>", r) {
			return fmt.Errorf("invalid URI %q: contains %s", s, describeRune(r))
		}
	}
	return nil
}

// validAptWord checks a suite or component: a deb822 word (no whitespace), no leading "-".
func validAptWord(s string) error {
	for _, part := range strings.Split(s, "/") {
		if part == ".." {
			return fmt.Errorf("invalid suite or component %q: contains \"..\"", s)
		}
	}
	return checkName("suite or component", s, 128, func(r rune) bool { return isAlnum(r) || r == '.' || r == '_' },
		func(r rune) bool { return isAlnum(r) || strings.ContainsRune("._/+~-", r) }, "e.g. bookworm, main, ./")
}

// relPath checks a path on the controller (template, key_file): relative to the declaring file or
// absolute, single line.
func relPath(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return fmt.Errorf("invalid %s %q: contains %s", what, s, describeRune([]rune(s[i:])[0]))
	}
	return nil
}

func (v *validator) services() {
	names := v.unique("service")
	for i, s := range v.c.Services {
		p := fmt.Sprintf("services[%d].name", i)
		v.check(p, ValidUnitName(s.Name))
		id := s.Name
		if !s.Dense && !hasUnitSuffix(id) {
			id += ".service" // nginx and nginx.service are the same unit
		}
		names.add(id, p)
	}
	for i, s := range v.c.Services {
		p := fmt.Sprintf("services[%d]", i)
		for _, l := range []struct {
			key  string
			list []string
		}{{"restart_on", s.RestartOn}, {"reload_on", s.ReloadOn}} {
			for j, name := range l.list {
				v.trigger(fmt.Sprintf("%s.%s[%d]", p, l.key, j), name, s)
			}
		}
		if s.Check != nil {
			v.argv(p+".check", "check", "nginx", "", s.Check)
		}
	}
}

// trigger checks one entry of a service's restart_on or reload_on: the path of a file declared
// under files, a package declared under packages, or another declared service.
func (v *validator) trigger(p, name string, s Service) {
	switch {
	case strings.HasPrefix(name, "/"):
		if !slices.ContainsFunc(v.c.Files, func(f File) bool { return f.Path == name }) {
			v.errorf(p, "%s is not declared under files: only files chaos manages trigger a restart", name)
		}
	case s.Dense:
		v.errorf(p, "a dense_service entry cannot have triggers: declare each unit by name")
	case slices.ContainsFunc(v.c.Packages, func(pk Package) bool { return pk.Name == name }):
	case v.declaredService(name) != "" && UnitName(v.declaredService(name)) == UnitName(s.Name):
		v.errorf(p, "a service cannot restart on itself")
	case v.declaredService(name) != "":
	default:
		v.errorf(p, "%q is neither a file declared under files, a package declared under packages nor a service declared under services%s",
			name, didYouMean(name, v.triggerNames()))
	}
}

// declaredService returns the declared (non-dense) service that name designates, or "".
func (v *validator) declaredService(name string) string {
	for _, s := range v.c.Services {
		if !s.Dense && (s.Name == name || UnitName(s.Name) == UnitName(name)) {
			return s.Name
		}
	}
	return ""
}

func (v *validator) triggerNames() []string {
	var out []string
	for _, s := range v.c.Services {
		out = append(out, s.Name)
	}
	for _, pk := range v.c.Packages {
		out = append(out, pk.Name)
	}
	return out
}

// argv checks a command given as an argv (never a shell line): a program name or absolute path,
// then arguments without NUL bytes.
// argv checks a declared command (services' check:, files' validate:): not empty, no empty or NUL
// argument, the program a plain name or an absolute path. example names a typical program for the
// message, hint what the empty command's message adds.
func (v *validator) argv(p, what, example, hint string, argv []string) {
	if len(argv) == 0 {
		v.errorf(p, "empty command: give the program and its arguments%s", hint)
		return
	}
	for j, a := range argv {
		ap := fmt.Sprintf("%s[%d]", p, j)
		switch {
		case a == "":
			v.errorf(ap, "empty argument")
		case strings.ContainsRune(a, 0):
			v.errorf(ap, "contains a NUL byte")
		}
	}
	if prog := argv[0]; prog != "" && !strings.HasPrefix(prog, "/") {
		v.check(p+"[0]", checkName(what+" program", prog, 128, func(r rune) bool { return isAlnum(r) || r == '_' },
			func(r rune) bool { return isAlnum(r) || strings.ContainsRune("._+-", r) }, "a program name like "+example+", or an absolute path"))
	} else if prog != "" {
		v.check(p+"[0]", ValidAbsPath(prog))
	}
}

func hasUnitSuffix(s string) bool {
	for _, suf := range unitSuffixes {
		if strings.HasSuffix(s, suf) {
			return true
		}
	}
	return false
}

func (v *validator) region() {
	r := v.c.Region
	if r.Timezone != "" {
		if err := ValidTimezone(r.Timezone); err != nil {
			v.check("region.timezone", err)
		} else if v.opts.Zoneinfo != nil && !v.opts.Zoneinfo(r.Timezone) {
			v.errorf("region.timezone", "unknown timezone %q: not found in the target's zoneinfo", r.Timezone)
		}
	}
	locales := v.unique("locale")
	for i, l := range r.Locales {
		p := fmt.Sprintf("region.locale[%d]", i)
		v.check(p, ValidLocale(l))
		locales.add(l, p)
	}
	if r.Keymap != "" {
		v.check("region.keymap", ValidKeymap(r.Keymap))
	}
}

func (v *validator) files() {
	paths := v.unique("file")
	for i, f := range v.c.Files {
		p := fmt.Sprintf("files[%d]", i)
		if err := ValidAbsPath(f.Path); err != nil {
			v.check(p+".path", err)
		} else if f.Path == "/" {
			v.errorf(p+".path", `"/" cannot be a managed file`)
		}
		paths.add(f.Path, p+".path")
		v.enum(p+".state", f.State, fileStates)
		state := cmp.Or(f.State, "present")
		switch {
		case f.Content != "" && f.Template != "":
			v.errorf(p+".template", "content and template are exclusive; use one")
		case (f.Content != "" || f.Template != "") && state != "present":
			v.errorf(p+".state", "state %s takes no content or template", state)
		}
		if f.Template != "" {
			v.check(p+".template", relPath("template", f.Template))
		}
		switch {
		case state == "link" && f.Target == "":
			v.errorf(p, "state link needs a target")
		case state != "link" && f.Target != "":
			v.errorf(p+".target", "target is only used with state: link")
		case f.Target != "":
			v.check(p+".target", validTarget(f.Target))
		}
		if f.Mode != "" {
			if m, ok := parseMode(f.Mode); !ok || m != f.Mode {
				v.errorf(p+".mode", "invalid mode %q: expected four octal digits such as 0644", f.Mode)
			}
		}
		if f.Owner != "" {
			v.check(p+".owner", numericOr(f.Owner, ValidUserName))
		}
		if f.Group != "" {
			v.check(p+".group", numericOr(f.Group, ValidGroupName))
		}
		if f.Validate != nil {
			v.fileValidate(p, f, state)
		}
		for j, n := range f.Notify {
			if v.declaredService(n) == "" {
				v.errorf(fmt.Sprintf("%s.notify[%d]", p, j), "%q is not a service declared under services%s",
					n, didYouMean(n, v.triggerNames()))
			}
		}
	}
}

// BuiltinChecker names the program chaos always runs on new content for path p before it lands
// ("visudo", "sshd"), or "": files sudo reads and sshd's configuration, where a mistake locks the host
// out. A `validate:` cannot replace that check. The files role builds the commands from it.
func BuiltinChecker(p string) string {
	dir, base := path.Split(p)
	switch {
	case p == "/etc/sudoers" || dir == "/etc/sudoers.d/":
		return "visudo"
	case p == "/etc/ssh/sshd_config" || (dir == "/etc/ssh/sshd_config.d/" && strings.HasSuffix(base, ".conf")):
		return "sshd"
	}
	return ""
}

// fileValidate checks a file's validate command: an argv (never a shell line) whose program is a
// name or an absolute path, with "%s" (the temp file) exactly once.
func (v *validator) fileValidate(p string, f File, state string) {
	vp := p + ".validate"
	if tool := BuiltinChecker(f.Path); tool != "" {
		v.errorf(vp, "%s is always checked with %s before it lands; validate: cannot replace that check", f.Path, tool)
		return
	}
	if state != "present" {
		v.errorf(vp, "validate checks content before it lands: only for state: present")
		return
	}
	v.argv(vp, "validate", "visudo", ", one holding %s", f.Validate)
	if len(f.Validate) == 0 {
		return
	}
	n := 0
	for _, a := range f.Validate {
		n += strings.Count(a, "%s")
	}
	if n != 1 {
		v.errorf(vp, "needs %%s exactly once (it is replaced by the temp file's path), found %d", n)
	}
}

// validTarget checks a symlink target: an absolute clean path, or a relative one (which may climb
// with "..", as links often do) without control or shell characters.
func validTarget(s string) error {
	if strings.HasPrefix(s, "/") {
		return ValidAbsPath(s)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar || strings.ContainsRune(shellMeta, r) {
			return fmt.Errorf("invalid link target %q: contains %s", s, describeRune(r))
		}
	}
	return nil
}

// numericOr accepts a numeric id or a name checked by check.
func numericOr(s string, check func(string) error) error {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil && n < 1<<32-1 {
		return nil
	}
	return check(s)
}
