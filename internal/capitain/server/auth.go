package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
)

// Principal is who makes a request.
type Principal struct {
	// ID is stable (a user or token id); Name is for people and the audit log.
	ID, Name string
	// Admin is the global administrator: allowed everything.
	Admin bool
}

// Action is what a request does, checked against the principal's roles on the project.
type Action string

// The actions the server checks. A route names one; Project is "" for actions on no project
// (listing across projects filters per project instead).
const (
	ActionRead    Action = "read"    // see projects, hosts, jobs and events
	ActionPlan    Action = "plan"    // start plan and drift-check jobs
	ActionApply   Action = "apply"   // start apply and rollback jobs, cancel jobs
	ActionRefresh Action = "refresh" // fetch a project's repository and reload its fleet
	ActionAdmin   Action = "admin"   // create and change projects
)

// ErrUnauthenticated is returned by Authenticate for a request with bad or missing credentials
// (401); Authorize's errors are 403.
var ErrUnauthenticated = errors.New("missing or invalid credentials")

// Authenticator is what the server asks on every request: who it is, then whether they may do
// Action on a project. The server ships AdminToken; users, API tokens and per-project roles plug
// in through this interface.
type Authenticator interface {
	// Authenticate returns the request's principal, or ErrUnauthenticated (wrapped or not).
	Authenticate(r *http.Request) (*Principal, error)
	// Authorize returns nil when p may do action on project ("" for no project), else an error
	// saying why not.
	Authorize(ctx context.Context, p *Principal, action Action, project string) error
}

// AdminToken authenticates the one-time admin token printed at first start: a bearer token whose
// SHA-256 is stored (never the token itself). Its holder is the global admin.
type AdminToken struct {
	// Hash is the hex SHA-256 of the token.
	Hash string
}

// Authenticate implements Authenticator.
func (a AdminToken) Authenticate(r *http.Request) (*Principal, error) {
	tok, ok := bearer(r)
	if !ok || a.Hash == "" {
		return nil, ErrUnauthenticated
	}
	h := sha256.Sum256([]byte(tok))
	want, err := hex.DecodeString(a.Hash)
	if err != nil || subtle.ConstantTimeCompare(h[:], want) != 1 {
		return nil, ErrUnauthenticated
	}
	return &Principal{ID: "admin", Name: "admin", Admin: true}, nil
}

// Authorize implements Authenticator: the admin may do everything, nobody else anything.
func (a AdminToken) Authorize(_ context.Context, p *Principal, _ Action, _ string) error {
	if p != nil && p.Admin {
		return nil
	}
	return errors.New("not allowed")
}

// bearer is the request's "Authorization: Bearer TOKEN".
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// newToken is a random token ("chaos_" and 43 base64url characters) and its hex SHA-256.
func newToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = "chaos_" + base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(token))
	return token, hex.EncodeToString(h[:]), nil
}
