// Package web is Capitain's web UI: server-rendered pages (html/template) over the server's own
// read functions and authorization, with htmx for the live parts; every asset is embedded.
package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
	"github.com/ch-aos-ch/chaos/internal/capitain/server"
)

//go:embed assets templates
var files embed.FS

// UI serves the pages. Its handler runs inside the server's authentication middleware
// (Server.SetUI), so auth.FromContext names the viewer.
type UI struct {
	srv   *server.Server
	log   *slog.Logger
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New is the UI of srv; log receives the errors a page hides behind "internal error".
func New(srv *server.Server, log *slog.Logger) (*UI, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ui := &UI{srv: srv, log: log, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: %s: %w", n, err)
		}
		ui.pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	assets, _ := fs.Sub(files, "assets")
	ui.mux.Handle("GET /assets/", http.StripPrefix("/assets/", cacheAssets(http.FileServerFS(assets))))
	ui.mux.HandleFunc("GET /login", ui.loginPage)
	ui.mux.HandleFunc("POST /login", ui.login)
	ui.mux.HandleFunc("POST /logout", ui.signedIn(ui.logout))
	ui.mux.HandleFunc("GET /{$}", ui.signedIn(ui.dashboard))
	ui.mux.HandleFunc("GET /projects", ui.signedIn(ui.projectsPage))
	ui.mux.HandleFunc("POST /projects/{name}/sync", ui.signedIn(ui.syncProject))
	ui.mux.HandleFunc("GET /hosts", ui.signedIn(ui.hostsPage))
	ui.mux.HandleFunc("GET /hosts/{project}/{name}", ui.signedIn(ui.hostPage))
	ui.mux.HandleFunc("POST /hosts/{project}/{name}/jobs", ui.signedIn(ui.hostJob))
	ui.mux.HandleFunc("GET /hosts/{project}/{name}/generations", ui.signedIn(ui.generationsPage))
	ui.mux.HandleFunc("POST /hosts/jobs", ui.signedIn(ui.bulkJob))
	ui.mux.HandleFunc("GET /jobs", ui.signedIn(ui.jobsPage))
	ui.mux.HandleFunc("GET /jobs/{id}", ui.signedIn(ui.jobPage))
	ui.mux.HandleFunc("GET /jobs/{id}/report/{format}", ui.signedIn(ui.jobReport))
	ui.mux.HandleFunc("GET /users", ui.signedIn(ui.usersPage))
	ui.mux.HandleFunc("POST /users", ui.signedIn(ui.createUser))
	ui.mux.HandleFunc("POST /users/roles", ui.signedIn(ui.setRole))
	ui.mux.HandleFunc("GET /tokens", ui.signedIn(ui.tokensPage))
	ui.mux.HandleFunc("POST /tokens", ui.signedIn(ui.createToken))
	ui.mux.HandleFunc("POST /tokens/{id}/revoke", ui.signedIn(ui.revokeToken))
	ui.mux.HandleFunc("GET /audit", ui.signedIn(ui.auditPage))
	return ui, nil
}

func cacheAssets(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// ServeHTTP sets the headers every page has (a strict CSP: no inline script or style, no
// framing) and routes the request.
func (ui *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	ui.mux.ServeHTTP(w, r)
}

// signedIn runs h for a signed-in viewer; others go to the login page, which brings them back.
func (ui *UI) signedIn(h func(http.ResponseWriter, *http.Request, *auth.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := auth.FromContext(r.Context())
		if p == nil {
			if r.Method != http.MethodGet {
				http.Error(w, "sign in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !ui.validCSRF(r) {
			http.Error(w, "the form's CSRF token is missing or wrong: reload the page", http.StatusForbidden)
			return
		}
		h(w, r, p)
	}
}

// view is what the layout shows around a page.
type view struct {
	Title string
	Nav   string
	User  *auth.Principal
	CSRF  string
	// Manage shows the Users and Audit links (the pages check again).
	Manage bool
	Page   any
}

func (ui *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	if v.User == nil {
		v.User = auth.FromContext(r.Context())
	}
	v.Manage = manages(v.User)
	if v.CSRF == "" && v.User != nil {
		v.CSRF = sessionCSRF(r)
	}
	var b strings.Builder
	if err := ui.pages[name].Execute(&b, v); err != nil {
		ui.log.Error("web: render", "page", name, "path", r.URL.Path, "error", err)
		http.Error(w, "internal error (logged by the server)", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// fail shows an error page: what the user can fix (a bad filter, a 403, a 404) in words, else
// "internal error" with the details in the log.
func (ui *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := auth.HTTPStatus(err), err.Error()
	if field, m, ok := server.FieldOf(err); ok {
		status, msg = http.StatusBadRequest, field+": "+m
	} else if server.IsNotFound(err) {
		status, msg = http.StatusNotFound, "not found"
	}
	if status == http.StatusInternalServerError {
		ui.log.Error("web", "method", r.Method, "path", r.URL.Path, "error", err)
		msg = "internal error (logged by the server)"
	}
	ui.render(w, r, status, "error", view{Title: http.StatusText(status), Page: msg})
}

// CSRF: a signed-in form carries an HMAC of the session token (which the HttpOnly cookie keeps
// from scripts and other sites), so any replica can check it without shared state; the login
// form, before any session, carries the value of a random cookie of its own (double submit).
const csrfCookie = "chaos_csrf"

func sessionCSRF(r *http.Request) string {
	c, err := r.Cookie(auth.SessionCookie)
	if err != nil || c.Value == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(c.Value))
	m.Write([]byte("capitain web csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (ui *UI) validCSRF(r *http.Request) bool {
	want := sessionCSRF(r)
	got := r.PostFormValue("csrf")
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// loginCSRF is the login form's token: the csrf cookie's value, set when missing.
func (ui *UI) loginCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/login", HttpOnly: true, Secure: ui.srv.Auth().Secure(r),
		SameSite: http.SameSiteStrictMode, MaxAge: int((12 * time.Hour).Seconds())})
	return v
}

type loginView struct {
	User, Next, Error string
}

// next is where a login returns to: a path of this site only (no //host, no scheme).
func next(v string) string {
	if !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.HasPrefix(v, "/\\") {
		return "/"
	}
	return v
}

func (ui *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	if auth.FromContext(r.Context()) != nil {
		http.Redirect(w, r, next(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	ui.render(w, r, http.StatusOK, "login", view{Title: "Sign in", CSRF: ui.loginCSRF(w, r),
		Page: loginView{Next: next(r.URL.Query().Get("next"))}})
}

func (ui *UI) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	user, pw, nxt := r.PostFormValue("user"), r.PostFormValue("password"), next(r.PostFormValue("next"))
	c, err := r.Cookie(csrfCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		ui.render(w, r, http.StatusForbidden, "login", view{Title: "Sign in", CSRF: ui.loginCSRF(w, r),
			Page: loginView{User: user, Next: nxt, Error: "The form expired: sign in again."}})
		return
	}
	a := ui.srv.Auth()
	tok, resp, err := a.Login(r.Context(), user, pw, a.ClientAddr(r))
	if err != nil {
		status, msg := auth.HTTPStatus(err), "Wrong user name or password."
		var ra *auth.RetryAfter
		switch {
		case errors.As(err, &ra):
			w.Header().Set("Retry-After", fmt.Sprint(int(ra.Wait.Seconds()+0.999)))
			msg = "Too many failed sign-ins: " + ra.Error() + "."
		case status != http.StatusUnauthorized:
			ui.fail(w, r, err)
			return
		}
		ui.render(w, r, status, "login", view{Title: "Sign in", CSRF: c.Value, Page: loginView{User: user, Next: nxt, Error: msg}})
		return
	}
	a.SetSessionCookie(w, r, tok, resp.Expires)
	http.Redirect(w, r, nxt, http.StatusSeeOther)
}

func (ui *UI) logout(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	if err := ui.srv.Auth().Logout(w, r); err != nil {
		ui.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
