package server

import (
	"net/http"
	"time"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
)

// authRoutes are the routes of users, tokens, project members and the audit log. Their handlers
// call internal/capitain/auth, which authorizes the principal itself (a user manages their own
// tokens, a global admin everyone's) and audits each change in the change's transaction.
func (srv *Server) authRoutes() map[string]route {
	member := func(r *http.Request) string { return r.PathValue("name") }
	return map[string]route{
		"GET /api/v1/me":                                {"", nil, srv.me},
		"GET /api/v1/users":                             {"", nil, srv.listUsers},
		"POST /api/v1/users":                            {"", nil, srv.createUser},
		"GET /api/v1/users/{user}":                      {"", nil, srv.getUser},
		"PATCH /api/v1/users/{user}":                    {"", nil, srv.updateUser},
		"DELETE /api/v1/users/{user}":                   {"", nil, srv.deleteUser},
		"PUT /api/v1/users/{user}/password":             {"", nil, srv.setPassword},
		"GET /api/v1/tokens":                            {"", nil, srv.listTokens},
		"POST /api/v1/tokens":                           {"", nil, srv.createToken},
		"DELETE /api/v1/tokens/{id}":                    {"", nil, srv.revokeToken},
		"GET /api/v1/projects/{name}/members":           {auth.ActionReadProject, member, srv.listMembers},
		"PUT /api/v1/projects/{name}/members/{user}":    {auth.ActionManageMembers, member, srv.setMember},
		"DELETE /api/v1/projects/{name}/members/{user}": {auth.ActionManageMembers, member, srv.setMember},
		"GET /api/v1/audit":                             {"", nil, srv.listAudit},
	}
}

func (srv *Server) me(w http.ResponseWriter, _ *http.Request, p *auth.Principal) {
	writeJSON(w, http.StatusOK, p)
}

func (srv *Server) listUsers(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	us, err := srv.auth.Users(r.Context(), p)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page[auth.User]{Items: us})
}

// UserInput is the body that creates a user.
type UserInput struct {
	Name     string `json:"name"`
	Password string `json:"password,omitempty"`
	Admin    bool   `json:"admin,omitempty"`
}

func (srv *Server) createUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var in UserInput
	if !srv.decode(w, r, &in) {
		return
	}
	u, err := srv.auth.CreateUser(r.Context(), p, auth.NewUser{Name: in.Name, Password: in.Password, Admin: in.Admin})
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

func (srv *Server) getUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	u, err := srv.auth.User(r.Context(), p, r.PathValue("user"))
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// UserUpdate is the body that changes a user's flags (absent fields stay).
type UserUpdate struct {
	Admin    *bool `json:"admin,omitempty"`
	Disabled *bool `json:"disabled,omitempty"`
}

func (srv *Server) updateUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var in UserUpdate
	if !srv.decode(w, r, &in) {
		return
	}
	u, err := srv.auth.UpdateUser(r.Context(), p, r.PathValue("user"), auth.UserUpdate{Admin: in.Admin, Disabled: in.Disabled})
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (srv *Server) deleteUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if err := srv.auth.DeleteUser(r.Context(), p, r.PathValue("user")); err != nil {
		srv.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// PasswordInput sets a password: a user changing their own gives the current one.
type PasswordInput struct {
	Current  string `json:"current,omitempty"`
	Password string `json:"password"`
}

func (srv *Server) setPassword(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var in PasswordInput
	if !srv.decode(w, r, &in) {
		return
	}
	if err := srv.auth.SetPassword(r.Context(), p, r.PathValue("user"), in.Current, in.Password); err != nil {
		srv.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (srv *Server) listTokens(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	ts, err := srv.auth.Tokens(r.Context(), p, r.URL.Query().Get("user"))
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page[auth.Token]{Items: ts})
}

// TokenInput creates an API token: its expiry is Expires, or ExpiresIn from now (one of them).
type TokenInput struct {
	User      string       `json:"user,omitempty"`
	Name      string       `json:"name"`
	Scopes    []auth.Scope `json:"scopes"`
	Project   string       `json:"project,omitempty"`
	Expires   *time.Time   `json:"expires,omitempty"`
	ExpiresIn string       `json:"expires_in,omitempty"`
}

// NewToken is a created token: Token is shown this once.
type NewToken struct {
	Token string     `json:"token"`
	Info  auth.Token `json:"info"`
}

func (srv *Server) createToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var in TokenInput
	if !srv.decode(w, r, &in) {
		return
	}
	var exp time.Time
	switch {
	case (in.Expires == nil) == (in.ExpiresIn == ""):
		srv.fail(w, r, &fieldError{"expires", "give expires (a date-time) or expires_in (a duration such as 720h)"})
		return
	case in.Expires != nil:
		exp = *in.Expires
	default:
		d, err := time.ParseDuration(in.ExpiresIn)
		if err != nil || d <= 0 {
			srv.fail(w, r, &fieldError{"expires_in", "a positive duration such as 720h"})
			return
		}
		exp = time.Now().Add(d)
	}
	tok, t, err := srv.auth.CreateToken(r.Context(), p, auth.NewToken{User: in.User, Name: in.Name, Scopes: in.Scopes, Project: in.Project, Expires: exp})
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, NewToken{Token: tok, Info: t})
}

func (srv *Server) revokeToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if err := srv.auth.RevokeToken(r.Context(), p, r.PathValue("id")); err != nil {
		srv.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (srv *Server) listMembers(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if _, err := srv.store.project(r.Context(), r.PathValue("name")); err != nil {
		srv.fail(w, r, err)
		return
	}
	ms, err := srv.auth.Members(r.Context(), p, r.PathValue("name"))
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page[auth.Member]{Items: ms})
}

// MemberInput gives a user a role on a project.
type MemberInput struct {
	Role auth.Role `json:"role"`
}

// setMember serves PUT (give the role in the body) and DELETE (remove the user from the project).
func (srv *Server) setMember(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var in MemberInput
	if r.Method == http.MethodPut {
		if !srv.decode(w, r, &in) {
			return
		}
		if in.Role == "" {
			srv.fail(w, r, &fieldError{"role", "admin, operator or viewer"})
			return
		}
	}
	project := r.PathValue("name")
	if _, err := srv.store.project(r.Context(), project); err != nil {
		srv.fail(w, r, err)
		return
	}
	if err := srv.auth.SetRole(r.Context(), p, project, r.PathValue("user"), in.Role); err != nil {
		srv.fail(w, r, err)
		return
	}
	ms, err := srv.auth.Members(r.Context(), p, project)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page[auth.Member]{Items: ms})
}

func (srv *Server) listAudit(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	q := r.URL.Query()
	aq := auth.AuditQuery{Project: q.Get("project"), Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"), Cursor: q.Get("cursor")}
	for _, t := range []struct {
		field string
		to    *time.Time
	}{{"since", &aq.Since}, {"until", &aq.Until}} {
		if s := q.Get(t.field); s != "" {
			v, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				srv.fail(w, r, &fieldError{t.field, "a date-time (RFC 3339)"})
				return
			}
			*t.to = v
		}
	}
	if q.Get("limit") != "" {
		n, err := pageLimit(r)
		if err != nil {
			srv.fail(w, r, err)
			return
		}
		aq.Limit = min(n, auth.MaxAuditLimit)
	}
	pg, err := srv.auth.Audit(r.Context(), p, aq)
	if err != nil {
		srv.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pg)
}
