package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/secrets/secretstest"
)

// TestSecretsAWSKMSThroughSopsCLI: `chaos secrets set/edit/cat/list` on a file keyed with AWS KMS
// only, which chaos opens and writes through the installed sops CLI run as a key service. The real
// upstream sops CLI makes and reads the file, against local-kms (an AWS KMS emulator).
func TestSecretsAWSKMSThroughSopsCLI(t *testing.T) {
	_, dir := isolateSecrets(t)
	kms := secretstest.StartLocalKMS(t)
	for _, e := range kms.Env() {
		k, v, _ := strings.Cut(e, "=")
		t.Setenv(k, v)
	}
	sops := secretstest.Sops(t)
	t.Setenv(secrets.SopsCLIEnv, sops)
	if err := os.WriteFile(filepath.Join(dir, ".sops.yaml"), []byte("creation_rules:\n  - kms: "+kms.KeyARN+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "secrets.yaml")
	if err := os.WriteFile(file, []byte("user_secrets:\n    alice:\n        password: one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sopsRun := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(sops, args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sops %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	sopsRun("encrypt", "-i", "secrets.yaml")

	mustRun(t, "two\n", "secrets", "set", "-sf", file, "user_secrets.bob.password")
	editor := filepath.Join(t.TempDir(), "ed.sh")
	os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/password: one/password: uno/' \"$1\"\n"), 0o755)
	t.Setenv("EDITOR", editor)
	mustRun(t, "", "secrets", "edit", "-sf", file)
	if r := mustRun(t, "", "secrets", "cat", "-sf", file, "user_secrets.alice.password", "--value"); r.stdout != "uno\n" {
		t.Errorf("cat after edit = %q", r.stdout)
	}
	if r := mustRun(t, "", "secrets", "list", "-sf", file); !strings.Contains(r.stdout, kms.KeyARN) {
		t.Errorf("list does not show the KMS key:\n%s", r)
	}
	if plain := sopsRun("decrypt", "secrets.yaml"); !strings.Contains(plain, "password: uno") || !strings.Contains(plain, "password: two") {
		t.Errorf("sops decrypt of chaos's writes:\n%s", plain)
	}

	t.Setenv(secrets.SopsCLIEnv, filepath.Join(dir, "no-such-sops"))
	if r := run(t, "", "secrets", "cat", "-sf", file); r.code == 0 || !strings.Contains(r.stderr, "need the sops CLI") {
		t.Errorf("cat without sops:\n%s", r)
	}
}
