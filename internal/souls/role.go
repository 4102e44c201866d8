package souls

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/pathrules"
	"github.com/ch-aos-ch/chaos/internal/shell"
	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// DefaultOrder places a Soul role that declares no order after every built-in role.
const DefaultOrder = 100

// Role is a Soul's role as the engine sees it: an engine.Role like any built-in one. Its probe
// sections and plan come from the Soul's process (through the run's Runtime); everything else
// (dry run, journal, undo, generations, logbook, fleet) is the engine's.
type Role struct {
	soul    *Soul
	spec    soul.RoleSpec
	index   int // in the manifest's roles, for positions
	rt      *Runtime
	explain string
	schema  *keySchema
	// others are the roles this one runs beside (built in and other Souls'): a Soul's op may not
	// touch a path one of them manages.
	others []engine.Role
}

var (
	_ engine.Role          = (*Role)(nil)
	_ engine.ProbeChecker  = (*Role)(nil)
	_ engine.StaticChecker = (*Role)(nil)
)

// Roles returns the roles of souls, served by rt. A Soul role may not take the name, an alias or
// a key of a role in taken (the built-in roles) or of another Soul's role: that Soul is refused
// with an error at its soul.yaml's position, and the others still load.
func Roles(rt *Runtime, souls []*Soul, taken []engine.Role) ([]engine.Role, []error) {
	names := map[string]string{} // name, alias or key -> who has it
	for _, r := range taken {
		m := r.Meta()
		for _, n := range append([]string{m.Name}, m.Aliases...) {
			names["tag "+n] = "the built-in role " + m.Name
		}
		for _, k := range m.Keys {
			names["key "+k] = "the built-in role " + m.Name
		}
	}
	var out []*Role
	var errs []error
	for _, s := range souls {
		var mine []*Role
		var problems []string
		claim := func(kind, v, pos, who string) {
			if prev, ok := names[kind+" "+v]; ok {
				problems = append(problems, fmt.Sprintf("%s: %s %q is taken by %s", pos, kind, v, prev))
				return
			}
			names[kind+" "+v] = who
		}
		for i, spec := range s.Manifest.Roles {
			at := fmt.Sprintf("roles[%d]", i)
			pos := func(k string) string { return cmp.Or(s.Pos[at+k].String(), s.File) }
			who := fmt.Sprintf("role %s of the Soul %s", spec.Name, s.Manifest.Name)
			claim("tag", spec.Name, pos(".name"), who)
			for j, a := range spec.Aliases {
				claim("tag", a, pos(fmt.Sprintf(".aliases[%d]", j)), who)
			}
			for j, k := range spec.Keys {
				claim("key", k, pos(fmt.Sprintf(".keys[%d]", j)), who)
			}
			r := &Role{soul: s, spec: spec, index: i, rt: rt}
			if f, ok := s.Manifest.Explanations[spec.Name]; ok {
				text, err := os.ReadFile(filepath.Join(s.Dir, f))
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", pos(""), err))
				}
				r.explain = string(text)
			}
			if spec.Schema != "" {
				ks, err := loadSchema(filepath.Join(s.Dir, spec.Schema))
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", pos(".schema"), err))
				}
				r.schema = ks
			}
			mine = append(mine, r)
		}
		if len(problems) > 0 {
			errs = append(errs, fmt.Errorf("soul %s refused:\n  %s", s.Manifest.Name, strings.Join(problems, "\n  ")))
			continue
		}
		out = append(out, mine...)
	}
	all := slices.Clone(taken)
	for _, r := range out {
		all = append(all, r)
	}
	roles := make([]engine.Role, len(out))
	for i, r := range out {
		r.others = slices.DeleteFunc(slices.Clone(all), func(o engine.Role) bool { return o == engine.Role(r) })
		roles[i] = r
	}
	return roles, errs
}

// Keys are the top-level Ch-obolo keys roles declare (for the loader's LoadOptions.ExtraKeys).
func Keys(roles []engine.Role) []string {
	var out []string
	for _, r := range roles {
		if sr, ok := r.(*Role); ok {
			out = append(out, sr.spec.Keys...)
		}
	}
	return out
}

// Soul is the Soul that provides the role.
func (r *Role) Soul() *Soul { return r.soul }

// Meta is the role's entry in the manifest.
func (r *Role) Meta() engine.Meta {
	return engine.Meta{Name: r.spec.Name, Aliases: r.spec.Aliases, Keys: r.spec.Keys, Cores: r.spec.Cores,
		Summary: r.spec.Summary + " (Soul " + r.soul.Manifest.Name + ")", Explain: r.explain, Secrets: r.spec.Secrets,
		Order: cmp.Or(r.spec.Order, DefaultOrder)}
}

// ledgerDomain is where chaos records the items of a Soul domain: under the Soul's name, so no
// Soul can read or rewrite a built-in role's ledger or another Soul's.
func (r *Role) ledgerDomain(d string) string { return "soul:" + r.soul.Manifest.Name + ":" + d }

func (r *Role) env(env *engine.Env) soul.Env {
	out := soul.Env{Target: env.Target, Core: env.Core, OS: env.OS, Chroot: env.Chroot, Systemd: env.Systemd,
		ReadOnly: env.ReadOnly, Assume: env.Assume, ProtectedUsers: env.ProtectedUsers}
	for _, d := range r.spec.Domains {
		if items, ok := env.Ledger[r.ledgerDomain(d)]; ok {
			if out.Ledger == nil {
				out.Ledger = map[string][]string{}
			}
			out.Ledger[d] = items
		}
	}
	return out
}

func (r *Role) call(method string, params, result any) error {
	p, err := r.rt.Process(r.rt.ctx, r.soul.Manifest.Name)
	if err != nil {
		return err
	}
	return p.Call(r.rt.ctx, method, params, result)
}

// Probe is ProbeChecked without its error: the engine calls ProbeChecked.
func (r *Role) Probe(env *engine.Env, c *chobolo.Chobolo) []engine.ProbeSection {
	s, _ := r.ProbeChecked(env, c)
	return s
}

// ProbeChecked asks the Soul for the role's probe sections (role.probe) with the role's own keys.
// The engine frames them under the role's name.
func (r *Role) ProbeChecked(env *engine.Env, c *chobolo.Chobolo) ([]engine.ProbeSection, error) {
	keys, err := keysJSON(c, r.spec.Keys)
	if err != nil {
		return nil, err
	}
	var res soul.ProbeResult
	params := soul.ProbeParams{Role: r.spec.Name, Env: r.env(env), Keys: keys}
	for _, d := range r.spec.Domains {
		if params.LedgerItems == nil {
			params.LedgerItems = map[string]string{}
		}
		// braced: one command the fragment can pipe
		params.LedgerItems[d] = "{ " + engine.LedgerItems(r.ledgerDomain(d)) + "; }"
	}
	if err := r.call(soul.MethodRoleProbe, params, &res); err != nil {
		return nil, r.refusal(c, err)
	}
	out := make([]engine.ProbeSection, len(res.Sections))
	for i, s := range res.Sections {
		out[i] = engine.ProbeSection{Name: s.Name, Script: s.Script}
	}
	return out, nil
}

// refusal turns a Soul's refusal of a Ch-obolo value (soul.Invalid) into a diagnostic at that
// value's position; other errors pass as they are (they name the Soul).
func (r *Role) refusal(c *chobolo.Chobolo, err error) error {
	var ce *CallError
	if !errors.As(err, &ce) || ce.Err.Key == "" {
		return err
	}
	return chobolo.Errors{{Pos: keyPos(c, keyPath(ce.Err.Key)), Severity: chobolo.SevError,
		Message: fmt.Sprintf("%s (Soul %s)", ce.Err.Message, r.soul.Manifest.Name)}}
}

// Plan asks the Soul for the role's plan (role.plan) with its keys, its facts and the secrets the
// manifest declares, then checks every op as a built-in role's would be: a plan that breaks a
// rule is an error naming the Soul, and nothing of it runs.
func (r *Role) Plan(env *engine.Env, c *chobolo.Chobolo, facts engine.Facts) (*engine.RolePlan, error) {
	keys, err := keysJSON(c, r.spec.Keys)
	if err != nil {
		return nil, err
	}
	params := soul.PlanParams{Role: r.spec.Name, Env: r.env(env), Keys: keys, Facts: map[string]soul.Output{}}
	for k, v := range facts {
		params.Facts[k] = soul.Output{Stdout: v.Stdout, Code: v.Code}
	}
	if env.Secrets != nil {
		for _, k := range r.spec.Secrets {
			if v, ok := env.Secrets.Get(k); ok {
				if params.Secrets == nil {
					params.Secrets = map[string]string{}
				}
				params.Secrets[k] = v
			}
		}
	}
	var res soul.PlanResult
	if err := r.call(soul.MethodRolePlan, params, &res); err != nil {
		return nil, r.refusal(c, err)
	}
	rp, err := r.convert(env, c, params.Secrets, res)
	if err != nil {
		return nil, fmt.Errorf("soul %s: malformed plan, nothing applied: %w", r.soul.Manifest.Name, err)
	}
	return rp, nil
}

// convert checks a Soul's plan and turns it into the engine's.
func (r *Role) convert(env *engine.Env, c *chobolo.Chobolo, secrets map[string]string, res soul.PlanResult) (*engine.RolePlan, error) {
	rp := &engine.RolePlan{Notes: res.Notes, Guard: res.Guard}
	claims := r.claims(env.Core, c)
	for i, st := range res.Steps {
		var step engine.Step
		for j, ch := range st.Changes {
			switch engine.Kind(ch.Kind) {
			case engine.Add, engine.Del, engine.Modify:
			default:
				return nil, fmt.Errorf("steps[%d].changes[%d]: kind %q: want +, - or ~", i, j, ch.Kind)
			}
			if ch.Subject == "" {
				return nil, fmt.Errorf("steps[%d].changes[%d]: no subject", i, j)
			}
			var pos chobolo.Pos
			if ch.Key != "" {
				segs := keyPath(ch.Key)
				if len(segs) == 0 || !slices.Contains(r.spec.Keys, segs[0]) {
					return nil, fmt.Errorf("steps[%d].changes[%d]: key %q is not one of the role's keys (%s)", i, j, ch.Key, strings.Join(r.spec.Keys, ", "))
				}
				pos = keyPos(c, segs)
			}
			step.Changes = append(step.Changes, engine.Change{Kind: engine.Kind(ch.Kind), Subject: ch.Subject, Detail: ch.Detail, Pos: pos})
		}
		for j, o := range st.Ops {
			op, err := r.op(env, secrets, claims, o, false)
			if err != nil {
				return nil, fmt.Errorf("steps[%d].ops[%d]: %w", i, j, err)
			}
			if op.Kind == engine.OpExec && soul.HandsToShell(op.Argv) {
				rp.Warnings = append(rp.Warnings, fmt.Sprintf("the Soul %s runs a shell command: %s", r.soul.Manifest.Name, op.String()))
			}
			step.Ops = append(step.Ops, op)
		}
		if len(step.Ops) > 0 && len(step.Changes) == 0 {
			return nil, fmt.Errorf("steps[%d]: ops without a change to show", i)
		}
		rp.Steps = append(rp.Steps, step)
	}
	for d, items := range res.Ledger {
		if !slices.Contains(r.spec.Domains, d) {
			return nil, fmt.Errorf("ledger domain %q is not one of the role's domains in %s (%s)", d, r.soul.File, strings.Join(r.spec.Domains, ", "))
		}
		for _, it := range items {
			if it == "" || strings.ContainsAny(it, "\t\n") {
				return nil, fmt.Errorf("ledger domain %q: item %q: empty or with a tab or newline", d, it)
			}
		}
		if rp.Ledger == nil {
			rp.Ledger = map[string][]string{}
		}
		rp.Ledger[r.ledgerDomain(d)] = items
	}
	return rp, nil
}

// userTools are the programs that remove or lock an account: a Soul op naming a protected user
// with one of them is refused, as the users role refuses it.
var userTools = []string{"userdel", "deluser", "usermod", "passwd", "chage", "gpasswd"}

func (r *Role) op(env *engine.Env, secrets map[string]string, claims []engine.OwnedClaim, o soul.Op, undo bool) (engine.Op, error) {
	op := engine.Op{Kind: engine.OpKind(o.Kind), Argv: o.Argv, Env: o.Env, OkCodes: o.OkCodes, Path: o.Path,
		Owner: o.Owner, Group: o.Group, Target: o.Target, Recursive: o.Recursive, Validate: o.Validate, Label: o.Label,
		Irreversible: o.Irreversible, Notify: o.Notify, Reload: o.Reload}
	fileOp := false
	switch op.Kind {
	case engine.OpExec:
		if err := soul.CheckArgv(o.Argv); err != nil {
			return op, fmt.Errorf("exec: %w (or [\"sh\", \"-c\", ...] explicitly)", err)
		}
		for _, e := range o.Env {
			if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
				return op, fmt.Errorf("exec: env %q: want KEY=VALUE", e)
			}
		}
		if slices.Contains(userTools, filepath.Base(o.Argv[0])) {
			for _, u := range env.ProtectedUsers {
				if slices.Contains(o.Argv[1:], u) {
					return op, fmt.Errorf("exec: %s: refusing to change the protected user %s (the user running chaos or connected to the host)", shell.Join(o.Argv), u)
				}
			}
		}
		if o.Stdin != "" {
			if !slices.Contains(r.spec.Secrets, o.Stdin) {
				return op, fmt.Errorf("exec: stdin_secret %q is not one of the role's secrets", o.Stdin)
			}
			v, ok := secrets[o.Stdin]
			if !ok {
				return op, fmt.Errorf("exec: stdin_secret %q: no such secret (run with -s)", o.Stdin)
			}
			op.Stdin, op.Secret = []byte(v), true
		}
		if o.Undo != nil {
			if o.Undo.Kind != string(engine.OpExec) {
				return op, fmt.Errorf("undo: kind %q: an exec op's undo is an exec op (file ops are undone by chaos)", o.Undo.Kind)
			}
			u, err := r.op(env, secrets, claims, *o.Undo, true)
			if err != nil {
				return op, fmt.Errorf("undo: %w", err)
			}
			op.Undo = &u
		}
		if o.Path != "" || o.Content != nil || o.ContentBase64 != "" {
			return op, fmt.Errorf("exec: path and content belong to file ops")
		}
	case engine.OpWrite, engine.OpRemove, engine.OpSymlink, engine.OpMkdir, engine.OpChmod:
		fileOp = true
	default:
		return op, fmt.Errorf("kind %q: want exec, write, remove, symlink, mkdir or chmod", o.Kind)
	}
	if undo && op.Kind != engine.OpExec {
		return op, fmt.Errorf("an undo is an exec op")
	}
	if !fileOp {
		return op, nil
	}
	if o.Undo != nil || len(o.Argv) > 0 || o.Stdin != "" {
		return op, fmt.Errorf("%s %s: argv, stdin_secret and undo belong to exec ops (chaos undoes file ops itself)", o.Kind, o.Path)
	}
	if err := chobolo.ValidAbsPath(o.Path); err != nil {
		return op, fmt.Errorf("%s: %w", o.Kind, err)
	}
	if err := pathrules.Refuse(o.Path, op.Kind == engine.OpRemove); err != nil {
		return op, err
	}
	for _, cl := range claims {
		if engine.Overlap(cl.Claim, engine.Claim{Path: o.Path}) {
			return op, fmt.Errorf("%s %s: %s; give each path one owner", o.Kind, o.Path, cl)
		}
	}
	if o.Mode != "" {
		m, err := pathrules.ParseMode(o.Mode)
		if err != nil {
			return op, fmt.Errorf("%s %s: %w", o.Kind, o.Path, err)
		}
		op.Mode = pathrules.FileMode(m)
	}
	for _, who := range []struct{ v, kind string }{{o.Owner, "owner"}, {o.Group, "group"}} {
		if who.v == "" {
			continue
		}
		check := chobolo.ValidUserName
		if who.kind == "group" {
			check = chobolo.ValidGroupName
		}
		if err := check(who.v); err != nil {
			return op, fmt.Errorf("%s %s: %s: %w", o.Kind, o.Path, who.kind, err)
		}
	}
	switch op.Kind {
	case engine.OpWrite:
		switch {
		case o.Content != nil && o.ContentBase64 != "":
			return op, fmt.Errorf("write %s: give content or content_base64, not both", o.Path)
		case o.Content != nil:
			op.Content = []byte(*o.Content)
		default:
			b, err := base64.StdEncoding.DecodeString(o.ContentBase64)
			if err != nil {
				return op, fmt.Errorf("write %s: content_base64: %w", o.Path, err)
			}
			op.Content = b
		}
	case engine.OpSymlink:
		if o.Target == "" {
			return op, fmt.Errorf("symlink %s: no target", o.Path)
		}
	}
	if op.Kind != engine.OpWrite && (o.Content != nil || o.ContentBase64 != "") {
		return op, fmt.Errorf("%s %s: content belongs to write ops", o.Kind, o.Path)
	}
	return op, nil
}

// claims are the paths the other roles running on core for c manage (engine.Owner).
func (r *Role) claims(core string, c *chobolo.Chobolo) []engine.OwnedClaim {
	var out []engine.OwnedClaim
	for _, o := range r.others {
		own, ok := o.(engine.Owner)
		if !ok {
			continue
		}
		m := o.Meta()
		if !slices.ContainsFunc(m.Keys, c.Has) || (len(m.Cores) > 0 && !slices.Contains(m.Cores, core)) {
			continue
		}
		for _, cl := range own.Owns(core, c) {
			out = append(out, engine.OwnedClaim{Role: m.Name, Claim: cl})
		}
	}
	return out
}

// CheckStatic validates the role's keys against its JSON Schema, without starting the Soul: each
// problem at the FILE:LINE:COL of the offending value.
func (r *Role) CheckStatic(_ string, c *chobolo.Chobolo) []chobolo.Diagnostic {
	if r.schema == nil {
		return nil
	}
	return r.schema.check(c, r.spec.Keys, r.soul.Manifest.Name)
}
