// Package soul is the protocol between chaos and a Soul (a plugin in any language), and the Go SDK
// for writing one.
//
// A Soul is a directory holding soul.yaml (its Manifest) and an executable. chaos starts the
// executable once per run, on the controller (never on a managed host), and talks to it with
// JSON-RPC 2.0 messages, one JSON object per line, over the process's stdin (requests) and stdout
// (responses). stderr is the Soul's log: chaos shows it when the Soul fails. The protocol version
// is ProtocolVersion; chaos refuses a Soul whose manifest names another.
//
// What a Soul provides is declared in soul.yaml, so listing, key validation (a JSON Schema per
// role), explanations and boilerplate never start the process. The process is asked only for what
// depends on a host or a run:
//
//	role.probe       the sh fragments of a role's probe (run inside chaos's single probe of the host)
//	role.plan        the role's plan from its facts: changes and the engine's ops, with inverses
//	boat.hosts       the hosts of a dynamic inventory
//	provider.key     a secrets key (an age identity) from somewhere chaos cannot reach itself
//	logbook.event    one run event, to a logbook sink (a notification: no response)
//	chimera.compile  a Ch-obolo compiled to another system's configuration
//	shutdown         the run is over (a notification); the process then has 5 s to exit
//
// A Go Soul is a main package that registers what it provides and calls Serve:
//
//	func main() {
//		soul.Role("dotfiles", dotfiles{})
//		soul.Serve()
//	}
package soul

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// ProtocolVersion is the version of this protocol. It changes only when a message changes meaning
// or a field goes away; new methods and optional fields keep it.
const ProtocolVersion = 1

// The methods chaos calls.
const (
	MethodRoleProbe      = "role.probe"
	MethodRolePlan       = "role.plan"
	MethodBoatHosts      = "boat.hosts"
	MethodProviderKey    = "provider.key"
	MethodLogbookEvent   = "logbook.event"
	MethodChimeraCompile = "chimera.compile"
	MethodConnectorOpen  = "connector.open"
	// MethodPing is sent by `chaos soul test` only, to see that a Soul still reads (after a logbook
	// event, which has no answer): any answer will do, the -32601 error included.
	MethodPing     = "rpc.ping"
	MethodShutdown = "shutdown"
)

// Request is one JSON-RPC 2.0 request (or, without ID, a notification).
type Request struct {
	JSONRPC string          `json:"jsonrpc"` // "2.0"
	ID      *int64          `json:"id,omitempty"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// Response answers the request with the same ID: Result or Error.
type Response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      int64           `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

// Error is a failed request. Key, when set, is the path of the Ch-obolo value the error is about
// (e.g. "dotfiles[0].url"): chaos reports it at that value's FILE:LINE:COL.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Key     string `json:"key,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// JSON-RPC error codes chaos uses besides the standard ones.
const (
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	// CodeInvalid is a Ch-obolo value the Soul refuses (with Key).
	CodeInvalid = 1
	// CodeFailed is anything else the Soul could not do.
	CodeFailed = 2
)

// Env is what chaos knows about the target when a role probes or plans (the engine's Env).
type Env struct {
	Target  string            `json:"target"`
	Core    string            `json:"core"`
	OS      map[string]string `json:"os,omitempty"`
	Chroot  bool              `json:"chroot,omitempty"`
	Systemd bool              `json:"systemd,omitempty"`
	// ReadOnly: a dry run; probe fragments must write nothing to the target.
	ReadOnly bool `json:"read_only,omitempty"`
	// Assume: the user said yes up front (-y).
	Assume bool `json:"assume,omitempty"`
	// ProtectedUsers must never be removed or locked.
	ProtectedUsers []string `json:"protected_users,omitempty"`
	// Ledger is what chaos created on this host before, by domain: a full-state role prunes only
	// what it finds in its own domains.
	Ledger map[string][]string `json:"ledger,omitempty"`
}

// ProbeParams ask for a role's probe sections. Keys are the role's own top-level Ch-obolo keys
// (only those its manifest declares), as JSON.
type ProbeParams struct {
	Role string                     `json:"role"`
	Env  Env                        `json:"env"`
	Keys map[string]json.RawMessage `json:"keys"`
	// LedgerItems gives, for each of the role's ledger domains, a sh command (braced: pipe it as it
	// is) that prints the domain's items recorded on the host, one per line: a full-state role's probe fragment runs
	// it to look at what it created before (the ledger itself comes with role.plan's Env).
	LedgerItems map[string]string `json:"ledger_items,omitempty"`
}

// Section is one POSIX sh fragment of the host's probe; its stdout and exit code come back as the
// section's facts. It must not read stdin. Names are the role's own: chaos frames them.
type Section struct {
	Name   string `json:"name"`
	Script string `json:"script"`
}

// ProbeResult is a role's probe.
type ProbeResult struct {
	Sections []Section `json:"sections"`
}

// Output is what one probe section printed.
type Output struct {
	Stdout string `json:"stdout"`
	Code   int    `json:"code"`
}

// PlanParams ask for a role's plan: its keys, the facts of its sections and the secrets its
// manifest declares (only those, and only with `chaos apply -s`).
type PlanParams struct {
	Role    string                     `json:"role"`
	Env     Env                        `json:"env"`
	Keys    map[string]json.RawMessage `json:"keys"`
	Facts   map[string]Output          `json:"facts"`
	Secrets map[string]string          `json:"secrets,omitempty"`
}

// PlanResult is a role's plan for one host: the engine executes it (dry run, journal, undo,
// generations and the logbook come with it). No steps means nothing to do.
type PlanResult struct {
	Steps []Step   `json:"steps,omitempty"`
	Notes []string `json:"notes,omitempty"`
	// Ledger is the new set of objects this role manages on the host, by domain (the manifest's
	// domains only); chaos records it after a successful apply.
	Ledger map[string][]string `json:"ledger,omitempty"`
	// Guard, when set, says the plan removes a large share of what the role manages: the apply is
	// refused without --prune-all.
	Guard string `json:"guard,omitempty"`
}

// Step groups the ops that make a set of changes.
type Step struct {
	Changes []Change `json:"changes"`
	Ops     []Op     `json:"ops"`
}

// Change is one difference the user sees: Kind "+", "-" or "~"; Key the Ch-obolo value that
// declares it (e.g. "dotfiles[0].links[1]"), for its position.
type Change struct {
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
	Detail  string `json:"detail,omitempty"`
	Key     string `json:"key,omitempty"`
}

// Op is one of the engine's operations. chaos validates it like a built-in role's: an argv (never
// a shell string), no write to a protected path, one owner per path. File ops (write, remove,
// symlink, mkdir, chmod) are undone by the engine from what it journals before them; an exec op
// is undone by its Undo (or is Irreversible, which the plan shows).
type Op struct {
	// Kind: exec, write, remove, symlink, mkdir, chmod.
	Kind string `json:"kind"`
	// exec: the program and its arguments, extra KEY=VALUE environment, exit codes that succeed
	// (default 0), and Stdin: the name of a declared secret fed on stdin (never in argv).
	Argv    []string `json:"argv,omitempty"`
	Env     []string `json:"env,omitempty"`
	OkCodes []int    `json:"ok_codes,omitempty"`
	Stdin   string   `json:"stdin_secret,omitempty"`
	// file ops: Content (UTF-8) or ContentBase64, Mode as octal text ("0644"), Owner and Group by
	// name, Target (symlink), Recursive (remove), Validate (argv run on the new file, %s its path).
	Path          string   `json:"path,omitempty"`
	Content       *string  `json:"content,omitempty"`
	ContentBase64 string   `json:"content_base64,omitempty"`
	Mode          string   `json:"mode,omitempty"`
	Owner         string   `json:"owner,omitempty"`
	Group         string   `json:"group,omitempty"`
	Target        string   `json:"target,omitempty"`
	Recursive     bool     `json:"recursive,omitempty"`
	Validate      []string `json:"validate,omitempty"`
	// Label replaces the op's text in plans and logs.
	Label string `json:"label,omitempty"`
	// Undo reverses an exec op; Irreversible says why it cannot be undone.
	Undo         *Op    `json:"undo,omitempty"`
	Irreversible string `json:"irreversible,omitempty"`
	// Notify and Reload name the units to restart or reload when this op changed something.
	Notify []string `json:"notify,omitempty"`
	Reload []string `json:"reload,omitempty"`
}

// BoatParams ask a boat for hosts. Config is the boat's entry in fleet.boats (as JSON); Secrets
// the secrets its manifest declares.
type BoatParams struct {
	Boat    string            `json:"boat"`
	Config  json.RawMessage   `json:"config"`
	Secrets map[string]string `json:"secrets,omitempty"`
}

// BoatHost is one host a boat found: what a fleet.hosts entry says (ssh_hostname, ssh_user,
// ssh_port, ssh_key, become, groups, vars), checked the same way.
type BoatHost struct {
	Name    string `json:"name"`
	Address string `json:"address,omitempty"`
	Port    int    `json:"port,omitempty"`
	User    string `json:"user,omitempty"`
	// Key is the SSH private key file on the controller.
	Key    string         `json:"key,omitempty"`
	Become bool           `json:"become,omitempty"`
	Groups []string       `json:"groups,omitempty"`
	Vars   map[string]any `json:"vars,omitempty"`
}

// BoatResult is what a boat found.
type BoatResult struct {
	Hosts []BoatHost `json:"hosts"`
}

// KeyParams ask a secrets provider for a key; Config is its entry in config.yml's
// secret_providers (as JSON).
type KeyParams struct {
	Provider string          `json:"provider"`
	Config   json.RawMessage `json:"config,omitempty"`
}

// KeyResult is the key: an age identity (AGE-SECRET-KEY-1...) or an armored PGP private key.
// chaos keeps it in memory only.
type KeyResult struct {
	Kind string `json:"kind"` // "age" or "pgp"
	Key  string `json:"key"`
}

// CompileParams ask a Ch-imera back end for files: System is the back-end-neutral description of
// the machine chaos builds from the Ch-obolo (the same for every back end, as JSON: hostname,
// users, packages, services, region, files, boot, disk; each entry with its "key", the Ch-obolo
// path, and "pos"). Options carry source_sha256 (the input's hash, for file headers), strict and
// state_version.
type CompileParams struct {
	Backend string          `json:"backend"`
	System  json.RawMessage `json:"system"`
	Options map[string]any  `json:"options,omitempty"`
}

// CompileResult is the compiled files (path relative to the output directory -> content) and
// diagnostics. SourceMap, optional, says which Ch-obolo value each generated line came from (by
// file, then line): chaos writes it into chimera.json with the values' FILE:LINE:COL.
type CompileResult struct {
	Files       map[string]string       `json:"files"`
	Diagnostics []Diagnostic            `json:"diagnostics,omitempty"`
	SourceMap   map[string][]SourceLine `json:"source_map,omitempty"`
}

// SourceLine ties a generated line (1-based) to the Ch-obolo value at Key (e.g. "users[0]").
type SourceLine struct {
	Line int    `json:"line"`
	Key  string `json:"key"`
}

// Diagnostic is a message about a Ch-obolo value the back end could not map exactly.
type Diagnostic struct {
	Severity string `json:"severity"` // "error", "warning", "info"
	Code     string `json:"code,omitempty"`
	Message  string `json:"message"`
	Key      string `json:"key,omitempty"`
}

// ConnectParams ask a connector how to reach the target @CONNECTOR/ARG: Arg is what follows the
// slash (letters, digits and "_.:@/-", never starting with "-"), Target the whole spec.
type ConnectParams struct {
	Connector string `json:"connector"`
	Arg       string `json:"arg"`
	Target    string `json:"target"`
	// ReadOnly: the run writes nothing to the target (a dry run, a capture).
	ReadOnly bool `json:"read_only,omitempty"`
}

// ConnectResult says how to reach a target: exactly one of Argv and SSH. Argv is run on the
// controller (no shell) followed by chaos's worker command, and must give the worker's stdin
// and stdout inside the target as root, as `podman exec -i -u 0 NAME` does; SSH is an address
// chaos connects to as to any SSH host.
type ConnectResult struct {
	Argv []string `json:"argv,omitempty"`
	SSH  *SSHAddr `json:"ssh,omitempty"`
}

// SSHAddr is an SSH host a connector names.
type SSHAddr struct {
	Host string `json:"host"`
	Port int    `json:"port,omitempty"`
	User string `json:"user,omitempty"`
	// Key is a private key file on the controller.
	Key    string `json:"key,omitempty"`
	Become bool   `json:"become,omitempty"`
}

// CheckArgv refuses what is not an argv: an empty one, an empty program, a NUL in an argument,
// and one string with shell syntax (a command line pasted where an argv is wanted). chaos applies
// it to every exec op and connector argv a Soul returns.
func CheckArgv(argv []string) error {
	if len(argv) == 0 || argv[0] == "" {
		return errors.New("empty argv")
	}
	if len(argv) == 1 && strings.ContainsAny(argv[0], " \t|;&$<>`") {
		return fmt.Errorf("%q is a shell string; give an argv", argv[0])
	}
	for _, a := range argv {
		if strings.ContainsRune(a, 0) {
			return fmt.Errorf("argument %q holds a NUL", a)
		}
	}
	return nil
}

// HandsToShell reports an argv that hands a string to a shell (sh -c ...).
func HandsToShell(argv []string) bool {
	if len(argv) == 0 {
		return false
	}
	switch path.Base(argv[0]) {
	case "sh", "bash", "dash", "zsh", "ksh":
		return slices.Contains(argv[1:], "-c")
	}
	return false
}

// Check is what chaos checks of a connector's answer: exactly one of argv and ssh; an argv (never
// a shell string, no `sh -c`, since chaos's worker command follows it); an SSH host and user
// without spaces or shell syntax.
func (r ConnectResult) Check() error {
	switch {
	case (len(r.Argv) > 0) == (r.SSH != nil):
		return errors.New("want exactly one of argv and ssh")
	case r.SSH != nil:
		a := r.SSH
		if a.Host == "" || strings.ContainsAny(a.Host, " \t\n/'\"`$;|&<>()") || strings.ContainsAny(a.User, " \t\n/'\"`$;|&<>():@") || a.Port < 0 || a.Port > 65535 {
			return fmt.Errorf("ssh: host %q, user %q, port %d is not an SSH address", a.Host, a.User, a.Port)
		}
		return nil
	}
	if err := CheckArgv(r.Argv); err != nil {
		return fmt.Errorf("argv: %w", err)
	}
	if HandsToShell(r.Argv) {
		return fmt.Errorf("argv %q hands a string to a shell; give the program and its arguments", r.Argv)
	}
	return nil
}
