package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
	"github.com/ch-aos-ch/chaos/internal/fleet"
	"github.com/ch-aos-ch/chaos/internal/transport"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// This file is what the web UI (internal/capitain/web) reads the server through: the same store
// queries and authorization as the API's handlers, for a principal the UI authenticated.

// SetUI serves h for every path the API, metrics and probes do not own ("/"), behind the same
// authentication middleware (h finds the principal with auth.FromContext). Call it before Serve.
func (srv *Server) SetUI(h http.Handler) { srv.ui = h }

// Auth is the server's users, sessions and audit log.
func (srv *Server) Auth() *auth.Store { return srv.auth }

// HostQuery selects and orders a page of hosts (GET /api/v1/hosts's parameters).
type HostQuery struct {
	Project, Status, Label, Core string
	// Name is a glob (* and ?) on the host's name.
	Name string
	// Sort is name (default), status or probed; Desc reverses it.
	Sort string
	Desc bool
	// Cursor is the page's start (the previous page's next); Limit its size (1..1000).
	Cursor string
	Limit  int
}

// Hosts is a page of the hosts p may read and the cursor of the next page ("" at the end).
// A bad parameter is an error naming its field.
func (srv *Server) Hosts(ctx context.Context, p *auth.Principal, q HostQuery) ([]*Host, string, error) {
	if q.Status != "" && !validStatus[q.Status] {
		return nil, "", &fieldError{"status", "Synced, OutOfSync, Failed, Unreachable or Unknown"}
	}
	if q.Limit < 1 || q.Limit > 1000 {
		return nil, "", &fieldError{"limit", "a number from 1 to 1000"}
	}
	if q.Project != "" {
		if err := auth.Authorize(p, auth.ActionReadProject, q.Project); err != nil {
			return nil, "", err
		}
	}
	f := hostFilter{Project: q.Project, Status: q.Status, Label: q.Label, Core: q.Core, Name: q.Name, Sort: q.Sort,
		Desc: q.Desc, Cursor: q.Cursor, Limit: q.Limit}
	f.ReadAll, f.Readable = p.Visible()
	return srv.store.hosts(ctx, f)
}

// Host is one host with its pending plan, when p may read its project.
func (srv *Server) Host(ctx context.Context, p *auth.Principal, project, name string) (*Host, error) {
	if err := auth.Authorize(p, auth.ActionReadProject, project); err != nil {
		return nil, err
	}
	return srv.store.host(ctx, project, name)
}

// FieldOf is the request field a Hosts (or other read) error is about, and its message; ok is
// false for errors that are not about a field.
func FieldOf(err error) (field, msg string, ok bool) {
	fe, ok := err.(*fieldError)
	if !ok {
		return "", "", false
	}
	return fe.field, fe.msg, true
}

// IsNotFound tells whether err is a read function's "no such project, host or job".
func IsNotFound(err error) bool { return errors.Is(err, errNotFound) }

// JobQuery selects a page of jobs, newest first (GET /api/v1/jobs's parameters).
type JobQuery struct {
	Project, State, Kind, Trigger string
	// Host keeps the jobs that ran on a host of this name (in any project p may read).
	Host   string
	Cursor string
	Limit  int
}

// Jobs is a page of the jobs p may read and the cursor of the next (older) page.
func (srv *Server) Jobs(ctx context.Context, p *auth.Principal, q JobQuery) ([]*Job, string, error) {
	if q.Limit < 1 || q.Limit > 1000 {
		return nil, "", &fieldError{"limit", "a number from 1 to 1000"}
	}
	if q.Project != "" {
		if err := auth.Authorize(p, auth.ActionReadProject, q.Project); err != nil {
			return nil, "", err
		}
	}
	f := jobFilter{Project: q.Project, State: q.State, Kind: q.Kind, Trigger: q.Trigger, Host: q.Host, Cursor: q.Cursor, Limit: q.Limit}
	f.ReadAll, f.Readable = p.Visible()
	return srv.store.jobs(ctx, f)
}

// Job is job id with its hosts' results, when p may read its project (else not found, as the
// API answers).
func (srv *Server) Job(ctx context.Context, p *auth.Principal, id int64) (*Job, []*JobHost, error) {
	j, err := srv.JobInfo(ctx, p, id)
	if err != nil {
		return nil, nil, err
	}
	hs, err := srv.store.jobHosts(ctx, id, "", 0)
	return j, hs, err
}

// JobInfo is job id without its hosts, when p may read its project (else not found).
func (srv *Server) JobInfo(ctx context.Context, p *auth.Principal, id int64) (*Job, error) {
	j, err := srv.store.job(ctx, id)
	if err != nil {
		return nil, err
	}
	if auth.Authorize(p, auth.ActionReadProject, j.Project) != nil {
		return nil, errNotFound
	}
	return j, nil
}

// JobHosts is a page of job j's hosts (j read through JobInfo), by name, after the name after,
// and the name to start the next page after ("" on the last page).
func (srv *Server) JobHosts(ctx context.Context, j *Job, after string, limit int) ([]*JobHost, string, error) {
	hs, err := srv.store.jobHosts(ctx, j.ID, after, limit+1)
	if err != nil || len(hs) <= limit {
		return hs, "", err
	}
	return hs[:limit], hs[limit-1].Host, nil
}

// HostRun is one job's run on a host: the job and the host's result in it.
type HostRun struct {
	Job    *Job
	Result *JobHost
}

// HostRuns is the last limit runs of host name of project, newest first, when p may read the
// project.
func (srv *Server) HostRuns(ctx context.Context, p *auth.Principal, project, name string, limit int) ([]HostRun, error) {
	if err := auth.Authorize(p, auth.ActionReadProject, project); err != nil {
		return nil, err
	}
	return srv.store.hostRuns(ctx, project, name, limit)
}

// hostRuns reads the job hosts by host (index capitain_job_hosts_host, newest job first), each
// joined with its job; a host name is unique only within a project, hence the project's test.
func (s *store) hostRuns(ctx context.Context, project, name string, limit int) ([]HostRun, error) {
	cols := "j." + strings.ReplaceAll(jobColumns, ", ", ", j.")
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+cols+`, h.host, h.state, h.changes, h.ops, h.generation, h.duration_ns, h.error
		FROM capitain_job_hosts h JOIN capitain_jobs j ON j.id = h.job_id
		WHERE h.host = ? AND j.project = ? ORDER BY h.job_id DESC LIMIT ?`), name, project, limit)
	if err != nil {
		return nil, fmt.Errorf("runs of host %s/%s: %w", project, name, err)
	}
	defer rows.Close()
	var out []HostRun
	for rows.Next() {
		var h JobHost
		j, err := scanJob(scanThen{rows, []any{&h.Host, &h.State, &h.Changes, &h.Ops, &h.Generation, &h.DurationNS, &h.Error}})
		if err != nil {
			return nil, err
		}
		out = append(out, HostRun{Job: j, Result: &h})
	}
	return out, rows.Err()
}

// scanThen scans a row into scanJob's destinations and then its own: a job's columns followed
// by others.
type scanThen struct {
	rows *sql.Rows
	then []any
}

func (s scanThen) Scan(dest ...any) error { return s.rows.Scan(append(dest, s.then...)...) }

// Events is up to limit stored events of job j (read through Job) after sequence number after.
func (srv *Server) Events(ctx context.Context, j *Job, after int64, limit int) ([]*Event, error) {
	return srv.store.events(ctx, j.ID, after, limit)
}

// JobAction is the action a job of kind needs on its project ("" for an unknown kind).
func JobAction(kind string) auth.Action { return jobActions[kind] }

// StartJob queues the job req asks for, on behalf of p (POST /api/v1/jobs): the kind's action
// is checked on the project first.
func (srv *Server) StartJob(ctx context.Context, p *auth.Principal, req JobRequest) (*Job, error) {
	action, ok := jobActions[req.Kind]
	switch {
	case !ok:
		return nil, &fieldError{"kind", "plan, apply, rollback or drift-check"}
	case req.Project == "":
		return nil, &fieldError{"project", "a project is required"}
	}
	if err := auth.Authorize(p, action, req.Project); err != nil {
		return nil, err
	}
	return srv.CreateJob(ctx, req, p.User)
}

// HostCounts is the number of hosts p may read, by sync status.
func (srv *Server) HostCounts(ctx context.Context, p *auth.Principal) (map[string]int, error) {
	all, readable := p.Visible()
	return srv.store.hostCounts(ctx, all, readable)
}

// Projects is a page of the projects p may read, by name, after the name after.
func (srv *Server) Projects(ctx context.Context, p *auth.Principal, after string, limit int) ([]*Project, error) {
	all, readable := p.Visible()
	return srv.store.projects(ctx, after, limit, all, readable)
}

// SyncNow refreshes project name from its repository and queues an apply of all its hosts, on
// behalf of p (chaos capitain sync).
func (srv *Server) SyncNow(ctx context.Context, p *auth.Principal, name string) (*Job, error) {
	if err := auth.Authorize(p, auth.ActionApply, name); err != nil {
		return nil, err
	}
	if _, err := srv.Refresh(ctx, name); err != nil {
		return nil, err
	}
	return srv.StartJob(ctx, p, JobRequest{Project: name, Kind: KindApply})
}

// SetRole gives user role on project, or removes them from it (role ""), on behalf of p (PUT and
// DELETE /api/v1/projects/{name}/members/{user}): the project must exist; auth checks p.
func (srv *Server) SetRole(ctx context.Context, p *auth.Principal, project, user string, role auth.Role) error {
	if _, err := srv.store.project(ctx, project); err != nil {
		return err
	}
	return srv.auth.SetRole(ctx, p, project, user, role)
}

// HostGenerations lists the generations recorded on host name of project, oldest first, read
// over a read-only connection to the host, when p may read the project.
func (srv *Server) HostGenerations(ctx context.Context, p *auth.Principal, project, name string) ([]chaos.Generation, error) {
	t, err := srv.openHost(ctx, p, project, name)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	return chaos.Generations(ctx, t)
}

// HostGenerationDiff is the difference between generations from and to of host name of project
// (chaos generations diff), when p may read the project.
func (srv *Server) HostGenerationDiff(ctx context.Context, p *auth.Principal, project, name string, from, to int) (*chaos.GenerationDiff, error) {
	t, err := srv.openHost(ctx, p, project, name)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	gens, err := chaos.Generations(ctx, t)
	if err != nil {
		return nil, err
	}
	for _, c := range []struct {
		field string
		n     int
	}{{"from", from}, {"to", to}} {
		if !slices.ContainsFunc(gens, func(g chaos.Generation) bool { return g.N == c.n }) {
			return nil, &fieldError{c.field, fmt.Sprintf("generation %d is not recorded on %s", c.n, name)}
		}
	}
	return chaos.DiffGenerations(ctx, t, gens, from, to)
}

// openHost connects read-only to host name of project as the project's fleet (at its current
// commit) describes it.
func (srv *Server) openHost(ctx context.Context, p *auth.Principal, project, name string) (transport.Transport, error) {
	if err := auth.Authorize(p, auth.ActionReadProject, project); err != nil {
		return nil, err
	}
	pr, err := srv.store.project(ctx, project)
	if err != nil {
		return nil, err
	}
	lp, err := srv.loaded(ctx, pr, pr.Commit)
	if err != nil {
		return nil, err
	}
	for _, h := range lp.fleet.Hosts {
		if h.Name == name {
			t, err := lp.fleet.Open(ctx, h, fleet.ConnectOptions{ReadOnly: true})
			if err != nil {
				return nil, fmt.Errorf("host %s/%s: %w", project, name, err)
			}
			return t, nil
		}
	}
	return nil, fmt.Errorf("%w: host %s/%s", errNotFound, project, name)
}

// generationRoutes are the API routes of a host's generations (read from the host itself).
func (srv *Server) generationRoutes() map[string]route {
	project := func(r *http.Request) string { return r.PathValue("project") }
	return map[string]route{
		"GET /api/v1/hosts/{project}/{name}/generations":      {auth.ActionReadProject, project, srv.listGenerations},
		"GET /api/v1/hosts/{project}/{name}/generations/diff": {auth.ActionReadProject, project, srv.diffGenerations},
	}
}

func (srv *Server) listGenerations(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	gs, err := srv.HostGenerations(r.Context(), p, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page[chaos.Generation]{Items: gs})
}

func (srv *Server) diffGenerations(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var n [2]int
	for i, f := range []string{"from", "to"} {
		v, err := strconv.Atoi(r.URL.Query().Get(f))
		if err != nil || v < 1 {
			srv.fail(w, r, &fieldError{f, "a generation number"})
			return
		}
		n[i] = v
	}
	d, err := srv.HostGenerationDiff(r.Context(), p, r.PathValue("project"), r.PathValue("name"), n[0], n[1])
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}
