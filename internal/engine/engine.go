// Package engine runs roles on a target: one probe, pure deltas and plans, then the plan's ops with
// undo on failure. Roles never touch the target themselves.
package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// Request is one apply (or dry run) of a Ch-obolo.
type Request struct {
	Chobolo *chobolo.Chobolo
	// Tags select roles by name or alias; empty means every role with data in the Ch-obolo.
	Tags []string
	// Core overrides core detection (also settable with the Ch-obolo's `core:` key).
	Core string
	// Assume is -y: the user said yes up front.
	Assume bool
	// PruneAll waives the large-prune guard.
	PruneAll bool
	// Allow grants risky steps roles otherwise refuse, by name (Env.Allow): "bootloader-install"
	// (--allow-bootloader-install) lets the bootloader role install a boot loader inside a chroot.
	Allow map[string]bool
	// Secrets are the decrypted secrets (`chaos apply -s`), or nil. Roles see them as Env.Secrets,
	// in Probe too (to decide which facts they need, e.g. the shadow hash of users with a password).
	Secrets SecretStore
	// ReadOnly is a dry run (--dry): the plan is all there is, so nothing at all may be written to
	// the target, not even by the probe (roles see it as Env.ReadOnly).
	ReadOnly bool
	// Observe receives progress events; may be nil.
	Observe func(Event)
	// Lock is the caller's host lock (LockHost), taken through the transport Apply gets, when the
	// caller holds it across recovery, plan and apply; nil: Apply takes the lock itself and releases
	// it when done. A lock taken through another transport is refused.
	Lock *HostLock
	// Skip, when set, is asked about every selected role (by its canonical name); a non-empty answer
	// drops the role before the probe and adds "role NAME: skipped: ANSWER" to the plan's notes.
	// Fleet restrictions (allow_list/black_list) use it.
	Skip func(role string) string
	// Source is the resolved Ch-obolo as YAML (never with secrets): it goes into the journal (for
	// `chaos recover --resume`) and the generation (for `chaos rollback`). Nil asks SourceFunc, else
	// records Chobolo as JSON.
	Source []byte
	// SourceFunc computes Source when an apply has something to record (most runs change nothing).
	SourceFunc func() []byte
	// Record says what generation Apply records after success.
	Record RecordOptions
	// Snapshot takes a read-only btrfs snapshot of the target's root before the first op
	// (`apply --snapshot`); the apply is refused when / is not on btrfs.
	Snapshot bool
	// MaxTreeBackup caps the directory trees recursive removes delete: each is archived on the target
	// first, for its undo, and a plan removing a bigger one is refused before anything changes
	// (0: DefaultMaxTreeBackup). ForceRemove (--force-remove) deletes such trees without a backup.
	MaxTreeBackup int64
	ForceRemove   bool
	// Watchdog, when set, arms the access watchdog on the target before the first op (an apply
	// over SSH whose plan touches access: AccessReasons). The caller then confirms access over a
	// fresh connection (ConfirmAccess) within its timeout, or the host undoes the apply itself.
	Watchdog *WatchdogOptions
}

// RecordOptions describe the generation an apply records on the host.
type RecordOptions struct {
	// Skip records no generation.
	Skip bool
	// Kind is "apply" (default) or "rollback".
	Kind string
	// Of is the generation a rollback restored.
	Of int
	// Keep and MaxBytes bound the generations kept on the host (defaults: DefaultKeep, DefaultMaxBytes).
	Keep     int
	MaxBytes int64
	// Job is the id of the server job (Capitain) the apply belongs to, recorded in the generation
	// so that a retried job finds the apply it already made.
	Job string
}

// HostPlan is the complete plan for one target: what --dry prints and what Apply executes.
type HostPlan struct {
	Target string      `json:"target"`
	Core   string      `json:"core"`
	OS     string      `json:"os,omitempty"`
	Roles  []*RolePlan `json:"roles"`
	Notes  []string    `json:"notes,omitempty"`
	// ProbeTime is how long the single probe of the host took.
	ProbeTime time.Duration `json:"probe_ns"`

	env    *Env
	ledger map[string][]string
	// settle holds, by role name, the roles that may be planned again during Apply (Settler) with the
	// facts their approved plan was computed from.
	settle map[string]settleState
	// after are the planned roles that refresh a cache once an apply succeeds (AfterApplier).
	after []AfterApplier
}

// Env returns the environment the plan was computed for.
func (p *HostPlan) Env() *Env { return p.env }

// Changes counts the changes in the plan.
func (p *HostPlan) Changes() int {
	n := 0
	for _, r := range p.Roles {
		for _, s := range r.Steps {
			n += len(s.Changes)
		}
	}
	return n
}

// Empty reports whether the plan has nothing to do.
func (p *HostPlan) Empty() bool {
	for _, r := range p.Roles {
		if !r.Empty() {
			return false
		}
	}
	return true
}

// Removes reports whether the plan removes anything.
func (p *HostPlan) Removes() bool {
	return slices.ContainsFunc(p.Roles, (*RolePlan).Removes)
}

// Guards returns the reasons that need an explicit confirmation even with -y.
func (p *HostPlan) Guards() []string {
	var out []string
	for _, r := range p.Roles {
		if r.Guard != "" {
			out = append(out, r.Role+": "+r.Guard)
		}
	}
	return out
}

// Engine plans and applies Ch-obolos with the roles of its registry.
type Engine struct {
	Registry *Registry
}

var sectionName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// Plan probes the target once and computes every selected role's plan. It changes nothing.
func (e *Engine) Plan(ctx context.Context, t transport.Transport, req Request) (*HostPlan, error) {
	c := req.Chobolo
	token := newToken()
	var err error

	// The core decides which roles (and so which probe sections) run. When it is not known up front,
	// the script carries every core's sections and picks the right ones on the host, so detecting
	// the core never costs a second round trip.
	core := cmp.Or(req.Core, c.Core)
	detected := false
	if core == "" {
		core, detected = localCore(ctx, t)
	}
	candidates := []string{core}
	if core == "" {
		candidates = CoreNames()
	}
	pre := &Env{Target: t.Name(), Secrets: req.Secrets, ReadOnly: req.ReadOnly}
	if ch, ok := t.(chrooter); ok {
		pre.Chroot = ch.IsChroot()
	}
	byCore := map[string]*coreSelection{}
	var groups []coreSections
	for _, k := range candidates {
		sel := &coreSelection{}
		sel.roles, sel.notes, sel.err = e.Registry.Select(req.Tags, c, k)
		if sel.err == nil && req.Skip != nil {
			sel.roles, sel.notes = skipRoles(req.Skip, sel.roles, sel.notes)
		}
		if sel.err == nil {
			kenv := *pre
			kenv.Core = k
			var notes []string
			sel.roles, sel.needs, sel.served, sel.needsOnly, notes = e.Registry.collectNeeds(sel.roles, &kenv, c, k, req.Skip)
			sel.notes = append(sel.notes, notes...)
			kenv.Needs, kenv.NeedsServed, kenv.NeedsOnly = sel.needs, sel.served, sel.needsOnly
			if sel.sections, err = e.sections(sel.roles, &kenv, c); err != nil {
				return nil, err
			}
			if sel.served {
				sel.sections = append(sel.sections, needsSection(sel.needs)...)
			}
		}
		byCore[k] = sel
		groups = append(groups, coreSections{core: k, sections: sel.sections})
	}
	if core != "" && byCore[core].err != nil {
		return nil, byCore[core].err
	}
	// What no host can make valid (two roles managing one path, a reserved path, ...) is refused
	// before the host is touched when the core is known, else as soon as the probe tells the core
	// (before any role plans).
	if core != "" {
		if err := e.Registry.CheckStatic(c, core); err != nil {
			if detected {
				return nil, fmt.Errorf("%s (%s core): %w", t.Name(), core, err)
			}
			return nil, err
		}
	}
	envSection := ProbeSection{Name: "chaos.env", Script: envProbe}
	start := time.Now()
	var outs map[string]Output
	if core != "" {
		outs, err = probeSections(ctx, t, token, []ProbeSection{envSection}, byCore[core].sections)
	} else {
		outs, err = runProbe(ctx, t, token, probeScriptByCore(token, envSection, groups))
	}
	if err != nil {
		return nil, err
	}
	if err := expectSections(t, outs, []ProbeSection{envSection}); err != nil {
		return nil, err
	}
	// A detected core is checked again against what the probe read, as when the host picks.
	given := core
	if detected {
		given = ""
	}
	env, ledger, err := parseEnv(t, outs["chaos.env"], given)
	if err != nil {
		return nil, err
	}
	env.Assume = req.Assume
	env.ReadOnly = req.ReadOnly
	env.Allow = req.Allow
	env.Secrets = req.Secrets
	sel := byCore[env.Core]
	if sel == nil {
		return nil, fmt.Errorf("%s: the distribution changed during the probe (%s core, was %s)", t.Name(), env.Core, core)
	}
	if sel.err != nil {
		return nil, sel.err
	}
	if given == "" && !detected {
		if err := e.Registry.CheckStatic(c, env.Core); err != nil {
			return nil, fmt.Errorf("%s (%s core): %w", t.Name(), env.Core, err)
		}
	}
	if err := expectSections(t, outs, sel.sections); err != nil {
		return nil, err
	}
	env.Needs, env.NeedsServed, env.NeedsOnly = sel.needs, sel.served, sel.needsOnly
	if sel.served {
		env.Needs = markPresent(env.Needs, outs[needsSectionName])
	}
	roles, notes := sel.roles, sel.notes
	hp := &HostPlan{Target: t.Name(), Core: env.Core, OS: env.OS["PRETTY_NAME"], Notes: notes,
		ProbeTime: time.Since(start), env: env, ledger: ledger}
	emit(req.Observe, Event{Type: EventProbed, Target: t.Name(), Duration: hp.ProbeTime})

	// Every role plans even when an earlier one failed: the plan reports all their errors at once.
	var failed PlanError
	for _, role := range roles {
		name := role.Meta().Name
		rp, err := role.Plan(roleEnv(env, role, c), c, factsFor(name, outs))
		if err != nil {
			failed.Target = t.Name()
			failed.Roles = append(failed.Roles, RoleError{Role: name, Err: err})
			continue
		}
		if rp == nil {
			rp = &RolePlan{}
		}
		rp.Role = name
		hp.Roles = append(hp.Roles, rp)
		env.Installing = append(env.Installing, rp.Installs...)
		env.Refreshing = append(env.Refreshing, rp.Refreshes...)
		if a, ok := role.(AfterApplier); ok {
			hp.after = append(hp.after, a)
		}
		if s, ok := role.(Settler); ok {
			if hp.settle == nil {
				hp.settle = map[string]settleState{}
			}
			hp.settle[name] = settleState{role: role, settler: s, facts: factsFor(name, outs)}
		}
	}
	if len(failed.Roles) > 0 {
		return nil, &failed
	}
	// Paths only the probe could locate are checked against every role's claims here, before the
	// plan is returned (and so before anything is applied).
	if err := CheckPlannedClaims(roles, hp.Roles, c, env.Core); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	// the restart phase runs after every role: daemon-reload, units written by this apply, restarts
	if ph := RestartPhase(hp.Roles, env.Systemd && !env.Chroot); ph != nil {
		for _, rp := range hp.Roles {
			rp.Deferred = nil // moved into the phase
		}
		hp.Roles = append(hp.Roles, ph)
	}
	noteSettles(hp)
	return hp, nil
}

// PlanError lists every role whose plan failed on one target.
type PlanError struct {
	Target string
	Roles  []RoleError
}

// RoleError is one role's planning error.
type RoleError struct {
	Role string
	Err  error
}

// Error prints one line per problem, "TARGET: role NAME: ..."; a role's chobolo.Errors give one
// line each.
func (e *PlanError) Error() string {
	var lines []string
	for _, r := range e.Roles {
		prefix := fmt.Sprintf("%s: role %s: ", e.Target, r.Role)
		var ds chobolo.Errors
		if errors.As(r.Err, &ds) {
			for _, d := range ds {
				lines = append(lines, prefix+d.String())
			}
			continue
		}
		lines = append(lines, prefix+r.Err.Error())
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives errors.Is and errors.As every role's error.
func (e *PlanError) Unwrap() []error {
	out := make([]error, len(e.Roles))
	for i, r := range e.Roles {
		out[i] = r.Err
	}
	return out
}

func (e *Engine) sections(roles []Role, env *Env, c *chobolo.Chobolo) ([]ProbeSection, error) {
	var out []ProbeSection
	for _, role := range roles {
		name := role.Meta().Name
		secs, err := roleSections(role, roleEnv(env, role, c), c)
		if err != nil {
			return nil, fmt.Errorf("role %s: %w", name, err)
		}
		for _, s := range secs {
			if !sectionName.MatchString(s.Name) {
				return nil, fmt.Errorf("role %s: bad probe section name %q", name, s.Name)
			}
			s.Name = name + "." + s.Name
			out = append(out, s)
		}
	}
	return out, nil
}

// roleSections asks role for its sections, through ProbeChecker when it can fail.
func roleSections(role Role, env *Env, c *chobolo.Chobolo) ([]ProbeSection, error) {
	if pc, ok := role.(ProbeChecker); ok {
		return pc.ProbeChecked(env, c)
	}
	return role.Probe(env, c), nil
}

// skipRoles drops the roles skip gives a reason for, noting why.
func skipRoles(skip func(string) string, roles []Role, notes []string) ([]Role, []string) {
	var kept []Role
	for _, r := range roles {
		name := r.Meta().Name
		if why := skip(name); why != "" {
			notes = append(notes, fmt.Sprintf("role %s: skipped: %s", name, why))
			continue
		}
		kept = append(kept, r)
	}
	return kept, notes
}

// coreSelection is what the registry selected for one candidate core.
type coreSelection struct {
	roles    []Role
	notes    []string
	sections []ProbeSection
	err      error
	// needs are what the roles need installed (Needer); served when a packages role runs,
	// needsOnly when it runs for them only.
	needs             []Need
	served, needsOnly bool
}

func runProbe(ctx context.Context, t transport.Transport, token, script string) (map[string]Output, error) {
	if path := os.Getenv(DebugProbeEnv); path != "" {
		debugProbe(path, script)
	}
	res, err := t.Run(ctx, transport.Cmd{Argv: []string{"/bin/sh", "-s"}, Stdin: []byte(script)})
	if err != nil {
		return nil, fmt.Errorf("%s: probe: %w", t.Name(), err)
	}
	outs, err := parseProbe(token, string(res.Stdout))
	if err != nil {
		return nil, fmt.Errorf("%s: probe: %w (stderr: %s)", t.Name(), err, strings.TrimSpace(string(res.Stderr)))
	}
	if len(outs) == 0 {
		return nil, fmt.Errorf("%s: probe printed nothing (exit %d, stderr: %s)", t.Name(), res.Code,
			strings.TrimSpace(string(res.Stderr)))
	}
	return outs, nil
}

// probeSections probes head and secs on t in one round trip, head first: the sections of secs
// with a native answer (ProbeSection.Native) are answered in-process while the script of the rest
// runs, when t reads its files itself (transport.TreeReader); else everything is in the script.
func probeSections(ctx context.Context, t transport.Transport, token string, head, secs []ProbeSection) (map[string]Output, error) {
	var tree *transport.Tree
	if tr, ok := t.(transport.TreeReader); ok && slices.ContainsFunc(secs, func(s ProbeSection) bool { return s.Native != nil }) {
		tree, _ = tr.Tree()
	}
	script := slices.Clone(head)
	var native []ProbeSection
	for _, s := range secs {
		if s.Native != nil && tree != nil {
			native = append(native, s)
		} else {
			script = append(script, s)
		}
	}
	answers := make([]Output, len(native))
	errs := make([]error, len(native))
	var wg sync.WaitGroup
	for i, s := range native {
		wg.Go(func() {
			out, err := s.Native.Answer(ctx, t, tree)
			answers[i], errs[i] = Output{Stdout: out}, err
		})
	}
	outs := map[string]Output{}
	var err error
	if len(script) > 0 {
		outs, err = runProbe(ctx, t, token, probeScript(token, script))
	}
	wg.Wait()
	if err != nil {
		return nil, err
	}
	for i, s := range native {
		if errs[i] != nil {
			return nil, fmt.Errorf("%s: probe: section %s: %w", t.Name(), s.Name, errs[i])
		}
		outs[s.Name] = answers[i]
	}
	return outs, nil
}

func expectSections(t transport.Transport, outs map[string]Output, sections []ProbeSection) error {
	for _, s := range sections {
		if _, ok := outs[s.Name]; !ok {
			return fmt.Errorf("%s: probe: section %s missing", t.Name(), s.Name)
		}
	}
	return nil
}

// DebugProbeEnv names a file to which every probe script chaos runs is appended, exactly as it is
// sent to `sh -s` on the target (for benchmarks that time the raw probe, and for debugging). The
// script holds no secrets.
const DebugProbeEnv = "CHAOS_DEBUG_PROBE"

func debugProbe(path, script string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	_, _ = f.WriteString(script)
	_ = f.Close()
}

// chrooter is implemented by transports that are directory trees.
type chrooter interface{ IsChroot() bool }

// localCore detects the target's core before the probe when the target is this machine's own file
// system (local, chroot, nsenter: the transports that are directory trees, where reading a file
// costs no round trip and no process), so that the probe carries only that core's sections (a
// Debian root was sent the Arch and Fedora sections too). It reads os-release as the env section
// does (/etc first, symlinks followed inside the target) and says false when it cannot tell: the
// probe then picks the core on the host, and reports a missing or unsupported distribution.
func localCore(ctx context.Context, t transport.Transport) (string, bool) {
	if _, ok := t.(chrooter); !ok {
		return "", false
	}
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		fi, err := t.Stat(ctx, p)
		for hops := 0; err == nil && fi.Exists && fi.Target != "" && hops < 8; hops++ {
			if !path.IsAbs(fi.Target) {
				p = path.Join(path.Dir(p), fi.Target)
			} else {
				p = path.Clean(fi.Target)
			}
			fi, err = t.Stat(ctx, p)
		}
		if err != nil || !fi.Exists || !fi.Mode.IsRegular() {
			continue
		}
		osr := map[string]string{}
		for line := range strings.SplitSeq(string(fi.Content), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				osr[k] = strings.Trim(v, `"'`)
			}
		}
		core, err := DetectCore(osr)
		return core, err == nil
	}
	return "", false
}

func parseEnv(t transport.Transport, out Output, core string) (*Env, map[string][]string, error) {
	env := &Env{Target: t.Name(), OS: map[string]string{}}
	if c, ok := t.(chrooter); ok {
		env.Chroot = c.IsChroot()
	}
	var ledgerText string
	lines := strings.Split(out.Stdout, "\n")
	for i, line := range lines {
		switch {
		case line == "@ledger":
			ledgerText = strings.Join(lines[i+1:], "\n")
		case strings.HasPrefix(line, "@user="):
			addProtected(env, strings.TrimPrefix(line, "@user="))
		case strings.HasPrefix(line, "@sudo_user="):
			addProtected(env, strings.TrimPrefix(line, "@sudo_user="))
		case strings.HasPrefix(line, "@ssh_user="):
			addProtected(env, strings.TrimPrefix(line, "@ssh_user="))
		case line == "@systemd=1":
			env.Systemd = !env.Chroot
		default:
			if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "@") {
				env.OS[k] = strings.Trim(v, `"'`)
			}
		}
		if ledgerText != "" {
			break
		}
	}
	ledger := map[string][]string{}
	if ledgerText != "" {
		var err error
		if ledger, err = ParseLedger([]byte(ledgerText)); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", t.Name(), err)
		}
	}
	env.Ledger = ledger
	if core == "" {
		var err error
		if core, err = DetectCore(env.OS); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", t.Name(), err)
		}
	}
	env.Core = core
	return env, ledger, nil
}

func addProtected(env *Env, user string) {
	if user != "" && !slices.Contains(env.ProtectedUsers, user) {
		env.ProtectedUsers = append(env.ProtectedUsers, user)
	}
}

// coreIDs maps /etc/os-release IDs to cores. DetectCore and the probe's own detection (for a
// probe that carries every core's sections) are both generated from it.
var coreIDs = []struct {
	core string
	ids  []string
}{
	{"debian", []string{"debian", "ubuntu"}},
	{"arch", []string{"arch", "archlinux"}},
	{"fedora", []string{"fedora", "rhel", "centos"}},
}

// CoreNames lists the cores chaos knows.
func CoreNames() []string {
	var out []string
	for _, c := range coreIDs {
		out = append(out, c.core)
	}
	return out
}

// DetectCore maps /etc/os-release fields to a core: ID first, then each ID_LIKE entry.
func DetectCore(osr map[string]string) (string, error) {
	ids := append([]string{osr["ID"]}, strings.Fields(osr["ID_LIKE"])...)
	for _, id := range ids {
		for _, c := range coreIDs {
			if slices.Contains(c.ids, id) {
				return c.core, nil
			}
		}
	}
	if osr["ID"] == "" {
		return "", fmt.Errorf("cannot detect the distribution: no /etc/os-release (set `core:` in the Ch-obolo or pass --core)")
	}
	return "", fmt.Errorf("unsupported distribution %q (ID_LIKE %q): set `core:` in the Ch-obolo or pass --core debian|arch|fedora",
		osr["ID"], osr["ID_LIKE"])
}

// factsFor picks a role's sections out of the probe output, without the role prefix.
func factsFor(role string, outs map[string]Output) Facts {
	facts := Facts{}
	prefix := role + "."
	for k, v := range outs {
		if after, ok := strings.CutPrefix(k, prefix); ok {
			facts[after] = v
		}
	}
	return facts
}
