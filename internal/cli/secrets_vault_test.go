package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/secrets/secretstest"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestTeamVaultGroup drives the binary against a real Vault dev server: team init --vault adds an
// hc_vault key group (the original's optional Vault groups); with --shamir 2 a team secret needs
// the age key and Vault's transit key. chaos writes and reads it, fails without a Vault token, and
// the upstream sops CLI reads it with both. Vault credentials exported to a provider
// (--key-type vault) give chaos the token back with -p; rotate-add vault and list vault.
func TestTeamVaultGroup(t *testing.T) {
	testenv.RequireTool(t, "git", "git")
	v := secretstest.StartVault(t)
	s := newSecretEnv(t, "user_secrets: {}\n")
	s.env = append(s.env, "XDG_DATA_HOME="+t.TempDir())
	run := func(extra []string, args ...string) string {
		t.Helper()
		out, err := s.runEnv(t, extra, "", args...)
		if err != nil {
			t.Fatalf("chaos %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	repo := filepath.Join(t.TempDir(), "infra")
	run(v.Env(), "team", "init", "acme.ops.alice", repo, "--vault", v.TransitKey, "--shamir", "2")
	cfg, _ := os.ReadFile(filepath.Join(repo, "acme/ops/sops-config.yml"))
	if !strings.Contains(string(cfg), "hc_vault:\n") || !strings.Contains(string(cfg), v.TransitKey) || !strings.Contains(string(cfg), "shamir_threshold: 2") {
		t.Fatalf("sops-config.yml:\n%s", cfg)
	}
	run(append(v.Env(), editorScript(t, `printf 'user_secrets:\n  alice:\n    password: s3cret\n' > "$1"`)), "secrets", "edit", "-t", "acme.ops.dev")
	if out := run(v.Env(), "secrets", "cat", "-t", "acme.ops.dev", "user_secrets.alice.password", "--value"); strings.TrimSpace(out) != "s3cret" {
		t.Errorf("cat with age and Vault: %q", out)
	}
	if out := run(v.Env(), "secrets", "list", "vault", "-t", "acme.ops.dev"); !strings.Contains(out, v.TransitKey) {
		t.Errorf("list vault:\n%s", out)
	}
	if out, err := s.runEnv(t, []string{"VAULT_ADDR=" + v.Addr}, "", "secrets", "cat", "-t", "acme.ops.dev"); err == nil || !strings.Contains(out, "no Vault token") {
		t.Errorf("cat without a Vault token: %v\n%s", err, out)
	}
	keys, _ := filepath.Glob(filepath.Join(s.cfg, "keys", "*.txt"))
	file := filepath.Join(repo, "acme/ops/secrets/dev/secrets.yml")
	if out, err := runSops(t, s.dir, append(v.Env(), "SOPS_AGE_KEY_FILE="+keys[0]), "decrypt", file); err != nil || !strings.Contains(out, "s3cret") {
		t.Errorf("sops decrypt with age and Vault: %v\n%s", err, out)
	}

	// Vault credentials in a provider: exported from VAULT_ADDR/VAULT_TOKEN, used with -p.
	item := filepath.Join(t.TempDir(), "vault-item")
	conf, _ := os.ReadFile(filepath.Join(s.cfg, "config.yml"))
	os.WriteFile(filepath.Join(s.cfg, "config.yml"), append(conf, []byte("secret_providers:\n  vlt: {type: file, path: "+item+"}\n")...), 0o600)
	run(v.Env(), "secrets", "export", "vlt", "--key-type", "vault")
	if data, _ := os.ReadFile(item); !strings.Contains(string(data), "# Vault Address:: "+v.Addr+"\nVault Key: "+v.Token) {
		t.Errorf("exported vault item:\n%s", data)
	}
	if out := run([]string{"VAULT_ADDR=" + v.Addr}, "secrets", "cat", "-t", "acme.ops.dev", "-p", "vlt", "user_secrets.alice.password", "--value"); strings.TrimSpace(out) != "s3cret" {
		t.Errorf("cat -p vlt: %q", out)
	}

	// rotate-add vault: a second transit key in the prod rule's Vault group.
	v.Do(t, "POST", "transit/keys/backup", map[string]any{})
	second := v.Addr + "/v1/transit/keys/backup"
	run(append(v.Env(), editorScript(t, `printf 'db: x\n' > "$1"`)), "secrets", "edit", "-t", "acme.ops.prod")
	run(v.Env(), "secrets", "rotate-add", "vault", second, "--group", "1", "-t", "acme.ops.prod")
	prod, _ := os.ReadFile(filepath.Join(repo, "acme/ops/secrets/prod/secrets.yml"))
	if !strings.Contains(string(prod), "key_name: backup") {
		t.Errorf("rotate-add vault: the file has no second Vault key:\n%s", prod)
	}
	if out, err := runSops(t, s.dir, append(v.Env(), "SOPS_AGE_KEY_FILE="+keys[0]), "decrypt", filepath.Join(repo, "acme/ops/secrets/prod/secrets.yml")); err != nil || !strings.Contains(out, "db: x") {
		t.Errorf("sops decrypt after rotate-add vault: %v\n%s", err, out)
	}
}
