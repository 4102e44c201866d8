package providers

import (
	"context"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/souls"
)

func TestNoImportMarker(t *testing.T) {
	key := []byte("AGE-SECRET-KEY-1XYZ\n")
	if HasNoImport(key) {
		t.Error("plain key marked")
	}
	if !HasNoImport(MarkNoImport(key)) {
		t.Error("marked key not detected")
	}
	if HasNoImport([]byte("# NO-IMPORTANT\n")) {
		t.Error("marker must be a whole line")
	}
}

func TestNewValidates(t *testing.T) {
	for _, c := range []Config{{}, {Type: "env"}, {Type: "file"}, {Type: "command"}, {Type: "bw"}, {Type: "op"}, {Type: "vault"}} {
		if _, err := New("x", c, nil); err == nil {
			t.Errorf("New(%+v) accepted an incomplete config", c)
		}
	}
	if _, err := (Set{}).Get("default"); err == nil || !strings.Contains(err.Error(), "secret_providers") {
		t.Errorf("empty set: %v", err)
	}
}

// A failing CLI that echoes the key on stderr must not get it into the error.
func TestErrorWithholdsEchoedKey(t *testing.T) {
	p, _ := New("echo", Config{Type: "command", Command: []string{"sh", "-c", "exit 1"},
		StoreCommand: []string{"sh", "-c", "cat >&2; exit 1"}}, nil)
	err := p.Store(context.Background(), []byte("AGE-SECRET-KEY-1SECRETSECRET"))
	if err == nil || strings.Contains(err.Error(), "SECRETSECRET") {
		t.Errorf("error = %v", err)
	}
}

// A soul provider names a provider an installed Soul declares: none installed is an error that
// says where Souls are looked up.
func TestSoulProviderNeedsTheSoul(t *testing.T) {
	t.Setenv("CHAOS_SOUL_PATH", t.TempDir())
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	if _, err := New("stick", Config{Type: "soul"}, nil); err == nil || !strings.Contains(err.Error(), "provider stick (soul): soul is required") {
		t.Errorf("no soul: %v", err)
	}
	if _, err := New("stick", Config{Type: "soul", Soul: "keyfile"}, souls.Open([]string{t.TempDir()}, nil)); err == nil ||
		!strings.Contains(err.Error(), `provider stick: no installed Soul provides the secrets provider "keyfile" (Souls are looked up in `) {
		t.Errorf("not installed: %v", err)
	}
}

// The original Ch-aOS's secret_providers shape: entries named after the provider, without type,
// with one item per key type, picked with NAME.TYPE (and default: NAME.TYPE).
func TestOriginalShape(t *testing.T) {
	set := Set{Default: "bw.gpg", Providers: map[string]Config{
		"bw":  {AgeID: "age-item", GpgID: "gpg-item"},
		"op":  {AgeURL: "op://Private/chaos", Field: "notesPlain"},
		"dp":  {VaultID: "VAULT_CREDS:infra:prd"},
		"in":  {AgeID: "CHAOS_AGE:6f1c:prod:/keys"},
		"bws": {AgeID: "be8e0ad8", ProjectID: "p1"},
		"new": {Type: "env", Var: "X"},
	}}
	for name, want := range map[string]Provider{
		"bw":       bitwarden{name: "bw", item: "age-item", bin: "bw"},
		"bw.age":   bitwarden{name: "bw.age", item: "age-item", bin: "bw"},
		"default":  bitwarden{name: "bw.gpg", item: "gpg-item", bin: "bw"},
		"op.age":   onePassword{name: "op.age", ref: "op://Private/chaos/notesPlain", bin: "op"},
		"dp.vault": doppler{name: "dp.vault", secret: "VAULT_CREDS", project: "infra", config: "prd", bin: "doppler"},
		"in":       infisical{name: "in", secret: "CHAOS_AGE", project: "6f1c", env: "prod", path: "/keys", bin: "infisical"},
		"bws.age":  bws{name: "bws.age", id: "be8e0ad8", bin: "bws"},
		"new":      envProvider{"new", "X"},
	} {
		got, err := set.Get(name)
		if err != nil || got != want {
			t.Errorf("Get(%q) = %#v, %v; want %#v", name, got, err, want)
		}
	}
	for name, msg := range map[string]string{
		"bw.vault": "bw has no vault_id",
		"bw.ssh":   `key type "ssh" is not age, gpg or vault`,
		"new.age":  "new has no age_id",
		"nope.age": "not configured",
	} {
		if _, err := set.Get(name); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Get(%q): %v, want %q", name, err, msg)
		}
	}
}
