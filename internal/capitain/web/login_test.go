package web_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
)

// lowContrast lists the visible text whose colour against its background is below WCAG AA
// (4.5:1), walking up to the first opaque background.
const lowContrast = `(() => {
  const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = c => { const v = c.slice(0, 3).map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const bg = e => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || c[3] > 0.5) return c; } return [255, 255, 255]; };
  const bad = [];
  for (const e of document.querySelectorAll("body *")) {
    if (![...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const r = e.getBoundingClientRect(); if (!r.width || !r.height) continue;
    const a = lum(rgb(getComputedStyle(e).color)), b = lum(bg(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) bad.push(e.tagName + "." + e.className + " " + ratio.toFixed(2) + ": " + e.textContent.trim().slice(0, 30));
  }
  return bad;
})()`

// unlabelled lists the form controls without a label.
const unlabelled = `[...document.querySelectorAll("input:not([type=hidden]), select, textarea")].filter(e => !e.labels || !e.labels.length).map(e => e.id || e.name)`

// TestLogin signs in through the login page of a real Chromium: the redirect back to the page
// asked for, a wrong password, the session cookie (HttpOnly: no script sees it; SameSite=Strict;
// not Secure over plain HTTP), CSRF tokens on the forms (a form without one is refused), both
// themes (contrast checked on every text), keyboard focus visible, labelled fields, sign-out
// revoking the session, and the lockout after repeated failures.
func TestLogin(t *testing.T) {
	f := start(t, -1)
	f.user("alice", true)
	b := newBrowser(t)

	b.do("open", chromedp.Navigate(f.base+"/hosts"), chromedp.WaitVisible(chromedp.CSS("#signin")))
	if loc := b.location(); loc != f.base+"/login?next=%2Fhosts" {
		t.Fatalf("not signed in, /hosts went to %s", loc)
	}
	if l := eval[[]string](b, unlabelled); len(l) > 0 {
		t.Fatalf("fields without a label: %v", l)
	}
	if theme := eval[string](b, `document.documentElement.dataset.theme`); theme != "light" {
		t.Fatalf("default theme %q (the headless browser prefers light)", theme)
	}
	if l := eval[[]string](b, lowContrast); len(l) > 0 {
		t.Fatalf("light theme, low contrast: %v", l)
	}
	// The keyboard reaches every control, and the focus shows (a 3px outline).
	seen := map[string]bool{}
	for range 8 {
		b.do("tab", chromedp.KeyEvent(kb.Tab))
		got := eval[string](b, `document.activeElement.id + " " + getComputedStyle(document.activeElement).outlineStyle + " " + getComputedStyle(document.activeElement).outlineWidth`)
		id, style, _ := strings.Cut(got, " ")
		if id != "" && style != "solid 3px" {
			t.Fatalf("keyboard focus on #%s is not visible: outline %q", id, style)
		}
		seen[id] = true
	}
	for _, id := range []string{"theme", "user", "password", "signin"} {
		if !seen[id] {
			t.Fatalf("the keyboard never reached #%s (reached %v)", id, seen)
		}
	}
	b.shot("login-light")

	b.do("wrong password", chromedp.SendKeys(chromedp.CSS("#user"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), "not the password"),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#login-error")))
	if msg := eval[string](b, `document.getElementById("login-error").textContent`); msg != "Wrong user name or password." {
		t.Fatalf("wrong password: %q", msg)
	}
	b.shot("login-error")

	if u := eval[string](b, `document.getElementById("user").value`); u != "alice" {
		t.Fatalf("the user name is not kept after a wrong password: %q", u)
	}
	b.do("sign in", chromedp.SendKeys(chromedp.CSS("#password"), password), chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#logout")))
	if loc := b.location(); loc != f.base+"/hosts" {
		t.Fatalf("signed in at %s, want back at /hosts", loc)
	}
	if c := eval[string](b, `document.cookie`); strings.Contains(c, auth.SessionCookie) {
		t.Fatalf("a script sees the session cookie: %q", c)
	}
	b.do("dark theme", chromedp.Click(chromedp.CSS("#theme")))
	if theme := eval[string](b, `document.documentElement.dataset.theme`); theme != "dark" {
		t.Fatalf("theme after the switch: %q", theme)
	}
	if l := eval[[]string](b, lowContrast); len(l) > 0 {
		t.Fatalf("dark theme, low contrast: %v", l)
	}
	b.shot("hosts-empty-dark")
	// The choice is kept across pages.
	b.do("reload", chromedp.Navigate(f.base+"/hosts"), chromedp.WaitVisible(chromedp.CSS("#logout")))
	if theme := eval[string](b, `document.documentElement.dataset.theme`); theme != "dark" {
		t.Fatalf("theme after a reload: %q", theme)
	}
	b.do("light theme", chromedp.Click(chromedp.CSS("#theme")))

	b.do("sign out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#signin")))
	b.do("signed out", chromedp.Navigate(f.base+"/hosts"), chromedp.WaitVisible(chromedp.CSS("#signin")))
	if loc := b.location(); !strings.HasPrefix(loc, f.base+"/login") {
		t.Fatalf("after signing out /hosts is %s", loc)
	}
	b.noErrors("status of 401 (Unauthorized) (" + f.base + "/login)") // the wrong password

	// What a browser cannot be made to do: forged forms and a replayed session.
	c := f.client()
	if resp, _ := f.postForm(c, "/login", url.Values{"user": {"alice"}, "password": {password}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login without the CSRF token: %d", resp.StatusCode)
	}
	csrf := f.formCSRF(c, "/login")
	resp, _ := f.postForm(c, "/login", url.Values{"user": {"alice"}, "password": {password}, "csrf": {csrf}, "next": {"//evil.example/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %d to %q, want 303 to / (never to another site)", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == auth.SessionCookie {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Secure {
		t.Fatalf("session cookie: %+v (want HttpOnly, SameSite=Strict, not Secure over plain HTTP)", session)
	}
	// Over TLS the cookie is Secure (the same handler behind a TLS listener).
	ts := httptest.NewTLSServer(f.srv.Handler())
	defer ts.Close()
	tc := ts.Client()
	tc.Jar, _ = cookiejar.New(nil)
	tc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	tlsf := *f
	tlsf.base = ts.URL
	tcsrf := tlsf.formCSRF(tc, "/login")
	tresp, _ := tlsf.postForm(tc, "/login", url.Values{"user": {"alice"}, "password": {password}, "csrf": {tcsrf}})
	var secure bool
	for _, ck := range tresp.Cookies() {
		secure = secure || (ck.Name == auth.SessionCookie && ck.Secure && ck.HttpOnly)
	}
	if tresp.StatusCode != http.StatusSeeOther || !secure {
		t.Fatalf("login over TLS: %d, Secure session cookie %v", tresp.StatusCode, secure)
	}
	if resp, _ := f.postForm(c, "/logout", url.Values{"csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout with a wrong CSRF token: %d", resp.StatusCode)
	}
	csrf = f.formCSRF(c, "/hosts")
	if resp, _ := f.postForm(c, "/logout", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	replay := f.client()
	u, _ := url.Parse(f.base)
	replay.Jar.SetCookies(u, []*http.Cookie{{Name: auth.SessionCookie, Value: session.Value}})
	if r, err := replay.Get(f.base + "/hosts"); err != nil || r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatalf("the session after sign-out: %v %v", r, err)
	}

	// Lockout: the auth package's limit of failed logins per user, shown on the page.
	c = f.client()
	csrf = f.formCSRF(c, "/login")
	var body string
	for i := 0; ; i++ {
		resp, body = f.postForm(c, "/login", url.Values{"user": {"alice"}, "password": {"wrong wrong wrong"}, "csrf": {csrf}})
		if resp.StatusCode == http.StatusTooManyRequests {
			break
		}
		if resp.StatusCode != http.StatusUnauthorized || i == 20 {
			t.Fatalf("failed login %d: %d", i+1, resp.StatusCode)
		}
	}
	if !strings.Contains(body, "Too many failed sign-ins") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("locked out: %s", body)
	}
	// The right password does not get in while locked.
	if resp, _ := f.postForm(c, "/login", url.Values{"user": {"alice"}, "password": {password}, "csrf": {csrf}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password while locked out: %d", resp.StatusCode)
	}
}
