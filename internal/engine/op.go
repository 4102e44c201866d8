package engine

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/shell"
)

// OpKind says what an Op does.
type OpKind string

const (
	// OpExec runs Argv on the target.
	OpExec OpKind = "exec"
	// OpWrite writes Content to Path atomically (temp file in the same directory, fsync, rename),
	// with Mode, Owner and Group. When Validate is set, it runs on the temp file before the rename.
	OpWrite OpKind = "write"
	// OpRemove removes Path (a file, a symlink, or an empty directory; Recursive for a tree).
	OpRemove OpKind = "remove"
	// OpSymlink makes Path a symlink to Target, replacing a file or symlink already there.
	OpSymlink OpKind = "symlink"
	// OpMkdir creates directory Path (and parents) and sets Mode, Owner and Group on it.
	OpMkdir OpKind = "mkdir"
	// OpChmod sets Mode, Owner and Group of an existing Path without touching its content.
	OpChmod OpKind = "chmod"
)

// Op is one step of a plan, as data. Roles build ops; only the engine executes them, so every role
// gets dry-run, undo and reporting for free.
type Op struct {
	Kind OpKind `json:"kind"`

	// OpExec
	Argv []string `json:"argv,omitempty"`
	Env  []string `json:"env,omitempty"` // KEY=VALUE added to the environment
	// Stdin is fed to the command. It is never shown or journaled when Secret is set.
	Stdin  []byte `json:"-"`
	Secret bool   `json:"secret,omitempty"`
	// OkCodes are exit codes besides 0 that count as success.
	OkCodes []int `json:"ok_codes,omitempty"`

	// File ops
	Path      string      `json:"path,omitempty"`
	Content   []byte      `json:"-"`
	Mode      fs.FileMode `json:"mode,omitempty"`
	Owner     string      `json:"owner,omitempty"`
	Group     string      `json:"group,omitempty"`
	Target    string      `json:"target,omitempty"`
	Recursive bool        `json:"recursive,omitempty"`
	// Validate runs before a write is moved into place; "%s" in an element is replaced by the temp
	// file's path (e.g. visudo -c -f %s).
	Validate []string `json:"validate,omitempty"`

	// Label replaces the command line in human output when the argv is long machinery (an embedded
	// check script; on a write, its Validate); --json still carries the full argv.
	Label string `json:"label,omitempty"`

	// Undo is the role-supplied inverse of an exec op (e.g. remove what an install added). File ops get
	// their inverse from the engine, which captures the previous state before it changes anything.
	Undo *Op `json:"undo,omitempty"`
	// Irreversible, on an op without an inverse, says why it cannot be undone (a boot sector written,
	// files generated from the current configuration): the plan shows "cannot be undone: WHY" under
	// the op, and a rollback that passes over it done is no full rollback (Result.NotUndone).
	Irreversible string `json:"irreversible,omitempty"`
	// Manual, on a secret inverse (never journaled, so it cannot run after a crash), names the user
	// or object it restores and the command to run by hand instead; recovery shows it. On a file op
	// with PrevInMemory, it says the same of the file's previous content.
	Manual string `json:"manual,omitempty"`
	// PrevInMemory, on a file op, keeps the previous content of the file in the controller's memory
	// only: never journaled (nor in a generation), so the apply's own undo restores it and recovery
	// after a crash cannot (FileState.InMemory). For content from the secrets file.
	PrevInMemory bool `json:"prev_in_memory,omitempty"`
	// Notify and Reload name systemd units to restart (reload) because this op changes something
	// they read. Any role may set them (the files role does for files[].notify; external Souls will
	// through the same field): the engine's restart phase, after every other op, restarts each unit
	// at most once (see RestartPhase). Packages are the packages a package transaction installs or
	// upgrades, for the services that restart on them.
	Notify   []string `json:"notify,omitempty"`
	Reload   []string `json:"reload,omitempty"`
	Packages []string `json:"packages,omitempty"`
	// UndoLast marks the restart phase's ops: when an apply fails, their inverses (restart the unit
	// again) run after every other inverse, so a unit is restarted on the files as they were.
	UndoLast bool `json:"undo_last,omitempty"`
	// Capture, on an op with an exec Undo, is a command the engine runs on the target right before
	// the op; its stdout becomes the Undo's stdin (and is journaled: it must never be secret). It is
	// how an inverse depends on state only known at execution time, e.g. the package set before a
	// transaction, so that undo removes exactly what the transaction added, dependencies included.
	Capture []string `json:"capture,omitempty"`
}

// Exec builds an exec op.
func Exec(argv ...string) Op { return Op{Kind: OpExec, Argv: argv} }

// WithUndo returns op with the given inverse.
func (o Op) WithUndo(u Op) Op { o.Undo = &u; return o }

// CannotUndo returns op marked irreversible for the reason why (see Op.Irreversible).
func (o Op) CannotUndo(why string) Op { o.Irreversible = why; return o }

// WithEnv returns op with extra environment variables.
func (o Op) WithEnv(env ...string) Op {
	o.Env = append(append([]string(nil), o.Env...), env...)
	return o
}

// Write builds an atomic file write.
func Write(path string, content []byte, mode fs.FileMode, owner, group string) Op {
	return Op{Kind: OpWrite, Path: path, Content: content, Mode: mode, Owner: owner, Group: group}
}

// Remove builds a removal of path.
func Remove(path string) Op { return Op{Kind: OpRemove, Path: path} }

// Symlink builds a symlink op: path -> target.
func Symlink(path, target string) Op { return Op{Kind: OpSymlink, Path: path, Target: target} }

// Mkdir builds a directory creation.
func Mkdir(path string, mode fs.FileMode, owner, group string) Op {
	return Op{Kind: OpMkdir, Path: path, Mode: mode, Owner: owner, Group: group}
}

// String renders the op the way --dry shows it: a shell-quoted command line or a file action.
func (o Op) String() string {
	switch o.Kind {
	case OpExec:
		if o.Label != "" {
			return o.Label
		}
		s := shell.Join(o.Argv)
		if len(o.Env) > 0 {
			s = shell.Join(o.Env) + " " + s
		}
		if len(o.Stdin) > 0 {
			if o.Secret {
				s += " <<< (secret)"
			} else {
				s += fmt.Sprintf(" <<< (%d bytes)", len(o.Stdin))
			}
		}
		return s
	case OpWrite:
		s := fmt.Sprintf("write %s (%d bytes%s)", o.Path, len(o.Content), o.attrs())
		if o.Secret {
			s = fmt.Sprintf("write %s ((secret)%s)", o.Path, o.attrs())
		}
		if o.Label != "" {
			s += " validated by " + o.Label
		} else if len(o.Validate) > 0 {
			s += " validated by " + shell.Join(o.Validate)
		}
		return s
	case OpRemove:
		if o.Recursive {
			return "remove -r " + o.Path
		}
		return "remove " + o.Path
	case OpSymlink:
		return fmt.Sprintf("symlink %s -> %s", o.Path, o.Target)
	case OpMkdir:
		return fmt.Sprintf("mkdir %s (%s)", o.Path, strings.TrimPrefix(o.attrs(), ", "))
	case OpChmod:
		return fmt.Sprintf("chmod %s (%s)", o.Path, strings.TrimPrefix(o.attrs(), ", "))
	}
	return string(o.Kind)
}

func (o Op) attrs() string {
	var parts []string
	if o.Mode != 0 {
		parts = append(parts, fmt.Sprintf("mode %04o", uint32(o.Mode.Perm())|modeSpecial(o.Mode)))
	}
	if o.Owner != "" || o.Group != "" {
		parts = append(parts, fmt.Sprintf("owner %s:%s", orDash(o.Owner), orDash(o.Group)))
	}
	if len(parts) == 0 {
		return ""
	}
	return ", " + strings.Join(parts, ", ")
}

func modeSpecial(m fs.FileMode) uint32 {
	var s uint32
	if m&fs.ModeSetuid != 0 {
		s |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		s |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		s |= 0o1000
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
