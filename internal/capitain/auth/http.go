package auth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SessionCookie is the cookie LoginHandler sets for browsers (HttpOnly, SameSite=Strict, Secure
// over TLS); Middleware accepts it as it accepts a Bearer token.
const SessionCookie = "chaos_session"

// HTTPStatus is the status code for an error from this package: 401, 403, 429, 400, 404, 409,
// else 500.
func HTTPStatus(err error) int {
	var se *statusError
	switch {
	case errors.As(err, &se):
		return se.status
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// WriteError writes err as the API's JSON error, {"error": {"code", "message", "field"}}, with
// HTTPStatus's code. A 401 says only "unauthenticated" (why a token failed is for the server's
// log, not for whoever holds it) and carries WWW-Authenticate; a 500 hides its message.
func WriteError(w http.ResponseWriter, err error) {
	status := HTTPStatus(err)
	code, msg, field := strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_"), err.Error(), ""
	var fe *FieldError
	if errors.As(err, &fe) {
		field, msg = fe.Field, fe.Message
	}
	switch status {
	case http.StatusUnauthorized:
		code, msg = "unauthenticated", "unauthenticated: log in or send a valid token (Authorization: Bearer ...)"
		w.Header().Set("WWW-Authenticate", `Bearer realm="capitain"`)
	case http.StatusInternalServerError:
		msg = "internal error"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := map[string]any{"code": code, "message": msg}
	if field != "" {
		body["field"] = field
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": body})
}

// ClientAddr is the address of the client that sent r: the connection's, or, when the connection
// comes from one of TrustedProxies, the last address in X-Forwarded-For that is not a trusted
// proxy (the one a proxy of ours saw, which the client cannot forge).
func (s *Store) ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(addr) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !s.trusted(a) {
			return a.String()
		}
	}
	return host
}

func (s *Store) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// credential is the token r presents: its Bearer token, else its session cookie (fromCookie).
// A malformed Authorization header is an error.
func credential(r *http.Request) (tok string, fromCookie bool, err error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", false, fmt.Errorf("%w: Authorization is not \"Bearer TOKEN\"", ErrUnauthenticated)
		}
		return strings.TrimSpace(tok), false, nil
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		return c.Value, true, nil
	}
	return "", false, nil
}

// AuthenticateRequest is the principal of r: nil (and no error) when r carries no credentials,
// ErrUnauthenticated when they are not valid. A session cookie is refused on a cross-site
// state-changing request (Sec-Fetch-Site: cross-site), on top of SameSite=Strict, against CSRF.
func (s *Store) AuthenticateRequest(r *http.Request) (*Principal, error) {
	tok, fromCookie, err := credential(r)
	if err != nil || tok == "" {
		return nil, err
	}
	if fromCookie {
		if !strings.HasPrefix(tok, SessionTokenPrefix) {
			return nil, fmt.Errorf("%w: the session cookie holds no session", ErrUnauthenticated)
		}
		safe := r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions
		if !safe && r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			return nil, fmt.Errorf("%w: cross-site request with a session cookie", ErrForbidden)
		}
	}
	return s.Authenticate(r.Context(), tok, s.ClientAddr(r))
}

// Middleware puts the request's principal (AuthenticateRequest) in its context for FromContext.
// It answers 401 itself when the request carries a Bearer token that is not valid. A request
// without credentials passes with no principal: public routes (health, login, webhooks) serve
// it, and Authorize refuses it everywhere else with ErrUnauthenticated. So does a request whose
// session cookie is no longer valid (expired, logged out): the cookie is cleared, and the
// browser can still reach the login.
func (s *Store) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.AuthenticateRequest(r)
		if err != nil {
			if _, fromCookie, _ := credential(r); !fromCookie || !errors.Is(err, ErrUnauthenticated) {
				WriteError(w, err)
				return
			}
			s.clearCookie(w, r)
		}
		if p != nil {
			r = r.WithContext(WithPrincipal(r.Context(), p))
		}
		next.ServeHTTP(w, r)
	})
}

// Require wraps h so that it runs only when the request's principal may do action on the project
// that project(r) names (nil: no project); else it writes the 401 or 403. Use it inside
// Middleware.
func Require(action Action, project func(*http.Request) string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := ""
		if project != nil {
			id = project(r)
		}
		if err := Authorize(FromContext(r.Context()), action, id); err != nil {
			WriteError(w, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// LoginRequest is the body of a login.
type LoginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// LoginResponse is a successful login: a session token (also set as SessionCookie).
type LoginResponse struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
	User    string    `json:"user"`
	Admin   bool      `json:"admin"`
}

// hashing bounds the argon2id computations running at once (19 MiB each), so that a burst of
// logins cannot exhaust memory.
var hashing = make(chan struct{}, 4)

// Login checks name's password and opens a session for them, from addr. Failures are rate-limited
// per user and per address (ErrRateLimited, with the wait in a RetryAfter error) before any
// password is hashed; a wrong password, an unknown or disabled user, and a user without a password
// are the same ErrUnauthenticated, and cost the same time.
func (s *Store) Login(ctx context.Context, name, password, addr string) (string, LoginResponse, error) {
	now := s.now()
	key, _ := normName(name)
	if key == "" {
		key = "?" + strings.ToLower(name) // still counted, without being a valid name
		if len(key) > 65 {
			key = key[:65]
		}
	}
	if wait := s.limiter.blocked(key, addr, now); wait > 0 {
		return "", LoginResponse{}, &RetryAfter{Wait: wait}
	}
	var id, hash string
	var admin, disabled int
	err := s.db.QueryRowContext(ctx, `SELECT id, password, admin, disabled FROM auth_users WHERE name = $1`, key).Scan(&id, &hash, &admin, &disabled)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", LoginResponse{}, fmt.Errorf("auth: login: %w", err)
	}
	usable := err == nil && hash != "" && disabled == 0
	if !usable {
		hash = dummyHash
	}
	select {
	case hashing <- struct{}{}:
	case <-ctx.Done():
		return "", LoginResponse{}, ctx.Err()
	}
	ok, rehash, verr := verifyPassword(hash, password)
	<-hashing
	if verr != nil {
		return "", LoginResponse{}, fmt.Errorf("auth: login %s: stored password: %w", key, verr)
	}
	if !ok || !usable || len(password) > maxPassword {
		s.limiter.fail(key, addr, now)
		if err := s.Record(ctx, nil, &Principal{Addr: addr}, Entry{Action: "login.failed", Actor: key, Target: "user:" + key}); err != nil {
			return "", LoginResponse{}, err
		}
		return "", LoginResponse{}, fmt.Errorf("%w: wrong user name or password", ErrUnauthenticated)
	}
	s.limiter.succeed(key)
	var tok string
	var t Token
	u := User{ID: id, Name: key, Admin: admin != 0}
	p := &Principal{UserID: id, User: key, Admin: admin != 0, Kind: KindSession, Scopes: AllScopes, Addr: addr}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if rehash { // parameters changed since this hash was made: store one with the current ones
			if _, err := tx.ExecContext(ctx, `UPDATE auth_users SET password = $1 WHERE id = $2 AND password = $3`, hashPassword(password), id, hash); err != nil {
				return fmt.Errorf("auth: login %s: rehash: %w", key, err)
			}
		}
		var err error
		tok, t, err = s.insertToken(ctx, tx, p, u, NewToken{Name: "session", Scopes: AllScopes, Expires: now.Add(s.sessionTTL())}, KindSession)
		return err
	})
	if err != nil {
		return "", LoginResponse{}, err
	}
	return tok, LoginResponse{Token: tok, Expires: t.Expires, User: key, Admin: u.Admin}, nil
}

// RetryAfter is ErrRateLimited with how long to wait.
type RetryAfter struct{ Wait time.Duration }

func (e *RetryAfter) Error() string {
	return fmt.Sprintf("too many failed logins: retry in %s", e.Wait.Round(time.Second))
}
func (e *RetryAfter) Is(target error) bool { return target == ErrRateLimited }

// LoginHandler serves POST with a JSON LoginRequest: 200 with a LoginResponse and the session
// cookie, 401 for wrong credentials, 429 with Retry-After when rate-limited, 400 for a bad body.
func (s *Store) LoginHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			WriteError(w, &statusError{http.StatusMethodNotAllowed, "POST a JSON {\"user\", \"password\"}"})
			return
		}
		var req LoginRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
		dec.DisallowUnknownFields()
		derr := dec.Decode(&req)
		var mbe *http.MaxBytesError
		switch {
		case errors.As(derr, &mbe):
			WriteError(w, &statusError{http.StatusRequestEntityTooLarge, "the body is larger than 4 KiB"})
			return
		case derr == nil && dec.More():
			derr = errors.New("one JSON value expected")
		}
		if derr != nil {
			WriteError(w, invalid("body", "a JSON object {\"user\", \"password\"} of at most 4 KiB: %v", derr))
			return
		}
		_, resp, err := s.Login(r.Context(), req.User, req.Password, s.ClientAddr(r))
		var ra *RetryAfter
		if errors.As(err, &ra) {
			w.Header().Set("Retry-After", strconv.Itoa(int(ra.Wait.Seconds()+0.999)))
		}
		if err != nil {
			WriteError(w, err)
			return
		}
		s.SetSessionCookie(w, r, resp.Token, resp.Expires)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(resp)
	})
}

// LogoutHandler serves POST: it revokes the request's session (inside Middleware) and clears the
// cookie; 204.
func (s *Store) LogoutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			WriteError(w, &statusError{http.StatusMethodNotAllowed, "POST"})
			return
		}
		if err := s.Logout(w, r); err != nil {
			WriteError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// Logout revokes the session of r's principal (inside Middleware) and clears its cookie;
// ErrUnauthenticated when r has no session.
func (s *Store) Logout(w http.ResponseWriter, r *http.Request) error {
	p := FromContext(r.Context())
	if p == nil || p.Kind != KindSession {
		return fmt.Errorf("%w: no session", ErrUnauthenticated)
	}
	if err := s.revokeSession(r.Context(), p); err != nil {
		return err
	}
	s.clearCookie(w, r)
	return nil
}

// SetSessionCookie gives the browser the session token tok: HttpOnly, SameSite=Strict, Secure
// when the browser reached us over TLS (Secure).
func (s *Store) SetSessionCookie(w http.ResponseWriter, r *http.Request, tok string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: tok, Path: "/", Expires: expires,
		HttpOnly: true, Secure: s.Secure(r), SameSite: http.SameSiteStrictMode})
}

func (s *Store) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.Secure(r), SameSite: http.SameSiteStrictMode})
}

// Secure tells whether the browser reached us over TLS: r came over TLS, or from one of
// TrustedProxies saying so in X-Forwarded-Proto (its first value: the scheme the proxy nearest
// the browser saw). A forged header can only make a cookie Secure, never the reverse.
func (s *Store) Secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(addr) {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

func (s *Store) revokeSession(ctx context.Context, p *Principal) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE auth_tokens SET revoked = $1 WHERE id = $2 AND revoked = 0`, s.now().UnixNano(), p.TokenID); err != nil {
			return fmt.Errorf("auth: logout: %w", err)
		}
		return s.Record(ctx, tx, p, Entry{Action: "logout", Target: "token:" + p.TokenID})
	})
}

// statusError is an HTTP error of this package's handlers that is none of the sentinels.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// Login rate limits: failures counted over loginWindow; a user is locked after userFailures (from
// any address), an address after addrFailures (for any user, so that spraying one password over
// many names is slowed too). The counts live in this replica's memory.
const (
	loginWindow  = 15 * time.Minute
	userFailures = 10
	addrFailures = 30
)

// limiter keeps the recent failed logins per user and per address.
type limiter struct {
	mu    sync.Mutex
	fails map[string][]time.Time
}

func newLimiter() *limiter { return &limiter{fails: map[string][]time.Time{}} }

// addrKey groups an IPv6 address by its /64, which one client usually owns whole.
func addrKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return "addr:" + addr
	}
	if a = a.Unmap(); a.Is6() {
		p, _ := a.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + a.String()
}

// recent drops failures older than the window and returns the rest (l.mu held).
func (l *limiter) recent(key string, now time.Time) []time.Time {
	f := l.fails[key]
	i := 0
	for i < len(f) && now.Sub(f[i]) >= loginWindow {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(l.fails, key)
	} else {
		l.fails[key] = f
	}
	return f
}

// blocked is how long user (from addr) must wait before another attempt; 0 when they may try.
func (l *limiter) blocked(user, addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range []struct {
		key string
		max int
	}{{"user:" + user, userFailures}, {addrKey(addr), addrFailures}} {
		if f := l.recent(k.key, now); len(f) >= k.max {
			// Free again when enough of the failures have left the window.
			wait = max(wait, f[len(f)-k.max].Add(loginWindow).Sub(now))
		}
	}
	return wait
}

func (l *limiter) fail(user, addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) > 100_000 { // many keys: drop the stale ones before growing further
		for k := range l.fails {
			l.recent(k, now)
		}
	}
	for _, k := range []string{"user:" + user, addrKey(addr)} {
		f := l.recent(k, now)
		if len(f) >= addrFailures { // never more than the largest limit needs
			f = f[1:]
		}
		l.fails[k] = append(f, now)
	}
}

// succeed forgets a user's failures (not the address's: an attacker's own account would reset it).
func (l *limiter) succeed(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, "user:"+user)
}
