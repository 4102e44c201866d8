package web

import (
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
)

// The users, tokens and audit pages call the auth package, which authorizes the viewer itself
// (as the API's handlers do); the pages only leave out what the viewer may not do.

// projectMembers is a project whose members the viewer may manage.
type projectMembers struct {
	Project string
	Members []auth.Member
}

type usersView struct {
	// Users is every user, for a global admin (nil for others).
	Users    []auth.User
	CanUsers bool
	// Projects are those whose members the viewer may manage, with their members.
	Projects []projectMembers
	Roles    []auth.Role
}

func (ui *UI) usersPage(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	ctx := r.Context()
	v := usersView{CanUsers: auth.Authorize(p, auth.ActionManageUsers, "") == nil,
		Roles: []auth.Role{auth.RoleViewer, auth.RoleOperator, auth.RoleAdmin}}
	if v.CanUsers {
		us, err := ui.srv.Auth().Users(ctx, p)
		if err != nil {
			ui.fail(w, r, err)
			return
		}
		v.Users = us
	}
	ps, err := ui.srv.Projects(ctx, p, "", projectsPageSize)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	for _, pr := range ps {
		if auth.Authorize(p, auth.ActionManageMembers, pr.Name) != nil {
			continue
		}
		ms, err := ui.srv.Auth().Members(ctx, p, pr.Name)
		if err != nil {
			ui.fail(w, r, err)
			return
		}
		v.Projects = append(v.Projects, projectMembers{Project: pr.Name, Members: ms})
	}
	if !v.CanUsers && len(v.Projects) == 0 {
		ui.fail(w, r, fmt.Errorf("%w: managing users and project members needs the admin role", auth.ErrForbidden))
		return
	}
	ui.render(w, r, http.StatusOK, "users", view{Title: "Users", Nav: "users", Page: v})
}

// createUser adds a local user (the Create user form).
func (ui *UI) createUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	_, err := ui.srv.Auth().CreateUser(r.Context(), p, auth.NewUser{Name: strings.TrimSpace(r.PostFormValue("name")),
		Password: r.PostFormValue("password"), Admin: r.PostFormValue("admin") == "on"})
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/users", http.StatusSeeOther)
}

// setRole gives a user a role on a project, or removes them from it (role "none").
func (ui *UI) setRole(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	role := auth.Role(r.PostFormValue("role"))
	if role == "none" {
		role = ""
	}
	project := r.PostFormValue("project")
	if err := ui.srv.SetRole(r.Context(), p, project, strings.TrimSpace(r.PostFormValue("user")), role); err != nil {
		ui.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/users#m-"+url.PathEscape(project), http.StatusSeeOther)
}

type tokensView struct {
	// User owns the tokens shown; Other is set when it is not the viewer (an admin's ?user=).
	User   string
	Other  bool
	Tokens []auth.Token
	Scopes []auth.Scope
	// Created is the token just created, shown this once.
	Created string
	// Now is when the page was made, to tell expired tokens.
	Now time.Time
}

// tokenLives are the Expires in choices of the Create token form.
var tokenLives = map[string]time.Duration{"7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour, "90d": 90 * 24 * time.Hour, "365d": 365 * 24 * time.Hour}

func (ui *UI) tokensPage(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	ui.showTokens(w, r, p, r.URL.Query().Get("user"), "")
}

func (ui *UI) showTokens(w http.ResponseWriter, r *http.Request, p *auth.Principal, user, created string) {
	if user == "" {
		user = p.User
	}
	ts, err := ui.srv.Auth().Tokens(r.Context(), p, user)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created != "" {
		status = http.StatusCreated
	}
	ui.render(w, r, status, "tokens", view{Title: "API tokens", Nav: "tokens", Page: tokensView{User: user, Other: user != p.User,
		Tokens: ts, Scopes: auth.AllScopes, Created: created, Now: time.Now()}})
}

// createToken makes an API token and shows it in the answer to the form, this once (the page
// is not cached: render sets no-store).
func (ui *UI) createToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	life, ok := tokenLives[r.PostFormValue("expires_in")]
	if !ok {
		ui.fail(w, r, &auth.FieldError{Field: "expires_in", Message: "7d, 30d, 90d or 365d"})
		return
	}
	var scopes []auth.Scope
	for _, s := range r.PostForm["scope"] {
		scopes = append(scopes, auth.Scope(s))
	}
	user := r.PostFormValue("user")
	tok, _, err := ui.srv.Auth().CreateToken(r.Context(), p, auth.NewToken{User: user, Name: strings.TrimSpace(r.PostFormValue("name")),
		Scopes: scopes, Project: strings.TrimSpace(r.PostFormValue("project")), Expires: time.Now().Add(life)})
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	ui.showTokens(w, r, p, user, tok)
}

func (ui *UI) revokeToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if err := ui.srv.Auth().RevokeToken(r.Context(), p, r.PathValue("id")); err != nil {
		ui.fail(w, r, err)
		return
	}
	back := "/tokens"
	if u := r.PostFormValue("user"); u != "" && u != p.User {
		back += "?user=" + url.QueryEscape(u)
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

const auditPageSize = 50

type auditView struct {
	Q       url.Values
	Entries []auth.Entry
	// Older is the link of the next page of older entries ("" on the last one); Newest that of
	// the first page when this one is not it.
	Older, Newest template.URL
}

// auditFilters are the audit page's filters, in the query.
var auditFilters = []string{"project", "actor", "action", "target", "since", "until"}

func (ui *UI) auditPage(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	q := r.URL.Query()
	aq := auth.AuditQuery{Project: q.Get("project"), Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"),
		Cursor: q.Get("cursor"), Limit: auditPageSize}
	// since and until are days (the date fields), until inclusive.
	for _, d := range []struct {
		field string
		to    *time.Time
		add   int
	}{{"since", &aq.Since, 0}, {"until", &aq.Until, 1}} {
		if s := q.Get(d.field); s != "" {
			t, err := time.Parse(time.DateOnly, s)
			if err != nil {
				ui.fail(w, r, &auth.FieldError{Field: d.field, Message: "a date (YYYY-MM-DD)"})
				return
			}
			*d.to = t.AddDate(0, 0, d.add)
		}
	}
	pg, err := ui.srv.Auth().Audit(r.Context(), p, aq)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	v := auditView{Q: q, Entries: pg.Entries}
	o := url.Values{}
	for _, k := range auditFilters {
		if s := q.Get(k); s != "" {
			o.Set(k, s)
		}
	}
	if q.Get("cursor") != "" {
		v.Newest = template.URL("/audit?" + o.Encode())
	}
	if pg.Next != "" {
		o.Set("cursor", pg.Next)
		v.Older = template.URL("/audit?" + o.Encode())
	}
	ui.render(w, r, http.StatusOK, "audit", view{Title: "Audit log", Nav: "audit", Page: v})
}

// manages is whether p administers anything: the Users and Audit links.
func manages(p *auth.Principal) bool {
	if p == nil {
		return false
	}
	return p.Admin || slices.Contains(slices.Collect(maps.Values(p.Roles)), auth.RoleAdmin)
}
