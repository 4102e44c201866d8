package secrets_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/secrets/secretstest"
)

// TestInteropOlderReleases: files written by older sops releases (age, YAML and JSON, encrypted_regex)
// decrypt in chaos, files chaos writes decrypt in those releases, and a value chaos changes in an
// old release's file is read back by that release. The command lines are the ones every release
// knows (`-e`, `-d`, `--extract`), as an operator with an older sops would type them.
func TestInteropOlderReleases(t *testing.T) {
	isolateKeys(t)
	for _, version := range secretstest.OlderSopsReleases {
		t.Run(version, func(t *testing.T) {
			bin := secretstest.SopsRelease(t, version)
			key := secretstest.NewAgeKey(t)
			dir := t.TempDir()
			keyFile := key.KeyFile(t, t.TempDir(), "keys.txt")
			t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
			old := func(args ...string) string {
				t.Helper()
				cmd := exec.Command(bin, args...)
				cmd.Dir = dir
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				if err := cmd.Run(); err != nil {
					t.Fatalf("sops %s %v: %v: %s", version, args, err, errb.String())
				}
				return out.String()
			}
			if v := old("--version"); !strings.Contains(v, strings.TrimPrefix(version, "v")) {
				t.Fatalf("sops --version = %q, want %s", v, version)
			}
			write(t, filepath.Join(dir, ".sops.yaml"), "creation_rules:\n  - path_regex: partial\\.yaml$\n    encrypted_regex: ^password$\n    age: "+key.Recipient+"\n  - age: "+key.Recipient+"\n")
			for _, name := range []string{"secrets.yaml", "partial.yaml", "secrets.json"} {
				plain := plainYAML
				if strings.HasSuffix(name, ".json") {
					plain = `{"user_secrets": {"alice": {"password": "hunter2"}}, "n": 3}`
				}
				p := filepath.Join(dir, name)

				// The old release encrypts, chaos decrypts and agrees with it on every value.
				write(t, p, plain)
				enc := old("-e", p)
				f, err := secrets.Decrypt(p, []byte(enc), secrets.Options{})
				if err != nil {
					t.Fatalf("%s by sops %s: chaos cannot decrypt: %v", name, version, err)
				}
				if v, ok := f.Values().Get("user_secrets.alice.password"); !ok || v != "hunter2" {
					t.Errorf("%s by sops %s: password = %q, %v", name, version, v, ok)
				}
				write(t, p, enc)
				got, err := f.Plaintext()
				if err != nil {
					t.Fatal(err)
				}
				// sops 3.8 and 3.9 end a decrypted JSON document without a newline (3.13 with one).
				if want := old("-d", p); strings.TrimSuffix(string(got), "\n") != strings.TrimSuffix(want, "\n") {
					t.Errorf("%s by sops %s: chaos reads\n%s\nsops reads\n%s", name, version, got, want)
				}

				// chaos changes a value; the old release reads the new one (MAC and data key intact).
				if err := f.Set("user_secrets.alice.password", "changed"); err != nil {
					t.Fatal(err)
				}
				re, err := f.Encrypted()
				if err != nil {
					t.Fatal(err)
				}
				f.Close()
				write(t, p, string(re))
				if v := old("-d", "--extract", `["user_secrets"]["alice"]["password"]`, p); v != "changed" {
					t.Errorf("%s: sops %s --extract after chaos's change = %q", name, version, v)
				}

				// chaos creates a file; the old release decrypts it.
				os.Remove(p)
				_, made, err := secrets.Create(p, []byte(plain), secrets.Options{Keys: keyring(t, key)})
				if err != nil {
					t.Fatal(err)
				}
				write(t, p, string(made))
				if v := old("-d", "--extract", `["user_secrets"]["alice"]["password"]`, p); v != "hunter2" {
					t.Errorf("%s by chaos: sops %s --extract = %q", name, version, v)
				}
			}
		})
	}
}
