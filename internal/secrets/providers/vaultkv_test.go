package providers_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/secrets/providers"
	"github.com/ch-aos-ch/chaos/internal/secrets/secretstest"
)

// TestVaultKVProvider: the vault provider against a real Vault dev server's KV v2 engine. Store
// creates the secret (the vault CLI reads it back), never overwrites one, and Fetch returns it; the
// address may come from the entry instead of VAULT_ADDR; a missing secret is Vault's 404.
func TestVaultKVProvider(t *testing.T) {
	v := secretstest.StartVault(t)
	t.Setenv("HOME", t.TempDir())
	os.Unsetenv("VAULT_ADDR")
	t.Setenv("VAULT_TOKEN", v.Token)
	ctx := context.Background()
	key := secretstest.NewAgeKey(t).Secret + "\n"
	p, err := providers.New("kv", providers.Config{Type: "vault", Address: v.Addr, Path: "chaos/age"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Store(ctx, []byte(key)); err != nil {
		t.Fatal(err)
	}
	if got := v.CLI(t, "kv", "get", "-field=key", "secret/chaos/age"); got != key {
		t.Errorf("vault kv get = %q, want the key", got)
	}
	if err := p.Store(ctx, []byte("other")); err == nil || !strings.Contains(err.Error(), "never overwritten") {
		t.Errorf("second store: %v", err)
	}
	got, err := p.Fetch(ctx)
	if err != nil || string(got) != key {
		t.Errorf("fetch = %q, %v", got, err)
	}
	// A field other than key, written by the vault CLI, and address from VAULT_ADDR.
	v.CLI(t, "kv", "put", "secret/team/pgp", "armored=-----BEGIN PGP PRIVATE KEY BLOCK-----")
	t.Setenv("VAULT_ADDR", v.Addr)
	p2, _ := providers.New("kv2", providers.Config{Type: "vault", Path: "team/pgp", Field: "armored"}, nil)
	if got, err := p2.Fetch(ctx); err != nil || !strings.HasPrefix(string(got), "-----BEGIN PGP") {
		t.Errorf("fetch of another field = %q, %v", got, err)
	}
	p3, _ := providers.New("kv3", providers.Config{Type: "vault", Path: "nope"}, nil)
	if _, err := p3.Fetch(ctx); err == nil || !strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), v.Token) {
		t.Errorf("missing secret: %v", err)
	}
}
