package chaos

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/fleet"
	"github.com/ch-aos-ch/chaos/internal/textdiff"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// Generation is one recorded state of a target (docs/generations.md).
type Generation = engine.Generation

// Recovery says how an interrupted apply was handled.
type Recovery = engine.Recovery

// Open opens a target spec (@local, @chroot/PATH, @pid/N, a container or tool connector, or
// [user@]host[:port] with strict known_hosts) outside a run, e.g. to read its generations.
// readOnly connects for reading only. Controller.Open also reaches the Souls' connectors.
func Open(ctx context.Context, spec string, readOnly bool) (Target, error) {
	return (&Controller{}).Open(ctx, spec, readOnly)
}

// Open is the package's Open with the controller's Souls' connectors.
func (c *Controller) Open(ctx context.Context, spec string, readOnly bool) (Target, error) {
	return c.openSpec(ctx, cmp.Or(spec, "@local"), nil, fleet.ConnectOptions{}, readOnly)
}

// Generations lists the generations recorded on t, oldest first.
func Generations(ctx context.Context, t transport.Transport) ([]Generation, error) {
	return engine.ReadGenerations(ctx, t)
}

// GenerationFile reads one file generation n recorded on t: "meta.json", "chobolo.yml" (the
// resolved Ch-obolo), "facts.json", "plan.json" or "journal.json".
func GenerationFile(ctx context.Context, t transport.Transport, n int, name string) ([]byte, error) {
	return engine.ReadGenerationFile(ctx, t, n, name)
}

// GenerationDiff is what changed from generation From to generation To of a target: their
// recorded Ch-obolos line by line (textdiff: " ", "-" or "+" and the line), and the files the
// generations after the lower one up to the higher one touched.
type GenerationDiff struct {
	From      int      `json:"from"`
	To        int      `json:"to"`
	Chobolo   []string `json:"chobolo"`
	Between   []int    `json:"generations_between"`
	Files     []string `json:"files"`
	Identical bool     `json:"identical"`
}

// DiffGenerations compares generations from and to recorded on t (gens: Generations(t)).
func DiffGenerations(ctx context.Context, t transport.Transport, gens []Generation, from, to int) (*GenerationDiff, error) {
	src := [2][]string{}
	for i, n := range []int{from, to} {
		b, err := engine.ReadGenerationFile(ctx, t, n, "chobolo.yml")
		if err != nil {
			return nil, err
		}
		if s := strings.TrimRight(string(b), "\n"); s != "" {
			src[i] = strings.Split(s, "\n")
		}
	}
	d := &GenerationDiff{From: from, To: to, Chobolo: textdiff.Lines(src[0], src[1]), Between: []int{}, Files: []string{}}
	d.Identical = !slices.ContainsFunc(d.Chobolo, func(l string) bool { return l[0] == '+' || l[0] == '-' })
	lo, hi := min(from, to), max(from, to)
	for _, g := range gens {
		if g.N > lo && g.N <= hi {
			d.Between = append(d.Between, g.N)
			for _, f := range g.Files {
				if !slices.Contains(d.Files, f) {
					d.Files = append(d.Files, f)
				}
			}
		}
	}
	slices.Sort(d.Files)
	return d, nil
}

// Capture probes t once with every role that can describe it and returns a Ch-obolo of the
// target as it is (applying it unchanged changes nothing). core forces the core ("": detect).
func (c *Controller) Capture(ctx context.Context, t transport.Transport, core string) (*Chobolo, error) {
	return c.engine().Capture(ctx, t, core)
}

// RollbackRequest is a rollback of one target to an earlier generation.
type RollbackRequest struct {
	ApplyRequest
	// Target is the one target (Targets is ignored; "" is @local).
	Target string
	// To is the generation to go back to (0: the one before the latest).
	To int
	// UseSnapshot restores the btrfs snapshot taken after generation To as the default subvolume
	// for the next boot, instead of applying generation To's Ch-obolo.
	UseSnapshot bool
}

// Rollback brings the target back to generation To: the files that generation recorded are
// restored from their backups, then its Ch-obolo is applied, with the same lock, recovery,
// approval, journal, undo and access confirmation as an apply; the result is a new generation of
// kind "rollback".
func (c *Controller) Rollback(ctx context.Context, req RollbackRequest) (*Run, error) {
	spec := cmp.Or(req.Target, "@local")
	if _, err := transport.ParseSpec(spec); err != nil {
		return nil, err
	}
	req.Command = "rollback"
	req.Chobolo = nil
	r := c.startRun(ctx, &req.ApplyRequest, 1)
	j := c.job(req.ApplyRequest, spec, func(ctx context.Context, readOnly bool) (transport.Transport, error) {
		return c.openSpec(ctx, spec, req.Inventory, req.Connect, readOnly)
	})
	j.emit = r.emit
	var g Generation
	j.plan = func(ctx context.Context, t transport.Transport, ereq *engine.Request) (*Plan, error) {
		if req.UseSnapshot {
			return nil, c.restoreSnapshot(ctx, j, t, req)
		}
		hp, gen, err := c.planRollback(ctx, t, req.To, ereq)
		g = gen
		return hp, err
	}
	j.decorate = func(ev *Event) {
		ev.RollbackTo = g.N
		if ev.Type == engine.EventPlan {
			ev.Message = fmt.Sprintf("rollback to generation %d (%s)", g.N, g.Time.Local().Format(time.DateTime))
		}
	}
	if req.UseSnapshot {
		j.req.AskFirst = false
	}
	out, hp := j.run(ctx)
	r.done(out, hp)
	return r.finish(), nil
}

// errSnapshotDone ends a snapshot rollback's job (restored, or with Dry would be): the restore is
// not a plan.
var errSnapshotDone = errors.New("snapshot restored")

// rollbackGeneration reads the generations of t and picks the one to go back to (to, else the one
// before the latest).
func rollbackGeneration(ctx context.Context, t transport.Transport, to int) ([]Generation, Generation, error) {
	gens, err := engine.ReadGenerations(ctx, t)
	if err != nil {
		return nil, Generation{}, err
	}
	if len(gens) == 0 {
		return nil, Generation{}, fmt.Errorf("%s: no generations recorded: nothing to roll back to", t.Name())
	}
	if to == 0 {
		if len(gens) < 2 {
			return nil, Generation{}, fmt.Errorf("%s: only generation %d is recorded: nothing before it (use --to N)", t.Name(), gens[0].N)
		}
		to = gens[len(gens)-2].N
	}
	g, err := engine.FindGeneration(gens, to)
	if err != nil {
		return nil, Generation{}, fmt.Errorf("%s: %w", t.Name(), err)
	}
	return gens, g, nil
}

// planRollback plans the rollback to generation to: its files restored from their backups, then
// its Ch-obolo applied. It fills ereq's Chobolo, Tags, Source and Record.
func (c *Controller) planRollback(ctx context.Context, t transport.Transport, to int, ereq *engine.Request) (*Plan, Generation, error) {
	_, g, err := rollbackGeneration(ctx, t, to)
	if err != nil {
		return nil, g, err
	}
	src, err := engine.ReadGenerationFile(ctx, t, g.N, "chobolo.yml")
	if err != nil {
		return nil, g, err
	}
	ch, err := chobolo.LoadRecorded(fmt.Sprintf("generation %d", g.N), src, c.roleKeys()...)
	if err != nil {
		return nil, g, err
	}
	eng := c.engine()
	files, err := eng.RollbackFiles(ctx, t, g.N)
	if err != nil {
		return nil, g, err
	}
	ereq.Chobolo, ereq.Tags, ereq.Source, ereq.SourceFunc = ch, g.Tags, src, nil
	ereq.Record = engine.RecordOptions{Kind: "rollback", Of: g.N, Keep: ereq.Record.Keep, MaxBytes: ereq.Record.MaxBytes,
		Job: ereq.Record.Job}
	hp, err := eng.Plan(ctx, t, *ereq)
	if err != nil {
		return nil, g, err
	}
	late := engine.LeaveToRoles(files, hp.Roles)
	if !files.Empty() || len(files.Notes) > 0 {
		hp.Roles = append([]*engine.RolePlan{files}, hp.Roles...)
	}
	if late != nil {
		hp.Roles = append(hp.Roles, late)
	}
	return hp, g, nil
}

// restoreSnapshot makes the snapshot taken after generation To the default subvolume (the lock is
// held and an interrupted apply recovered, unless dry).
func (c *Controller) restoreSnapshot(ctx context.Context, j *job, t transport.Transport, req RollbackRequest) error {
	gens, g, err := rollbackGeneration(ctx, t, req.To)
	if err != nil {
		return err
	}
	var snap string
	for _, x := range gens {
		if x.N > g.N {
			snap = x.Snapshot
			if snap == "" {
				return fmt.Errorf("%s: generation %d was applied without --snapshot: no snapshot of the state after generation %d", t.Name(), x.N, g.N)
			}
			break
		}
	}
	if snap == "" {
		return fmt.Errorf("%s: generation %d is the latest: nothing to restore", t.Name(), g.N)
	}
	j.message(t.Name(), "", "restore %s (the state right after generation %d) as the default btrfs subvolume for the next boot", snap, g.N)
	if err := engine.CheckSnapshotBoot(ctx, t); err != nil {
		return err
	}
	if req.Dry {
		return errSnapshotDone
	}
	if !req.Yes {
		return fmt.Errorf("%s: rollback --snapshot changes the default subvolume; refusing without -y", t.Name())
	}
	r, err := engine.RestoreSnapshot(ctx, t, snap)
	if err != nil {
		return err
	}
	if r.Fstab != "" {
		j.message(t.Name(), "", "%s/etc/fstab mounts it as /: %s", r.Path, r.Fstab)
	}
	j.message(t.Name(), "", "%s (subvolume %s) is now the default subvolume: reboot (or mount the filesystem without subvol=) to use it", r.Path, r.ID)
	return errSnapshotDone
}

// RecoverRequest finishes an interrupted apply on one target.
type RecoverRequest struct {
	// Target is the target spec ("" is @local).
	Target string
	// Resume rolls forward (applies the interrupted apply's Ch-obolo again) instead of back;
	// Apply shapes that apply (Approve, Yes, Keep, ...).
	Resume bool
	Apply  ApplyRequest
	Events func(Event)
}

// Recover rolls back (or, with Resume, forward) an apply that was interrupted on the target. The
// recovery is nil when there was nothing to recover. A resume applies the interrupted apply's
// Ch-obolo under the same host lock, and its run is returned.
func (c *Controller) Recover(ctx context.Context, req RecoverRequest) (*Recovery, *Run, error) {
	spec := cmp.Or(req.Target, "@local")
	open := func(ctx context.Context, readOnly bool) (transport.Transport, error) {
		return c.openSpec(ctx, spec, req.Apply.Inventory, req.Apply.Connect, readOnly)
	}
	t, err := open(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	defer t.Close()
	lock, err := engine.LockHost(ctx, t, engine.LockOptions{Wait: req.Apply.LockWait})
	if err != nil {
		return nil, nil, err
	}
	defer lock.Release()
	rec, err := c.engine().Recover(ctx, t, engine.RecoverOptions{Resume: req.Resume, Lock: lock})
	if err != nil {
		return nil, nil, err
	}
	j := &job{c: c, spec: spec, emit: req.Events}
	ws, err := engine.SettleWatchdog(ctx, t)
	j.reportWatchdog(t.Name(), ws)
	if err != nil {
		return rec, nil, err
	}
	j.send(Event{Type: engine.EventRecovered, Target: t.Name(), Recovery: rec})
	if rec == nil || rec.Action != "resume" {
		return rec, nil, nil
	}
	ch, err := chobolo.LoadRecorded("the interrupted apply's Ch-obolo", rec.Source, c.roleKeys()...)
	if err != nil {
		return rec, nil, err
	}
	areq := req.Apply
	areq.Chobolo, areq.Tags, areq.Events = ch, rec.Journal.Tags, req.Events
	areq.Command = "recover --resume"
	r := c.startRun(ctx, &areq, 1)
	// The resume works through t, the transport the lock was taken through (a lock covers the
	// commands of its own connection only); a fresh connection confirms access, if needed.
	rj := c.job(areq, spec, open)
	rj.lock, rj.held, rj.emit = lock, t, r.emit
	out, hp := rj.run(ctx)
	r.done(out, hp)
	return rec, r.finish(), nil
}
