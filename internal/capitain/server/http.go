package server

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
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

// route is one API operation: its action and how the project it concerns is found.
type route struct {
	action  Action
	project func(*http.Request) string // nil: no project
	handle  func(http.ResponseWriter, *http.Request, *Principal)
}

// Handler is the server's HTTP handler: /api/v1, /metrics, /healthz, /readyz.
func (srv *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	pathProject := func(r *http.Request) string { return r.PathValue("name") }
	api := map[string]route{
		"GET /api/v1/projects":                 {ActionRead, nil, srv.listProjects},
		"POST /api/v1/projects":                {ActionAdmin, nil, srv.createProject},
		"GET /api/v1/projects/{name}":          {ActionRead, pathProject, srv.getProject},
		"POST /api/v1/projects/{name}/refresh": {ActionRefresh, pathProject, srv.refreshProject},
		"GET /api/v1/hosts":                    {ActionRead, nil, srv.listHosts},
		"GET /api/v1/hosts/{project}/{name}":   {ActionRead, func(r *http.Request) string { return r.PathValue("project") }, srv.getHost},
		"GET /api/v1/jobs":                     {ActionRead, nil, srv.listJobs},
		"POST /api/v1/jobs":                    {"", nil, srv.createJob}, // the action depends on the kind
		"GET /api/v1/jobs/{id}":                {ActionRead, nil, srv.getJob},
		"POST /api/v1/jobs/{id}/cancel":        {ActionApply, nil, srv.cancelJob},
		"GET /api/v1/jobs/{id}/hosts":          {ActionRead, nil, srv.getJobHosts},
		"GET /api/v1/jobs/{id}/events":         {ActionRead, nil, srv.getJobEvents},
	}
	srv.gitopsRoutes(api, pathProject)
	for pattern, rt := range api {
		mux.Handle(pattern, srv.instrument(pattern, srv.authenticated(rt)))
	}
	mux.Handle("POST /api/v1/webhooks/{project}", srv.instrument("POST /api/v1/webhooks/{project}", http.HandlerFunc(srv.webhook)))
	mux.Handle("GET /api/v1/openapi.json", srv.instrument("GET /api/v1/openapi.json", http.HandlerFunc(srv.openapi)))
	mux.Handle("GET /metrics", srv.metrics.handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /readyz", srv.readyz)
	mux.Handle("/api/", srv.instrument("other", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route: "+r.Method+" "+r.URL.Path, "")
	})))
	return mux
}

// authenticated asks the Authenticator who the request is and whether they may do the route's
// action on its project.
func (srv *Server) authenticated(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := srv.auth.Authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="capitain"`)
			writeError(w, http.StatusUnauthorized, "unauthenticated", err.Error(), "")
			return
		}
		if rt.action != "" {
			project := ""
			if rt.project != nil {
				project = rt.project(r)
			}
			if err := srv.auth.Authorize(r.Context(), p, rt.action, project); err != nil {
				writeError(w, http.StatusForbidden, "forbidden", err.Error(), "")
				return
			}
		}
		rt.handle(w, r, p)
	})
}

// allowed checks an action on a project found in the request's data (a job's project).
func (srv *Server) allowed(w http.ResponseWriter, r *http.Request, p *Principal, a Action, project string) bool {
	if err := srv.auth.Authorize(r.Context(), p, a, project); err != nil {
		writeError(w, http.StatusForbidden, "forbidden", err.Error(), "")
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

func (srv *Server) listProjects(w http.ResponseWriter, r *http.Request, p *Principal) {
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
	ps, err := srv.store.projects(r.Context(), after, limit+1)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	out := page[*Project]{Items: []*Project{}}
	for _, pr := range ps {
		if srv.auth.Authorize(r.Context(), p, ActionRead, pr.Name) == nil {
			out.Items = append(out.Items, pr)
		}
	}
	if len(ps) > limit {
		out.Items = out.Items[:min(limit, len(out.Items))]
		out.Next = encodeCursor(cursor{N: ps[limit-1].Name})
	}
	writeJSON(w, http.StatusOK, out)
}

func (srv *Server) createProject(w http.ResponseWriter, r *http.Request, _ *Principal) {
	var p Project
	if !srv.decode(w, r, &p) {
		return
	}
	if err := p.validate(); err != nil {
		srv.fail(w, r, err)
		return
	}
	if err := srv.store.createProject(r.Context(), &p); err != nil {
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

func (srv *Server) getProject(w http.ResponseWriter, r *http.Request, _ *Principal) {
	p, err := srv.store.project(r.Context(), r.PathValue("name"))
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (srv *Server) refreshProject(w http.ResponseWriter, r *http.Request, _ *Principal) {
	p, err := srv.Refresh(r.Context(), r.PathValue("name"))
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (srv *Server) listHosts(w http.ResponseWriter, r *http.Request, p *Principal) {
	q := r.URL.Query()
	limit, err := pageLimit(r)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	f := hostFilter{Project: q.Get("project"), Status: q.Get("status"), Label: q.Get("label"), Name: q.Get("name"),
		Sort: q.Get("sort"), Cursor: q.Get("cursor"), Limit: limit}
	switch q.Get("order") {
	case "", "asc":
	case "desc":
		f.Desc = true
	default:
		srv.fail(w, r, &fieldError{"order", "asc or desc"})
		return
	}
	if f.Status != "" && !validStatus[f.Status] {
		srv.fail(w, r, &fieldError{"status", "Synced, OutOfSync, Failed, Unreachable or Unknown"})
		return
	}
	if f.Project != "" && !srv.allowed(w, r, p, ActionRead, f.Project) {
		return
	}
	hs, next, err := srv.store.hosts(r.Context(), f)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	out := page[*Host]{Items: []*Host{}, Next: next}
	for _, h := range hs {
		if srv.auth.Authorize(r.Context(), p, ActionRead, h.Project) == nil {
			out.Items = append(out.Items, h)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

var validStatus = map[string]bool{StatusSynced: true, StatusOutOfSync: true, StatusFailed: true, StatusUnreachable: true, StatusUnknown: true}

func (srv *Server) getHost(w http.ResponseWriter, r *http.Request, _ *Principal) {
	h, err := srv.store.host(r.Context(), r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

func (srv *Server) listJobs(w http.ResponseWriter, r *http.Request, p *Principal) {
	q := r.URL.Query()
	limit, err := pageLimit(r)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	f := jobFilter{Project: q.Get("project"), State: q.Get("state"), Kind: q.Get("kind"), Cursor: q.Get("cursor"), Limit: limit}
	if f.Project != "" && !srv.allowed(w, r, p, ActionRead, f.Project) {
		return
	}
	js, next, err := srv.store.jobs(r.Context(), f)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	out := page[*Job]{Items: []*Job{}, Next: next}
	for _, j := range js {
		if srv.auth.Authorize(r.Context(), p, ActionRead, j.Project) == nil {
			out.Items = append(out.Items, j)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (srv *Server) createJob(w http.ResponseWriter, r *http.Request, p *Principal) {
	var req JobRequest
	if !srv.decode(w, r, &req) {
		return
	}
	action := ActionApply
	if req.Kind == KindPlan || req.Kind == KindDriftCheck {
		action = ActionPlan
	}
	if !srv.allowed(w, r, p, action, req.Project) {
		return
	}
	j, err := srv.CreateJob(r.Context(), req, p.Name)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, j)
}

// pathJob reads the job of {id} and checks the action on its project.
func (srv *Server) pathJob(w http.ResponseWriter, r *http.Request, p *Principal, a Action) *Job {
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
	if !srv.allowed(w, r, p, a, j.Project) {
		return nil
	}
	return j
}

func (srv *Server) getJob(w http.ResponseWriter, r *http.Request, p *Principal) {
	if j := srv.pathJob(w, r, p, ActionRead); j != nil {
		writeJSON(w, http.StatusOK, j)
	}
}

func (srv *Server) cancelJob(w http.ResponseWriter, r *http.Request, p *Principal) {
	j := srv.pathJob(w, r, p, ActionApply)
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

func (srv *Server) getJobHosts(w http.ResponseWriter, r *http.Request, p *Principal) {
	j := srv.pathJob(w, r, p, ActionRead)
	if j == nil {
		return
	}
	hs, err := srv.store.jobHosts(r.Context(), j.ID)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page[*JobHost]{Items: hs})
}

// getJobEvents lists a job's events after ?after= (JSON), or streams them as server-sent events
// (Accept: text/event-stream), resuming after Last-Event-ID, until the job has finished and every
// event is sent.
func (srv *Server) getJobEvents(w http.ResponseWriter, r *http.Request, p *Principal) {
	j := srv.pathJob(w, r, p, ActionRead)
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
