package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
	"github.com/ch-aos-ch/chaos/internal/capitain/gitsync"
	"github.com/ch-aos-ch/chaos/internal/capitain/notify"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// ProjectSettings are a project's GitOps settings beside its repository. Credentials and the
// webhook secret are named (a file or an environment variable of the server): the database keeps
// the names, never the secrets.
type ProjectSettings struct {
	Credentials   GitCredentials `json:"credentials,omitzero"`
	WebhookSecret notify.Secret  `json:"webhook_secret,omitzero"`
	// Windows allow or deny automatic syncs (auto policy, selfHeal, sync schedules) by time.
	Windows   []SyncWindow `json:"windows,omitempty"`
	Retention Retention    `json:"retention,omitzero"`
}

// GitCredentials authenticate the project's fetches: an SSH deploy key with the server's
// known_hosts for ssh URLs, a token (HTTP basic auth password) for https URLs.
type GitCredentials struct {
	SSHKey           notify.Secret `json:"ssh_key,omitzero"`
	SSHKeyPassphrase notify.Secret `json:"ssh_key_passphrase,omitzero"`
	KnownHosts       notify.Secret `json:"known_hosts,omitzero"`
	// Username goes with Token ("" is sent as "git"; GitHub: x-access-token, GitLab: oauth2).
	Username string        `json:"username,omitempty"`
	Token    notify.Secret `json:"token,omitzero"`
}

// SyncWindow is gitsync.Window with a duration people write ("2h").
type SyncWindow struct {
	Kind       string `json:"kind"`
	Schedule   string `json:"schedule"`
	Duration   string `json:"duration"`
	ManualSync bool   `json:"manual_sync,omitempty"`
	TimeZone   string `json:"time_zone,omitempty"`
}

// Retention bounds what a project keeps of its finished jobs (their hosts and events go with
// them): the newest MaxJobs, and none older than MaxAge. Zero keeps everything.
type Retention struct {
	MaxJobs int    `json:"max_jobs,omitempty"`
	MaxAge  string `json:"max_age,omitempty"`
}

func (w SyncWindow) window() gitsync.Window {
	d, _ := time.ParseDuration(w.Duration)
	return gitsync.Window{Kind: w.Kind, Schedule: w.Schedule, Duration: d, ManualSync: w.ManualSync, TimeZone: w.TimeZone}
}

func (s *ProjectSettings) validate() error {
	for _, c := range []struct {
		field string
		v     notify.Secret
	}{{"credentials.ssh_key", s.Credentials.SSHKey}, {"credentials.ssh_key_passphrase", s.Credentials.SSHKeyPassphrase},
		{"credentials.known_hosts", s.Credentials.KnownHosts}, {"credentials.token", s.Credentials.Token}, {"webhook_secret", s.WebhookSecret}} {
		if c.v.File != "" && c.v.Env != "" {
			return &fieldError{c.field, "file or env, not both"}
		}
	}
	if !s.Credentials.SSHKey.IsZero() && s.Credentials.KnownHosts.IsZero() {
		return &fieldError{"credentials.known_hosts", "an SSH deploy key needs the server's known_hosts (no trust on first use)"}
	}
	for i, w := range s.Windows {
		d, err := time.ParseDuration(w.Duration)
		if err == nil && d <= 0 {
			err = errors.New("not positive")
		}
		if err == nil {
			err = w.window().Validate()
		}
		if err != nil {
			return &fieldError{fmt.Sprintf("windows[%d]", i), err.Error()}
		}
	}
	if s.Retention.MaxJobs < 0 {
		return &fieldError{"retention.max_jobs", "a number of jobs, 0 for no limit"}
	}
	if s.Retention.MaxAge != "" {
		if d, err := time.ParseDuration(s.Retention.MaxAge); err != nil || d <= 0 {
			return &fieldError{"retention.max_age", "a duration such as 720h"}
		}
	}
	return nil
}

// source is where the project's Ch-obolo is at commit ("": what its ref names now), with its
// credentials read from their files or variables now (a rotated key is used at the next fetch).
func (p *Project) source(commit string) (gitsync.Source, error) {
	src := gitsync.Source{URL: p.Repo, Ref: p.Ref, Commit: commit, Path: p.Path}
	c := p.Credentials
	var err error
	read := func(s notify.Secret, what string) []byte {
		if s.IsZero() || err != nil {
			return nil
		}
		var v []byte
		if v, err = s.Read(); err != nil {
			err = fmt.Errorf("project %s: %s: %w", p.Name, what, err)
		}
		return v
	}
	src.Auth.SSHKey = read(c.SSHKey, "credentials.ssh_key")
	src.Auth.SSHKeyPassphrase = string(read(c.SSHKeyPassphrase, "credentials.ssh_key_passphrase"))
	src.Auth.KnownHosts = read(c.KnownHosts, "credentials.known_hosts")
	if tok := read(c.Token, "credentials.token"); tok != nil {
		src.Auth.Username, src.Auth.Password = c.Username, string(tok)
	}
	return src, err
}

// maySync answers whether an automatic sync (not a human's) may run now.
func (p *Project) maySync(now time.Time) bool {
	ws := make([]gitsync.Window, len(p.Windows))
	for i, w := range p.Windows {
		ws[i] = w.window()
	}
	ok, err := gitsync.MaySync(ws, now, false)
	return err == nil && ok
}

// Sync brings a project to commit ("": its ref's commit now) as a new commit from a webhook, a
// poll or a schedule does: validate the Ch-obolo (its problems stay on the project; nothing runs)
// and, when the project moved to that commit, plan every host with a drift-check job; the job's
// end decides the automatic apply (afterJob). It returns the job, or nil when the project did not
// move or the Ch-obolo is invalid.
func (srv *Server) Sync(ctx context.Context, project, commit, trigger string) (*Job, error) {
	_, moved, err := srv.refresh(ctx, project, commit)
	if err != nil || !moved {
		return nil, err
	}
	return srv.CreateJob(ctx, JobRequest{Project: project, Kind: KindDriftCheck, Trigger: trigger}, trigger)
}

// autoApply picks the hosts that a finished drift check hands to an automatic apply: with the
// auto policy, those whose plan comes from a new commit (last synced at another commit, or never);
// with selfHeal, those changed by hand (last synced at this very commit). Hosts an automatic apply
// of this commit left waiting for a person (waiting: its plan removes things, and no prune) are not
// tried again at each check. Pure: the caller checks the windows and that the job ran at the
// project's commit.
func autoApply(p *Project, drifted []*Host, commit string, waiting map[string]bool) []string {
	var out []string
	for _, h := range drifted {
		byHand := h.SyncedCommit == commit
		if h.Status == StatusOutOfSync && !waiting[h.Name] && (p.SyncPolicy == "auto" && !byHand || p.SelfHeal && byHand) {
			out = append(out, h.Name)
		}
	}
	return out
}

// afterJob runs once per job, when it ends (on the replica that ended it): notifications, the
// automatic apply a drift check calls for, and the project's retention. Its errors are logged: a
// job's end does not depend on them.
func (srv *Server) afterJob(ctx context.Context, j *Job) {
	srv.notifyJob(ctx, j)
	if err := srv.followUp(ctx, j); err != nil {
		srv.log.Error("automatic sync", "job", j.ID, "project", j.Project, "error", err)
	}
	if err := srv.store.prune(ctx, j.Project, time.Now()); err != nil {
		srv.log.Error("retention", "project", j.Project, "error", err)
	}
}

func (srv *Server) followUp(ctx context.Context, j *Job) error {
	if j.Kind != KindDriftCheck || j.State == StateCancelled {
		return nil
	}
	p, err := srv.store.project(ctx, j.Project)
	if err != nil {
		return err
	}
	if p.Commit != j.Commit || p.SyncPolicy != "auto" && !p.SelfHeal {
		return nil // the project moved on since: its own drift check decides
	}
	hs, _, err := srv.store.hosts(ctx, hostFilter{Project: p.Name, Status: StatusOutOfSync, Limit: 1 << 30, ReadAll: true})
	if err != nil {
		return err
	}
	waiting, err := srv.store.waitingHosts(ctx, p.Name, j.Commit)
	if err != nil {
		return err
	}
	names := autoApply(p, hs, j.Commit, waiting)
	if len(names) == 0 {
		return nil
	}
	if !p.maySync(time.Now()) {
		srv.log.Info("automatic sync waits for a sync window", "project", p.Name, "hosts", len(names))
		return nil
	}
	// Host names are plain words in the --limit syntax (fleet names are validated when loaded).
	aj, err := srv.CreateJob(ctx, JobRequest{Project: p.Name, Kind: KindApply, Limit: strings.Join(names, ","), Trigger: TriggerAutoSync}, TriggerAutoSync)
	if err != nil {
		return err
	}
	srv.notifySync(aj, notify.SyncStarted)
	return nil
}

// newGitOps makes the poller and the scheduler (before the server serves: handlers wake them).
func (srv *Server) newGitOps() {
	srv.poller = &gitsync.Poller{Cache: srv.git, Refresh: 30 * time.Second,
		Targets: srv.pollTargets,
		OnCommit: func(ctx context.Context, t gitsync.PollTarget, commit string) {
			if _, err := srv.Sync(ctx, t.Project, commit, TriggerPoll); err != nil {
				srv.log.Error("sync after a poll", "project", t.Project, "error", err)
			}
		},
		OnError: func(project string, err error) { srv.log.Warn("poll", "project", project, "error", err) },
	}
	srv.scheduler = &gitsync.Scheduler{Store: scheduleStore{srv.store}, Fire: srv.fire, Refresh: 30 * time.Second,
		OnError: func(err error) { srv.log.Warn("schedule", "error", err) }}
}

// waitingHosts are the hosts of a project that an automatic apply at commit left pending (waiting
// for a person).
func (s *store) waitingHosts(ctx context.Context, project, commit string) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT DISTINCT jh.host FROM capitain_job_hosts jh JOIN capitain_jobs j ON j.id = jh.job_id
		WHERE j.project = ? AND j.commit_sha = ? AND j.trigger = ? AND j.kind = ? AND jh.state = ?`), project, commit, TriggerAutoSync, KindApply, chaos.StatusPending)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out[h] = true
	}
	return out, rows.Err()
}

// runGitOps polls the projects, fires their schedules and applies retention until ctx ends.
func (srv *Server) runGitOps(ctx context.Context) {
	go func() { _ = srv.poller.Run(ctx) }()
	go func() { _ = srv.scheduler.Run(ctx) }()
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if err := srv.store.pruneAll(ctx, time.Now()); err != nil && ctx.Err() == nil {
			srv.log.Error("retention", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (srv *Server) pollTargets(ctx context.Context) ([]gitsync.PollTarget, error) {
	var out []gitsync.PollTarget
	after := ""
	for {
		ps, err := srv.store.projects(ctx, after, 500, true, nil)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			d, _ := time.ParseDuration(p.PollInterval)
			if d <= 0 {
				continue
			}
			src, err := p.source("")
			if err != nil {
				srv.log.Warn("poll", "project", p.Name, "error", err)
				continue
			}
			out = append(out, gitsync.PollTarget{Project: p.Name, Source: src, Interval: d, Commit: p.Commit})
		}
		if len(ps) < 500 {
			return out, nil
		}
		after = ps[len(ps)-1].Name
	}
}

// The kinds of schedules.
const (
	ScheduleDriftCheck = "drift-check" // a drift-check job on every host
	ScheduleSync       = "sync"        // a refresh to the ref's commit, then an apply of every host (within the windows)
)

// fire starts a schedule's run.
func (srv *Server) fire(ctx context.Context, s gitsync.Schedule, due time.Time) {
	var err error
	switch s.Kind {
	case ScheduleDriftCheck:
		_, err = srv.CreateJob(ctx, JobRequest{Project: s.Project, Kind: KindDriftCheck, Trigger: TriggerSchedule}, TriggerSchedule)
	case ScheduleSync:
		// The ref's commit, then an apply of every host (which plans each first): no drift check
		// before it, whose end would start a second, automatic apply.
		var p *Project
		if p, err = srv.store.project(ctx, s.Project); err == nil && p.maySync(due) {
			if _, _, err = srv.refresh(ctx, s.Project, ""); err == nil {
				var j *Job
				if j, err = srv.CreateJob(ctx, JobRequest{Project: s.Project, Kind: KindApply, Trigger: TriggerSchedule}, TriggerSchedule); err == nil {
					srv.notifySync(j, notify.SyncStarted)
				}
			}
		}
	}
	if err != nil {
		srv.log.Error("schedule", "project", s.Project, "schedule", s.ID, "error", err)
	}
}

// Schedule is a project's cron schedule, as the API shows it.
type Schedule struct {
	ID       int64  `json:"id"`
	Project  string `json:"project"`
	Kind     string `json:"kind"`
	Cron     string `json:"cron"`
	TimeZone string `json:"time_zone,omitempty"`
	// Last is the due time of the last run; Next the next one.
	Last time.Time  `json:"last"`
	Next *time.Time `json:"next,omitempty"`
}

// scheduleStore is gitsync.ScheduleStore on the server's database.
type scheduleStore struct{ s *store }

func (ss scheduleStore) Schedules(ctx context.Context) ([]gitsync.Schedule, error) {
	rows, err := ss.s.db.QueryContext(ctx, `SELECT id, project, kind, cron, time_zone, last FROM capitain_schedules ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []gitsync.Schedule
	for rows.Next() {
		var s gitsync.Schedule
		var id, last int64
		if err := rows.Scan(&id, &s.Project, &s.Kind, &s.Cron, &s.TimeZone, &last); err != nil {
			return nil, err
		}
		s.ID, s.Last = strconv.FormatInt(id, 10), time.Unix(0, last)
		out = append(out, s)
	}
	return out, rows.Err()
}

func (ss scheduleStore) Claim(ctx context.Context, id string, due time.Time) (bool, error) {
	res, err := ss.s.db.ExecContext(ctx, ss.s.q(`UPDATE capitain_schedules SET last = ? WHERE id = ? AND last < ?`), due.UnixNano(), id, due.UnixNano())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (srv *Server) listSchedules(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	name := r.PathValue("name")
	if _, err := srv.store.project(r.Context(), name); err != nil {
		srv.fail(w, r, err)
		return
	}
	all, err := scheduleStore{srv.store}.Schedules(r.Context())
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	out := page[*Schedule]{Items: []*Schedule{}}
	for _, s := range all {
		if s.Project == name {
			out.Items = append(out.Items, apiSchedule(s))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func apiSchedule(s gitsync.Schedule) *Schedule {
	id, _ := strconv.ParseInt(s.ID, 10, 64)
	out := &Schedule{ID: id, Project: s.Project, Kind: s.Kind, Cron: s.Cron, TimeZone: s.TimeZone, Last: s.Last.UTC()}
	if n, err := s.Next(); err == nil && !n.IsZero() {
		n = n.UTC()
		out.Next = &n
	}
	return out
}

func (srv *Server) createSchedule(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	var in struct {
		Kind     string `json:"kind"`
		Cron     string `json:"cron"`
		TimeZone string `json:"time_zone"`
	}
	if !srv.decode(w, r, &in) {
		return
	}
	name := r.PathValue("name")
	s := gitsync.Schedule{Project: name, Kind: in.Kind, Cron: in.Cron, TimeZone: in.TimeZone, Last: time.Now()}
	if in.Kind != ScheduleDriftCheck && in.Kind != ScheduleSync {
		srv.fail(w, r, &fieldError{"kind", "drift-check or sync"})
		return
	}
	if err := s.Validate(); err != nil {
		srv.fail(w, r, &fieldError{"cron", err.Error()})
		return
	}
	if _, err := srv.store.project(r.Context(), name); err != nil {
		srv.fail(w, r, err)
		return
	}
	var id int64
	err := srv.store.db.QueryRowContext(r.Context(), srv.store.q(`INSERT INTO capitain_schedules (project, kind, cron, time_zone, last) VALUES (?, ?, ?, ?, ?) RETURNING id`),
		name, s.Kind, s.Cron, s.TimeZone, s.Last.UnixNano()).Scan(&id)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	s.ID = strconv.FormatInt(id, 10)
	srv.scheduler.Wake()
	writeJSON(w, http.StatusCreated, apiSchedule(s))
}

func (srv *Server) deleteSchedule(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	res, err := srv.store.db.ExecContext(r.Context(), srv.store.q(`DELETE FROM capitain_schedules WHERE project = ? AND id = ?`),
		r.PathValue("name"), r.PathValue("id"))
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	if n, _ := res.RowsAffected(); n == 0 {
		srv.fail(w, r, errNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// gitopsRoutes adds the GitOps routes to the API's table (the webhook route is signed, not
// authenticated: Handler adds it apart).
func (srv *Server) gitopsRoutes(api map[string]route, pathProject func(*http.Request) string) {
	api["PUT /api/v1/projects/{name}"] = route{auth.ActionUpdateProject, pathProject, srv.updateProject}
	api["POST /api/v1/projects/{name}/rollback"] = route{auth.ActionRollback, pathProject, srv.rollbackProject}
	api["GET /api/v1/projects/{name}/schedules"] = route{auth.ActionReadProject, pathProject, srv.listSchedules}
	api["POST /api/v1/projects/{name}/schedules"] = route{auth.ActionManageSchedules, pathProject, srv.createSchedule}
	api["DELETE /api/v1/projects/{name}/schedules/{id}"] = route{auth.ActionManageSchedules, pathProject, srv.deleteSchedule}
}

// webhook receives a forge's push: verified with the project's secret (a bad signature is 401 and
// queues nothing), then synced in the background (forges give up on slow receivers).
func (srv *Server) webhook(w http.ResponseWriter, r *http.Request) {
	p, err := srv.store.project(r.Context(), r.PathValue("project"))
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	if p.WebhookSecret.IsZero() {
		writeError(w, http.StatusNotFound, "not_found", "project "+p.Name+" takes no webhooks (no webhook_secret)", "")
		return
	}
	secret, err := p.WebhookSecret.Read()
	if err != nil {
		srv.fail(w, r, fmt.Errorf("project %s: webhook_secret: %w", p.Name, err))
		return
	}
	push, err := gitsync.ParsePush(r, secret)
	if err != nil {
		code := gitsync.StatusCode(err)
		if code == http.StatusAccepted { // not a push (a ping): nothing to do
			writeJSON(w, code, map[string]any{"accepted": false})
			return
		}
		writeError(w, code, strings.ToLower(strings.ReplaceAll(http.StatusText(code), " ", "_")), err.Error(), "")
		return
	}
	if push.Deleted || !push.Affects(p.Repo, p.Ref) {
		writeJSON(w, http.StatusAccepted, map[string]any{"accepted": false})
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if _, err := srv.Sync(ctx, p.Name, push.Commit, TriggerWebhook); err != nil {
			srv.log.Error("sync after a webhook", "project", p.Name, "commit", push.Commit, "error", err)
		}
	}()
	writeJSON(w, http.StatusAccepted, map[string]any{"accepted": true, "commit": push.Commit})
}

var commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// rollbackProject pins the project to an earlier commit (its ref becomes that commit, so that
// polls, webhooks, auto sync and selfHeal hold the fleet there) and applies it: one call.
// Following a branch again is a PUT of the project with that ref.
func (srv *Server) rollbackProject(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var in struct {
		Commit string `json:"commit"`
		Limit  string `json:"limit"`
	}
	if !srv.decode(w, r, &in) {
		return
	}
	if !commitRE.MatchString(in.Commit) {
		srv.fail(w, r, &fieldError{"commit", "a full commit id"})
		return
	}
	name := r.PathValue("name")
	old, err := srv.store.project(r.Context(), name)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	// The commit must be in the history the project followed (gitsync checks Source.Commit is
	// reachable from the ref) before the ref is pinned.
	src, err := old.source(in.Commit)
	if err == nil {
		_, err = srv.git.Sync(r.Context(), name, src)
	}
	if err != nil {
		srv.fail(w, r, &fieldError{"commit", err.Error()})
		return
	}
	if _, err := srv.store.db.ExecContext(r.Context(), srv.store.q(`UPDATE capitain_projects SET ref = ? WHERE name = ?`), in.Commit, name); err != nil {
		srv.fail(w, r, err)
		return
	}
	pr, _, err := srv.refresh(r.Context(), name, in.Commit)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	if pr.Commit != in.Commit || slices.ContainsFunc(pr.Problems, func(pb Problem) bool { return pb.File != "" }) {
		srv.fail(w, r, &fieldError{"commit", "the Ch-obolo at this commit does not load: see the project's problems"})
		return
	}
	j, err := srv.CreateJob(r.Context(), JobRequest{Project: name, Kind: KindRollback, ToCommit: in.Commit, Limit: in.Limit}, p.User)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, j)
}

// updateProject replaces a project's settings (the body is a whole project, as at creation).
func (srv *Server) updateProject(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	var p Project
	if !srv.decode(w, r, &p) {
		return
	}
	if p.Name != r.PathValue("name") {
		srv.fail(w, r, &fieldError{"name", "the project's name cannot change"})
		return
	}
	if err := p.validate(); err != nil {
		srv.fail(w, r, err)
		return
	}
	settings, err := jsonString(p.ProjectSettings)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	res, err := srv.store.db.ExecContext(r.Context(), srv.store.q(`UPDATE capitain_projects SET repo = ?, ref = ?, path = ?, poll_interval_s = ?,
		sync_policy = ?, prune = ?, self_heal = ?, settings = ? WHERE name = ?`), p.Repo, p.Ref, p.Path, pollSeconds(p.PollInterval), p.SyncPolicy,
		b2i(p.Prune), b2i(p.SelfHeal), settings, p.Name)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	if n, _ := res.RowsAffected(); n == 0 {
		srv.fail(w, r, errNotFound)
		return
	}
	srv.poller.Wake()
	got, err := srv.store.project(r.Context(), p.Name)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, got)
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// prune applies a project's retention at now: finished jobs beyond the newest MaxJobs or older
// than MaxAge go, with their hosts and events (ON DELETE CASCADE).
func (s *store) prune(ctx context.Context, project string, now time.Time) error {
	var settings string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT settings FROM capitain_projects WHERE name = ?`), project).Scan(&settings)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	var ps ProjectSettings
	if err := json.Unmarshal([]byte(settings), &ps); err != nil {
		return err
	}
	if ps.Retention.MaxAge != "" {
		d, _ := time.ParseDuration(ps.Retention.MaxAge)
		if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM capitain_jobs WHERE project = ? AND finished > 0 AND finished < ?`),
			project, now.Add(-d).UnixNano()); err != nil {
			return err
		}
	}
	if ps.Retention.MaxJobs > 0 {
		// The newest MaxJobs jobs stay, finished or not; older finished ones go.
		if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM capitain_jobs WHERE project = ? AND finished > 0 AND id < (
				SELECT MIN(id) FROM (SELECT id FROM capitain_jobs WHERE project = ? ORDER BY id DESC LIMIT ?) newest)`),
			project, project, ps.Retention.MaxJobs); err != nil {
			return err
		}
	}
	return nil
}

// pruneAll applies every project's retention (hourly: a project without new jobs still ages out).
func (s *store) pruneAll(ctx context.Context, now time.Time) error {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM capitain_projects WHERE settings LIKE '%retention%'`)
	if err != nil {
		return err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, n := range names {
		if err := s.prune(ctx, n, now); err != nil {
			return err
		}
	}
	return nil
}
