package providers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/secrets/providers"
	"github.com/ch-aos-ch/chaos/internal/secrets/secretstest"
)

// TestDopplerCLI: the doppler provider drives the real Doppler CLI (built from the Go module proxy)
// against a loopback server speaking Doppler's documented v3 secrets API (Doppler's service
// cannot be reached from the test machines). Store sends the key through `doppler secrets set` on
// stdin and the server receives it whole; Fetch reads it back with `doppler secrets get --plain`,
// in chaos's shape and in the original's id (NAME:PROJECT:CONFIG); a missing secret and a wrong
// token fail with the CLI's message, which never carries the key.
func TestDopplerCLI(t *testing.T) {
	bin := secretstest.DopplerCLI(t)
	d := secretstest.StartDoppler(t)
	d.Setenv(t)
	t.Setenv("HOME", t.TempDir())
	ctx := context.Background()
	key := secretstest.NewAgeKey(t).Secret
	p, err := providers.New("dp", providers.Config{Type: "doppler", Secret: "CHAOS_AGE", Project: "infra", ConfigName: "prd", Binary: bin}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Store(ctx, []byte(key+"\n")); err != nil {
		t.Fatalf("store: %v", err)
	}
	if got, ok := d.Secret("infra", "prd", "CHAOS_AGE"); !ok || got != key {
		t.Fatalf("the server holds %q, want the key", got)
	}
	orig, err := providers.Set{Providers: map[string]providers.Config{"dp": {AgeID: "CHAOS_AGE:infra:prd", Binary: bin}}}.Get("dp.age")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []providers.Provider{p, orig} {
		got, err := p.Fetch(ctx)
		if err != nil || strings.TrimSpace(string(got)) != key {
			t.Errorf("%s: fetch = %q, %v", p.Name(), got, err)
		}
	}
	// An armored PGP key (many lines) survives the CLI's line-by-line stdin.
	pgp := "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxVgEZ0AAABYJKwYBBAHaRw8BAQdA\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----"
	pp, _ := providers.New("dp.gpg", providers.Config{Type: "doppler", ID: "CHAOS_PGP:infra:prd", Binary: bin}, nil)
	if err := pp.Store(ctx, []byte(pgp+"\n")); err != nil {
		t.Fatal(err)
	}
	if got, err := pp.Fetch(ctx); err != nil || strings.TrimSpace(string(got)) != pgp {
		t.Errorf("pgp fetch = %q, %v", got, err)
	}

	missing, _ := providers.New("dp", providers.Config{Type: "doppler", Secret: "NOPE", Project: "infra", ConfigName: "prd", Binary: bin}, nil)
	if _, err := missing.Fetch(ctx); err == nil || !strings.Contains(err.Error(), "Could not find requested secret: NOPE") {
		t.Errorf("missing secret: %v", err)
	}
	t.Setenv("DOPPLER_TOKEN", "dp.st.wrong")
	if _, err := p.Fetch(ctx); err == nil || !strings.Contains(err.Error(), "Invalid Auth token") {
		t.Errorf("wrong token: %v", err)
	}
	if err := p.Store(ctx, []byte(key+"\n")); err == nil || strings.Contains(err.Error(), "AGE-SECRET-KEY") {
		t.Errorf("store with a wrong token: %v", err)
	}
}
