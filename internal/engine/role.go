package engine

import (
	"context"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// Meta describes a role to the registry, the CLI (`chaos check roles`, `explain`, `init chobolo`) and
// the tag resolver.
type Meta struct {
	// Name is the tag that selects the role (`chaos apply users`).
	Name string `json:"name"`
	// Aliases are extra tags (`usr`, `pkgs`).
	Aliases []string `json:"aliases,omitempty"`
	// Keys are the top-level Ch-obolo keys the role reads. A role runs when no tag is given and any of
	// its keys is declared.
	Keys []string `json:"keys"`
	// Cores the role supports ("debian", "arch", "fedora"); empty means every core.
	Cores []string `json:"cores,omitempty"`
	// Summary is one line for listings.
	Summary string `json:"summary"`
	// Explain is the role's `chaos explain` Markdown (internal/explain): topic Name, or NAME-CORE
	// for a later role of the same name with another text (builtin.Explanations).
	Explain string `json:"-"`
	// Secrets are the top-level keys of the secrets file the role reads ("user_secrets"); a role
	// sees no other secret, and none at all when it declares none.
	Secrets []string `json:"secrets,omitempty"`
	// Order sorts roles in a plan: lower runs first (repos before packages before users, ...).
	Order int `json:"order"`
}

// ProbeSection is one framed part of the host's probe script. Script is a POSIX sh fragment; its
// stdout becomes the section's output. It must not read stdin and should exit 0 unless the facts
// could not be read.
type ProbeSection struct {
	Name   string
	Script string
	// Scratch asks for the probe's scratch directory, $CHAOS_SCRATCH (ScratchEnv): set by sections
	// of read-only runs that read copies of what they could not read without writing.
	Scratch bool
	// Native, when set, answers the section in-process on targets whose files the controller
	// reads itself (transport.TreeReader: the local machine, chroots): the very output Script
	// prints there, without starting the processes Script would. Other targets run Script.
	Native *NativeProbe
}

// NativeProbe is a section's in-process answer (ProbeSection.Native). Answer reads the target
// through tree and may run commands through t; its error fails the probe.
type NativeProbe struct {
	Answer func(ctx context.Context, t transport.Transport, tree *transport.Tree) (string, error)
}

// AfterApplier is implemented by roles that keep a cache on the target, refreshed after every
// successful apply (the files role's verified checksums, which let its probe skip reading files).
// AfterApply runs once the journal is committed, outside it: what it writes must be a cache, which
// may be lost or stale at any time without harm and which no undo needs. It never runs for a plan
// alone (--dry). Its error is a warning of the apply.
type AfterApplier interface {
	AfterApply(ctx context.Context, t transport.Transport, env *Env, c *chobolo.Chobolo) error
}

// sameSection reports whether a and b are one section, as the script sends it (their Native
// answers, closures made per call of Probe, are the same when the scripts are).
func sameSection(a, b ProbeSection) bool {
	return a.Name == b.Name && a.Script == b.Script && a.Scratch == b.Scratch
}

// Output is what one probe section printed.
type Output struct {
	Stdout string
	Code   int
}

// Facts are the outputs of a role's probe sections, by section name.
type Facts map[string]Output

// Role is a unit of configuration: it reads facts with a probe and turns facts plus the Ch-obolo into
// a plan. Probe and Plan must not touch the target: the engine runs the probe and executes the plan,
// which is what makes dry-run, undo and reporting uniform.
type Role interface {
	Meta() Meta
	// Probe returns the sections this role needs in the host's probe script. The Env passed here has
	// only Target, Core, Chroot and ReadOnly set: the rest is learnt by the same probe. Fragments
	// that depend on the host's state test for it in sh. With ReadOnly, fragments write nothing to
	// the target (no cache).
	Probe(env *Env, c *chobolo.Chobolo) []ProbeSection
	// Plan computes the changes from facts and the Ch-obolo. Roles keep the computation in pure
	// functions (delta, then plan) so that it is testable from recorded facts.
	Plan(env *Env, c *chobolo.Chobolo, facts Facts) (*RolePlan, error)
}

// ProbeChecker is implemented by roles whose probe sections come from outside chaos and can fail
// (a Soul's process, which may crash or time out): the engine calls ProbeChecked instead of Probe,
// and an error stops the host's plan before anything is probed or applied.
type ProbeChecker interface {
	ProbeChecked(env *Env, c *chobolo.Chobolo) ([]ProbeSection, error)
}

// Env is what the engine knows about the target before roles plan. It is filled from the engine's own
// probe section.
type Env struct {
	// Target is the transport's name ("@local", "@chroot/srv/x").
	Target string
	// Core is the selected core: "debian", "arch" or "fedora".
	Core string
	// OS holds /etc/os-release fields (ID, ID_LIKE, VERSION_ID, VERSION_CODENAME, ...).
	OS map[string]string
	// Chroot is true when the target is a directory tree without its own running init.
	Chroot bool
	// Systemd is true when systemd is running as init on the target (start/stop are possible).
	Systemd bool
	// Protected names the users that must never be removed or locked: the user running chaos, the
	// SUDO_USER, the user connected over SSH.
	ProtectedUsers []string
	// Ledger is the per-host record of objects chaos created, by domain ("files", "repos", ...). A
	// role only prunes what it finds here.
	Ledger map[string][]string
	// Assume is true when the user passed -y.
	Assume bool
	// ReadOnly is true for a run that must not write to the target at all (--dry, capture): probe
	// fragments must then not write either, e.g. a cache on the target (see ProbeSection.Scratch).
	ReadOnly bool
	// Allow holds the risky steps the user explicitly allowed (Request.Allow), e.g. "bootloader-install".
	Allow map[string]bool
	// Secrets holds the decrypted secrets when the user asked for them (`chaos apply -s`); nil
	// otherwise. Roles must never put a secret into argv, a change's text or a log.
	Secrets SecretStore
	// Needs are the packages the plan's roles need (Needer), for the core's packages role, which
	// installs them and keeps them. NeedsServed is true when a packages role runs in this plan;
	// NeedsOnly when it runs only for Needs (tags or the Ch-obolo did not select it): it then
	// installs nothing else and prunes nothing.
	Needs       []Need
	NeedsServed bool
	NeedsOnly   bool
	// Installing are the packages the roles planned before this one install (RolePlan.Installs):
	// what they create (a daemon's account, a unit file) is not on the host yet but will be when
	// this role's ops run, so a role warns "cannot verify" about it instead of refusing it.
	Installing []string
	// Refreshing are the repositories the roles planned before this one add, change or remove
	// (RolePlan.Refreshes): a package they may offer cannot be verified before the plan runs.
	Refreshing []string
}

// SecretStore gives roles read access to decrypted secrets by dotted path, e.g.
// "user_secrets.alice.password".
type SecretStore interface {
	Get(path string) (value string, ok bool)
}

// Kind of a change, shown as +, - or ~.
type Kind string

const (
	Add    Kind = "+"
	Del    Kind = "-"
	Modify Kind = "~"
)

// Change is one user-visible difference between the host and the Ch-obolo.
type Change struct {
	Kind Kind `json:"kind"`
	// Subject is what changes: "package hello", "user alice", "/etc/hostname".
	Subject string `json:"subject"`
	// Detail says how: "shell /bin/sh -> /bin/bash".
	Detail string `json:"detail,omitempty"`
	// Pos is where the Ch-obolo declares it (zero for removals of undeclared things).
	Pos chobolo.Pos `json:"pos,omitzero"`
}

// Step groups the ops that implement a set of changes: five packages, one apt transaction.
type Step struct {
	Changes []Change `json:"changes"`
	Ops     []Op     `json:"ops"`
}

// RolePlan is a role's plan for one host.
type RolePlan struct {
	Role  string `json:"role"`
	Steps []Step `json:"steps,omitempty"`
	// Notes are informational lines shown with the plan (skipped items, protected objects kept).
	Notes []string `json:"notes,omitempty"`
	// Warnings are what the role could not verify before any op runs ("cannot verify package X:
	// repository R is added by this plan"): shown with the plan, never silent.
	Warnings []string `json:"warnings,omitempty"`
	// Installs are the packages this plan installs (the packages roles): roles planned after it see
	// them as Env.Installing.
	Installs []string `json:"installs,omitempty"`
	// Refreshes are the repositories this plan adds, changes or removes (the repos roles): what they
	// offer is known only once the plan has refreshed them. Roles planned after it see them as
	// Env.Refreshing.
	Refreshes []string `json:"refreshes,omitempty"`
	// Ledger replaces the role's domains in the host ledger after a successful apply, e.g.
	// {"files": [...paths chaos now manages]}. Nil leaves the ledger alone.
	Ledger map[string][]string `json:"ledger,omitempty"`
	// Guard, when set, says why this plan needs an explicit yes even with -y (a prune that removes a
	// large share of a domain). --prune-all waives it.
	Guard string `json:"guard,omitempty"`
	// Units tell the restart phase what the role knows about systemd units: what triggers a restart
	// or reload of each, and whether it runs (the services role).
	Units []UnitTriggers `json:"units,omitempty"`
	// Deferred steps run in the restart phase, after the daemon-reload and before the restarts:
	// enabling and starting a unit whose unit file a later role (files) writes in the same apply.
	Deferred []Step `json:"deferred,omitempty"`
	// Claims are paths this plan manages that the role's Owns could not name, because only the
	// probe locates them (a file under a home read from the target's passwd). The engine checks
	// them against every role's claims once all roles have planned, before anything is applied.
	Claims []Claim `json:"-"`
}

// Unit states for the restart phase (UnitTriggers.State).
const (
	// UnitRunning: the unit runs and the plan neither starts nor stops it: a trigger restarts it.
	UnitRunning = "running"
	// UnitStarted: the role's steps start it: a change made by a later role (files, after
	// services) still restarts it, one made before it does not.
	UnitStarted = "started"
	// UnitStartedLast: the restart phase starts it (a deferred step, after every write): it reads
	// the new configuration without a restart.
	UnitStartedLast = "started-last"
	// UnitStopped: it does not run (or the plan stops it): there is nothing to restart.
	UnitStopped = "stopped"
)

// UnitTriggers is what a role declares about one systemd unit for the restart phase. Subjects are
// "file:PATH" (a file op on PATH), "package:NAME" (an op whose Packages has NAME) and "unit:NAME"
// (the restart phase restarting or reloading unit NAME).
type UnitTriggers struct {
	Unit string `json:"unit"`
	// Aliases are other names of the unit (sshd.service for ssh.service): a trigger naming one
	// restarts the unit, once.
	Aliases []string `json:"aliases,omitempty"`
	State   string   `json:"state,omitempty"`
	// CanReload is false when the unit has no ExecReload=: a reload is then a restart, with a note.
	CanReload bool     `json:"can_reload,omitempty"`
	RestartOn []string `json:"restart_on,omitempty"`
	ReloadOn  []string `json:"reload_on,omitempty"`
	// Check runs before the restart or reload; when it fails the apply fails and is undone.
	Check []string `json:"check,omitempty"`
	// After are units this one is ordered after (systemd's After=): restarted first when both are.
	After []string `json:"after,omitempty"`
}

// Add appends a step.
func (p *RolePlan) Add(changes []Change, ops ...Op) {
	p.Steps = append(p.Steps, Step{Changes: changes, Ops: ops})
}

// Empty reports whether the plan changes nothing.
func (p *RolePlan) Empty() bool {
	for _, s := range p.Steps {
		if len(s.Ops) > 0 || len(s.Changes) > 0 {
			return false
		}
	}
	return true
}

// Removes reports whether the plan removes anything (the CLI asks before removals).
func (p *RolePlan) Removes() bool {
	for _, s := range p.Steps {
		for _, c := range s.Changes {
			if c.Kind == Del {
				return true
			}
		}
	}
	return false
}

// Capturer is implemented by roles that can describe the target's current state as Ch-obolo data,
// for `chaos init chobolo --from TARGET`: a first apply of the captured Ch-obolo changes nothing.
type Capturer interface {
	// Capture fills the role's sections of into from facts probed with an empty Ch-obolo.
	Capture(env *Env, facts Facts, into *chobolo.Chobolo) error
}

// Settler is implemented by roles whose facts the ops of earlier roles may change in the same apply:
// a package's maintainer script (or a preset) enables a unit that the services role did not see when
// the plan was made. The whole plan is still computed up front (so --dry shows it); during Apply,
// when one of the roles SettleAfter names executed ops, the engine runs this role's probe again,
// right before its steps, and executes the plan Settle returns instead of the approved one.
type Settler interface {
	// SettleAfter names the roles (canonical names) whose ops may change this role's facts, and
	// says how, for the note --dry shows ("packages installed by this plan may enable units").
	SettleAfter() (roles []string, how string)
	// Settle plans again from now, facts probed after those roles ran; approved are the facts the
	// approved plan was computed from. It must return an error rather than a plan that goes beyond
	// what was approved: a removal it adds may only concern an object that did not exist (or was
	// not in the state the removal undoes) in approved, i.e. one the same run created.
	Settle(env *Env, c *chobolo.Chobolo, approved, now Facts) (*RolePlan, error)
}
