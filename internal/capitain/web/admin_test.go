package web_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestUsersTokensAudit is the admin pages in Chromium: a global admin creates a user, gives them
// a role on a project, creates an API token (shown once, working against the API) and revokes it
// (refused by the API after), and reads the audit log of all that with its filters and pages.
// A project admin manages that project's members only; a viewer sees none of the links and the
// server refuses every form they forge; a form without its CSRF token is refused.
func TestUsersTokensAudit(t *testing.T) {
	f := start(t, 1)
	f.user("alice", true)
	f.user("paul", false)
	f.user("victor", false)
	f.project("site", map[string]string{"chobolo.yml": deadFleet}, "chobolo.yml")
	f.project("other", map[string]string{"chobolo.yml": strings.ReplaceAll(deadFleet, "127.0.0.1", "127.0.0.2")}, "chobolo.yml")
	f.api("PUT", "/api/v1/projects/site/members/paul", map[string]string{"role": "admin"}, nil)
	f.api("PUT", "/api/v1/projects/site/members/victor", map[string]string{"role": "viewer"}, nil)

	b := newBrowser(t)
	b.login(f.base, "alice")
	b.do("users", chromedp.Click(chromedp.CSS(`nav a[href="/users"]`)), chromedp.WaitVisible(chromedp.CSS("#users")))
	b.do("create carol", chromedp.SendKeys(chromedp.CSS("#u-name"), "carol"), chromedp.SendKeys(chromedp.CSS("#u-password"), password),
		chromedp.Click(chromedp.CSS("#do-create-user")), chromedp.WaitVisible(chromedp.CSS("#u-carol")))
	b.do("carol operator of site", chromedp.SendKeys(chromedp.CSS("#r-user-site"), "carol"),
		chromedp.SetValue(chromedp.CSS("#r-role-site"), "operator"), chromedp.Click(chromedp.CSS("#set-role-site")),
		chromedp.WaitVisible(chromedp.CSS("#mem-site-carol")))
	if m := eval[string](b, `[...document.querySelectorAll("#m-site tbody tr")].map(r => r.cells[0].textContent + ":" + r.cells[1].textContent).join(" ")`); m != "carol:operator paul:admin victor:viewer" {
		t.Fatalf("site's members: %s", m)
	}
	b.shot("users")
	if l := eval[[]string](b, lowContrast); len(l) > 0 {
		t.Fatalf("users page, low contrast: %v", l)
	}

	// A token: shown once, works against the API, revoked from the page.
	b.do("tokens", chromedp.Click(chromedp.CSS(`nav a[href="/tokens"]`)), chromedp.WaitVisible(chromedp.CSS("#create-token")))
	b.do("create token", chromedp.SendKeys(chromedp.CSS("#t-name"), "ci"), chromedp.Click(chromedp.CSS("#t-scope-run")),
		chromedp.Click(chromedp.CSS("#do-create-token")), chromedp.WaitVisible(chromedp.CSS("#new-token")))
	tok := eval[string](b, `document.getElementById("new-token").textContent`)
	if !strings.HasPrefix(tok, "chaos_pat_") || b.rows("tokens") != 1 {
		t.Fatalf("new token %q, %d rows", tok, b.rows("tokens"))
	}
	if sc := eval[string](b, `document.querySelector("#tokens tbody tr td:nth-child(3)").textContent`); sc != "read, run" {
		t.Fatalf("scopes: %q", sc)
	}
	b.shot("token-created")
	if l := eval[[]string](b, lowContrast); len(l) > 0 {
		t.Fatalf("tokens page, low contrast: %v", l)
	}
	if st := bearer(t, f.base, tok); st != http.StatusOK {
		t.Fatalf("the new token: %d", st)
	}
	b.do("tokens again", chromedp.Navigate(f.base+"/tokens"), chromedp.WaitVisible(chromedp.CSS("#tokens")))
	if n := eval[int](b, `document.querySelectorAll("#new-token").length`); n != 0 || strings.Contains(eval[string](b, `document.body.innerHTML`), tok) {
		t.Fatal("the token is shown again")
	}
	b.do("revoke", chromedp.Click(chromedp.CSS(`#tokens button[id^="revoke-"]`)), chromedp.WaitNotPresent(chromedp.CSS(`#tokens button[id^="revoke-"]`)))
	if st := eval[string](b, `document.querySelector("#tokens .t-state").textContent`); st != "revoked" {
		t.Fatalf("after revoking: %s", st)
	}
	if st := bearer(t, f.base, tok); st != http.StatusUnauthorized {
		t.Fatalf("the revoked token: %d", st)
	}

	// The audit log: what was just done, filtered; more than a page (member changes), paged.
	for i := range 60 {
		role := []string{"viewer", "operator"}[i%2]
		f.api("PUT", "/api/v1/projects/other/members/carol", map[string]string{"role": role}, nil)
	}
	b.do("audit", chromedp.Click(chromedp.CSS(`nav a[href="/audit"]`)), chromedp.WaitVisible(chromedp.CSS("#audit")))
	if n := b.rows("audit"); n != 50 {
		t.Fatalf("audit page: %d rows", n)
	}
	b.shot("audit")
	if l := eval[[]string](b, lowContrast); len(l) > 0 {
		t.Fatalf("audit page, low contrast: %v", l)
	}
	seen := eval[string](b, `document.querySelector("#audit tbody").textContent`)
	b.do("older", chromedp.Click(chromedp.CSS("#older")), chromedp.WaitVisible(chromedp.CSS("#newest")))
	older := eval[string](b, `document.querySelector("#audit tbody").textContent`)
	for _, a := range []string{"token.revoke", "token.create", "member.set"} {
		if !strings.Contains(seen+older, a) {
			t.Fatalf("no %s in the audit log", a)
		}
	}
	if !strings.Contains(seen+older, "user.create") || b.rows("audit") == 0 {
		t.Fatalf("the older page: %d rows:\n%s", b.rows("audit"), older)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	for q, want := range map[string]string{"actor=alice&action=token.": "token.revoke token.create", "actor=alice&action=user.create": "user.create",
		"project=other&action=member.set&until=" + today: "", "since=" + tomorrow: "", "target=user:carol&action=user.": "user.create"} {
		b.do("audit?"+q, chromedp.Navigate(f.base+"/audit?"+q), chromedp.WaitVisible(chromedp.CSS("#audit")))
		got := eval[string](b, `[...document.querySelectorAll("#audit tbody tr:not(:has(.empty))")].map(r => r.cells[3].textContent).join(" ")`)
		if strings.HasPrefix(q, "project=other") {
			// 60 member changes today, on pages of 50: a full page and an older one.
			if n := b.rows("audit"); n != 50 || eval[int](b, `document.querySelectorAll("#older").length`) != 1 {
				t.Fatalf("audit?%s: %d rows", q, n)
			}
			continue
		}
		if got != want {
			t.Fatalf("audit?%s: %q, want %q", q, got, want)
		}
	}
	b.do("audit bad date", chromedp.Navigate(f.base+"/audit?since=yesterday"), chromedp.WaitVisible(chromedp.CSS("main")))
	if msg := eval[string](b, `document.querySelector("main").textContent`); !strings.Contains(msg, "since: a date") {
		t.Fatalf("a bad date: %s", msg)
	}
	b.noErrors("400")

	// A project admin: the members of their project only, no user list; their forms checked.
	paul := f.signIn("paul")
	page := get(t, paul, f.base+"/users", http.StatusOK)
	if !strings.Contains(page, `id="m-site"`) || strings.Contains(page, `id="m-other"`) || strings.Contains(page, `id="users"`) {
		t.Fatalf("paul's users page:\n%s", page)
	}
	csrf := csrfRE.FindStringSubmatch(page)[1]
	for _, c := range []struct {
		path string
		form url.Values
		want int
	}{
		{"/users/roles", url.Values{"project": {"site"}, "user": {"carol"}, "role": {"viewer"}}, http.StatusSeeOther},
		{"/users/roles", url.Values{"project": {"other"}, "user": {"carol"}, "role": {"admin"}}, http.StatusForbidden},
		{"/users", url.Values{"name": {"mallory"}, "password": {password}, "admin": {"on"}}, http.StatusForbidden},
	} {
		c.form.Set("csrf", csrf)
		if resp, body := f.postForm(paul, c.path, c.form); resp.StatusCode != c.want {
			t.Fatalf("paul POST %s %v: %d, want %d\n%s", c.path, c.form, resp.StatusCode, c.want, body)
		}
	}

	// A viewer: no Users or Audit link, the pages refused, every forged form refused.
	victor := f.signIn("victor")
	page = get(t, victor, f.base+"/tokens", http.StatusOK)
	if strings.Contains(page, `href="/users"`) || strings.Contains(page, `href="/audit"`) {
		t.Fatal("a viewer has the Users or Audit link")
	}
	get(t, victor, f.base+"/users", http.StatusForbidden)
	get(t, victor, f.base+"/audit", http.StatusForbidden)
	get(t, victor, f.base+"/tokens?user=alice", http.StatusForbidden)
	csrf = csrfRE.FindStringSubmatch(page)[1]
	m := regexp.MustCompile(`id="t-([^"]+)"`).FindStringSubmatch(get(t, f.signIn("alice"), f.base+"/tokens", http.StatusOK))
	if m == nil {
		t.Fatal("alice has no token row")
	}
	aliceTok := m[1]
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/users", url.Values{"name": {"mallory"}, "password": {password}}},
		{"/users/roles", url.Values{"project": {"site"}, "user": {"victor"}, "role": {"admin"}}},
		{"/tokens", url.Values{"user": {"alice"}, "name": {"x"}, "scope": {"read"}, "expires_in": {"7d"}}},
		{"/tokens/" + aliceTok + "/revoke", url.Values{}},
	} {
		c.form.Set("csrf", csrf)
		if resp, body := f.postForm(victor, c.path, c.form); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("victor POST %s: %d, want 403\n%s", c.path, resp.StatusCode, body)
		}
	}
	// Without the CSRF token, even the admin's form is refused.
	if resp, _ := f.postForm(f.signIn("alice"), "/users", url.Values{"name": {"mallory"}, "password": {password}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a form without CSRF: %d", resp.StatusCode)
	}
	// Victor's own token: allowed, within his scopes.
	if resp, body := f.postForm(victor, "/tokens", url.Values{"csrf": {csrf}, "name": {"mine"}, "scope": {"read"}, "expires_in": {"7d"}}); resp.StatusCode != http.StatusCreated ||
		!strings.Contains(body, "chaos_pat_") {
		t.Fatalf("victor's own token: %d", resp.StatusCode)
	}
}

// bearer is the status of GET /api/v1/me with token.
func bearer(t *testing.T, base, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// get GETs u with c, wants the status, and returns the body.
func get(t *testing.T, c *http.Client, u string, want int) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d\n%s", u, resp.StatusCode, want, b)
	}
	return string(b)
}
