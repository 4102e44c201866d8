package secrets_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/secrets/secretstest"
)

// isolateKeys keeps the developer's own sops/age/gpg keys out of a test.
func isolateKeys(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	for _, v := range []string{"SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE", "GNUPGHOME"} {
		t.Setenv(v, "") // restored after the test
		os.Unsetenv(v)
	}
	return home
}

func write(t testing.TB, path, text string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sops runs the real sops CLI in dir with extra environment and returns stdout.
func sops(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(secretstest.Sops(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), &sopsErr{err: err, stderr: errb.String()}
	}
	return out.String(), nil
}

type sopsErr struct {
	err    error
	stderr string
}

func (e *sopsErr) Error() string { return e.err.Error() + ": " + e.stderr }

const plainYAML = `# people
user_secrets:
    alice:
        password: hunter2 # inline comment
        username: alice
    bob:
        password: $y$j9T$abc$def
tokens:
    - one
    - 2
enabled: true
`

func keyring(t *testing.T, keys ...secretstest.AgeKey) *secrets.Keyring {
	t.Helper()
	k := secrets.NewKeyring()
	for _, key := range keys {
		if _, err := k.AddAgeKeys("test", []byte(key.Secret)); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

func TestInteropAgeYAMLAndJSON(t *testing.T) {
	isolateKeys(t)
	key := secretstest.NewAgeKey(t)
	dir := t.TempDir()
	keyFile := key.KeyFile(t, t.TempDir(), "keys.txt")
	env := []string{"SOPS_AGE_KEY_FILE=" + keyFile}
	write(t, filepath.Join(dir, ".sops.yaml"), `creation_rules:
  - path_regex: partial.*\.yaml$
    encrypted_regex: ^(password|tokens)$
    age: `+key.Recipient+`
  - path_regex: \.json$
    unencrypted_suffix: _plain
    age: [`+key.Recipient+`]
  - age: `+key.Recipient+`
`)
	for _, name := range []string{"secrets.yaml", "partial.yaml", "secrets.json"} {
		t.Run(name, func(t *testing.T) {
			plain := plainYAML
			if strings.HasSuffix(name, ".json") {
				plain = `{"user_secrets": {"alice": {"password": "hunter2", "name_plain": "alice"}}, "n": 3}`
			}
			// chaos encrypts, sops decrypts.
			p := filepath.Join(dir, name)
			_, enc, err := secrets.Create(p, []byte(plain), secrets.Options{Keys: keyring(t, key)})
			if err != nil {
				t.Fatal(err)
			}
			// Compare what both read back from the file (comments lose their inline placement once
			// encrypted, in sops as in chaos).
			f, err := secrets.Decrypt(p, enc, secrets.Options{Keys: keyring(t, key)})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			want, err := f.Plaintext()
			if err != nil {
				t.Fatal(err)
			}
			write(t, p, string(enc))
			got, err := sops(t, dir, env, "decrypt", p)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("sops decrypt of chaos's file:\n%s\nwant (chaos's plaintext):\n%s", got, want)
			}
			if strings.Contains(string(enc), "hunter2") {
				t.Errorf("plaintext password in the encrypted file:\n%s", enc)
			}
			switch name {
			case "partial.yaml":
				if !strings.Contains(string(enc), "username: alice") || !strings.Contains(string(enc), "encrypted_regex: ^(password|tokens)$") {
					t.Errorf("encrypted_regex not honoured:\n%s", enc)
				}
			case "secrets.json":
				if !strings.Contains(string(enc), `"name_plain": "alice"`) || !strings.Contains(string(enc), `"unencrypted_suffix": "_plain"`) {
					t.Errorf("unencrypted_suffix not honoured:\n%s", enc)
				}
			}

			// sops encrypts, chaos decrypts, through sops's own key discovery (SOPS_AGE_KEY_FILE).
			src := filepath.Join(dir, "plain-"+name)
			write(t, src, plain)
			out, err := sops(t, dir, env, "encrypt", "--filename-override", p, src)
			if err != nil {
				t.Fatal(err)
			}
			os.Remove(src)
			t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
			g, err := secrets.Decrypt(p, []byte(out), secrets.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if v, ok := g.Values().Get("user_secrets.alice.password"); !ok || v != "hunter2" {
				t.Errorf("Get(user_secrets.alice.password) = %q, %v", v, ok)
			}
			gotPlain, err := g.Plaintext()
			if err != nil {
				t.Fatal(err)
			}
			write(t, p, out)
			sopsPlain, err := sops(t, dir, env, "decrypt", p)
			if err != nil {
				t.Fatal(err)
			}
			if string(gotPlain) != sopsPlain {
				t.Errorf("chaos plaintext of sops's file:\n%s\nsops says:\n%s", gotPlain, sopsPlain)
			}
			// chaos re-encrypts sops's file (same data key, as `sops edit`); sops still reads it.
			if err := g.Set("user_secrets.alice.password", "changed"); err != nil {
				t.Fatal(err)
			}
			re, err := g.Encrypted()
			if err != nil {
				t.Fatal(err)
			}
			write(t, p, string(re))
			val, err := sops(t, dir, env, "decrypt", "--extract", `["user_secrets"]["alice"]["password"]`, p)
			if err != nil || val != "changed" {
				t.Errorf("sops --extract after chaos set: %q, %v", val, err)
			}
		})
	}
}

func TestTamperedRefused(t *testing.T) {
	isolateKeys(t)
	key := secretstest.NewAgeKey(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, ".sops.yaml"), "creation_rules:\n  - encrypted_regex: ^password$\n    age: "+key.Recipient+"\n")
	p := filepath.Join(dir, "s.yaml")
	_, enc, err := secrets.Create(p, []byte("user_secrets:\n  alice:\n    password: hunter2\n    shell: bash\n"), secrets.Options{Keys: keyring(t, key)})
	if err != nil {
		t.Fatal(err)
	}
	o := secrets.Options{Keys: keyring(t, key)}
	if _, err := secrets.Decrypt(p, enc, o); err != nil {
		t.Fatalf("untampered: %v", err)
	}
	encValue := regexp.MustCompile(`password: ENC\[AES256_GCM,data:([A-Za-z0-9+/=]+),`)
	mac := regexp.MustCompile(`mac: ENC\[AES256_GCM,data:([A-Za-z0-9+/=]+),`)
	flip := func(re *regexp.Regexp) []byte {
		m := re.FindSubmatchIndex(enc)
		if m == nil {
			t.Fatalf("no match for %s in\n%s", re, enc)
		}
		out := bytes.Clone(enc)
		i := m[2]
		if out[i] == 'A' {
			out[i] = 'B'
		} else {
			out[i] = 'A'
		}
		return out
	}
	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		{"ciphertext", "cannot decrypt", flip(encValue)},
		{"mac", "MAC", flip(mac)},
		{"clear value", "MAC mismatch", bytes.Replace(enc, []byte("shell: bash"), []byte("shell: zsh"), 1)},
		{"not sops", "not encrypted with sops", []byte("a: b\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := secrets.Decrypt(p, tc.data, o)
			if err == nil {
				f.Close()
				t.Fatal("tampered file accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestShamirGroups(t *testing.T) {
	isolateKeys(t)
	k1, k2, k3 := secretstest.NewAgeKey(t), secretstest.NewAgeKey(t), secretstest.NewAgeKey(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, ".sops.yaml"), `creation_rules:
  - shamir_threshold: 2
    key_groups:
      - age: [`+k1.Recipient+`]
      - age: [`+k2.Recipient+`]
      - age: [`+k3.Recipient+`]
`)
	p := filepath.Join(dir, "s.yaml")
	_, enc, err := secrets.Create(p, []byte("a: secret\n"), secrets.Options{Keys: keyring(t, k1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.Decrypt(p, enc, secrets.Options{Keys: keyring(t, k1)}); err == nil {
		t.Error("one of three groups decrypted a 2-of-3 file")
	}
	f, err := secrets.Decrypt(p, enc, secrets.Options{Keys: keyring(t, k1, k3)})
	if err != nil {
		t.Fatalf("2 of 3: %v", err)
	}
	f.Close()
	// The sops CLI agrees, with the two keys in one file.
	both := filepath.Join(t.TempDir(), "keys.txt")
	write(t, both, k2.Secret+"\n"+k3.Secret+"\n")
	write(t, p, string(enc))
	if out, err := sops(t, dir, []string{"SOPS_AGE_KEY_FILE=" + both}, "decrypt", p); err != nil || out != "a: secret\n" {
		t.Errorf("sops 2 of 3: %q %v", out, err)
	}
	if _, err := sops(t, dir, []string{"SOPS_AGE_KEY_FILE=" + k2.KeyFile(t, t.TempDir(), "k")}, "decrypt", p); err == nil {
		t.Error("sops decrypted with one group of three")
	}
}

func TestInteropPGP(t *testing.T) {
	isolateKeys(t)
	g := secretstest.NewGPG(t)
	t.Setenv("GNUPGHOME", g.Home)
	dir := t.TempDir()
	write(t, filepath.Join(dir, ".sops.yaml"), "creation_rules:\n  - pgp: "+g.Fingerprint+"\n")
	p := filepath.Join(dir, "s.yaml")
	_, enc, err := secrets.Create(p, []byte("user_secrets:\n    alice:\n        password: hunter2\n"), secrets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(enc), "fp: "+g.Fingerprint) {
		t.Errorf("no pgp key in the metadata:\n%s", enc)
	}
	write(t, p, string(enc))
	env := []string{"GNUPGHOME=" + g.Home}
	if out, err := sops(t, dir, env, "decrypt", p); err != nil || !strings.Contains(out, "password: hunter2") {
		t.Errorf("sops decrypt of chaos's PGP file: %q %v", out, err)
	}
	src := write(t, filepath.Join(dir, "in.yaml"), "token: abc\n")
	out, err := sops(t, dir, env, "encrypt", "--filename-override", p, src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := secrets.Decrypt(p, []byte(out), secrets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v, _ := f.Values().Get("token"); v != "abc" {
		t.Errorf("token = %q", v)
	}
}

func TestKeyringDir(t *testing.T) {
	isolateKeys(t)
	key := secretstest.NewAgeKey(t)
	cfg := t.TempDir()
	key.KeyFile(t, filepath.Join(cfg, "keys"), "main.txt")
	k, err := secrets.DiscoverKeyring(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != 1 || k.Recipients()[0] != key.Recipient {
		t.Fatalf("keyring: %d %v", k.Len(), k.Recipients())
	}
	os.Chmod(filepath.Join(cfg, "keys", "main.txt"), 0o644)
	if _, err := secrets.DiscoverKeyring(cfg); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable key file was accepted: %v", err)
	}
	bad := secrets.NewKeyring()
	if _, err := bad.AddAgeKeys("x", []byte("AGE-SECRET-KEY-1NOTAKEY\n")); err == nil || strings.Contains(err.Error(), "NOTAKEY") {
		t.Errorf("bad key: %v", err)
	}
}

// TestNoKeyExplains: a file no available key opens is refused with its recipients, every place
// looked at (in order, with what each held) and what to do, and no key material.
func TestNoKeyExplains(t *testing.T) {
	home := isolateKeys(t)
	owner, other, stray := secretstest.NewAgeKey(t), secretstest.NewAgeKey(t), secretstest.NewAgeKey(t)
	p := filepath.Join(t.TempDir(), "secrets.yaml")
	write(t, filepath.Join(filepath.Dir(p), ".sops.yaml"), "creation_rules:\n  - age: "+owner.Recipient+"\n")
	_, enc, err := secrets.Create(p, []byte(plainYAML), secrets.Options{Keys: keyring(t, owner)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := t.TempDir()
	other.KeyFile(t, filepath.Join(cfg, "keys"), "main.txt")
	envFile := stray.KeyFile(t, t.TempDir(), "stray.txt")
	t.Setenv("SOPS_AGE_KEY_FILE", envFile)
	k, err := secrets.DiscoverKeyring(cfg)
	if err != nil {
		t.Fatal(err)
	}
	k.SetProviders([]string{"vault", "bw"})
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	write(t, filepath.Join(home, ".ssh", "id_ed25519"), "not read by the message\n")
	_, err = secrets.Decrypt(p, enc, secrets.Options{Keys: k})
	if err == nil {
		t.Fatal("decrypted without a fitting key")
	}
	msg := err.Error()
	t.Log(msg)
	def := filepath.Join(home, ".config", "sops", "age", "keys.txt")
	for _, want := range []string{
		p + ": no available key can decrypt this file",
		"age " + owner.Recipient,
		filepath.Join(cfg, "keys") + "/ (chaos keys): 1 key(s), none fits",
		filepath.Join(cfg, "keys.txt") + " (chaos keys, old layout): does not exist",
		"SOPS_AGE_KEY: not set",
		"SOPS_AGE_KEY_FILE=" + envFile + ": 1 key(s), none fits",
		"SOPS_AGE_KEY_CMD: not set",
		def + " (default): does not exist",
		filepath.Join(home, ".ssh", "id_ed25519") + " (ssh key): exists, does not fit",
		"secret providers configured (fetch a key with -p NAME): bw, vault",
		"add the private key of one of these recipients to " + def + " or set SOPS_AGE_KEY_FILE",
		"chaos secrets rotate-add age YOUR_PUBLIC_KEY",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	// In the order sops and chaos search.
	if i, j := strings.Index(msg, "(chaos keys)"), strings.Index(msg, "(default)"); i < 0 || j < i {
		t.Errorf("locations out of order:\n%s", msg)
	}
	for _, secret := range []string{"AGE-SECRET-KEY", "hunter2", owner.Secret, other.Secret, stray.Secret} {
		if strings.Contains(strings.ToUpper(msg), strings.ToUpper(secret)) {
			t.Errorf("message leaks %q:\n%s", secret, msg)
		}
	}
	// The default path follows XDG_CONFIG_HOME, as sops's does, and a key there is counted.
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	stray.KeyFile(t, filepath.Join(xdg, "sops", "age"), "keys.txt")
	_, err = secrets.Decrypt(p, enc, secrets.Options{Keys: k})
	if want := filepath.Join(xdg, "sops", "age", "keys.txt") + " (default): 1 key(s), none fits"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("want %q in:\n%v", want, err)
	}
}

// TestNoKeyExplainsPGP: PGP recipients are named by fingerprint, with the GnuPG home asked.
func TestNoKeyExplainsPGP(t *testing.T) {
	isolateKeys(t)
	g := secretstest.NewGPG(t)
	owner := secretstest.NewAgeKey(t)
	t.Setenv("GNUPGHOME", g.Home)
	dir := t.TempDir()
	write(t, filepath.Join(dir, ".sops.yaml"), "creation_rules:\n  - pgp: "+g.Fingerprint+"\n    age: "+owner.Recipient+"\n")
	p := filepath.Join(dir, "s.yaml")
	_, enc, err := secrets.Create(p, []byte("user_secrets:\n    alice:\n        password: hunter2\n"), secrets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A GnuPG home without the secret key: gpg runs and fails, as on a machine without the key.
	empty, err := os.MkdirTemp("/tmp", "gpg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(empty, 0o700)
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", empty, "--kill", "all").Run()
		os.RemoveAll(empty)
	})
	t.Setenv("GNUPGHOME", empty)
	_, err = secrets.Decrypt(p, enc, secrets.Options{})
	if err == nil {
		t.Fatal("decrypted without a key")
	}
	msg := err.Error()
	for _, want := range []string{"pgp " + g.Fingerprint, "age " + owner.Recipient, "pgp keys were asked of gpg (GNUPGHOME=" + empty + ")"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2") || strings.Contains(msg, "AGE-SECRET-KEY") {
		t.Errorf("message leaks a secret:\n%s", msg)
	}
}
