package files

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/pathrules"
	"github.com/ch-aos-ch/chaos/internal/shell"
)

// Desired is one declared entry, validated and rendered.
type Desired struct {
	Index int
	Path  string
	State string // present, absent, directory, link
	// Content is the file's content when ManageContent; without content or template a present file
	// only has to exist (created empty) and its content is left alone.
	Content       []byte
	ManageContent bool
	Target        string
	Mode          uint32 // with ModeSet; otherwise kept on existing paths, 0644/0755 on new ones
	ModeSet       bool
	Owner, Group  string
	Secret        bool
	// SecretSource marks content rendered from secrets (files[].secrets, secrets.templates).
	SecretSource bool
	// HomeByUsers: the parent is the home of a user declared under users, which the users role
	// (order 50) creates with the account in the same apply.
	HomeByUsers bool
	// HomeRel, for a secrets.templates entry whose owner the Ch-obolo does not declare, is `to`
	// relative to the owner's home: Path is empty until Plan reads the home from the probe
	// (resolveHomes).
	HomeRel string
	Pos     chobolo.Pos
	// Check, when set, runs on the new content before it replaces the file.
	Check *Check
	// Notify are the units (files[].notify, .service added) restarted when this file changes.
	Notify []string
}

// Check is how a file's new content is checked before it lands (engine.Op.Validate).
type Check struct {
	// Argv is the command; "%s" in one element is the temp file's path.
	Argv []string
	// Tool is the program that must exist on the target.
	Tool string
	// Label is shown instead of Argv in the plan when Argv is machinery ("" shows Argv).
	Label string
	// Pos is where the check comes from: the validate: key, or the path for a built-in check.
	Pos chobolo.Pos
}

// sshdCheck runs `sshd -t` (what ssh.service runs before it starts sshd) on a candidate sshd_config
// or drop-in. sshd -t also insists on its privilege separation directory and on a host key, which
// a chroot or a fresh image lacks (the ssh unit creates /run/sshd at start, host keys are often
// generated at first boot): the directory is created (it is runtime state, /run is a tmpfs on a
// booted system) and, only when the target has no host key at all, a throwaway key is used, so that
// what is checked is the file. A drop-in is checked on its own: every keyword error in any included
// file stops sshd, and that is what locks a host out; how it combines with the main file (the first
// value of a keyword wins) is not checked.
const sshdCheck = `[ -d /run/sshd ] || mkdir -p -m 0755 /run/sshd || exit 1
f=$1
set -- -t -f "$f"
if ! ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1; then
  d=$(mktemp -d) || exit 1
  trap 'rm -rf "$d"' EXIT
  ssh-keygen -q -t ed25519 -N '' -f "$d/key" >/dev/null || exit 1
  set -- "$@" -h "$d/key"
fi
sshd "$@"`

// BuiltinCheck is the check chaos always runs on content written to p, or nil: files sudo reads
// (visudo, like the users role's sudoers files) and sshd's configuration (sshd -t). A mistake in
// either locks the host out, so a `validate:` cannot replace these.
func BuiltinCheck(p string) *Check {
	switch chobolo.BuiltinChecker(p) {
	case "visudo":
		return &Check{Argv: []string{"visudo", "-c", "-f", "%s"}, Tool: "visudo"}
	case "sshd":
		return &Check{Argv: []string{"sh", "-c", sshdCheck, "chaos-sshd-check", "%s"}, Tool: "sshd", Label: "sshd -t -f %s"}
	}
	return nil
}

// checkFor is the check of a declared file (nil when none); Validate reports a `validate:` that
// conflicts with a built-in check.
func checkFor(f chobolo.File) *Check {
	if c := BuiltinCheck(f.Path); c != nil {
		return c
	}
	if len(f.Validate) > 0 {
		return &Check{Argv: f.Validate, Tool: f.Validate[0]}
	}
	return nil
}

// TemplateData is what a `template:` sees: the Ch-obolo's sections and the target.
type TemplateData struct {
	Hostname string
	Users    []chobolo.User
	Packages []chobolo.Package
	Services []chobolo.Service
	Region   chobolo.Region
	Repos    chobolo.Repos
	Files    []chobolo.File
	// Core is the target's core ("debian"); Path the file being rendered.
	Core string
	Path string
}

// maxRender bounds a template's output, so that `{{range 1000000000}}` cannot eat the controller.
const maxRender = 16 << 20

var errTooBig = errors.New("template output exceeds 16 MiB")

type limitedBuffer struct{ bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.Len()+len(p) > maxRender {
		return 0, errTooBig
	}
	return l.Buffer.Write(p)
}

var funcs = template.FuncMap{
	"join":       strings.Join,
	"upper":      strings.ToUpper,
	"lower":      strings.ToLower,
	"trim":       strings.TrimSpace,
	"trimPrefix": strings.TrimPrefix,
	"trimSuffix": strings.TrimSuffix,
	"replace":    strings.ReplaceAll,
	"contains":   strings.Contains,
	"hasPrefix":  strings.HasPrefix,
	"hasSuffix":  strings.HasSuffix,
	"split":      strings.Split,
	"quote":      shell.Quote,
}

// Render executes a file's template over the Ch-obolo. Missing keys are errors. sec supplies the
// secrets the entry declares (files[].secrets) to {{ secret "PATH" }}, escaped per f.Escape; with
// nil sec a template that reads a secret fails.
func Render(f chobolo.File, c *chobolo.Chobolo, core string, sec engine.SecretStore) ([]byte, error) {
	fm := template.FuncMap{"secret": func(p string) (string, error) {
		if !slices.Contains(f.Secrets, p) {
			return "", fmt.Errorf("secret %q is not declared in this entry's secrets: %v", p, f.Secrets)
		}
		if sec == nil {
			return "", errNoSecrets
		}
		v, ok := sec.Get(p)
		if !ok {
			return "", fmt.Errorf("secret %q is not in the secrets file", p)
		}
		out, err := Escape(f.Escape, v)
		if err != nil {
			return "", fmt.Errorf("secret %q %v", p, err)
		}
		return out, nil
	}}
	tmpl, err := template.New(f.Template).Funcs(funcs).Funcs(fm).Option("missingkey=error").Parse(f.TemplateText)
	if err != nil {
		return nil, err
	}
	data := TemplateData{Hostname: c.Hostname, Users: c.Users, Packages: c.Packages, Services: c.Services,
		Region: c.Region, Repos: c.Repos, Files: c.Files, Core: core, Path: f.Path}
	var out limitedBuffer
	if err := tmpl.Execute(&out, data); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

var errNoSecrets = errors.New("the secrets are not loaded: run chaos apply -s (or -sf FILE, -p PROVIDER)")

// secretRefs checks, without secrets, that every {{ secret "PATH" }} of a template names a path the
// entry declares, and names it as a quoted string. Errors are at the template's FILE:LINE:COL (name
// is the template's path as the user sees it).
func secretRefs(name, text string, declared []string) []string {
	tmpl, err := template.New(name).Funcs(funcs).Funcs(template.FuncMap{"secret": func(string) string { return "" }}).Parse(text)
	if err != nil {
		return []string{err.Error()}
	}
	var errs []string
	for _, t := range tmpl.Templates() {
		if t.Tree == nil {
			continue
		}
		walkCommands(t.Tree.Root, func(cmd *parse.CommandNode) {
			for i, a := range cmd.Args {
				id, ok := a.(*parse.IdentifierNode)
				if !ok || id.Ident != "secret" {
					continue
				}
				loc, _ := t.Tree.ErrorContext(id)
				if i != 0 || len(cmd.Args) != 2 {
					errs = append(errs, fmt.Sprintf("%s: secret takes one quoted path: {{ secret \"db.password\" }}", loc))
					continue
				}
				str, ok := cmd.Args[1].(*parse.StringNode)
				switch {
				case !ok:
					errs = append(errs, fmt.Sprintf("%s: secret takes one quoted path: {{ secret \"db.password\" }}", loc))
				case !slices.Contains(declared, str.Text):
					errs = append(errs, fmt.Sprintf("%s: secret %q is not declared in the entry's secrets: (declared: %s)", loc, str.Text,
						cmp.Or(strings.Join(declared, ", "), "none")))
				}
			}
		})
	}
	return errs
}

// walkCommands calls fn on every command of a template tree.
func walkCommands(n parse.Node, fn func(*parse.CommandNode)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				walkCommands(c, fn)
			}
		}
	case *parse.ActionNode:
		walkCommands(n.Pipe, fn)
	case *parse.PipeNode:
		if n != nil {
			for _, c := range n.Cmds {
				walkCommands(c, fn)
			}
		}
	case *parse.CommandNode:
		fn(n)
		for _, a := range n.Args {
			walkCommands(a, fn)
		}
	case *parse.IfNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.TemplateNode:
		walkCommands(n.Pipe, fn)
	}
}

func walkBranch(b *parse.BranchNode, fn func(*parse.CommandNode)) {
	walkCommands(b.Pipe, fn)
	walkCommands(b.List, fn)
	if b.ElseList != nil {
		walkCommands(b.ElseList, fn)
	}
}

// ParseMode reads an octal mode: "0644", "644", "2755" (pathrules.ParseMode).
func ParseMode(s string) (uint32, error) { return pathrules.ParseMode(s) }

// FileMode converts an octal mode to Go's fs.FileMode.
func FileMode(m uint32) fs.FileMode { return pathrules.FileMode(m) }

// forbidden and undeletable are the rules every file op follows (internal/pathrules).
var forbidden = pathrules.Forbidden

func undeletable(p string) bool { return pathrules.Undeletable(p) }

// Validate turns the declared files into Desired entries: paths, states, modes, owners and links
// are checked and templates rendered. It needs no host: `chaos check chobolo` runs it (CheckStatic)
// and Plan runs it again. The error is a chobolo.Errors with every problem, each at its position
// (the first problem of each entry: a later check of a broken entry would only repeat it).
//
// Entries that read secrets (files[].secrets, secrets.templates) are only checked here (every
// secret they name is declared); ValidateWith renders them.
func Validate(c *chobolo.Chobolo, core string) ([]Desired, error) {
	return own(validate(c, core, secretsMode{}))
}

// ValidateWith is Validate that also renders the entries that read secrets, from sec (the secrets
// the entries declare; nil when the run has none, which refuses those entries).
func ValidateWith(c *chobolo.Chobolo, core string, sec engine.SecretStore) ([]Desired, error) {
	return own(validate(c, core, secretsMode{render: true, store: sec}))
}

// secretsMode says whether entries that read secrets are rendered, and from what.
type secretsMode struct {
	render bool
	store  engine.SecretStore
}

// validated remembers the last successful validation of plain entries.
var validated entriesMemo[[]Desired]

// validate validates c's entries; shared says that out is the memo's, which the caller must not
// change (own copies it; CheckStatic only needs the error, and copying 1,000 entries cost as much
// as validating them).
func validate(c *chobolo.Chobolo, core string, sm secretsMode) (out []Desired, shared bool, err error) {
	if !plainEntries(c) {
		out, err = validateAll(c, core, sm)
		return out, false, err
	}
	out, err = validated.do(c, func() ([]Desired, error) { return validateAll(c, core, sm) })
	return out, err == nil, err
}

// own returns validate's entries as the caller's own.
func own(out []Desired, shared bool, err error) ([]Desired, error) {
	if shared {
		out = slices.Clone(out)
	}
	return out, err
}

func validateAll(c *chobolo.Chobolo, core string, sm secretsMode) ([]Desired, error) {
	out := make([]Desired, 0, len(c.Files)+len(c.SecretTemplates))
	var errs chobolo.Errors
	seen := make(map[string]int, len(c.Files))
	for i, f := range c.Files {
		d, err := validateOne(c, core, i, f, seen, sm)
		if err != nil {
			errs = append(errs, *err)
			continue
		}
		out = append(out, d)
	}
	for i, t := range c.SecretTemplates {
		d, err := validateTemplate(c, i, t, seen, sm)
		if err != nil {
			errs = append(errs, *err)
			continue
		}
		out = append(out, d)
	}
	// a declared path below a path declared absent is a contradiction
	for _, a := range out {
		if a.State != "absent" {
			continue
		}
		for _, d := range out {
			if d.State != "absent" && strings.HasPrefix(d.Path, a.Path+"/") {
				errs = append(errs, diag(d.Pos, "%s is declared below %s, which is declared absent", d.Path, a.Path))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func diag(pos chobolo.Pos, format string, args ...any) chobolo.Diagnostic {
	return chobolo.Diagnostic{Pos: pos, Severity: chobolo.SevError, Message: fmt.Sprintf(format, args...)}
}

// validateOne checks entry i; seen maps the paths of the entries before it to their index.
func validateOne(c *chobolo.Chobolo, core string, i int, f chobolo.File, seen map[string]int, sm secretsMode) (Desired, *chobolo.Diagnostic) {
	// Concatenated, not Sprintf'd: this runs for every entry of every check (a tenth of a 1,000-file
	// plan's CPU went to formatting these keys).
	at := func(k string) chobolo.Pos { return c.Pos("files[" + strconv.Itoa(i) + "]" + k) }
	fail := func(pos chobolo.Pos, format string, args ...any) (Desired, *chobolo.Diagnostic) {
		d := diag(pos, format, args...)
		return Desired{}, &d
	}
	d := Desired{Index: i, Path: f.Path, State: f.State, Owner: f.Owner, Group: f.Group, Pos: at("")}
	for _, n := range f.Notify {
		d.Notify = append(d.Notify, chobolo.UnitName(n))
	}
	d.State = cmp.Or(d.State, "present")
	if err := chobolo.ValidAbsPath(f.Path); err != nil {
		return fail(at(".path"), "%v", err)
	}
	if f.Path == "/" || pathrules.UnderAny(f.Path, forbidden) {
		return fail(at(".path"), "refusing to manage %s (chaos never manages /, /proc, /sys, /dev or its own /var/lib/chaos)", f.Path)
	}
	if j, dup := seen[f.Path]; dup {
		return fail(at(".path"), "%s is declared twice (also files[%d])", f.Path, j)
	}
	seen[f.Path] = i
	switch d.State {
	case "present", "directory", "link", "absent":
	default:
		return fail(at(".state"), "invalid state %q: use present, absent, directory or link", f.State)
	}
	if f.Mode != "" {
		m, err := ParseMode(f.Mode)
		if err != nil {
			return fail(at(".mode"), "%v", err)
		}
		d.Mode, d.ModeSet = m, true
	}
	if f.Owner != "" {
		if _, err := strconv.Atoi(f.Owner); err != nil {
			if err := chobolo.ValidUserName(f.Owner); err != nil {
				return fail(at(".owner"), "%v", err)
			}
		}
	}
	if f.Group != "" {
		if _, err := strconv.Atoi(f.Group); err != nil {
			if err := chobolo.ValidGroupName(f.Group); err != nil {
				return fail(at(".group"), "%v", err)
			}
		}
	}
	hasBody := f.Content != "" || f.Template != ""
	switch d.State {
	case "present":
		if f.Content != "" && f.Template != "" {
			return fail(at(".template"), "give content or template, not both")
		}
		if f.Target != "" {
			return fail(at(".target"), "target is only for state: link")
		}
		if len(f.Secrets) > 0 && f.Template == "" {
			return fail(at(".secrets"), "secrets are read by a template: give template, not content")
		}
		if len(f.Secrets) == 0 && f.Escape != "" {
			return fail(at(".escape"), "escape applies to secrets the template reads: declare them in secrets")
		}
		switch {
		case len(f.Secrets) > 0:
			if errs := secretRefs(templateFile(c, i, f), f.TemplateText, f.Secrets); len(errs) > 0 {
				return fail(at(".template"), "%s", strings.Join(errs, "; "))
			}
			d.Secret, d.SecretSource, d.ManageContent = true, true, true
			if !sm.render {
				break
			}
			if sm.store == nil {
				return fail(at(".secrets"), "%s reads secrets (%s): %v; nothing was changed", f.Path, strings.Join(f.Secrets, ", "), errNoSecrets)
			}
			out, err := Render(f, c, core, sm.store)
			if err != nil {
				return fail(at(".template"), "template %s: %v", f.Template, err)
			}
			d.Content = out
		case f.Template != "":
			out, err := Render(f, c, core, nil)
			if err != nil {
				return fail(at(".template"), "template %s: %v", f.Template, err)
			}
			d.Content, d.ManageContent = out, true
		case f.Content != "":
			d.Content, d.ManageContent = []byte(f.Content), true
		}
	case "link":
		if f.Target == "" {
			return fail(at(""), "state: link needs a target")
		}
		if strings.ContainsAny(f.Target, "\x00\n\r") {
			return fail(at(".target"), "invalid link target %q", f.Target)
		}
		if hasBody || f.Mode != "" {
			return fail(at(""), "a link has no content, template or mode")
		}
		d.Target = f.Target
	case "directory", "absent":
		if hasBody || f.Target != "" {
			return fail(at(".state"), "state: %s takes no content, template or target", d.State)
		}
		if d.State == "absent" {
			if undeletable(f.Path) {
				return fail(at(".path"), "refusing to remove %s: it is a system path", f.Path)
			}
			if f.Mode != "" || f.Owner != "" || f.Group != "" {
				return fail(at(".state"), "state: absent takes no mode, owner or group")
			}
		}
	}
	if err := validateCheck(f, d.State); err != nil {
		return fail(at(".validate"), "%v", err)
	}
	if d.State == "present" {
		if d.Check = checkFor(f); d.Check != nil {
			d.Check.Pos = at(".path")
			if f.Validate != nil {
				d.Check.Pos = at(".validate")
			}
		}
	}
	if d.SecretSource && !d.ModeSet {
		d.Mode, d.ModeSet = 0o600, true // secret content: private unless declared otherwise
	}
	d.Secret = d.Secret || secret(f, d)
	return d, nil
}

// templateFile is the path of entry i's template as the user sees it (for FILE:LINE:COL).
func templateFile(c *chobolo.Chobolo, i int, f chobolo.File) string {
	if filepath.IsAbs(f.Template) {
		return f.Template
	}
	return filepath.Join(filepath.Dir(c.Pos(fmt.Sprintf("files[%d].template", i)).File), f.Template)
}

// validateCheck checks a `validate:` again (the loader did, but a Ch-obolo may be built in code): an
// argv with "%s" exactly once, for a present file that has no built-in check.
func validateCheck(f chobolo.File, state string) error {
	if f.Validate == nil {
		return nil
	}
	if b := BuiltinCheck(f.Path); b != nil {
		show := b.Label
		show = cmp.Or(show, strings.Join(b.Argv, " "))
		return fmt.Errorf("%s is always checked with %s before it lands; validate: cannot replace that check", f.Path, show)
	}
	if state != "present" {
		return fmt.Errorf("validate checks content before it lands: only for state: present")
	}
	n := 0
	for _, a := range f.Validate {
		if a == "" || strings.ContainsRune(a, 0) {
			return fmt.Errorf("empty argument or NUL byte in %q", f.Validate)
		}
		n += strings.Count(a, "%s")
	}
	if n != 1 {
		return fmt.Errorf("needs %%s exactly once (it is replaced by the temp file's path), found %d", n)
	}
	return nil
}

// secret says whether a file's content must never be shown: it comes from the secrets, or its mode
// lets neither group nor others read it.
func secret(f chobolo.File, d Desired) bool {
	return len(f.Secrets) > 0 || (d.ModeSet && d.Mode&0o044 == 0)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
