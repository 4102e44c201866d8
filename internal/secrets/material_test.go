package secrets_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/secrets/secretstest"
)

// TestPGPKeyFromProvider: a PGP private key handed over by a provider (armored, as `chaos secrets
// export --key-type pgp` stores it) opens a file the real sops CLI encrypted for it, in memory, with
// a GnuPG home that does not hold the key; chaos's write is read back by sops with the real key.
// The same item may also carry an age key.
func TestPGPKeyFromProvider(t *testing.T) {
	isolateKeys(t)
	g := secretstest.NewGPG(t)
	t.Setenv("GNUPGHOME", g.Home)
	armored, err := secrets.ExportPGP(context.Background(), []string{g.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, ".sops.yaml"), "creation_rules:\n  - pgp: "+g.Fingerprint+"\n")
	src := write(t, filepath.Join(dir, "in.yaml"), plainYAML)
	p := filepath.Join(dir, "s.yaml")
	env := []string{"GNUPGHOME=" + g.Home}
	out, err := sops(t, dir, env, "encrypt", "--filename-override", p, src)
	if err != nil {
		t.Fatal(err)
	}
	write(t, p, out)

	// A GnuPG home without the key: gpg cannot open the file, the provider's key can.
	empty, err := os.MkdirTemp("/tmp", "gpg-empty-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("gpgconf", "--homedir", empty, "--kill", "all").Run(); os.RemoveAll(empty) })
	t.Setenv("GNUPGHOME", empty)
	if _, err := secrets.Open(p, secrets.Options{Keys: secrets.NewKeyring()}); err == nil {
		t.Fatal("opened without the PGP key")
	}
	// Another PGP key from a provider: the error names it, and that it does not fit.
	other := secretstest.NewGPG(t)
	t.Setenv("GNUPGHOME", other.Home)
	otherArmored, err := secrets.ExportPGP(context.Background(), []string{other.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GNUPGHOME", empty)
	wrong := secrets.NewKeyring()
	if _, err := wrong.AddKeyMaterial("provider other", otherArmored); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.Open(p, secrets.Options{Keys: wrong}); err == nil ||
		!strings.Contains(err.Error(), "PGP keys from provider other ("+other.Fingerprint+"): none fits") {
		t.Fatalf("a PGP key from a provider that does not fit: %v", err)
	}
	age := secretstest.NewAgeKey(t)
	item := append([]byte("# NO-IMPORT\n"+age.Secret+"\n"), armored...)
	k := secrets.NewKeyring()
	m, err := k.AddKeyMaterial("provider test", item)
	if err != nil {
		t.Fatal(err)
	}
	if m.PGP != 1 || m.Age != 1 || m.Vault {
		t.Errorf("material = %+v", m)
	}
	if fprs := k.PGPFingerprints(); len(fprs) != 1 || fprs[0] != g.Fingerprint {
		t.Errorf("fingerprints = %v, want %s", fprs, g.Fingerprint)
	}
	f, err := secrets.Open(p, secrets.Options{Keys: k})
	if err != nil {
		t.Fatalf("open with the provider's PGP key: %v", err)
	}
	if v, _ := f.Values().Get("user_secrets.alice.password"); v != "hunter2" {
		t.Errorf("alice = %q", v)
	}
	if err := f.Set("token", "from-chaos"); err != nil {
		t.Fatal(err)
	}
	enc, err := f.Encrypted()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	write(t, p, string(enc))
	if plain, err := sops(t, dir, env, "decrypt", p); err != nil || !strings.Contains(plain, "token: from-chaos") {
		t.Errorf("sops decrypt of chaos's write: %v\n%s", err, plain)
	}
	if left, _ := os.ReadDir(empty); len(left) > 2 {
		// gpg may create its own files (trustdb, a socket dir) when asked; it must never get the key.
		out, _ := exec.Command("gpg", "--homedir", empty, "--batch", "--list-secret-keys").Output()
		if strings.Contains(string(out), g.Fingerprint) {
			t.Error("the provider's key was imported into GnuPG")
		}
	}
}

// A passphrase-protected PGP key, a PGP block that is not a key and an item with no key are refused,
// and no error repeats key material.
func TestKeyMaterialRefusals(t *testing.T) {
	isolateKeys(t)
	g := secretstest.NewGPG(t)
	gpg := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command("gpg", append([]string{"--homedir", g.Home, "--batch", "--pinentry-mode", "loopback",
			"--passphrase", "s3cret-pass"}, args...)...).Output()
		if err != nil {
			t.Fatalf("gpg %v: %v", args, err)
		}
		return out
	}
	gpg("--quick-gen-key", "protected <p@example.invalid>", "future-default", "default", "never")
	protected := gpg("--armor", "--export-secret-keys", "protected")
	if _, err := secrets.NewKeyring().AddKeyMaterial("provider x", protected); err == nil ||
		!strings.Contains(err.Error(), "protected by a passphrase") {
		t.Errorf("a protected PGP key: %v", err)
	}
	for _, c := range []struct{ item, want string }{
		{"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nnotakey\n-----END PGP PRIVATE KEY BLOCK-----\n", "not a valid armored PGP private key"},
		{"# just a comment\n", "holds no key"},
		{"AGE-SECRET-KEY-1NOTVALID\n", "not a valid age key file"},
	} {
		_, err := secrets.NewKeyring().AddKeyMaterial("provider x", []byte(c.item))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "NOTVALID") || strings.Contains(err.Error(), "notakey") {
			t.Errorf("%q: %v", c.item, err)
		}
	}
}
