package server

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
)

//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPI is the API's OpenAPI 3.1 document (YAML), served as JSON at /api/v1/openapi.json.
func OpenAPI() []byte { return openapiYAML }

// apiError is the body of every error: {"error": {"code", "message", "field"}}.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg, field string) {
	var e apiError
	e.Error.Code, e.Error.Message, e.Error.Field = code, msg, field
	writeJSON(w, status, e)
}

// fail writes err as the right status: a field problem (400), not found (404), else 500 (logged,
// not shown).
func (srv *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *fieldError
	switch {
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, "invalid", fe.msg, fe.field)
	case errors.Is(err, errNotFound):
		writeError(w, http.StatusNotFound, "not_found", "not found", "")
	case auth.HTTPStatus(err) != http.StatusInternalServerError:
		authError(w, err)
	default:
		srv.log.Error("request", "method", r.Method, "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error (logged by the server)", "")
	}
}

// decode reads a JSON body (bounded, unknown fields refused) into v.
func (srv *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json", "")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, srv.cfg.MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is larger than %d bytes", mbe.Limit), "")
		case errors.As(err, &ute):
			writeError(w, http.StatusBadRequest, "invalid", "wrong type: want "+ute.Type.String(), ute.Field)
		default:
			writeError(w, http.StatusBadRequest, "invalid_json", err.Error(), "")
		}
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "invalid_json", "one JSON value expected", "")
		return false
	}
	return true
}

// route is one API operation: the action it needs on the project project(r) names (nil: none,
// or a list filtered per project); action "" is authorized by the handler (the action depends on
// what the body or the path's job names, or internal/capitain/auth checks it).
type route struct {
	action  auth.Action
	project func(*http.Request) string
	handle  func(http.ResponseWriter, *http.Request, *auth.Principal)
}

// Handler is the server's HTTP handler: /api/v1, /metrics, /healthz, /readyz.
func (srv *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	pathProject := func(r *http.Request) string { return r.PathValue("name") }
	api := map[string]route{
		"GET /api/v1/projects":                 {auth.ActionReadProject, nil, srv.listProjects},
		"POST /api/v1/projects":                {auth.ActionCreateProject, nil, srv.createProject},
		"GET /api/v1/projects/{name}":          {auth.ActionReadProject, pathProject, srv.getProject},
		"POST /api/v1/projects/{name}/refresh": {auth.ActionPlan, pathProject, srv.refreshProject},
		"GET /api/v1/hosts":                    {auth.ActionReadProject, nil, srv.listHosts},
		"GET /api/v1/hosts/{project}/{name}":   {auth.ActionReadProject, func(r *http.Request) string { return r.PathValue("project") }, srv.getHost},
		"GET /api/v1/jobs":                     {auth.ActionReadProject, nil, srv.listJobs},
		"POST /api/v1/jobs":                    {"", nil, srv.createJob},
		"GET /api/v1/jobs/{id}":                {"", nil, srv.getJob},
		"POST /api/v1/jobs/{id}/cancel":        {"", nil, srv.cancelJob},
		"GET /api/v1/jobs/{id}/hosts":          {"", nil, srv.getJobHosts},
		"GET /api/v1/jobs/{id}/events":         {"", nil, srv.getJobEvents},
	}
	srv.gitopsRoutes(api, pathProject)
	maps.Copy(api, srv.authRoutes())
	maps.Copy(api, srv.generationRoutes())
	for pattern, rt := range api {
		mux.Handle(pattern, srv.instrument(pattern, srv.auth.Middleware(srv.authenticated(rt))))
	}
	mux.Handle("POST /api/v1/webhooks/{project}", srv.instrument("POST /api/v1/webhooks/{project}", http.HandlerFunc(srv.webhook)))
	mux.Handle("POST /api/v1/login", srv.instrument("POST /api/v1/login", srv.auth.LoginHandler()))
	mux.Handle("POST /api/v1/logout", srv.instrument("POST /api/v1/logout", srv.auth.Middleware(srv.auth.LogoutHandler())))
	mux.Handle("GET /api/v1/openapi.json", srv.instrument("GET /api/v1/openapi.json", http.HandlerFunc(srv.openapi)))
	mux.Handle("GET /metrics", srv.metrics.handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /readyz", srv.readyz)
	if srv.ui != nil {
		mux.Handle("/", srv.instrument("ui", srv.auth.Middleware(srv.ui)))
	}
	mux.Handle("/api/", srv.instrument("other", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route: "+r.Method+" "+r.URL.Path, "")
	})))
	return mux
}

// authenticated runs the route for the request's principal (auth.Middleware found it) when it
// may do the route's action; without credentials it is a 401 whatever the action.
func (srv *Server) authenticated(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := auth.FromContext(r.Context())
		var err error
		switch {
		case p == nil:
			err = fmt.Errorf("%w: no credentials", auth.ErrUnauthenticated)
		case rt.action != "" && rt.project != nil:
			err = auth.Authorize(p, rt.action, rt.project(r))
		case rt.action != "":
			err = auth.Authorize(p, rt.action, "")
		}
		if err != nil {
			authError(w, err)
			return
		}
		rt.handle(w, r, p)
	})
}

// allowed checks an action on a project found in the request's data (a job's project).
func allowed(w http.ResponseWriter, p *auth.Principal, a auth.Action, project string) bool {
	if err := auth.Authorize(p, a, project); err != nil {
		authError(w, err)
		return false
	}
	return true
}

func (srv *Server) openapi(w http.ResponseWriter, r *http.Request) {
	var doc any
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, doc)
}

func (srv *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := srv.store.db.PingContext(r.Context()); err != nil || !srv.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// pageLimit reads ?limit= (1..1000, default 100).
func pageLimit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return 0, &fieldError{"limit", "a number from 1 to 1000"}
	}
	return n, nil
}

// page is a list response.
type page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

func (srv *Server) listProjects(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	limit, err := pageLimit(r)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	var after string
	if c := r.URL.Query().Get("cursor"); c != "" {
		cur, err := decodeCursor(c)
		if err != nil {
			srv.fail(w, r, err)
			return
		}
		after = cur.N
	}
	all, readable := p.Visible()
	ps, err := srv.store.projects(r.Context(), after, limit+1, all, readable)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	out := page[*Project]{Items: append([]*Project{}, ps...)}
	if len(ps) > limit {
		out.Items = out.Items[:limit]
		out.Next = encodeCursor(cursor{N: ps[limit-1].Name})
	}
	writeJSON(w, http.StatusOK, out)
}

func (srv *Server) createProject(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	var p Project
	if !srv.decode(w, r, &p) {
		return
	}
	if err := p.validate(); err != nil {
		srv.fail(w, r, err)
		return
	}
	if err := srv.createProjectTx(r.Context(), &p); err != nil {
		srv.fail(w, r, err)
		return
	}
	got, err := srv.store.project(r.Context(), p.Name)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, got)
}

func (srv *Server) getProject(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	p, err := srv.store.project(r.Context(), r.PathValue("name"))
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (srv *Server) refreshProject(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	p, err := srv.Refresh(r.Context(), r.PathValue("name"))
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (srv *Server) listHosts(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	q := r.URL.Query()
	limit, err := pageLimit(r)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	hq := HostQuery{Project: q.Get("project"), Status: q.Get("status"), Label: q.Get("label"), Core: q.Get("core"),
		Name: q.Get("name"), Sort: q.Get("sort"), Cursor: q.Get("cursor"), Limit: limit}
	switch q.Get("order") {
	case "", "asc":
	case "desc":
		hq.Desc = true
	default:
		srv.fail(w, r, &fieldError{"order", "asc or desc"})
		return
	}
	hs, next, err := srv.Hosts(r.Context(), p, hq)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page[*Host]{Items: append([]*Host{}, hs...), Next: next})
}

var validStatus = map[string]bool{StatusSynced: true, StatusOutOfSync: true, StatusFailed: true, StatusUnreachable: true, StatusUnknown: true}

func (srv *Server) getHost(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	h, err := srv.store.host(r.Context(), r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

func (srv *Server) listJobs(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	q := r.URL.Query()
	limit, err := pageLimit(r)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	f := jobFilter{Project: q.Get("project"), State: q.Get("state"), Kind: q.Get("kind"), Trigger: q.Get("trigger"),
		Host: q.Get("host"), Cursor: q.Get("cursor"), Limit: limit}
	if f.Project != "" && !allowed(w, p, auth.ActionReadProject, f.Project) {
		return
	}
	f.ReadAll, f.Readable = p.Visible()
	js, next, err := srv.store.jobs(r.Context(), f)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page[*Job]{Items: append([]*Job{}, js...), Next: next})
}

// jobActions is the action each kind of job needs.
var jobActions = map[string]auth.Action{KindPlan: auth.ActionPlan, KindDriftCheck: auth.ActionPlan, KindApply: auth.ActionApply,
	KindRollback: auth.ActionRollback}

func (srv *Server) createJob(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var req JobRequest
	if !srv.decode(w, r, &req) {
		return
	}
	j, err := srv.StartJob(r.Context(), p, req)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, j)
}

// pathJob reads the job of {id} and checks the action on its project: the job of a project the
// principal may not read is not found, as if it did not exist.
func (srv *Server) pathJob(w http.ResponseWriter, r *http.Request, p *auth.Principal, a auth.Action) *Job {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "not found", "")
		return nil
	}
	j, err := srv.store.job(r.Context(), id)
	if err != nil {
		srv.fail(w, r, err)
		return nil
	}
	if auth.Authorize(p, auth.ActionReadProject, j.Project) != nil {
		srv.fail(w, r, errNotFound)
		return nil
	}
	if !allowed(w, p, a, j.Project) {
		return nil
	}
	return j
}

func (srv *Server) getJob(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if j := srv.pathJob(w, r, p, auth.ActionReadProject); j != nil {
		writeJSON(w, http.StatusOK, j)
	}
}

func (srv *Server) cancelJob(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	j := srv.pathJob(w, r, p, auth.ActionCancelJob)
	if j == nil {
		return
	}
	j, err := srv.CancelJob(r.Context(), j.ID)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (srv *Server) getJobHosts(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	j := srv.pathJob(w, r, p, auth.ActionReadProject)
	if j == nil {
		return
	}
	hs, err := srv.store.jobHosts(r.Context(), j.ID, "", 0)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page[*JobHost]{Items: hs})
}

// getJobEvents lists a job's events after ?after= (JSON), or streams them as server-sent events
// (Accept: text/event-stream), resuming after Last-Event-ID, until the job has finished and every
// event is sent.
func (srv *Server) getJobEvents(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	j := srv.pathJob(w, r, p, auth.ActionReadProject)
	if j == nil {
		return
	}
	var after int64
	if s := cmpOr(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after")); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			srv.fail(w, r, &fieldError{"after", "an event sequence number"})
			return
		}
		after = n
	}
	if !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		limit, err := pageLimit(r)
		if err != nil {
			srv.fail(w, r, err)
			return
		}
		evs, err := srv.store.events(r.Context(), j.ID, after, limit)
		if err != nil {
			srv.fail(w, r, err)
			return
		}
		out := page[*Event]{Items: evs}
		if len(evs) == limit {
			out.Next = strconv.FormatInt(evs[len(evs)-1].Seq, 10)
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	srv.stream(w, r, j.ID, after)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (srv *Server) stream(w http.ResponseWriter, r *http.Request, job, after int64) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "internal", "streaming unsupported", "")
		return
	}
	// The server's read timeout would end a stream that outlives it (net/http cancels the request
	// when its background read times out): a stream has no read deadline.
	if err := http.NewResponseController(w).SetReadDeadline(time.Time{}); err != nil {
		srv.fail(w, r, err)
		return
	}
	wake, unsubscribe := srv.hub.subscribe(job)
	defer unsubscribe()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	ctx := r.Context()
	for {
		// Read the state before the events: a job seen finished has all its events stored.
		j, err := srv.store.job(ctx, job)
		if err != nil {
			return
		}
		finished := j.Finished != nil
		for {
			evs, err := srv.store.events(ctx, job, after, 500)
			if err != nil {
				return
			}
			for _, e := range evs {
				fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, mustJSON(e))
				after = e.Seq
			}
			if len(evs) < 500 {
				break
			}
		}
		if finished {
			fmt.Fprintf(w, "event: end\ndata: %s\n\n", mustJSON(j))
			fl.Flush()
			return
		}
		fl.Flush()
		select {
		case <-ctx.Done():
			return
		case <-srv.stopping:
			return
		case <-wake:
		case <-time.After(2 * time.Second): // a missed wake-up costs at most this
		}
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
