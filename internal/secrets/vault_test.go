package secrets_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/secrets/secretstest"
	"github.com/ch-aos-ch/chaos/internal/secrets/vault"
)

// TestHCVaultTransit: sops's hc_vault keys against a real Vault dev server (HashiCorp Vault built
// from the Go module proxy), with no sops CLI for chaos: a file the upstream sops CLI encrypted with
// Vault's transit engine is opened, changed and re-keyed by chaos over Vault's HTTP API, and read
// back by sops; a file chaos creates for the rule opens in sops. The token comes from VAULT_TOKEN,
// or from a provider's Vault credentials; a wrong or missing one fails, naming the key, never the
// token.
func TestHCVaultTransit(t *testing.T) {
	v := secretstest.StartVault(t)
	isolateKeys(t)
	t.Setenv("VAULT_ADDR", v.Addr)
	t.Setenv("VAULT_TOKEN", v.Token)
	t.Setenv(secrets.SopsCLIEnv, "/nonexistent/sops") // hc_vault must not need the sops CLI
	dir := t.TempDir()
	write(t, filepath.Join(dir, ".sops.yaml"), "creation_rules:\n  - hc_vault_transit_uri: "+v.TransitKey+"\n")
	src := write(t, filepath.Join(dir, "in.yaml"), plainYAML)
	p := filepath.Join(dir, "s.yaml")
	out, err := sops(t, dir, v.Env(), "encrypt", "--filename-override", p, src)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "hc_vault:") || !strings.Contains(out, "vault:v1:") {
		t.Fatalf("sops did not use Vault:\n%s", out)
	}
	write(t, p, out)

	f, err := secrets.Open(p, secrets.Options{Keys: secrets.NewKeyring()})
	if err != nil {
		t.Fatalf("open an hc_vault file: %v", err)
	}
	if val, _ := f.Values().Get("user_secrets.alice.password"); val != "hunter2" {
		t.Errorf("alice = %q", val)
	}
	if err := f.Set("token", "from-chaos"); err != nil {
		t.Fatal(err)
	}
	if err := f.Rekey(); err != nil {
		t.Fatalf("rekey through Vault: %v", err)
	}
	enc, err := f.Encrypted()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	write(t, p, string(enc))
	if plain, err := sops(t, dir, v.Env(), "decrypt", p); err != nil || !strings.Contains(plain, "token: from-chaos") {
		t.Fatalf("sops decrypt of chaos's write: %v\n%s", err, plain)
	}
	np := filepath.Join(dir, "new.yaml")
	nf, enc, err := secrets.Create(np, []byte("a: b\n"), secrets.Options{})
	if err != nil {
		t.Fatalf("create for an hc_vault rule: %v", err)
	}
	nf.Close()
	write(t, np, string(enc))
	if plain, err := sops(t, dir, v.Env(), "decrypt", np); err != nil || !strings.Contains(plain, "a: b") {
		t.Fatalf("sops decrypt of chaos's new file: %v\n%s", err, plain)
	}

	// No token anywhere: the error names the key and what to do.
	os.Unsetenv("VAULT_TOKEN")
	_, err = secrets.Open(p, secrets.Options{Keys: secrets.NewKeyring()})
	if err == nil || !strings.Contains(err.Error(), "no Vault token") || !strings.Contains(err.Error(), "hc_vault") {
		t.Fatalf("without a token: %v", err)
	}
	// The token from a provider's Vault credentials (the original's item format).
	k := secrets.NewKeyring()
	if m, err := k.AddKeyMaterial("provider vlt", vault.Credentials{Addr: v.Addr, Token: v.Token}.Format()); err != nil || !m.Vault {
		t.Fatalf("vault credentials: %+v %v", m, err)
	}
	f, err = secrets.Open(p, secrets.Options{Keys: k})
	if err != nil {
		t.Fatalf("open with the provider's token: %v", err)
	}
	f.Close()
	// A wrong token: Vault's refusal, without the token.
	k = secrets.NewKeyring()
	k.AddKeyMaterial("provider bad", vault.Credentials{Token: "hvs.wrong-token-xyz"}.Format())
	_, err = secrets.Open(p, secrets.Options{Keys: k})
	if err == nil || !strings.Contains(err.Error(), "permission denied") || strings.Contains(err.Error(), "wrong-token-xyz") {
		t.Fatalf("wrong token: %v", err)
	}
}
