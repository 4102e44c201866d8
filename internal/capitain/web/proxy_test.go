package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
	"github.com/ch-aos-ch/chaos/internal/capitain/server"
)

// TestForwardedProto: behind a proxy that terminates TLS, the session cookie (and the login
// form's CSRF cookie) is Secure when a trusted proxy says X-Forwarded-Proto: https; the same
// header from an untrusted address, or http from a trusted one, leaves it plain (the server sees
// HTTP). Both the web login and the API's POST /api/v1/login.
func TestForwardedProto(t *testing.T) {
	for _, c := range []struct {
		name    string
		trusted []string
		proto   string
		secure  bool
	}{
		{"trusted https", []string{"127.0.0.0/8"}, "https", true},
		{"trusted https, two proxies", []string{"127.0.0.0/8"}, "https, http", true},
		{"trusted http", []string{"127.0.0.0/8"}, "http", false},
		{"untrusted https", []string{"10.0.0.0/8"}, "https", false},
		{"no proxy", nil, "https", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := startConfig(t, server.Config{Workers: -1, TrustedProxies: c.trusted})
			f.user("alice", false)
			cl := f.client()
			req, _ := http.NewRequest("GET", f.base+"/login", nil)
			req.Header.Set("X-Forwarded-Proto", c.proto)
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var csrf *http.Cookie
			for _, ck := range resp.Cookies() {
				if ck.Name == "chaos_csrf" {
					csrf = ck
				}
			}
			if csrf == nil || csrf.Secure != c.secure {
				t.Fatalf("login form's CSRF cookie: %+v, want Secure %v", csrf, c.secure)
			}
			form := url.Values{"user": {"alice"}, "password": {password}, "csrf": {csrf.Value}}
			req, _ = http.NewRequest("POST", f.base+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("X-Forwarded-Proto", c.proto)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(csrf)
			resp, err = cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if s := sessionCookie(resp); resp.StatusCode != http.StatusSeeOther || s == nil || s.Secure != c.secure {
				t.Fatalf("web login: %d, session cookie %+v, want Secure %v", resp.StatusCode, s, c.secure)
			}
			req, _ = http.NewRequest("POST", f.base+"/api/v1/login", strings.NewReader(`{"user":"alice","password":"`+password+`"}`))
			req.Header.Set("X-Forwarded-Proto", c.proto)
			req.Header.Set("Content-Type", "application/json")
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if s := sessionCookie(resp); resp.StatusCode != http.StatusOK || s == nil || s.Secure != c.secure {
				t.Fatalf("API login: %d, session cookie %+v, want Secure %v", resp.StatusCode, s, c.secure)
			}
		})
	}
}

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, ck := range resp.Cookies() {
		if ck.Name == auth.SessionCookie {
			return ck
		}
	}
	return nil
}
