package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
	"github.com/ch-aos-ch/chaos/internal/capitain/server"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

func TestRBACMatrixSQLite(t *testing.T) { testRBAC(t, "") }

func TestRBACMatrixPostgreSQL(t *testing.T) { testRBAC(t, testenv.PostgreSQL(t)) }

// The principals of the matrix. Users: gadmin (global admin), padmin (admin of alpha), operator
// (operator of alpha and of beta), viewer (viewer of alpha), outsider (no role). Their tokens have
// every scope, except alpha-op (operator's token restricted to project alpha) and read-only
// (padmin's token with scope read only); session is viewer's login session as a Bearer token,
// cookie another as the browser's cookie (it is allowed what session is). anon sends no
// credentials, garbage a token that is no Capitain token, and expired and revoked such tokens of
// gadmin's.
var (
	live   = []string{"gadmin", "padmin", "operator", "viewer", "session", "cookie", "outsider", "alpha-op", "read-only"}
	dead   = []string{"anon", "garbage", "expired", "revoked"}
	anyone = append(slices.Clone(live), dead...)
)

// matrixCase is one route called by every principal: who gets ok, and what the other live
// principals get (403 unless deny says otherwise; 401 for the dead ones unless public).
type matrixCase struct {
	op     string // the OpenAPI operation, "METHOD /api/v1/..."
	call   func(who string) (path string, body any)
	ok     int
	allow  []string
	deny   int
	public bool // no credentials needed: the dead principals get ok too
	// hidden are principals that get 404 (a job of a project they may not read).
	hidden []string
}

// An RBAC matrix over every route of the OpenAPI document, each called by every principal, every
// response validated against the document; then lists filtered to readable projects, the audit
// log of what was done (who, from where; refused calls leave nothing), and malformed, mistyped
// and oversized bodies on every route that takes one.
func testRBAC(t *testing.T, dsn string) {
	url, _ := testenv.GitServer(t, "fleet", map[string]string{
		"a/chobolo.yml": "files:\n  - path: /etc/motd\n    content: alpha\nfleet:\n  hosts:\n    a1: {ssh_hostname: 192.0.2.1, ssh_user: root}\n    a2: {ssh_hostname: 192.0.2.2, ssh_user: root}\n",
		"b/chobolo.yml": "files:\n  - path: /etc/motd\n    content: beta\nfleet:\n  hosts:\n    b1: {ssh_hostname: 192.0.2.3, ssh_user: root}\n",
	})
	// No workers: jobs stay queued (what is authorized is the API, not the runs).
	admin := startConfig(t, server.Config{DB: dsn, Workers: -1, MaxBody: 4096}, "")
	for _, p := range []string{"alpha", "beta"} {
		admin.must(201, "POST", "/api/v1/projects", map[string]any{"name": p, "repo": url + "fleet.git", "ref": "main", "path": p[:1] + "/chobolo.yml"}, nil)
		var pr server.Project
		admin.must(200, "POST", "/api/v1/projects/"+p+"/refresh", nil, &pr)
		if len(pr.Problems) > 0 || pr.Hosts == 0 {
			t.Fatalf("project %s: %+v", p, pr)
		}
	}
	const pw = "correct horse battery"
	for _, u := range []struct {
		name  string
		admin bool
		roles map[string]string
	}{
		{"gadmin", true, nil},
		{"padmin", false, map[string]string{"alpha": "admin"}},
		{"operator", false, map[string]string{"alpha": "operator", "beta": "operator"}},
		{"viewer", false, map[string]string{"alpha": "viewer"}},
		{"outsider", false, nil},
		{"victim", false, nil},
	} {
		admin.must(201, "POST", "/api/v1/users", map[string]any{"name": u.name, "password": pw, "admin": u.admin}, nil)
		for p, r := range u.roles {
			admin.must(200, "PUT", "/api/v1/projects/"+p+"/members/"+u.name, map[string]any{"role": r}, nil)
		}
	}
	all := []string{"read", "run", "write", "admin"}
	token := func(body map[string]any) (string, auth.Token) {
		var nt server.NewToken
		admin.must(201, "POST", "/api/v1/tokens", body, &nt)
		if !strings.HasPrefix(nt.Token, auth.APITokenPrefix) || nt.Info.ID == "" {
			t.Fatalf("created token: %+v", nt)
		}
		return nt.Token, nt.Info
	}
	tokens := map[string]string{"anon": "", "garbage": "chaos_pat_not-a-token"}
	for _, u := range []string{"gadmin", "padmin", "operator", "viewer", "outsider"} {
		tokens[u], _ = token(map[string]any{"user": u, "name": "matrix", "scopes": all, "expires_in": "1h"})
	}
	tokens["alpha-op"], _ = token(map[string]any{"user": "operator", "name": "alpha only", "scopes": all, "project": "alpha", "expires_in": "1h"})
	tokens["read-only"], _ = token(map[string]any{"user": "padmin", "name": "read only", "scopes": []string{"read"}, "expires_in": "1h"})
	var revoked auth.Token
	tokens["revoked"], revoked = token(map[string]any{"user": "gadmin", "name": "revoked", "scopes": all, "expires_in": "1h"})
	admin.must(204, "DELETE", "/api/v1/tokens/"+revoked.ID, nil, nil)
	var expired auth.Token
	tokens["expired"], expired = token(map[string]any{"user": "gadmin", "name": "expired", "scopes": all, "expires_in": "1s"})
	var login auth.LoginResponse
	newAPI(t, admin.base, "").must(200, "POST", "/api/v1/login", map[string]any{"user": "viewer", "password": pw}, &login)
	tokens["session"] = login.Token
	var cookie auth.LoginResponse
	newAPI(t, admin.base, "").must(200, "POST", "/api/v1/login", map[string]any{"user": "viewer", "password": pw}, &cookie)
	tokens["cookie"] = ""
	clients := map[string]*api{}
	for who, tok := range tokens {
		clients[who] = newAPI(t, admin.base, tok)
	}

	// A job of alpha for the read routes; each cancel cancels its own.
	newJob := func() int64 {
		var j server.Job
		admin.must(201, "POST", "/api/v1/jobs", map[string]any{"project": "alpha", "kind": "plan"}, &j)
		return j.ID
	}
	job := newJob()
	var betaJob server.Job
	admin.must(201, "POST", "/api/v1/jobs", map[string]any{"project": "beta", "kind": "plan"}, &betaJob)
	path := func(p string) func(string) (string, any) { return func(string) (string, any) { return p, nil } }
	with := func(p string, body any) func(string) (string, any) {
		return func(string) (string, any) { return p, body }
	}

	alphaReaders := []string{"gadmin", "padmin", "operator", "viewer", "session", "alpha-op", "read-only"}
	alphaRunners := []string{"gadmin", "padmin", "operator", "alpha-op"}
	alphaAdmins := []string{"gadmin", "padmin"}
	ownTokens := []string{"gadmin", "padmin", "operator", "viewer", "session", "outsider", "alpha-op"} // scope admin
	cases := []matrixCase{
		{op: "GET /api/v1/openapi.json", call: path("/api/v1/openapi.json"), ok: 200, allow: anyone, public: true},
		{op: "POST /api/v1/login", call: with("/api/v1/login", map[string]any{"user": "outsider", "password": pw}), ok: 200, allow: anyone, public: true},
		{op: "POST /api/v1/logout", ok: 204, allow: []string{"session"}, deny: 401, call: path("/api/v1/logout")},
		{op: "GET /api/v1/me", call: path("/api/v1/me"), ok: 200, allow: live},
		{op: "GET /api/v1/users", call: path("/api/v1/users"), ok: 200, allow: []string{"gadmin"}},
		{op: "POST /api/v1/users", ok: 201, allow: []string{"gadmin"}, call: func(who string) (string, any) {
			return "/api/v1/users", map[string]any{"name": "new-" + who}
		}},
		{op: "GET /api/v1/users/{user}", call: path("/api/v1/users/viewer"), ok: 200, allow: []string{"gadmin", "viewer", "session"}},
		{op: "PATCH /api/v1/users/{user}", call: with("/api/v1/users/victim", map[string]any{"disabled": false}), ok: 200, allow: []string{"gadmin"}},
		{op: "DELETE /api/v1/users/{user}", ok: 204, allow: []string{"gadmin"}, call: func(who string) (string, any) {
			admin.must(201, "POST", "/api/v1/users", map[string]any{"name": "gone-" + who}, nil)
			return "/api/v1/users/gone-" + who, nil
		}},
		{op: "PUT /api/v1/users/{user}/password", call: with("/api/v1/users/victim/password", map[string]any{"password": pw + "!"}), ok: 204, allow: []string{"gadmin"}},
		{op: "GET /api/v1/tokens", call: path("/api/v1/tokens"), ok: 200, allow: ownTokens},
		// alpha-op may create only tokens restricted to alpha: this one is not.
		{op: "POST /api/v1/tokens", call: with("/api/v1/tokens", map[string]any{"name": "mine", "scopes": []string{"read"}, "expires_in": "30m"}), ok: 201,
			allow: []string{"gadmin", "padmin", "operator", "viewer", "session", "outsider"}},
		{op: "DELETE /api/v1/tokens/{id}", ok: 204, allow: []string{"gadmin", "viewer", "session"}, call: func(string) (string, any) {
			_, tk := token(map[string]any{"user": "viewer", "name": "to revoke", "scopes": all, "expires_in": "1h"})
			return "/api/v1/tokens/" + tk.ID, nil
		}},
		{op: "GET /api/v1/projects/{name}/members", call: path("/api/v1/projects/alpha/members"), ok: 200, allow: alphaReaders},
		{op: "GET /api/v1/projects/{name}/members", call: path("/api/v1/projects/beta/members"), ok: 200, allow: []string{"gadmin", "operator"}},
		{op: "PUT /api/v1/projects/{name}/members/{user}", call: with("/api/v1/projects/alpha/members/victim", map[string]any{"role": "viewer"}), ok: 200, allow: alphaAdmins},
		{op: "DELETE /api/v1/projects/{name}/members/{user}", call: path("/api/v1/projects/alpha/members/victim"), ok: 200, allow: alphaAdmins},
		{op: "GET /api/v1/audit", call: path("/api/v1/audit"), ok: 200, allow: []string{"gadmin"}},
		{op: "GET /api/v1/audit", call: path("/api/v1/audit?project=alpha"), ok: 200, allow: []string{"gadmin", "padmin", "read-only"}},
		{op: "GET /api/v1/projects", call: path("/api/v1/projects"), ok: 200, allow: live},
		{op: "POST /api/v1/projects", ok: 201, allow: []string{"gadmin"}, call: func(who string) (string, any) {
			return "/api/v1/projects", map[string]any{"name": "p-" + who, "repo": url + "fleet.git", "path": "a/chobolo.yml"}
		}},
		{op: "GET /api/v1/projects/{name}", call: path("/api/v1/projects/alpha"), ok: 200, allow: alphaReaders},
		{op: "GET /api/v1/projects/{name}", call: path("/api/v1/projects/beta"), ok: 200, allow: []string{"gadmin", "operator"}},
		{op: "POST /api/v1/projects/{name}/refresh", call: path("/api/v1/projects/alpha/refresh"), ok: 200, allow: alphaRunners},
		{op: "POST /api/v1/projects/{name}/refresh", call: path("/api/v1/projects/beta/refresh"), ok: 200, allow: []string{"gadmin", "operator"}},
		{op: "GET /api/v1/hosts", call: path("/api/v1/hosts"), ok: 200, allow: live},
		{op: "GET /api/v1/hosts", call: path("/api/v1/hosts?project=beta"), ok: 200, allow: []string{"gadmin", "operator"}},
		{op: "GET /api/v1/hosts/{project}/{name}", call: path("/api/v1/hosts/alpha/a1"), ok: 200, allow: alphaReaders},
		{op: "GET /api/v1/hosts/{project}/{name}", call: path("/api/v1/hosts/beta/b1"), ok: 200, allow: []string{"gadmin", "operator"}},
		// The generations are read from the host itself (these hosts do not exist): a host the
		// fleet does not name is a 404 for readers, a missing generation number a 400.
		{op: "GET /api/v1/hosts/{project}/{name}/generations", call: path("/api/v1/hosts/alpha/nohost/generations"), ok: 404, allow: alphaReaders},
		{op: "GET /api/v1/hosts/{project}/{name}/generations/diff", call: path("/api/v1/hosts/alpha/a1/generations/diff?from=1"), ok: 400, allow: alphaReaders},
		{op: "GET /api/v1/jobs", call: path("/api/v1/jobs"), ok: 200, allow: live},
		{op: "GET /api/v1/jobs", call: path("/api/v1/jobs?project=beta"), ok: 200, allow: []string{"gadmin", "operator"}},
		{op: "POST /api/v1/jobs", call: with("/api/v1/jobs", map[string]any{"project": "alpha", "kind": "apply"}), ok: 201, allow: alphaRunners},
		{op: "POST /api/v1/jobs", call: with("/api/v1/jobs", map[string]any{"project": "alpha", "kind": "plan"}), ok: 201, allow: alphaRunners},
		{op: "POST /api/v1/jobs", call: with("/api/v1/jobs", map[string]any{"project": "beta", "kind": "rollback"}), ok: 201, allow: []string{"gadmin", "operator"}},
		{op: "GET /api/v1/jobs/{id}", call: path(fmt.Sprintf("/api/v1/jobs/%d", job)), ok: 200, allow: alphaReaders, hidden: []string{"outsider"}},
		{op: "GET /api/v1/jobs/{id}", call: path(fmt.Sprintf("/api/v1/jobs/%d", betaJob.ID)), ok: 200, allow: []string{"gadmin", "operator"},
			hidden: []string{"padmin", "viewer", "session", "outsider", "alpha-op", "read-only"}},
		{op: "POST /api/v1/jobs/{id}/cancel", ok: 200, allow: alphaRunners, hidden: []string{"outsider"}, call: func(string) (string, any) {
			return fmt.Sprintf("/api/v1/jobs/%d/cancel", newJob()), nil
		}},
		{op: "GET /api/v1/jobs/{id}/hosts", call: path(fmt.Sprintf("/api/v1/jobs/%d/hosts", job)), ok: 200, allow: alphaReaders, hidden: []string{"outsider"}},
		{op: "GET /api/v1/jobs/{id}/events", call: path(fmt.Sprintf("/api/v1/jobs/%d/events", job)), ok: 200, allow: alphaReaders, hidden: []string{"outsider"}},
		{op: "GET /api/v1/jobs/{id}/events", call: path(fmt.Sprintf("/api/v1/jobs/%d/events", betaJob.ID)), ok: 200, allow: []string{"gadmin", "operator"},
			hidden: []string{"padmin", "viewer", "session", "outsider", "alpha-op", "read-only"}},
	}

	// GitOps routes (gitops.go).
	var alpha server.Project
	admin.must(200, "GET", "/api/v1/projects/alpha", nil, &alpha)
	cases = append(cases,
		matrixCase{op: "PUT /api/v1/projects/{name}", ok: 200, allow: alphaAdmins,
			call: with("/api/v1/projects/alpha", map[string]any{"name": "alpha", "repo": url + "fleet.git", "ref": "main", "path": "a/chobolo.yml"})},
		matrixCase{op: "POST /api/v1/projects/{name}/rollback", ok: 201, allow: alphaRunners,
			call: with("/api/v1/projects/alpha/rollback", map[string]any{"commit": alpha.Commit})},
		matrixCase{op: "GET /api/v1/projects/{name}/schedules", call: path("/api/v1/projects/alpha/schedules"), ok: 200, allow: alphaReaders},
		matrixCase{op: "POST /api/v1/projects/{name}/schedules", ok: 201, allow: alphaAdmins,
			call: with("/api/v1/projects/alpha/schedules", map[string]any{"kind": "drift-check", "cron": "@yearly"})},
		matrixCase{op: "DELETE /api/v1/projects/{name}/schedules/{id}", ok: 204, allow: alphaAdmins, call: func(string) (string, any) {
			var sc server.Schedule
			admin.must(201, "POST", "/api/v1/projects/alpha/schedules", map[string]any{"kind": "drift-check", "cron": "@yearly"}, &sc)
			return fmt.Sprintf("/api/v1/projects/alpha/schedules/%d", sc.ID), nil
		}},
		// No token: a forge signs; alpha has no webhook secret, so everyone gets 404.
		matrixCase{op: "POST /api/v1/webhooks/{project}", call: with("/api/v1/webhooks/alpha", map[string]any{}), ok: 404, allow: anyone, public: true},
	)

	// Every operation of the document is in the matrix, and the matrix names no other.
	doc, err := spec()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for p, item := range doc.Paths.Map() {
		for m := range item.Operations() {
			documented[m+" "+p] = true
		}
	}
	covered := map[string]bool{}
	for _, c := range cases {
		if !documented[c.op] {
			t.Errorf("the matrix tests %s, which the OpenAPI document does not have", c.op)
		}
		covered[c.op] = true
	}
	for op := range documented {
		if !covered[op] {
			t.Errorf("the OpenAPI document's %s is not in the RBAC matrix", op)
		}
	}

	time.Sleep(time.Until(expired.Expires)) // the expired token's clock, not a synchronisation
	for _, c := range cases {
		method, _, _ := strings.Cut(c.op, " ")
		for _, who := range anyone {
			as := who
			if who == "cookie" {
				as = "session"
			}
			want := c.deny
			if want == 0 {
				want = http.StatusForbidden
			}
			switch {
			case slices.Contains(c.allow, as):
				want = c.ok
			case slices.Contains(dead, who) && !c.public:
				want = http.StatusUnauthorized
			case slices.Contains(c.hidden, as):
				want = http.StatusNotFound
			}
			p, body := c.call(who)
			cl := clients[who]
			var hdr []string
			if who == "cookie" {
				hdr = []string{"Cookie", auth.SessionCookie + "=" + cookie.Token}
			}
			if c.op == "POST /api/v1/logout" && as == "session" {
				// Its own session, so that the others' stays.
				var l auth.LoginResponse
				clients["anon"].must(200, "POST", "/api/v1/login", map[string]any{"user": "viewer", "password": pw}, &l)
				cl = newAPI(t, admin.base, l.Token)
				if who == "cookie" {
					cl, hdr = clients["anon"], []string{"Cookie", auth.SessionCookie + "=" + l.Token}
				}
			}
			var raw json.RawMessage
			if got := cl.do(method, p, body, &raw, hdr...); got != want {
				t.Errorf("%s %s as %s: %d, want %d: %.300s", method, p, who, got, want, raw)
			}
		}
	}

	// A session cookie on a cross-site request that changes something is refused (CSRF); reading
	// with it is not.
	cross := []string{"Cookie", auth.SessionCookie + "=" + cookie.Token, "Sec-Fetch-Site", "cross-site"}
	if got := clients["anon"].do("POST", "/api/v1/tokens", map[string]any{"name": "x", "scopes": []string{"read"}, "expires_in": "1h"}, nil, cross...); got != http.StatusForbidden {
		t.Errorf("a cross-site POST with the session cookie: %d, want 403", got)
	}
	if got := clients["anon"].do("GET", "/api/v1/projects", nil, nil, cross...); got != http.StatusOK {
		t.Errorf("a cross-site GET with the session cookie: %d, want 200", got)
	}

	// Lists hold only what the principal may read.
	for who, want := range map[string][]string{
		"gadmin": {"alpha", "beta", "p-gadmin"}, "operator": {"alpha", "beta"}, "alpha-op": {"alpha"}, "viewer": {"alpha"},
		"read-only": {"alpha"}, "outsider": {},
	} {
		var ps struct{ Items []server.Project }
		clients[who].must(200, "GET", "/api/v1/projects", nil, &ps)
		var hs struct{ Items []server.Host }
		clients[who].must(200, "GET", "/api/v1/hosts", nil, &hs)
		var js struct{ Items []server.Job }
		clients[who].must(200, "GET", "/api/v1/jobs?limit=1000", nil, &js)
		got := map[string]bool{}
		for _, p := range ps.Items {
			got[p.Name] = true
		}
		for _, h := range hs.Items {
			if !slices.Contains(want, h.Project) {
				t.Errorf("%s lists host %s of project %s", who, h.Name, h.Project)
			}
		}
		for _, j := range js.Items {
			if !slices.Contains(want, j.Project) {
				t.Errorf("%s lists job %d of project %s", who, j.ID, j.Project)
			}
		}
		names := sortedKeys(got)
		if !slices.Equal(names, want) {
			t.Errorf("%s lists projects %v, want %v", who, names, want)
		}
	}
	// A paged list filtered per project still pages: one project per page, no empty page.
	var first struct {
		Items []server.Project
		Next  string
	}
	clients["operator"].must(200, "GET", "/api/v1/projects?limit=1", nil, &first)
	if len(first.Items) != 1 || first.Items[0].Name != "alpha" || first.Next == "" {
		t.Errorf("operator's first page: %+v", first)
	}

	// The audit log: who did what, from where; refused calls wrote nothing.
	var audit auth.AuditPage
	admin.must(200, "GET", "/api/v1/audit?actor=operator&action=job.&limit=500", nil, &audit)
	var jobsByOperator struct{ Items []server.Job }
	admin.must(200, "GET", "/api/v1/jobs?limit=1000", nil, &jobsByOperator)
	n := 0
	for _, j := range jobsByOperator.Items {
		if j.Actor == "operator" {
			n++
		}
	}
	// operator created an apply, a plan and a rollback and cancelled one job; alpha-op (user
	// operator too) an apply and a plan and cancelled one; each also rolled project alpha back
	// (a rollback job each).
	if n != 7 || len(audit.Entries) != 9 {
		t.Errorf("operator made %d jobs and has %d job entries in the audit log, want 7 and 9: %+v", n, len(audit.Entries), audit.Entries)
	}
	for _, e := range audit.Entries {
		if e.Addr != "127.0.0.1" || e.TokenID == "" || e.Project == "" || !strings.HasPrefix(e.Target, "job:") || e.At.IsZero() {
			t.Errorf("audit entry without who, what, when or where: %+v", e)
		}
	}
	admin.must(200, "GET", "/api/v1/audit?action=project.create", nil, &audit)
	if len(audit.Entries) != 3 || audit.Entries[0].Target != "project:p-gadmin" {
		t.Errorf("project.create entries: %+v", audit.Entries)
	}
	// Pages of two, newest first, to the end.
	seen := map[int64]bool{}
	cursor, pages := "", 0
	for {
		var pg auth.AuditPage
		admin.must(200, "GET", "/api/v1/audit?limit=2&action=member.&cursor="+cursor, nil, &pg)
		pages++
		for i, e := range pg.Entries {
			if seen[e.ID] || (i > 0 && e.ID > pg.Entries[i-1].ID) {
				t.Fatalf("audit page %d: %+v", pages, pg.Entries)
			}
			seen[e.ID] = true
		}
		if cursor = pg.Next; cursor == "" {
			break
		}
	}
	// Four roles set in the setup, and padmin and gadmin each set and removed victim's.
	if len(seen) != 8 || pages != 4 {
		t.Errorf("member entries: %d in %d pages, want 8 in 4", len(seen), pages)
	}
	for _, bad := range []string{"limit=0", "limit=x", "since=yesterday", "cursor=!"} {
		admin.must(400, "GET", "/api/v1/audit?"+bad, nil, nil)
	}

	// Bodies: malformed, unknown fields, wrong types, wrong media type and oversized, on every
	// route that takes one.
	big := `{"name": "` + strings.Repeat("x", 5000) + `"}`
	for _, c := range cases {
		method, tmpl, _ := strings.Cut(c.op, " ")
		op := doc.Paths.Find(tmpl).GetOperation(method)
		// A webhook's body is the forge's, checked by gitsync.ParsePush after its signature.
		if op.RequestBody == nil || c.op == "POST /api/v1/webhooks/{project}" {
			continue
		}
		p, _ := c.call("gadmin")
		for _, b := range []struct {
			body, ct string
			want     int
		}{
			{`{"name": `, "application/json", 400},
			{`{"zzz": 1}`, "application/json", 400},
			{`{"name": 1, "project": 2, "user": 3, "role": 4, "password": 5, "disabled": "no"}`, "application/json", 400},
			{`{} {}`, "application/json", 400},
			{big, "application/json", http.StatusRequestEntityTooLarge},
		} {
			if got := admin.do(method, p, b.body, nil, "Content-Type", b.ct); got != b.want {
				t.Errorf("%s %s with %.40q: %d, want %d", method, p, b.body, got, b.want)
			}
		}
		if c.op != "POST /api/v1/login" {
			if got := admin.do(method, p, `{}`, nil, "Content-Type", "text/plain"); got != http.StatusUnsupportedMediaType {
				t.Errorf("%s %s as text/plain: %d, want 415", method, p, got)
			}
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
