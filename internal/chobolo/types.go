// Package chobolo loads, merges and validates Ch-obolos: the YAML files that declare a machine.
//
// A Ch-obolo is data only. The loader keeps the source position of every value so that any later
// stage (validation, a role's delta, a compiler) can point the user at FILE:LINE:COL.
package chobolo

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pos is a position in a Ch-obolo source file. Line and Col are 1-based; the zero Pos means unknown.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

func (p Pos) String() string {
	switch {
	case p.File == "" && p.Line == 0:
		return "<unknown>"
	case p.Line == 0:
		return p.File
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// Chobolo is a loaded, merged and validated Ch-obolo. Optional scalars use the zero value for "not
// declared"; Has tells whether a top-level section was declared at all (full-state roles only act on
// sections that are present).
type Chobolo struct {
	// File is the path of the root file that was loaded.
	File string `json:"-" yaml:"-"`

	// Core forces a core ("debian", "arch", "fedora") instead of detecting it from /etc/os-release.
	Core         string    `json:"core,omitempty" yaml:"core,omitempty"`
	Hostname     string    `json:"hostname,omitempty" yaml:"hostname,omitempty"`
	Users        []User    `json:"users,omitempty" yaml:"users,omitempty"`
	Packages     []Package `json:"packages,omitempty" yaml:"packages,omitempty"`
	BaseOverride []Package `json:"baseOverride,omitempty" yaml:"baseOverride,omitempty"`
	Repos        Repos     `json:"repos,omitzero" yaml:"repos,omitempty"`
	Services     []Service `json:"services,omitempty" yaml:"services,omitempty"`
	Region       Region    `json:"region,omitzero" yaml:"region,omitempty"`
	Files        []File    `json:"files,omitempty" yaml:"files,omitempty"`

	// SecretTemplates are secrets.templates[] (the secrets section stays in Extra); positions are
	// under "secrets.templates[i]".
	SecretTemplates []SecretTemplate `json:"-" yaml:"-"`

	// Extra holds top-level sections owned by other parts of chaos (fleet, secrets, partitioning,
	// bootloader, aurPackages, mirrors, dotfiles, ...), as merged YAML nodes with positions.
	Extra map[string]*yaml.Node `json:"-" yaml:"-"`

	// Warnings are non-fatal diagnostics from loading (legacy spellings and the like).
	Warnings []Diagnostic `json:"-" yaml:"-"`

	keys map[string]bool
	pos  map[string]Pos
	// nodeFile maps every YAML node the loader kept (including those under Extra) to the file that
	// declared it, because yaml.Node only knows its line and column.
	nodeFile map[*yaml.Node]string
}

// NodePos returns the source position of a node held by this Ch-obolo (for example one under Extra),
// so that code owning an Extra section can report FILE:LINE:COL too.
func (c *Chobolo) NodePos(n *yaml.Node) Pos {
	if c == nil || n == nil {
		return Pos{}
	}
	return Pos{File: c.nodeFile[n], Line: n.Line, Col: n.Column}
}

// Has reports whether the top-level key was declared (after imports and legacy aliases).
func (c *Chobolo) Has(key string) bool { return c != nil && c.keys[key] }

// Declares reports whether the loaded YAML holds a value at path ("secrets.templates"), even an
// empty one: a key below the top level, which Has does not track.
func (c *Chobolo) Declares(path string) bool {
	if c == nil {
		return false
	}
	_, ok := c.pos[path]
	return ok
}

// Pos returns the source position of the value at path, e.g. "users[0].name" or "packages[3]". When
// the exact path is unknown it falls back to the closest recorded ancestor, then to the file itself.
func (c *Chobolo) Pos(path string) Pos {
	if c == nil {
		return Pos{}
	}
	for p := path; p != ""; p = parentPath(p) {
		if pos, ok := c.pos[p]; ok {
			return pos
		}
	}
	return Pos{File: c.File}
}

// SetKey marks a top-level key as declared and records its position. It exists for tests and for
// code that builds a Ch-obolo programmatically (for example `chaos init chobolo --from`).
func (c *Chobolo) SetKey(key string, pos Pos) {
	if c.keys == nil {
		c.keys = map[string]bool{}
	}
	c.keys[key] = true
	c.SetPos(key, pos)
}

// SetPos records the position of the value at path.
func (c *Chobolo) SetPos(path string, pos Pos) {
	if c.pos == nil {
		c.pos = map[string]Pos{}
	}
	c.pos[path] = pos
}

// Keys returns the declared top-level keys, sorted.
func (c *Chobolo) Keys() []string {
	return slices.Sorted(maps.Keys(c.keys))
}

// parentPath strips the last element of a path: "users[0].name" -> "users[0]" -> "users" -> "".
func parentPath(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		switch p[i] {
		case '.':
			return p[:i]
		case '[':
			return p[:i]
		}
	}
	return ""
}

// User is one entry of `users`.
type User struct {
	Name   string   `json:"name" yaml:"name"`
	Shell  string   `json:"shell,omitempty" yaml:"shell,omitempty"`   // bare name ("bash") or absolute path ("/usr/bin/zsh")
	Home   string   `json:"home,omitempty" yaml:"home,omitempty"`     // default /home/NAME
	Groups []string `json:"groups,omitempty" yaml:"groups,omitempty"` // supplementary groups, created when missing
	Sudo   bool     `json:"sudo,omitempty" yaml:"sudo,omitempty"`
	UID    *int     `json:"uid,omitempty" yaml:"uid,omitempty"`
	System bool     `json:"system,omitempty" yaml:"system,omitempty"`
	// State is "present" (default) or "absent".
	State string `json:"state,omitempty" yaml:"state,omitempty"`
	// Password is "locked" for an account without a usable password; otherwise the password comes
	// from the secrets (user_secrets.NAME.password) and this stays empty.
	Password string `json:"password,omitempty" yaml:"password,omitempty"`
	// PurgeHome removes the home directory when the user is removed.
	PurgeHome bool `json:"purge_home,omitempty" yaml:"purge_home,omitempty"`
}

// Package is one entry of `packages` or `baseOverride`: a distro-agnostic name resolved through the
// package map, optionally with per-core overrides (`{name: ssh, debian: openssh-server, arch: openssh}`).
type Package struct {
	Name string `json:"name" yaml:"name"`
	// Overrides maps a core or compiler target ("debian", "arch", "fedora", "nix", "guix") to the
	// package names to use there instead of the map's entry. An empty list means "nothing on that core".
	Overrides map[string][]string `json:"overrides,omitempty" yaml:",inline"`
}

// Repos is the `repos` section. Each core reads the part in its own format; the rest is ignored there,
// so one Ch-obolo can serve every core.
type Repos struct {
	// Apt are Debian/Ubuntu repositories, written as deb822 `.sources` files with their keyrings.
	Apt []AptRepo `json:"apt,omitempty" yaml:"apt,omitempty"`

	// Pacman (Arch) keys of the original Ch-aronte.
	Managed    map[string]bool       `json:"managed,omitempty" yaml:"managed,omitempty"`
	ThirdParty []PacmanRepo          `json:"third_party,omitempty" yaml:"third_party,omitempty"`
	Options    string                `json:"i_know_exactly_what_im_doing,omitempty" yaml:"i_know_exactly_what_im_doing,omitempty"`
	Extra      map[string]*yaml.Node `json:"-" yaml:"-"` // other formats (dnf, ...) owned by later cores
}

// AptRepo is one apt repository in deb822 form.
type AptRepo struct {
	Name          string   `json:"name" yaml:"name"`                       // file /etc/apt/sources.list.d/chaos-NAME.sources
	Types         []string `json:"types,omitempty" yaml:"types,omitempty"` // default [deb]
	URIs          []string `json:"uris" yaml:"uris,omitempty"`
	Suites        []string `json:"suites" yaml:"suites,omitempty"`
	Components    []string `json:"components,omitempty" yaml:"components,omitempty"`
	Architectures []string `json:"architectures,omitempty" yaml:"architectures,omitempty"`
	// Key is an ASCII-armored OpenPGP public key (inline); KeyFile a path to one, relative to the
	// Ch-obolo that declares it. Either becomes /etc/apt/keyrings/chaos-NAME.asc and Signed-By.
	Key     string `json:"key,omitempty" yaml:"key,omitempty"`
	KeyFile string `json:"key_file,omitempty" yaml:"key_file,omitempty"`
	// KeyText is the content of KeyFile, read by the loader (like File.TemplateText) so that roles
	// stay pure. Use Key when set, else KeyText.
	KeyText string `json:"-" yaml:"-"`
	// Trusted sets `Trusted: yes` (unsigned local repositories).
	Trusted bool  `json:"trusted,omitempty" yaml:"trusted,omitempty"`
	Enabled *bool `json:"enabled,omitempty" yaml:"enabled,omitempty"`
}

// PacmanRepo is a third-party pacman repository (Arch core).
type PacmanRepo struct {
	Name     string `json:"name" yaml:"name"`
	URL      string `json:"url,omitempty" yaml:"url,omitempty"`
	Include  string `json:"include,omitempty" yaml:"include,omitempty"`
	SigLevel string `json:"siglevel,omitempty" yaml:"siglevel,omitempty"`
	Key      string `json:"key,omitempty" yaml:"key,omitempty"`
	Priority string `json:"priority,omitempty" yaml:"priority,omitempty"`
}

// Service is one entry of `services`.
type Service struct {
	Name string `json:"name" yaml:"name"` // ".service" is appended when no unit suffix is given
	// OnBoot and Running default to true when unset.
	OnBoot  *bool `json:"on_boot,omitempty" yaml:"on_boot,omitempty"`
	Running *bool `json:"running,omitempty" yaml:"running,omitempty"`
	// Dense treats Name as a prefix matching every non-template unit file that starts with it.
	Dense bool `json:"dense_service,omitempty" yaml:"dense_service,omitempty"`
	// RestartOn and ReloadOn name what restarts (reloads) the unit when an apply changes it: paths
	// of files declared under files, packages declared under packages, other declared services.
	RestartOn []string `json:"restart_on,omitempty" yaml:"restart_on,omitempty"`
	ReloadOn  []string `json:"reload_on,omitempty" yaml:"reload_on,omitempty"`
	// Check is a command (argv, no shell) run before each restart or reload; when it fails, the
	// apply fails and is undone, and the unit keeps running what it ran (nginx -t).
	Check []string `json:"check,omitempty" yaml:"check,omitempty"`
	// RestartOnUpgrade (default true) restarts the running unit when the apply installs or upgrades
	// the package of the same name.
	RestartOnUpgrade *bool `json:"restart_on_upgrade,omitempty" yaml:"restart_on_upgrade,omitempty"`
}

// WantRestartOnUpgrade is RestartOnUpgrade with its default applied.
func (s Service) WantRestartOnUpgrade() bool { return s.RestartOnUpgrade == nil || *s.RestartOnUpgrade }

// WantOnBoot is OnBoot with its default applied.
func (s Service) WantOnBoot() bool { return s.OnBoot == nil || *s.OnBoot }

// WantRunning is Running with its default applied.
func (s Service) WantRunning() bool { return s.Running == nil || *s.Running }

// Region is the `region` section.
type Region struct {
	Timezone string   `json:"timezone,omitempty" yaml:"timezone,omitempty"`
	Locales  []string `json:"locale,omitempty" yaml:"locale,omitempty"` // the first one becomes LANG
	Keymap   string   `json:"keymap,omitempty" yaml:"keymap,omitempty"`
	NTP      *bool    `json:"ntp,omitempty" yaml:"ntp,omitempty"`
}

// File is one entry of `files`.
type File struct {
	Path string `json:"path" yaml:"path"`
	// State is "present" (default), "absent", "directory" or "link".
	State    string `json:"state,omitempty" yaml:"state,omitempty"`
	Content  string `json:"content,omitempty" yaml:"content,omitempty"`
	Template string `json:"template,omitempty" yaml:"template,omitempty"` // Go text/template over the Ch-obolo; path relative to the declaring file
	// TemplateText is the template's source, read by the loader so that roles stay pure.
	TemplateText string `json:"-" yaml:"-"`
	Target       string `json:"target,omitempty" yaml:"target,omitempty"` // for state: link
	Mode         string `json:"mode,omitempty" yaml:"mode,omitempty"`     // octal, e.g. "0644"
	Owner        string `json:"owner,omitempty" yaml:"owner,omitempty"`
	Group        string `json:"group,omitempty" yaml:"group,omitempty"`
	// Validate is a command (argv, no shell) that checks the new content before it lands: exactly
	// one element holds "%s", replaced by the path of the temp file (like Ansible's validate).
	Validate []string `json:"validate,omitempty" yaml:"validate,omitempty"`
	// Notify names declared services restarted when an apply changes this file.
	Notify []string `json:"notify,omitempty" yaml:"notify,omitempty"`
	// Secrets are the paths in the secrets file (dotted, e.g. "db.password") the template may read
	// with {{ secret "PATH" }}; the file's content is then secret (chaos apply -s).
	Secrets []string `json:"secrets,omitempty" yaml:"secrets,omitempty"`
	// Escape is how each secret value is escaped as it is inserted: none (default), shell, json,
	// yaml, ini or html.
	Escape string `json:"escape,omitempty" yaml:"escape,omitempty"`
}

// EscapeFormats are the values of files[].escape and secrets.templates[].escape.
var EscapeFormats = []string{"none", "shell", "json", "yaml", "ini", "html"}

// SecretTemplate is one entry of the original Ch-aOS's secrets.templates (its chaos-secrets
// plugin), loaded unchanged: a Jinja2-style template rendered with the secrets named in Vars and
// written to To, relative to Owner's home.
type SecretTemplate struct {
	From  string
	To    string
	Owner string
	Mode  string // as written: "0600", 0600 (an octal int for the original's YAML 1.1) or "600"
	Vars  []string
	// Escape is "html" (the original's default: Jinja2 autoescape, escape: true), "none"
	// (escape: false), or one of EscapeFormats.
	Escape string
	// Text is the template's source, read by the loader from the templates directory; Source is the
	// path it was read from (for positions in it).
	Text   string
	Source string
	// Includes are the files the template includes ({% include "NAME" %}, NAME relative to the
	// including template), and theirs, read by the loader: their text by path relative to the
	// templates directory, as From is.
	Includes map[string]string
}

// Severity of a Diagnostic.
type Severity int

const (
	SevError Severity = iota
	SevWarning
)

// Diagnostic is an error or warning tied to a source position.
type Diagnostic struct {
	Pos      Pos      `json:"pos"`
	Severity Severity `json:"-"`
	Code     string   `json:"code,omitempty"`
	Message  string   `json:"message"`
}

func (d Diagnostic) String() string {
	kind := "error"
	if d.Severity == SevWarning {
		kind = "warning"
	}
	return fmt.Sprintf("%s: %s: %s", d.Pos, kind, d.Message)
}

// Errors is every error found in a Ch-obolo, reported together.
type Errors []Diagnostic

func (e Errors) Error() string {
	var b strings.Builder
	for i, d := range e {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.String())
	}
	return b.String()
}
