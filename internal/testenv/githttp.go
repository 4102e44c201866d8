package testenv

import (
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
)

// GitHTTP serves the bare repositories under a base directory over git's smart HTTP protocol with
// the real git-http-backend (through net/http/cgi) behind basic auth on loopback. It records every
// request, so a test can tell a ref listing (GET info/refs) from a fetch (POST git-upload-pack).
type GitHTTP struct {
	// URL is the base URL ending in "/": URL + "NAME.git" is base/NAME.git.
	URL string
	mu  sync.Mutex
	log []string
}

// GitHTTPServer serves base to clients authenticating as user with password token (a forge's
// token); it stops at cleanup.
func GitHTTPServer(t testing.TB, base, user, token string) *GitHTTP {
	t.Helper()
	backend := "/usr/lib/git-core/git-http-backend"
	if _, err := os.Stat(backend); err != nil {
		Missing(t, "%s is not installed (scripts/deps.sh installs git)", backend)
	}
	h := &GitHTTP{}
	cgiHandler := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + base, "GIT_HTTP_EXPORT_ALL=1",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1"}, Stderr: io.Discard}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.log = append(h.log, r.Method+" "+r.URL.Path)
		h.mu.Unlock()
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		cgiHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL + "/"
	return h
}

// Requests returns and forgets the requests seen so far.
func (h *GitHTTP) Requests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.log
	h.log = nil
	return l
}
