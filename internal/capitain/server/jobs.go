package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// The kinds of jobs, their triggers, and the states of a job and of its hosts.
const (
	KindPlan       = "plan"
	KindApply      = "apply"
	KindRollback   = "rollback"
	KindDriftCheck = "drift-check"

	TriggerUser     = "user"
	TriggerSchedule = "schedule"
	TriggerWebhook  = "webhook"
	TriggerAutoSync = "auto-sync"
	TriggerPoll     = "poll"

	StateQueued    = "queued"
	StateRunning   = "running"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
)

var (
	jobKinds    = map[string]bool{KindPlan: true, KindApply: true, KindRollback: true, KindDriftCheck: true}
	jobTriggers = map[string]bool{TriggerUser: true, TriggerSchedule: true, TriggerWebhook: true, TriggerAutoSync: true, TriggerPoll: true}
)

// JobRequest asks for a job on a project's hosts.
type JobRequest struct {
	Project string `json:"project"`
	// Kind is plan, apply, rollback or drift-check.
	Kind string `json:"kind"`
	// Limit selects hosts with the CLI's --limit syntax ("" is every host of the project).
	Limit string `json:"limit"`
	// ToGeneration is a rollback's generation (0: the one before each host's latest).
	ToGeneration int `json:"to_generation"`
	// ToCommit is a rollback's commit instead: the hosts are applied at that earlier commit of the
	// project (POST /api/v1/projects/{name}/rollback also pins the project there).
	ToCommit string `json:"to_commit,omitempty"`
	// Trigger is user (default), schedule, webhook, poll or auto-sync.
	Trigger string `json:"trigger"`
}

// Job is one run over a project's hosts: one queue job per host.
type Job struct {
	ID           int64  `json:"id"`
	Project      string `json:"project"`
	Kind         string `json:"kind"`
	Limit        string `json:"limit"`
	Trigger      string `json:"trigger"`
	Actor        string `json:"actor"`
	Commit       string `json:"commit"`
	ToGeneration int    `json:"to_generation"`
	ToCommit     string `json:"to_commit,omitempty"`
	// State is queued, running, succeeded, failed or cancelled; CancelRequested is set by a cancel
	// until the running hosts have stopped.
	State           string         `json:"state"`
	CancelRequested bool           `json:"cancel_requested"`
	Hosts           int            `json:"hosts"`
	Counts          map[string]int `json:"counts"`
	Created         time.Time      `json:"created"`
	Started         *time.Time     `json:"started,omitempty"`
	Finished        *time.Time     `json:"finished,omitempty"`
}

// JobHost is one host's part of a job.
type JobHost struct {
	Host string `json:"host"`
	// State is queued, running, or how it ended: changed, unchanged, pending, failed, unreachable,
	// skipped, cancelled.
	State      string `json:"state"`
	Changes    int    `json:"changes"`
	Ops        int    `json:"ops"`
	Generation int    `json:"generation"`
	DurationNS int64  `json:"duration_ns"`
	Error      string `json:"error"`
}

// hostArgs is the queue job of one host of a job.
type hostArgs struct {
	Job  int64  `json:"job"`
	Host string `json:"host"`
}

func (hostArgs) Kind() string { return "capitain_host" }

type hostWorker struct {
	river.WorkerDefaults[hostArgs]
	srv *Server
}

func (w *hostWorker) Work(ctx context.Context, j *river.Job[hostArgs]) error {
	err := w.srv.runHost(ctx, j.Args.Job, j.Args.Host)
	if err != nil && ctx.Err() == nil && j.Attempt >= j.MaxAttempts {
		// River gives up on it: the host fails with the last error, so that the job ends.
		w.srv.log.Error("host job failed for good", "job", j.Args.Job, "host", j.Args.Host, "error", err)
		jb, jerr := w.srv.store.job(ctx, j.Args.Job)
		if jerr == nil {
			if rerr := w.srv.recordHost(ctx, jb, j.Args.Host, hostOutcome{state: StateFailed, err: err.Error()}); rerr == nil {
				return w.srv.finishJob(ctx, j.Args.Job)
			}
		}
	}
	return err
}

func tptr(ns int64) *time.Time {
	if ns == 0 {
		return nil
	}
	t := time.Unix(0, ns).UTC()
	return &t
}

const jobColumns = `id, project, kind, limit_pattern, trigger, actor, commit_sha, to_generation, state, cancel, hosts, created, started, finished, to_commit`

func scanJob(sc interface{ Scan(...any) error }) (*Job, error) {
	var j Job
	var cancel int
	var created, started, finished int64
	if err := sc.Scan(&j.ID, &j.Project, &j.Kind, &j.Limit, &j.Trigger, &j.Actor, &j.Commit, &j.ToGeneration, &j.State, &cancel,
		&j.Hosts, &created, &started, &finished, &j.ToCommit); err != nil {
		return nil, err
	}
	j.CancelRequested = cancel != 0
	j.Created, j.Started, j.Finished = time.Unix(0, created).UTC(), tptr(started), tptr(finished)
	return &j, nil
}

func (s *store) job(ctx context.Context, id int64) (*Job, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, s.q(`SELECT `+jobColumns+` FROM capitain_jobs WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return j, s.countHosts(ctx, j)
}

func (s *store) countHosts(ctx context.Context, j *Job) error {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT state, COUNT(*) FROM capitain_job_hosts WHERE job_id = ? GROUP BY state`), j.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	j.Counts = map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return err
		}
		j.Counts[st] = n
	}
	return rows.Err()
}

// jobFilter selects a page of jobs, newest first.
type jobFilter struct {
	Project, State, Kind, Trigger string
	// Host keeps the jobs that ran on a host of this name.
	Host string
	// Cursor is the previous page's Next; Limit the page size.
	Cursor string
	Limit  int
	// Readable limits the jobs to those of these projects unless ReadAll.
	Readable []string
	ReadAll  bool
}

func (s *store) jobs(ctx context.Context, f jobFilter) ([]*Job, string, error) {
	var where []string
	var args []any
	if !f.ReadAll {
		cond, a := inList("project", f.Readable)
		where, args = append(where, cond), append(args, a...)
	}
	for _, c := range []struct{ col, v string }{{"project", f.Project}, {"state", f.State}, {"kind", f.Kind}, {"trigger", f.Trigger}} {
		if c.v != "" {
			where, args = append(where, c.col+" = ?"), append(args, c.v)
		}
	}
	if f.Host != "" {
		where, args = append(where, "id IN (SELECT job_id FROM capitain_job_hosts WHERE host = ?)"), append(args, f.Host)
	}
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor)
		var id int64
		if err == nil {
			_, err = fmt.Sscan(c.V, &id)
		}
		if err != nil {
			return nil, "", &fieldError{"cursor", "not a cursor this server gave"}
		}
		where, args = append(where, "id < ?"), append(args, id)
	}
	q := `SELECT ` + jobColumns + ` FROM capitain_jobs`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	rows, err := s.db.QueryContext(ctx, s.q(q), append(args, f.Limit+1)...)
	if err != nil {
		return nil, "", err
	}
	var out []*Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			rows.Close()
			return nil, "", err
		}
		out = append(out, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = encodeCursor(cursor{V: fmt.Sprint(out[len(out)-1].ID)})
	}
	for _, j := range out {
		if err := s.countHosts(ctx, j); err != nil {
			return nil, "", err
		}
	}
	return out, next, nil
}

// jobHosts is job id's hosts by name: those after the name after ("": from the first), at most
// limit of them (0: all).
func (s *store) jobHosts(ctx context.Context, id int64, after string, limit int) ([]*JobHost, error) {
	q, args := `SELECT host, state, changes, ops, generation, duration_ns, error FROM capitain_job_hosts WHERE job_id = ? AND host > ? ORDER BY host`, []any{id, after}
	if limit > 0 {
		q, args = q+" LIMIT ?", append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*JobHost{}
	for rows.Next() {
		var h JobHost
		if err := rows.Scan(&h.Host, &h.State, &h.Changes, &h.Ops, &h.Generation, &h.DurationNS, &h.Error); err != nil {
			return nil, err
		}
		out = append(out, &h)
	}
	return out, rows.Err()
}

// CreateJob validates req, selects its hosts at the project's current commit and queues one
// queue job per host (inserted at once). actor is who asked (a principal's name, "schedule", ...).
func (srv *Server) CreateJob(ctx context.Context, req JobRequest, actor string) (*Job, error) {
	if req.Trigger == "" {
		req.Trigger = TriggerUser
	}
	switch {
	case !jobKinds[req.Kind]:
		return nil, &fieldError{"kind", "plan, apply, rollback or drift-check"}
	case !jobTriggers[req.Trigger]:
		return nil, &fieldError{"trigger", "user, schedule, webhook, poll or auto-sync"}
	case req.ToGeneration < 0 || req.ToGeneration != 0 && req.Kind != KindRollback:
		return nil, &fieldError{"to_generation", "a generation number, for a rollback only"}
	case req.ToCommit != "" && (req.Kind != KindRollback || req.ToGeneration != 0 || !commitRE.MatchString(req.ToCommit)):
		return nil, &fieldError{"to_commit", "a full commit id, for a rollback without to_generation only"}
	case len(req.Limit) > 4096:
		return nil, &fieldError{"limit", "too long"}
	}
	p, err := srv.store.project(ctx, req.Project)
	if errors.Is(err, errNotFound) {
		return nil, &fieldError{"project", "no project " + req.Project}
	}
	if err != nil {
		return nil, err
	}
	if p.Commit == "" {
		return nil, &fieldError{"project", "project " + p.Name + " has not been refreshed yet"}
	}
	commit := cmpOr(req.ToCommit, p.Commit)
	lp, err := srv.loaded(ctx, p, commit)
	if err != nil {
		return nil, &fieldError{"project", err.Error()}
	}
	limit := req.Limit
	if strings.TrimSpace(limit) == "" {
		limit = "all"
	}
	selected, err := chaos.SelectHosts(lp.fleet, limit)
	if err != nil {
		return nil, &fieldError{"limit", err.Error()}
	}
	owned, err := srv.store.hostNames(ctx, p.Name)
	if err != nil {
		return nil, err
	}
	var hosts []string
	for _, h := range selected {
		if owned[h.Name] {
			hosts = append(hosts, h.Name)
		}
	}
	if len(hosts) == 0 {
		return nil, &fieldError{"limit", "selects no host of project " + p.Name}
	}
	id, err := srv.insertJob(ctx, req, actor, commit, hosts)
	if err != nil {
		return nil, err
	}
	srv.metrics.jobsCreated.WithLabelValues(req.Kind).Inc()
	return srv.store.job(ctx, id)
}

func (s *store) hostNames(ctx context.Context, project string) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT name FROM capitain_hosts WHERE project = ?`), project)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out[n] = true
	}
	return out, rows.Err()
}

// insertJob writes the job, its hosts and their queue jobs (one per host, inserted at once) in
// one transaction: a job is queued whole or not at all.
func (srv *Server) insertJob(ctx context.Context, req JobRequest, actor, commit string, hosts []string) (int64, error) {
	var id int64
	err := srv.queue.transact(ctx, func(tx txExec) ([]river.InsertManyParams, error) {
		var err error
		id, err = tx.queryInt(ctx, `INSERT INTO capitain_jobs (project, kind, limit_pattern, trigger, actor, commit_sha, to_generation, hosts, created, to_commit)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, req.Project, req.Kind, req.Limit, req.Trigger, actor, commit, req.ToGeneration,
			len(hosts), time.Now().UnixNano(), req.ToCommit)
		if err != nil {
			return nil, err
		}
		q, args, err := srv.auth.AuditStatement(principal(ctx), auth.Entry{Action: "job." + req.Kind, Project: req.Project,
			Target: fmt.Sprintf("job:%d", id), Detail: mustJSON(map[string]any{"limit": req.Limit, "hosts": len(hosts), "commit": commit,
				"trigger": req.Trigger, "to_generation": req.ToGeneration})})
		if err != nil {
			return nil, err
		}
		if err := tx.exec(ctx, q, args...); err != nil {
			return nil, err
		}
		const chunk = 500
		for i := 0; i < len(hosts); i += chunk {
			part := hosts[i:min(i+chunk, len(hosts))]
			var b strings.Builder
			b.WriteString(`INSERT INTO capitain_job_hosts (job_id, host) VALUES `)
			args := make([]any, 0, 2*len(part))
			for k, h := range part {
				if k > 0 {
					b.WriteString(", ")
				}
				b.WriteString("(?, ?)")
				args = append(args, id, h)
			}
			if err := tx.exec(ctx, b.String(), args...); err != nil {
				return nil, err
			}
		}
		params := make([]river.InsertManyParams, len(hosts))
		for i, h := range hosts {
			params[i] = river.InsertManyParams{Args: hostArgs{Job: id, Host: h}, InsertOpts: &river.InsertOpts{MaxAttempts: 10}}
		}
		return params, nil
	})
	if err != nil {
		return 0, fmt.Errorf("queue the job: %w", err)
	}
	return id, nil
}

// CancelJob asks a job to stop: queued hosts are cancelled at once, running hosts stop between
// ops and undo what they did (their context is cancelled within a second).
func (srv *Server) CancelJob(ctx context.Context, id int64) (*Job, error) {
	s := srv.store
	j, err := s.job(ctx, id)
	if err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE capitain_jobs SET cancel = 1 WHERE id = ? AND state IN ('queued', 'running')`), id); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE capitain_job_hosts SET state = 'cancelled', finished = ? WHERE job_id = ? AND state = 'queued'`),
		time.Now().UnixNano(), id); err != nil {
		return nil, err
	}
	if err := srv.audit(ctx, tx, auth.Entry{Action: "job.cancel", Project: j.Project, Target: fmt.Sprintf("job:%d", id),
		Detail: mustJSON(map[string]any{"state": j.State})}); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	if err := srv.finishJob(ctx, id); err != nil {
		return nil, err
	}
	return s.job(ctx, id)
}

// finishJob sets a job's final state once none of its hosts is queued or running.
func (srv *Server) finishJob(ctx context.Context, id int64) error {
	s := srv.store
	now := time.Now().UnixNano()
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE capitain_jobs SET finished = ?, state = CASE
			WHEN cancel = 1 THEN 'cancelled'
			WHEN EXISTS (SELECT 1 FROM capitain_job_hosts WHERE job_id = ? AND state IN ('failed', 'unreachable', 'cancelled', 'skipped')) THEN 'failed'
			ELSE 'succeeded' END
		WHERE id = ? AND state IN ('queued', 'running')
			AND NOT EXISTS (SELECT 1 FROM capitain_job_hosts WHERE job_id = ? AND state IN ('queued', 'running'))`), now, id, id, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		j, err := s.job(ctx, id)
		if err != nil {
			return err
		}
		start := j.Created
		srv.metrics.jobDuration.WithLabelValues(j.Kind, j.State).Observe(time.Duration(now - start.UnixNano()).Seconds())
		srv.hub.signal(id)
		srv.afterJob(context.WithoutCancel(ctx), j)
	}
	return nil
}

// loaded is the project's Ch-obolo and fleet at commit (cached: trees never change).
func (srv *Server) loaded(ctx context.Context, p *Project, commit string) (*loadedProject, error) {
	key := p.Name + "@" + commit + ":" + p.Path
	srv.cacheMu.Lock()
	lp := srv.cache[key]
	srv.cacheMu.Unlock()
	if lp != nil {
		return lp, nil
	}
	src, err := p.source(commit)
	if err != nil {
		return nil, err
	}
	co, err := srv.git.Sync(ctx, p.Name, src)
	if err != nil {
		return nil, err
	}
	lp, probs := srv.load(ctx, co)
	if lp == nil {
		msgs := make([]string, len(probs))
		for i, pr := range probs {
			msgs[i] = pr.Message
			if pr.File != "" {
				msgs[i] = fmt.Sprintf("%s:%d:%d: %s", pr.File, pr.Line, pr.Col, pr.Message)
			}
		}
		return nil, fmt.Errorf("the Ch-obolo at %.12s is invalid: %s", commit, strings.Join(msgs, "; "))
	}
	srv.cacheMu.Lock()
	if len(srv.cache) > 64 {
		clear(srv.cache)
	}
	srv.cache[key] = lp
	srv.cacheMu.Unlock()
	return lp, nil
}

// runHost is the queue worker: it runs one host of a job through pkg/chaos, streams its events to
// the store and records its result. An error (the database, a busy host, the server stopping)
// makes the queue retry it; a host's own failure is its result.
func (srv *Server) runHost(ctx context.Context, id int64, host string) error {
	s := srv.store
	j, err := s.job(ctx, id)
	if errors.Is(err, errNotFound) {
		return nil // the job was deleted
	}
	if err != nil {
		return err
	}
	now := time.Now().UnixNano()
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE capitain_job_hosts SET state = 'running', started = ? WHERE job_id = ? AND host = ? AND state IN ('queued', 'running')`),
		now, id, host)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return srv.finishJob(ctx, id) // done before a crash, or cancelled while queued
	}
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE capitain_jobs SET state = 'running', started = ? WHERE id = ? AND state = 'queued'`), now, id); err != nil {
		return err
	}
	start := time.Now()
	out, runErr := srv.runChaos(ctx, j, host)
	if runErr != nil && ctx.Err() != nil {
		return ctx.Err() // the server is stopping: the host runs again (its journal makes that safe)
	}
	if runErr != nil {
		out.state, out.err = "failed", runErr.Error()
	}
	out.duration = time.Since(start)
	if err := srv.recordHost(context.WithoutCancel(ctx), j, host, out); err != nil {
		return err
	}
	srv.metrics.hostDuration.WithLabelValues(j.Kind, out.state).Observe(out.duration.Seconds())
	return srv.finishJob(context.WithoutCancel(ctx), id)
}

// hostOutcome is what a host's run left.
type hostOutcome struct {
	state, err   string
	changes, ops int
	generation   int
	duration     time.Duration
	probed       time.Time
	core, os     string
	plan         json.RawMessage
}

// runChaos runs the job's kind on host with pkg/chaos, its events going to the store.
func (srv *Server) runChaos(ctx context.Context, j *Job, host string) (hostOutcome, error) {
	var out hostOutcome
	p, err := srv.store.project(ctx, j.Project)
	if err != nil {
		return out, err
	}
	lp, err := srv.loaded(ctx, p, j.Commit)
	if err != nil {
		out.state, out.err = "failed", err.Error()
		return out, nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go srv.watchCancel(ctx, j.ID, cancel)
	ew := srv.newEventWriter(j.ID, host, lp.tree)
	events := func(ev chaos.Event) {
		switch ev.Type {
		case chaos.EventProbed:
			out.probed = ev.Time
		case chaos.EventPlan:
			if ev.Plan != nil {
				out.core = ev.Plan.Core
				out.os = ev.Plan.OS
				if ev.Changes > 0 {
					out.plan, _ = json.Marshal(ev.Plan)
					prefix, _ := json.Marshal(lp.tree + "/")
					out.plan = bytes.ReplaceAll(out.plan, prefix[1:len(prefix)-1], nil)
				}
			}
		case chaos.EventResult:
			if ev.Result != nil {
				out.ops = ev.Result.Ops
			}
		case chaos.EventGeneration:
			if ev.Generation > 0 {
				out.generation = ev.Generation
			}
		}
		ew.add(ev)
	}
	areq := chaos.ApplyRequest{Chobolo: lp.chobolo, Inventory: lp.fleet, Events: events, Job: srv.jobKey(j.ID),
		Dry: j.Kind == KindPlan || j.Kind == KindDriftCheck,
		// A person asked (user), or the project allows removals without one (prune).
		Yes: j.Trigger == TriggerUser || p.Prune, LockWait: 10 * time.Second}
	var awaiting bool
	if !areq.Yes {
		// Removals without prune wait for a human: the host stays OutOfSync with its plan.
		areq.Approve = func(ctx context.Context, pl *chaos.Plan) (chaos.Approval, error) {
			a, err := chaos.Unattended(false, false)(ctx, pl)
			awaiting = err != nil
			return a, err
		}
	}
	var run *chaos.Run
	if j.Kind == KindRollback && j.ToCommit == "" {
		areq.Command = "rollback"
		run, err = srv.ctl.Rollback(ctx, chaos.RollbackRequest{ApplyRequest: areq, Target: host, To: j.ToGeneration})
	} else {
		run, err = srv.ctl.ApplyFleet(ctx, chaos.FleetRequest{ApplyRequest: areq, Limit: host})
	}
	if werr := ew.close(); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return out, err
	}
	if len(run.Hosts) != 1 {
		return out, fmt.Errorf("host %s: %d outcomes", host, len(run.Hosts))
	}
	o := run.Hosts[0]
	out.state, out.err, out.changes = o.Status, o.Error, o.Changes
	switch {
	case out.state == chaos.StatusFailed && cancelledJob(ctx):
		out.state = StateCancelled
	case out.state == chaos.StatusFailed && awaiting:
		out.state = chaos.StatusPending
	}
	return out, nil
}

func cancelledJob(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), errJobCancelled)
}

var errJobCancelled = errors.New("job cancelled")

// watchCancel cancels a running host's context when its job is cancelled (read from the store
// every second, so a cancel on any replica reaches every replica), until ctx ends.
func (srv *Server) watchCancel(ctx context.Context, id int64, cancel context.CancelCauseFunc) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var c int
		err := srv.store.db.QueryRowContext(ctx, srv.store.q(`SELECT cancel FROM capitain_jobs WHERE id = ?`), id).Scan(&c)
		if err == nil && c != 0 {
			cancel(errJobCancelled)
			return
		}
	}
}

// recordHost stores a host's result in the job and the host's sync status.
func (srv *Server) recordHost(ctx context.Context, j *Job, host string, o hostOutcome) error {
	s := srv.store
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE capitain_job_hosts SET state = ?, changes = ?, ops = ?, generation = ?, duration_ns = ?, error = ?, finished = ?
		WHERE job_id = ? AND host = ?`), o.state, o.changes, o.ops, o.generation, int64(o.duration), o.err, time.Now().UnixNano(), j.ID, host); err != nil {
		return err
	}
	status, plan, commit := "", "", ""
	switch o.state {
	case chaos.StatusUnreachable:
		status = StatusUnreachable
	case chaos.StatusFailed:
		status = StatusFailed
	case chaos.StatusPending:
		status, plan = StatusOutOfSync, string(o.plan)
	case chaos.StatusUnchanged, chaos.StatusChanged:
		status = StatusSynced
		if j.Kind == KindApply || j.Kind == KindPlan || j.Kind == KindDriftCheck {
			commit = j.Commit
		}
		if j.Kind == KindRollback && j.ToCommit != "" {
			commit = j.Commit // applied at the commit the project was rolled back (pinned) to
		} else if j.Kind == KindRollback {
			// Back at an earlier generation: no longer what the project's commit says.
			status = StatusOutOfSync
		}
	}
	if status == StatusOutOfSync && o.state == chaos.StatusPending {
		// A host that was not OutOfSync before is new drift: notified once, when the job ends.
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE capitain_job_hosts SET new_drift = 1 WHERE job_id = ? AND host = ?
			AND EXISTS (SELECT 1 FROM capitain_hosts WHERE project = ? AND name = ? AND status <> ?)`),
			j.ID, host, j.Project, host, StatusOutOfSync); err != nil {
			return err
		}
	}
	if status != "" {
		// What this run learnt replaces what was known; what it did not learn stays.
		set := []string{"status = ?", "pending_plan = ?", "error = ?"}
		args := []any{status, plan, o.err}
		if !o.probed.IsZero() {
			set, args = append(set, "probed = ?"), append(args, o.probed.UnixNano())
		}
		for _, c := range []struct {
			col string
			v   any
			ok  bool
		}{{"core", o.core, o.core != ""}, {"os", o.os, o.os != ""}, {"generation", o.generation, o.generation > 0},
			{"synced_commit", commit, commit != ""}} {
			if c.ok {
				set, args = append(set, c.col+" = ?"), append(args, c.v)
			}
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE capitain_hosts SET `+strings.Join(set, ", ")+` WHERE project = ? AND name = ?`),
			append(args, j.Project, host)...)
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// jobKey is the job's name in the generations it makes: unique across Capitain installations.
func (srv *Server) jobKey(id int64) string { return fmt.Sprintf("capitain:%s:%d", srv.instance, id) }
