package providers_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/secrets/providers"
	"github.com/ch-aos-ch/chaos/internal/secrets/secretstest"
)

// TestInfisicalAPI: an infisical entry with address: speaks Infisical's HTTP API itself, against a
// loopback server speaking that API (secretstest.StartInfisical; Infisical's service cannot be
// reached from the test machines and its CLI cannot be installed here). With universal-auth
// credentials it logs in first; Store creates the secret and never overwrites one; Fetch reads it
// in chaos's shape and the original's id; INFISICAL_TOKEN is used as it is; a missing secret, no
// credentials and a wrong token fail with Infisical's message, never a token or the key.
func TestInfisicalAPI(t *testing.T) {
	s := secretstest.StartInfisical(t)
	os.Unsetenv("INFISICAL_TOKEN")
	t.Setenv("INFISICAL_UNIVERSAL_AUTH_CLIENT_ID", s.ClientID)
	t.Setenv("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", s.ClientSecret)
	ctx := context.Background()
	key := secretstest.NewAgeKey(t).Secret + "\n"
	p, err := providers.New("inf", providers.Config{Type: "infisical", Address: s.URL + "/", Secret: "CHAOS_AGE", ProjectID: "6f1c", Env: "prod", SecretPath: "/chaos"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Store(ctx, []byte(key)); err != nil {
		t.Fatalf("store: %v", err)
	}
	if got, ok := s.Secret("6f1c", "prod", "/chaos", "CHAOS_AGE"); !ok || got != key {
		t.Fatalf("Infisical holds %q, want the key", got)
	}
	if s.Logins() == 0 {
		t.Error("no universal-auth login")
	}
	if err := p.Store(ctx, []byte("other")); err == nil || !strings.Contains(err.Error(), "Secret already exist") {
		t.Errorf("second store: %v", err)
	}
	orig, err := providers.Set{Providers: map[string]providers.Config{"in": {AgeID: "CHAOS_AGE:6f1c:prod:/chaos", Address: s.URL}}}.Get("in.age")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []providers.Provider{p, orig} {
		if got, err := p.Fetch(ctx); err != nil || string(got) != key {
			t.Errorf("%s: fetch = %q, %v", p.Name(), got, err)
		}
	}
	missing, _ := providers.New("inf", providers.Config{Type: "infisical", Address: s.URL, Secret: "NOPE", ProjectID: "6f1c"}, nil)
	if _, err := missing.Fetch(ctx); err == nil || !strings.Contains(err.Error(), "404 Secret with name 'NOPE' not found") {
		t.Errorf("missing secret: %v", err)
	}
	if _, err := providers.New("inf", providers.Config{Type: "infisical", Address: s.URL, Secret: "X"}, nil); err == nil || !strings.Contains(err.Error(), "project_id") {
		t.Errorf("without a project id: %v", err)
	}

	// A machine identity's access token as it is: no login.
	os.Unsetenv("INFISICAL_UNIVERSAL_AUTH_CLIENT_ID")
	logins := s.Logins()
	t.Setenv("INFISICAL_TOKEN", s.Token)
	if got, err := p.Fetch(ctx); err != nil || string(got) != key || s.Logins() != logins {
		t.Errorf("with INFISICAL_TOKEN: %q, %v (logins %d -> %d)", got, err, logins, s.Logins())
	}
	t.Setenv("INFISICAL_TOKEN", "wrong-token-xyz")
	if _, err := p.Fetch(ctx); err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong-token-xyz") {
		t.Errorf("wrong token: %v", err)
	}
	os.Unsetenv("INFISICAL_TOKEN")
	if err := p.Store(ctx, []byte(key)); err == nil || !strings.Contains(err.Error(), "no Infisical token") || strings.Contains(err.Error(), "AGE-SECRET") {
		t.Errorf("no credentials: %v", err)
	}
	t.Setenv("INFISICAL_UNIVERSAL_AUTH_CLIENT_ID", s.ClientID)
	t.Setenv("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", "wrong-secret-xyz")
	if _, err := p.Fetch(ctx); err == nil || !strings.Contains(err.Error(), "Invalid credentials") || strings.Contains(err.Error(), "wrong-secret-xyz") {
		t.Errorf("wrong client secret: %v", err)
	}
}
