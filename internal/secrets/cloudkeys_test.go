package secrets_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/secrets/secretstest"
)

// TestAWSKMSThroughSopsCLI: chaos links no cloud SDK, so a file keyed with AWS KMS only is opened,
// changed, re-keyed and written through the installed sops CLI run as a key service. The real
// upstream sops CLI talks to local-kms, an AWS KMS emulator (AWS itself is not reachable here); the
// file is made and read back by that CLI.
func TestAWSKMSThroughSopsCLI(t *testing.T) {
	kms := secretstest.StartLocalKMS(t)
	for _, e := range kms.Env() {
		k, v, _ := strings.Cut(e, "=")
		t.Setenv(k, v)
	}
	t.Setenv(secrets.SopsCLIEnv, secretstest.Sops(t))
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the key service's socket directory goes: checked empty below
	dir := t.TempDir()
	write(t, filepath.Join(dir, ".sops.yaml"), "creation_rules:\n  - kms: "+kms.KeyARN+"\n")
	path := write(t, filepath.Join(dir, "s.yaml"), plainYAML)
	if _, err := sops(t, dir, nil, "encrypt", "-i", "s.yaml"); err != nil {
		t.Fatalf("sops encrypt with AWS KMS: %v", err)
	}

	f, err := secrets.Open(path, secrets.Options{Keys: secrets.NewKeyring()})
	if err != nil {
		t.Fatalf("chaos opening a KMS-only file: %v", err)
	}
	if v, _ := f.Values().Get("user_secrets.alice.password"); v != "hunter2" {
		t.Fatalf("alice's password = %q", v)
	}
	if err := f.Set("user_secrets.carol.password", "s3cret"); err != nil {
		t.Fatal(err)
	}
	out, err := f.Encrypted()
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, string(out))
	plain, err := sops(t, dir, nil, "decrypt", "s.yaml")
	if err != nil || !strings.Contains(plain, "carol:\n        password: s3cret") {
		t.Fatalf("sops decrypt of chaos's write: %v\n%s", err, plain)
	}
	// A new data key wrapped by AWS KMS through the key service, read back by sops.
	if err := f.Rekey(); err != nil {
		t.Fatalf("rekey through the sops key service: %v", err)
	}
	if out, err = f.Encrypted(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	write(t, path, string(out))
	if plain, err = sops(t, dir, nil, "decrypt", "s.yaml"); err != nil || !strings.Contains(plain, "s3cret") {
		t.Fatalf("sops decrypt after chaos's rekey: %v\n%s", err, plain)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the key service left %v in TMPDIR", left)
	}

	// Without a sops CLI: a clear error naming the key type and what to install.
	t.Setenv(secrets.SopsCLIEnv, filepath.Join(dir, "no-such-sops"))
	_, err = secrets.Open(path, secrets.Options{Keys: secrets.NewKeyring()})
	if err == nil || !strings.Contains(err.Error(), "kms keys need the sops CLI") || !strings.Contains(err.Error(), "no sops CLI found") {
		t.Fatalf("opening without sops: %v", err)
	}
}

// TestCloudKeysKeptAsData: a file with an age key and an AWS KMS key opens with the age key alone,
// with no sops CLI at all, and chaos's write keeps the KMS key: sops opens it with KMS only.
func TestCloudKeysKeptAsData(t *testing.T) {
	kms := secretstest.StartLocalKMS(t)
	env := kms.Env()
	key := secretstest.NewAgeKey(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, ".sops.yaml"), "creation_rules:\n  - key_groups:\n      - age: ["+key.Recipient+"]\n        kms: [{arn: "+kms.KeyARN+"}]\n")
	path := write(t, filepath.Join(dir, "s.yaml"), plainYAML)
	if _, err := sops(t, dir, env, "encrypt", "-i", "s.yaml"); err != nil {
		t.Fatalf("sops encrypt: %v", err)
	}
	t.Setenv(secrets.SopsCLIEnv, filepath.Join(dir, "no-such-sops"))
	f, err := secrets.Open(path, secrets.Options{Keys: keyring(t, key)})
	if err != nil {
		t.Fatalf("open with the age key: %v", err)
	}
	defer f.Close()
	if err := f.Set("tokens.0", "changed"); err != nil {
		t.Fatal(err)
	}
	out, err := f.Encrypted()
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, string(out))
	// SOPS_AGE_KEY_FILE points nowhere: only the KMS key can open it.
	plain, err := sops(t, dir, append(env, "SOPS_AGE_KEY_FILE=/nonexistent", "HOME="+t.TempDir()), "decrypt", "s.yaml")
	if err != nil || !strings.Contains(plain, "- changed") {
		t.Fatalf("sops decrypt with KMS only: %v\n%s", err, plain)
	}
}
