package chimera

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// Severity of a diagnostic. Warnings become errors under --strict.
type Severity string

const (
	Error   Severity = "error"
	Warning Severity = "warning"
	Info    Severity = "info"
)

// Diagnostic codes are stable: users silence or promote them by code, and docs/chimera.md lists
// them. Ranges: 1xx value validation, 2xx mapping (packages, services, shells), 3xx constructs a
// declarative system cannot express, 4xx back-end specific (401-449 NixOS, 450-499 Guix).
const (
	CodeInvalidValue     = "CHI101" // a value chaos accepts but a compiled system cannot use as is
	CodeLongLabel        = "CHI102" // a file system label longer than the file system allows
	CodeFirmwareInferred = "CHI103" // firmware (UEFI/BIOS) inferred from the boot partition
	CodeUnknownPackage   = "CHI201" // no mapping for a package on this back end
	CodePackageNone      = "CHI202" // the package maps to nothing on this back end (info)
	CodeServiceUnit      = "CHI203" // a service with no module: compiled to a plain unit reference
	CodeShellUnknown     = "CHI204" // a login shell the back end has no program module for
	CodeAUR              = "CHI301" // aurPackages / aurHelpers: Arch-only
	CodeRepos            = "CHI302" // repos: the back end pins its own channel
	CodeMirrors          = "CHI303" // mirrors: Arch-only
	CodeDenseService     = "CHI304" // dense_service matches host state and cannot be compiled
	CodeRuntimeState     = "CHI305" // running: false and similar runtime state
	CodeDotfiles         = "CHI306" // dotfiles are cloned at run time
	CodeBaseOverride     = "CHI307" // baseOverride replaces Arch's base set: meaningless here
	CodeImperativeFile   = "CHI308" // a files entry that cannot be expressed (absent, templates, owners)
	CodePruneOrphans     = "CHI309" // prune_orphans: the store garbage collector does this
	CodeNotCompiled      = "CHI310" // any other section this back end ignores
	CodeUserState        = "CHI311" // users with state: absent (accounts are declarative already)
)

// Diagnostic is one finding of a compilation, tied to the Ch-obolo position it is about.
type Diagnostic struct {
	Severity Severity    `json:"severity"`
	Code     string      `json:"code"`
	Pos      chobolo.Pos `json:"pos"`
	Path     string      `json:"path,omitempty"`    // YAML path, e.g. users[0].shell
	Backend  string      `json:"backend,omitempty"` // nixos, guix, or empty for both
	Message  string      `json:"message"`
	Hint     string      `json:"hint,omitempty"`
}

func (d Diagnostic) String() string {
	s := fmt.Sprintf("%s: %s[%s]: %s", d.Pos, d.Severity, d.Code, d.Message)
	if d.Hint != "" {
		s += " (" + d.Hint + ")"
	}
	return s
}

// Diagnostics collects findings. The zero value is ready to use.
type Diagnostics struct {
	List []Diagnostic
}

// Add records a diagnostic.
func (ds *Diagnostics) Add(d Diagnostic) { ds.List = append(ds.List, d) }

// Addf records a diagnostic with a formatted message.
func (ds *Diagnostics) Addf(sev Severity, code string, pos chobolo.Pos, path, format string, args ...any) {
	ds.Add(Diagnostic{Severity: sev, Code: code, Pos: pos, Path: path, Message: fmt.Sprintf(format, args...)})
}

// Errors counts the errors.
func (ds *Diagnostics) Errors() int { return ds.count(Error) }

// Warnings counts the warnings.
func (ds *Diagnostics) Warnings() int { return ds.count(Warning) }

func (ds *Diagnostics) count(s Severity) int {
	n := 0
	for _, d := range ds.List {
		if d.Severity == s {
			n++
		}
	}
	return n
}

// Sort orders the diagnostics by file, line, column and code, and drops exact repeats, so output is
// stable whatever order the back end found them in.
func (ds *Diagnostics) Sort() {
	slices.SortStableFunc(ds.List, func(a, b Diagnostic) int {
		if c := strings.Compare(a.Pos.File, b.Pos.File); c != 0 {
			return c
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line - b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col - b.Pos.Col
		}
		return strings.Compare(a.Code, b.Code)
	})
	ds.List = slices.CompactFunc(ds.List, func(a, b Diagnostic) bool { return a == b })
}

// Apply turns warnings into errors for strict runs and applies per-code overrides: allow lowers a
// code to info, deny raises it to an error.
func (ds *Diagnostics) Apply(strict bool, allow, deny []string) {
	for i := range ds.List {
		d := &ds.List[i]
		switch {
		case slices.Contains(deny, d.Code):
			d.Severity = Error
		case slices.Contains(allow, d.Code) && d.Severity != Error:
			d.Severity = Info
		case strict && d.Severity == Warning:
			d.Severity = Error
		}
	}
}
