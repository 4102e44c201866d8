package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ch-aos-ch/chaos/internal/transport"
)

// Result is the outcome of applying a HostPlan.
type Result struct {
	Target  string        `json:"target"`
	Changed int           `json:"changed"`
	Ops     int           `json:"ops"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// RolledBack is true when an op failed and the completed ops were undone; false when one of them
	// cannot be undone (NotUndone).
	RolledBack bool `json:"rolled_back,omitempty"`
	// NotUndone names the ops a failed apply's rollback passed over because they cannot be undone
	// (Op.Irreversible): their effect stays on the host.
	NotUndone []string `json:"not_undone,omitempty"`
	// UndoErrors lists inverses that failed during the rollback (the host may need attention).
	UndoErrors []string `json:"undo_errors,omitempty"`
	// Generation is the number of the generation recorded on the host (0 when none was).
	Generation int `json:"generation,omitempty"`
	// Warnings are problems after a successful apply (a generation that could not be recorded).
	Warnings []string `json:"warnings,omitempty"`
	// Snapshot is the read-only btrfs snapshot taken before the apply (Request.Snapshot).
	Snapshot string `json:"snapshot,omitempty"`
	// Watchdog is the journal id of the apply whose access watchdog is armed on the host
	// (Request.Watchdog), waiting for ConfirmAccess; "" when none is.
	Watchdog string `json:"watchdog,omitempty"`
}

// Apply executes a plan under the host lock (req.Lock, or its own), with a write-ahead journal on
// the target: before each op, the op and its inverse (a file's previous content, mode, owner and
// link target; an exec op's role-supplied undo) are recorded and fsync'd. When an op fails, the ops
// already done (and the failed one, which may have done part of its work) are undone in reverse
// order and the error is returned together with a Result saying so. After success a generation is
// recorded on the host. If chaos dies mid-apply, the journal stays behind and Recover rolls the
// host back. A plan with guarded prunes (HostPlan.Guards) is refused unless req.PruneAll.
func (e *Engine) Apply(ctx context.Context, t transport.Transport, hp *HostPlan, req Request) (*Result, error) {
	// The large-prune guard holds whatever a caller's approval said: only PruneAll lifts it.
	if g := hp.Guards(); len(g) > 0 && !req.PruneAll {
		return nil, fmt.Errorf("%s: %s; refusing: a prune this large needs an explicit approval (--prune-all)", hp.Target, strings.Join(g, "; "))
	}

	start := time.Now()
	res := &Result{Target: hp.Target}
	release, err := lockFor(ctx, t, req.Lock)
	if err != nil {
		return nil, err
	}
	defer release()
	if open, err := ReadJournal(ctx, t); err != nil {
		return nil, err
	} else if open != nil {
		return nil, fmt.Errorf("%s: an interrupted apply (journal %s, started %s) must be recovered first: run `chaos recover`",
			hp.Target, open.ID, open.Started.Format(time.RFC3339))
	}
	tp := policyOf(req)
	if err := checkTrees(ctx, t, hp, tp); err != nil {
		return nil, err
	}
	red := newRedactor(req.Secrets, hp)
	ids := &idCache{t: t}
	jw := newJournal(t, req.Tags, sourceOf(req))
	if req.Snapshot {
		if res.Snapshot, err = Snapshot(ctx, t, "pre-"+jw.j.ID); err != nil {
			return nil, err
		}
	}
	var log []*JournalEntry
	var wd *watchdog
	// journal writes an op's entry and, with the watchdog armed (before the first op), its undo
	// step on the host: both exist before the op runs.
	journal := func(je *JournalEntry) error {
		if req.Watchdog != nil && wd == nil {
			systemd := hp.env != nil && hp.env.Systemd
			var err error
			if wd, err = armWatchdog(ctx, t, jw.j.ID, *req.Watchdog, systemd); err != nil {
				return err
			}
		}
		if err := jw.add(ctx, je); err != nil {
			return err
		}
		if wd != nil {
			return wd.add(ctx, je)
		}
		return nil
	}
	fail := func(role string, op Op, err error, failed *JournalEntry) (*Result, error) {
		err = red.error(fmt.Errorf("%s: role %s: %s: %w", hp.Target, role, op, err))
		// Undo must run even when the apply was interrupted.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
		defer cancel()
		jw.j.Error = err.Error()
		_ = jw.setState(uctx, JournalUndoing)
		entries, last := log, -1
		if failed != nil {
			// The failed op may have done part of its work (a package unpacked but not configured,
			// parent directories created): its inverse runs too, as best effort. Writes, symlinks
			// and removals are atomic in the transport: a failed one changed nothing.
			entries, last = append(log, failed), len(log)
		}
		for _, i := range undoOrder(entries) {
			d := entries[i]
			skip := d.Undo == nil && d.Prev == nil ||
				i == last && d.Undo == nil && d.Op.Kind != OpMkdir && d.Op.Kind != OpChmod && d.Prev.Tree == ""
			if skip && d.Op.Irreversible != "" {
				res.NotUndone = append(res.NotUndone, red.text(notUndone(d)))
			}
			if !skip {
				emit(req.Observe, Event{Type: EventUndo, Target: hp.Target, Role: d.Role, Op: red.text(d.Op.String())})
				uerr := e.undoEntry(uctx, t, ids, d, nil)
				switch {
				case uerr == nil:
				case i != last:
					res.UndoErrors = append(res.UndoErrors, fmt.Sprintf("undo %s: %v", d.Op, uerr))
				case d.Op.Kind == OpExec:
					// Expected when the failed op changed nothing (userdel of a user never added).
					res.Warnings = append(res.Warnings, fmt.Sprintf("undo of the failed op %s (it may have changed nothing): %v", d.Op, uerr))
				}
			}
			jw.j.Undone++
			_ = jw.save(uctx)
		}
		_ = jw.close(uctx)
		// The engine undid the apply itself: the host's watchdog has nothing left to do.
		if derr := wd.disarm(uctx); derr != nil {
			res.Warnings = append(res.Warnings, "access watchdog: "+derr.Error())
		}
		res.RolledBack = len(res.NotUndone) == 0
		res.Elapsed = time.Since(start)
		emit(req.Observe, Event{Type: EventDone, Target: hp.Target, Duration: res.Elapsed, Error: err.Error()})
		return res, err
	}
	// executed is the plan that actually runs: hp, with the plans of roles settled during the apply
	// (Settler) in place of the approved ones. It is what the ledger and the generation record; the
	// caller's hp is left as it was approved.
	executed := *hp
	executed.Roles = slices.Clone(hp.Roles)
	var ran []string // roles that executed ops so far
	seq := 0
	for i, rp := range executed.Roles {
		if s, ok := hp.settle[rp.Role]; ok {
			if by := settleTrigger(s, ran); len(by) > 0 {
				nrp, diff, err := e.settle(ctx, t, hp, req, rp, s, by)
				if err != nil {
					return fail(rp.Role, settleOp, err, nil)
				}
				one := &HostPlan{Target: hp.Target, Roles: []*RolePlan{nrp}}
				if err := checkTrees(ctx, t, one, tp); err != nil {
					return fail(rp.Role, settleOp, err, nil)
				}
				executed.Roles[i], rp = nrp, nrp
				red = newRedactor(req.Secrets, &executed)
				if len(diff) > 0 {
					emit(req.Observe, Event{Type: EventReplanned, Target: hp.Target, Role: rp.Role, Notes: red.texts(diff)})
				}
			}
		}
		if slices.ContainsFunc(rp.Steps, func(s Step) bool { return len(s.Ops) > 0 }) {
			ran = append(ran, rp.Role) // its ops all ran once the loop below is through: a failure ends the apply
		}
		for _, step := range rp.Steps {
			for _, op := range step.Ops {
				if err := ctx.Err(); err != nil {
					return fail(rp.Role, op, err, nil)
				}
				seq++
				if err := jw.open(ctx); err != nil {
					return fail(rp.Role, op, err, nil)
				}
				je, err := e.prepare(ctx, t, seq, rp.Role, op, tp)
				if err != nil {
					return fail(rp.Role, op, err, nil)
				}
				if err := journal(je); err != nil {
					return fail(rp.Role, op, err, nil)
				}
				emit(req.Observe, Event{Type: EventOpStart, Target: hp.Target, Role: rp.Role, Op: red.text(op.String())})
				if hook := testHookBeforeOp; hook != nil {
					hook(seq)
				}
				t0 := time.Now()
				out, err := e.runOp(ctx, t, ids, op)
				ev := Event{Type: EventOpEnd, Target: hp.Target, Role: rp.Role, Op: red.text(op.String()), Duration: time.Since(t0)}
				if err != nil {
					ev.Error = red.text(err.Error())
				}
				if !op.Secret {
					ev.Stdout, ev.Stderr = red.text(tail(string(out.Stdout), OutputTail)), red.text(tail(string(out.Stderr), OutputTail))
				}
				emit(req.Observe, ev)
				if err != nil {
					return fail(rp.Role, op, err, je)
				}
				log = append(log, je)
				res.Ops++
			}
			res.Changed += len(step.Changes)
		}
	}
	// The ledger is written as an op of its own, journaled like the others: an apply killed
	// before its commit gets its previous ledger back.
	if data, changed, err := e.ledgerData(&executed); err != nil || changed {
		op := Write(LedgerPath, data, 0o644, "0", "0")
		if err != nil {
			return fail("ledger", op, err, nil)
		}
		seq++
		if err := jw.open(ctx); err != nil {
			return fail("ledger", op, err, nil)
		}
		je, err := e.prepare(ctx, t, seq, "ledger", op, tp)
		if err != nil {
			return fail("ledger", op, err, nil)
		}
		if err := journal(je); err != nil {
			return fail("ledger", op, err, nil)
		}
		if _, err := e.runOp(ctx, t, ids, op); err != nil {
			return fail("ledger", op, err, je)
		}
		log = append(log, je)
	}
	res.Elapsed = time.Since(start)
	staged := false
	if !req.Record.Skip {
		err := jw.open(ctx)
		if err == nil && len(jw.j.Entries) == 0 {
			err = jw.save(ctx) // the stage lives in the journal: it needs a journal to recover
		}
		if err == nil {
			_, err = e.stageGeneration(ctx, t, &executed, req, jw, log, res)
		}
		if err != nil {
			res.Warnings = append(res.Warnings, "generation not recorded: "+err.Error())
			_ = t.Remove(ctx, generationStage, true)
		} else {
			staged = true
		}
	}
	if err := jw.setState(ctx, JournalCommitted); err != nil {
		return fail("journal", Write(JournalFile, nil, 0o600, "root", "root"), err, nil)
	}
	if hook := testHookAfterCommit; hook != nil {
		hook()
	}
	if staged {
		n, err := publishGeneration(ctx, t)
		if err != nil {
			res.Warnings = append(res.Warnings, "generation not recorded: "+err.Error())
		}
		res.Generation = n
	}
	_ = jw.close(ctx)
	if wd != nil {
		res.Watchdog = wd.id
		if res.Generation > 0 {
			if err := wd.setGeneration(ctx, res.Generation); err != nil {
				res.Warnings = append(res.Warnings, "access watchdog: "+err.Error())
			}
		}
	}
	res.Elapsed = time.Since(start)
	emit(req.Observe, Event{Type: EventDone, Target: hp.Target, Duration: res.Elapsed, Generation: res.Generation})
	return res, nil
}

// notUndone names an irreversible op a rollback passed over.
func notUndone(d *JournalEntry) string {
	return fmt.Sprintf("role %s: %s (cannot be undone: %s)", d.Role, d.Op, d.Op.Irreversible)
}

// testHookBeforeOp, when set by a test, runs right before each op (after its journal entry).
var testHookBeforeOp func(seq int)

// testHookAfterCommit, when set by a test, runs right after the commit, before the generation is
// published.
var testHookAfterCommit func()

// OutputTail is how much of an exec op's stdout and stderr (the end of each) its op.end event carries.
const OutputTail = 2000

func runExec(ctx context.Context, t transport.Transport, op Op) (transport.Result, error) {
	if len(op.Argv) == 0 {
		return transport.Result{}, errors.New("empty command")
	}
	res, err := t.Run(ctx, transport.Cmd{Argv: op.Argv, Env: op.Env, Stdin: op.Stdin})
	if err != nil {
		return res, err
	}
	if res.Code != 0 && !slices.Contains(op.OkCodes, res.Code) {
		msg := strings.TrimSpace(string(res.Stderr))
		msg = cmp.Or(msg, strings.TrimSpace(string(res.Stdout)))
		return res, &transport.ExitError{Argv: op.Argv, Code: res.Code, Stderr: tail(msg, 4000)}
	}
	return res, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

func (e *Engine) fileOp(ctx context.Context, t transport.Transport, ids *idCache, op Op) error {
	uid, gid, err := ids.resolve(ctx, op.Owner, op.Group)
	if err != nil {
		return err
	}
	switch op.Kind {
	case OpWrite:
		mode := op.Mode
		if mode == 0 {
			mode = 0o644
		}
		var validate func(string) error
		if len(op.Validate) > 0 {
			validate = func(tmp string) error {
				argv := make([]string, len(op.Validate))
				for i, a := range op.Validate {
					argv[i] = strings.ReplaceAll(a, "%s", tmp)
				}
				_, err := runExec(ctx, t, Op{Kind: OpExec, Argv: argv})
				return err
			}
		}
		return t.WriteFile(ctx, op.Path, op.Content, mode, uid, gid, validate)
	case OpSymlink:
		if err := t.Symlink(ctx, op.Path, op.Target); err != nil {
			return err
		}
		if uid >= 0 || gid >= 0 {
			return t.Chown(ctx, op.Path, uid, gid)
		}
		return nil
	case OpRemove:
		return t.Remove(ctx, op.Path, op.Recursive)
	case OpMkdir, OpChmod:
		if op.Kind == OpMkdir {
			mode := op.Mode
			if mode == 0 {
				mode = 0o755
			}
			if err := t.Mkdir(ctx, op.Path, mode); err != nil {
				return err
			}
		}
		if op.Mode != 0 {
			if err := t.Chmod(ctx, op.Path, op.Mode); err != nil {
				return err
			}
		}
		if uid >= 0 || gid >= 0 {
			return t.Chown(ctx, op.Path, uid, gid)
		}
		return nil
	}
	return fmt.Errorf("unknown file op %q", op.Kind)
}

// topMissing returns the highest ancestor of p (or p itself) that does not exist yet.
func topMissing(ctx context.Context, t transport.Transport, p string) (string, error) {
	top := p
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		fi, err := t.Stat(ctx, dir)
		if err != nil {
			return "", err
		}
		if fi.Exists {
			break
		}
		top = dir
	}
	return top, nil
}

// restore puts path back the way Stat saw it before an op changed it.
func restore(ctx context.Context, t transport.Transport, path string, prev transport.FileInfo) error {
	if !prev.Exists {
		cur, err := t.Stat(ctx, path)
		if err != nil {
			return err
		}
		return t.Remove(ctx, path, cur.Mode.IsDir())
	}
	switch {
	case prev.Mode&fs.ModeSymlink != 0:
		if err := t.Symlink(ctx, path, prev.Target); err != nil {
			return err
		}
		return t.Chown(ctx, path, prev.UID, prev.GID)
	case prev.Mode.IsDir():
		if err := t.Mkdir(ctx, path, prev.Mode.Perm()); err != nil {
			return err
		}
		if err := t.Chmod(ctx, path, prev.Mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return err
		}
		return t.Chown(ctx, path, prev.UID, prev.GID)
	case prev.Mode.IsRegular():
		return t.WriteFile(ctx, path, prev.Content, prev.Mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky),
			prev.UID, prev.GID, nil)
	}
	return fmt.Errorf("%s: cannot restore a %s", path, prev.Mode.Type())
}

// idCache resolves user and group names on the target at execution time: an earlier op of the same
// plan may have created them, so the lookup is refreshed on a miss.
type idCache struct {
	t      transport.Transport
	users  map[string]int
	groups map[string]int
	ugid   map[string]int // a user's primary group
}

func (c *idCache) load(ctx context.Context) error {
	c.users, c.groups, c.ugid = map[string]int{}, map[string]int{}, map[string]int{}
	pw, err := c.t.Stat(ctx, "/etc/passwd")
	if err != nil {
		return err
	}
	for line := range strings.SplitSeq(string(pw.Content), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 4 {
			uid, err1 := strconv.Atoi(f[2])
			gid, err2 := strconv.Atoi(f[3])
			if err1 == nil && err2 == nil {
				c.users[f[0]] = uid
				c.ugid[f[0]] = gid
			}
		}
	}
	gr, err := c.t.Stat(ctx, "/etc/group")
	if err != nil {
		return err
	}
	for line := range strings.SplitSeq(string(gr.Content), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 {
			if gid, err := strconv.Atoi(f[2]); err == nil {
				c.groups[f[0]] = gid
			}
		}
	}
	return nil
}

// resolve returns -1 for an empty name (leave as is). An owner without a group gets the owner's
// primary group, as chown user: does.
func (c *idCache) resolve(ctx context.Context, owner, group string) (int, int, error) {
	if owner == "" && group == "" {
		return -1, -1, nil
	}
	lookup := func(m func() map[string]int, name, what string) (int, error) {
		if n, err := strconv.Atoi(name); err == nil {
			return n, nil
		}
		if c.users == nil {
			if err := c.load(ctx); err != nil {
				return 0, err
			}
		}
		if id, ok := m()[name]; ok {
			return id, nil
		}
		if err := c.load(ctx); err != nil {
			return 0, err
		}
		if id, ok := m()[name]; ok {
			return id, nil
		}
		return 0, fmt.Errorf("no such %s %q on the target", what, name)
	}
	uid, gid := -1, -1
	var err error
	if owner != "" {
		if uid, err = lookup(func() map[string]int { return c.users }, owner, "user"); err != nil {
			return 0, 0, err
		}
		if group == "" {
			if g, ok := c.ugid[owner]; ok {
				gid = g
			}
		}
	}
	if group != "" {
		if gid, err = lookup(func() map[string]int { return c.groups }, group, "group"); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}
