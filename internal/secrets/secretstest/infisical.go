package secretstest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Infisical is a loopback server speaking the part of Infisical's documented HTTP API a client
// needs to keep one key: the universal-auth login (POST /api/v1/auth/universal-auth/login) and the
// raw secrets endpoints (GET and POST /api/v3/secrets/raw/NAME with workspaceId, environment,
// secretPath, type), with the request and answer fields of Infisical's API reference and its Go SDK
// (github.com/infisical/go-sdk). Secrets are kept in memory; an existing secret cannot be created
// again, as on Infisical.
type Infisical struct {
	URL                    string
	ClientID, ClientSecret string // a machine identity's universal-auth credentials
	Token                  string // a machine identity's access token (INFISICAL_TOKEN)
	mu                     sync.Mutex
	secrets                map[string]string // workspace/env/path/NAME -> value
	logins                 int
}

// StartInfisical starts the server, stopped when the test ends.
func StartInfisical(t testing.TB) *Infisical {
	t.Helper()
	s := &Infisical{ClientID: "chaos-client-id", ClientSecret: "chaos-client-secret", Token: "chaos-machine-token",
		secrets: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Secret returns a stored secret's value.
func (s *Infisical) Secret(workspace, env, path, name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.secrets[workspace+"|"+env+"|"+path+"|"+name]
	return v, ok
}

// Logins counts the universal-auth logins.
func (s *Infisical) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

func (s *Infisical) serve(w http.ResponseWriter, r *http.Request) {
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	fail := func(code int, name, msg string) {
		reply(code, map[string]any{"statusCode": code, "message": msg, "error": name})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method == http.MethodPost && r.URL.Path == "/api/v1/auth/universal-auth/login" {
		var in struct{ ClientID, ClientSecret string }
		if json.NewDecoder(r.Body).Decode(&in) != nil || in.ClientID != s.ClientID || in.ClientSecret != s.ClientSecret {
			fail(http.StatusUnauthorized, "UnauthorizedError", "Invalid credentials")
			return
		}
		s.logins++
		reply(http.StatusOK, map[string]any{"accessToken": s.Token, "expiresIn": 7200, "accessTokenMaxTTL": 43200, "tokenType": "Bearer"})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		fail(http.StatusUnauthorized, "UnauthorizedError", "Failed to authenticate")
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/api/v3/secrets/raw/")
	if !ok || name == "" || strings.Contains(name, "/") {
		fail(http.StatusNotFound, "NotFound", "Route not found")
		return
	}
	var workspace, env, path, typ, value string
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		workspace, env, path, typ = q.Get("workspaceId"), q.Get("environment"), q.Get("secretPath"), q.Get("type")
	case http.MethodPost:
		var in struct {
			WorkspaceID string `json:"workspaceId"`
			Environment string `json:"environment"`
			SecretPath  string `json:"secretPath"`
			SecretValue string `json:"secretValue"`
			Type        string `json:"type"`
		}
		if json.NewDecoder(r.Body).Decode(&in) != nil {
			fail(http.StatusBadRequest, "BadRequest", "Invalid request body")
			return
		}
		workspace, env, path, typ, value = in.WorkspaceID, in.Environment, in.SecretPath, in.Type, in.SecretValue
	default:
		fail(http.StatusMethodNotAllowed, "MethodNotAllowed", "Method not allowed")
		return
	}
	if workspace == "" || env == "" || !strings.HasPrefix(path, "/") || (typ != "" && typ != "shared" && typ != "personal") {
		fail(http.StatusBadRequest, "BadRequest", "workspaceId, environment and secretPath are required")
		return
	}
	key := workspace + "|" + env + "|" + path + "|" + name
	if r.Method == http.MethodPost {
		if _, exists := s.secrets[key]; exists {
			fail(http.StatusBadRequest, "BadRequest", "Secret already exist")
			return
		}
		s.secrets[key] = value
	}
	v, ok := s.secrets[key]
	if !ok {
		fail(http.StatusNotFound, "NotFound", "Secret with name '"+name+"' not found")
		return
	}
	reply(http.StatusOK, map[string]any{"secret": map[string]any{"secretKey": name, "secretValue": v, "type": "shared",
		"environment": env, "workspace": workspace, "secretPath": path, "version": 1}})
}
