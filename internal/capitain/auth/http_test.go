package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// api is a small server as Capitain mounts this package: login and logout, and two project
// routes guarded by Require.
func api(s *Store) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/login", s.LoginHandler())
	mux.Handle("/api/v1/logout", s.LogoutHandler())
	project := func(r *http.Request) string { return r.PathValue("id") }
	mux.Handle("GET /api/v1/projects/{id}", Require(ActionReadProject, project, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "project %s for %s", r.PathValue("id"), FromContext(r.Context()).User)
	})))
	mux.Handle("POST /api/v1/projects/{id}/apply", Require(ActionApply, project, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	})))
	mux.Handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	return s.Middleware(mux)
}

// clears reports whether resp deletes the session cookie.
func clears(resp *http.Response) bool {
	for _, ck := range resp.Cookies() {
		if ck.Name == SessionCookie && ck.MaxAge < 0 {
			return true
		}
	}
	return false
}

type client struct {
	t    *testing.T
	base string
}

// do sends a request and returns the status, the body and the response.
func (c client) do(method, path, token string, body any, hdr ...string) (int, string, *http.Response) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp
}

// errorCode is the code of a JSON error body.
func errorCode(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message, Field string }
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not a JSON error: %q", body)
	}
	return e.Error.Code
}

func TestHTTP(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		clk := withClock(s)
		admin := setup(t, s)
		mustUser(t, s, admin, "olga", "olga's password", false)
		mustUser(t, s, admin, "vic", "vic's password", false)
		for user, role := range map[string]Role{"olga": RoleOperator, "vic": RoleViewer} {
			if err := s.SetRole(ctx, admin, "web", user, role); err != nil {
				t.Fatal(err)
			}
		}
		srv := httptest.NewServer(api(s))
		defer srv.Close()
		c := client{t, srv.URL}

		login := func(user, pw string) (int, LoginResponse, *http.Response) {
			st, body, resp := c.do("POST", "/api/v1/login", "", LoginRequest{User: user, Password: pw})
			var lr LoginResponse
			if st == http.StatusOK {
				if err := json.Unmarshal([]byte(body), &lr); err != nil {
					t.Fatal(err)
				}
			}
			return st, lr, resp
		}
		st, olga, resp := login("olga", "olga's password")
		if st != http.StatusOK || !strings.HasPrefix(olga.Token, SessionTokenPrefix) || olga.User != "olga" {
			t.Fatalf("login: %d %+v", st, olga)
		}
		var cookie *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == SessionCookie {
				cookie = ck
			}
		}
		if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Value != olga.Token {
			t.Fatalf("session cookie %+v", cookie)
		}
		if d := olga.Expires.Sub(clk.now()); d != DefaultSessionTTL {
			t.Fatalf("session lasts %s", d)
		}
		_, vic, _ := login("vic", "vic's password")

		for _, tc := range []struct {
			name, method, path, token string
			hdr                       []string
			want                      int
			code                      string
		}{
			{"public route without credentials", "GET", "/healthz", "", nil, 200, ""},
			{"no credentials", "GET", "/api/v1/projects/web", "", nil, 401, "unauthenticated"},
			{"unknown token", "GET", "/api/v1/projects/web", newToken(APITokenPrefix), nil, 401, "unauthenticated"},
			{"garbage token, even on a public route", "GET", "/healthz", "hunter2", nil, 401, "unauthenticated"},
			{"not Bearer", "GET", "/api/v1/projects/web", "", []string{"Authorization", "Basic b2xnYTpwdw=="}, 401, "unauthenticated"},
			{"viewer reads", "GET", "/api/v1/projects/web", vic.Token, nil, 200, ""},
			{"viewer cannot apply", "POST", "/api/v1/projects/web/apply", vic.Token, nil, 403, "forbidden"},
			{"operator applies", "POST", "/api/v1/projects/web/apply", olga.Token, nil, 202, ""},
			{"operator of web cannot read db", "GET", "/api/v1/projects/db", olga.Token, nil, 403, "forbidden"},
			{"session cookie", "GET", "/api/v1/projects/web", "", []string{"Cookie", SessionCookie + "=" + olga.Token}, 200, ""},
			{"session cookie, same-site POST", "POST", "/api/v1/projects/web/apply", "", []string{"Cookie", SessionCookie + "=" + olga.Token, "Sec-Fetch-Site", "same-origin"}, 202, ""},
			{"session cookie, cross-site POST", "POST", "/api/v1/projects/web/apply", "", []string{"Cookie", SessionCookie + "=" + olga.Token, "Sec-Fetch-Site", "cross-site"}, 403, "forbidden"},
			{"API token in the cookie", "GET", "/api/v1/projects/web", "", []string{"Cookie", SessionCookie + "=" + newToken(APITokenPrefix)}, 401, "unauthenticated"},
		} {
			st, body, resp := c.do(tc.method, tc.path, tc.token, nil, tc.hdr...)
			if st != tc.want {
				t.Errorf("%s: %d %s, want %d", tc.name, st, body, tc.want)
				continue
			}
			if tc.code != "" && errorCode(t, body) != tc.code {
				t.Errorf("%s: %s", tc.name, body)
			}
			if st == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
			}
		}
		if _, body, _ := c.do("GET", "/api/v1/projects/web", vic.Token, nil); body != "project web for vic" {
			t.Errorf("handler saw %q", body)
		}
		// A token's expiry is seen at once (the store's clock).
		clk.add(DefaultSessionTTL)
		if st, _, _ := c.do("GET", "/api/v1/projects/web", vic.Token, nil); st != 401 {
			t.Errorf("expired session: %d", st)
		}
		// Logout revokes the session and clears the cookie.
		_, olga, _ = login("olga", "olga's password")
		if st, body, _ := c.do("POST", "/api/v1/logout", olga.Token, nil); st != http.StatusNoContent {
			t.Fatalf("logout: %d %s", st, body)
		}
		if st, _, _ := c.do("GET", "/api/v1/projects/web", olga.Token, nil); st != 401 {
			t.Errorf("after logout: %d", st)
		}
		// A stale session cookie (logged out) is ignored and cleared: the login still works.
		stale := []string{"Cookie", SessionCookie + "=" + olga.Token}
		if st, _, resp := c.do("GET", "/healthz", "", nil, stale...); st != 200 || !clears(resp) {
			t.Errorf("public route with a stale cookie: %d, cleared %v", st, clears(resp))
		}
		if st, _, _ := c.do("GET", "/api/v1/projects/web", "", nil, stale...); st != 401 {
			t.Errorf("protected route with a stale cookie: %d", st)
		}
		if st, body, _ := c.do("POST", "/api/v1/login", "", LoginRequest{User: "olga", Password: "olga's password"}, stale...); st != 200 {
			t.Errorf("login with a stale cookie: %d %s", st, body)
		}
		if st, _, _ := c.do("POST", "/api/v1/logout", "", nil); st != 401 {
			t.Errorf("logout without a session: %d", st)
		}
		// Bad login bodies.
		for body, want := range map[string]int{`{"user": "olga"`: 400, `{"user": "olga", "password": "x", "otp": 1}`: 400,
			`{"user": "olga", "password": "x"} {}`: 400, `{"user": "` + strings.Repeat("a", 5000) + `"}`: 413} {
			req, _ := http.NewRequest("POST", srv.URL+"/api/v1/login", strings.NewReader(body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("login body %.40q: %d, want %d", body, resp.StatusCode, want)
			}
		}
		if st, _, _ := c.do("GET", "/api/v1/login", "", nil); st != http.StatusMethodNotAllowed {
			t.Errorf("GET login: %d", st)
		}
	})
}

// TestLoginRateLimit: failures lock the user from every address, and an address for every user,
// until they leave the window; a wrong password and an unknown user look the same.
func TestLoginRateLimit(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		clk := withClock(s)
		admin := setup(t, s)
		mustUser(t, s, admin, "pat", "pat's password", false)
		mustUser(t, s, admin, "quinn", "quinn's password", false)
		srv := httptest.NewServer(api(s))
		defer srv.Close()
		c := client{t, srv.URL}
		for i := 0; i < userFailures; i++ {
			_, _, err := s.Login(ctx, "pat", "guess", fmt.Sprintf("203.0.113.%d", i))
			if !errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrRateLimited) {
				t.Fatalf("failure %d: %v", i, err)
			}
			clk.add(time.Second)
		}
		// Locked now, even with the right password and from a new address.
		st, body, resp := c.do("POST", "/api/v1/login", "", LoginRequest{User: "pat", Password: "pat's password"})
		if st != http.StatusTooManyRequests || errorCode(t, body) != "too_many_requests" {
			t.Fatalf("locked user: %d %s", st, body)
		}
		wait := loginWindow - time.Duration(userFailures)*time.Second
		if ra := resp.Header.Get("Retry-After"); ra != fmt.Sprint(int(wait.Seconds())) {
			t.Errorf("Retry-After %q, want %v", ra, wait.Seconds())
		}
		// Another user is not locked.
		if _, _, err := s.Login(ctx, "quinn", "quinn's password", "203.0.113.50"); err != nil {
			t.Fatalf("other user: %v", err)
		}
		// The first failure leaves the window: one more attempt is allowed.
		clk.add(wait)
		if _, _, err := s.Login(ctx, "pat", "pat's password", "203.0.113.51"); err != nil {
			t.Fatalf("after the window: %v", err)
		}
		// An address spraying passwords over many names (known or not) is locked for all.
		for i := 0; i < addrFailures; i++ {
			if _, _, err := s.Login(ctx, fmt.Sprintf("user%d", i%3), "guess", "2001:db8::1"); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("spray %d: %v", i, err)
			}
		}
		// The same /64 counts as the same address.
		if _, _, err := s.Login(ctx, "quinn", "quinn's password", "2001:db8::ffff"); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("sprayed /64: %v", err)
		}
		if _, _, err := s.Login(ctx, "quinn", "quinn's password", "2001:db8:0:1::1"); err != nil {
			t.Fatalf("another /64: %v", err)
		}
		// Failed logins are in the audit log, under the name tried, with the address.
		page, err := s.Audit(ctx, admin, AuditQuery{Action: "login.failed", Actor: "user1", Limit: 1})
		if err != nil || len(page.Entries) != 1 || page.Entries[0].Addr != "2001:db8::1" {
			t.Fatalf("failed login audit %+v %v", page, err)
		}
	})
}

func TestClientAddr(t *testing.T) {
	s := New(nil, SQLite)
	s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, c := range []struct {
		remote, xff, want string
	}{
		{"192.0.2.1:5000", "", "192.0.2.1"},
		{"192.0.2.1:5000", "198.51.100.9", "192.0.2.1"},                      // not a proxy: header ignored
		{"10.1.2.3:5000", "198.51.100.9", "198.51.100.9"},                    // our proxy saw the client
		{"10.1.2.3:5000", "6.6.6.6, 198.51.100.9, 10.9.9.9", "198.51.100.9"}, // the client forged the first hop
		{"[::1]:5000", "198.51.100.9", "198.51.100.9"},
		{"10.1.2.3:5000", "", "10.1.2.3"},
		{"10.1.2.3:5000", "junk", "10.1.2.3"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := s.ClientAddr(r); got != c.want {
			t.Errorf("%s via %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}
