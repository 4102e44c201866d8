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
