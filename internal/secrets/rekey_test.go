package secrets_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/secrets/secretstest"
)

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestRotateRefusesLockout: a key change after which the keys at hand could not decrypt the file
// is refused, and then neither the file nor its sops configuration changes; --force writes both.
// A change they still meet goes through, with the configuration's rule updated.
func TestRotateRefusesLockout(t *testing.T) {
	isolateKeys(t)
	held, other := secretstest.NewAgeKey(t), secretstest.NewAgeKey(t)
	dir := t.TempDir()
	sopsFile := write(t, filepath.Join(dir, ".sops.yaml"), "creation_rules:\n  - age: "+held.Recipient+"\n")
	p := filepath.Join(dir, "s.yaml")
	k := keyring(t, held)
	_, enc, err := secrets.Create(p, []byte("a: secret\n"), secrets.Options{Keys: k})
	if err != nil {
		t.Fatal(err)
	}
	write(t, p, string(enc))
	src := secrets.Sources{File: p}
	ctx := context.Background()
	rotate := func(r secrets.Rotation) (secrets.KeyChangeResult, error) {
		t.Helper()
		f, err := secrets.OpenFile(ctx, src, k)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return secrets.Rotate(ctx, f, src, k, r)
	}
	unchanged := func(what string) {
		t.Helper()
		if readFile(t, p) != string(enc) {
			t.Errorf("%s: the file changed", what)
		}
		if !strings.Contains(readFile(t, sopsFile), held.Recipient) || strings.Contains(readFile(t, sopsFile), other.Recipient) {
			t.Errorf("%s: the sops configuration changed:\n%s", what, readFile(t, sopsFile))
		}
	}

	// A second key group the held key cannot meet (every group is needed): locked out.
	if _, err := rotate(secrets.Rotation{Add: true, Kind: "age", Keys: []string{other.Recipient}, Group: 1, Rule: -1, Shamir: -1}); err == nil ||
		!strings.Contains(err.Error(), "refused: after this change the keys available here could not decrypt") {
		t.Fatalf("new group the held key cannot meet: %v", err)
	}
	unchanged("refused rotate-add --group 1")
	// Add the other key to group 0: the held key still opens the file.
	res, err := rotate(secrets.Rotation{Add: true, Kind: "age", Keys: []string{other.Recipient}, Rule: -1, Shamir: -1})
	if err != nil || res.Config != sopsFile || res.Rule != 0 || res.Groups != 1 {
		t.Fatalf("rotate-add to group 0: %+v, %v", res, err)
	}
	if !strings.Contains(readFile(t, sopsFile), other.Recipient) {
		t.Errorf("rotate-add did not update the creation rule:\n%s", readFile(t, sopsFile))
	}
	enc = []byte(readFile(t, p))
	cfgBefore := readFile(t, sopsFile)
	// Remove the held key: only the other holder could read it.
	if _, err := rotate(secrets.Rotation{Keys: []string{held.Recipient}, Rule: -1, Shamir: -1}); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("rotate-rm of the only held key: %v", err)
	}
	if readFile(t, p) != string(enc) || readFile(t, sopsFile) != cfgBefore {
		t.Error("a refused rotate-rm changed the file or its configuration")
	}
	// --force: written, and the held key no longer opens it; the other key does.
	if res, err := rotate(secrets.Rotation{Keys: []string{held.Recipient}, Rule: -1, Shamir: -1, Force: true}); err != nil || res.Groups != 1 {
		t.Fatalf("rotate-rm --force: %+v, %v", res, err)
	}
	if strings.Contains(readFile(t, sopsFile), held.Recipient) {
		t.Errorf("rotate-rm --force kept the key in the creation rule:\n%s", readFile(t, sopsFile))
	}
	if _, err := secrets.Open(p, secrets.Options{Keys: k}); err == nil {
		t.Error("the removed key still opens the file")
	}
	f, err := secrets.Open(p, secrets.Options{Keys: keyring(t, other)})
	if err != nil {
		t.Fatalf("the remaining key: %v", err)
	}
	f.Close()
}

// TestSetShamirRefusals: thresholds that no set of keys could meet, or that sops cannot split, are
// refused before anything is written.
func TestSetShamirRefusals(t *testing.T) {
	isolateKeys(t)
	k1, k2 := secretstest.NewAgeKey(t), secretstest.NewAgeKey(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, ".sops.yaml"), "creation_rules:\n  - key_groups:\n      - age: ["+k1.Recipient+"]\n      - age: ["+k2.Recipient+"]\n")
	p := filepath.Join(dir, "s.yaml")
	k := keyring(t, k1, k2)
	_, enc, err := secrets.Create(p, []byte("a: secret\n"), secrets.Options{Keys: k})
	if err != nil {
		t.Fatal(err)
	}
	write(t, p, string(enc))
	src := secrets.Sources{File: p}
	ctx := context.Background()
	f, err := secrets.OpenFile(ctx, src, k)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for n, want := range map[int]string{1: "at least 2", 3: "exceeds the 2 key group(s)", -1: "not a number"} {
		if _, err := secrets.SetShamir(ctx, f, src, k, n, -1, false); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("shamir %d: %v, want %q", n, err, want)
		}
	}
	if readFile(t, p) != string(enc) {
		t.Error("a refused threshold changed the file")
	}
	if res, err := secrets.SetShamir(ctx, f, src, k, 2, -1, false); err != nil || res.Groups != 2 {
		t.Fatalf("shamir 2: %+v, %v", res, err)
	}
	if !strings.Contains(readFile(t, filepath.Join(dir, ".sops.yaml")), "shamir_threshold: 2") {
		t.Errorf("shamir 2: the creation rule has no threshold:\n%s", readFile(t, filepath.Join(dir, ".sops.yaml")))
	}
	if _, err := secrets.Open(p, secrets.Options{Keys: keyring(t, k1)}); err == nil {
		t.Error("one group of a 2-of-2 file decrypted it")
	}
}

func TestMasterKey(t *testing.T) {
	key := secretstest.NewAgeKey(t)
	for _, tc := range []struct{ kind, key, want string }{
		{"age", key.Recipient, key.Recipient},
		{"pgp", "0123 4567 89ab CDEF 0123 4567 89AB cdef 0123 4567", "0123456789ABCDEF0123456789ABCDEF01234567"},
		{"gpg", "0123456789ABCDEF0123456789ABCDEF01234567", "0123456789ABCDEF0123456789ABCDEF01234567"},
	} {
		mk, err := secrets.MasterKey(tc.kind, tc.key)
		if err != nil || mk.ToString() != tc.want {
			t.Errorf("MasterKey(%s, %q) = %v, %v; want %s", tc.kind, tc.key, mk, err, tc.want)
		}
	}
	for _, tc := range []struct{ kind, key, want string }{
		{"age", "age1nope", "not an age recipient"},
		{"pgp", "0123", "not a 40-hex-digit PGP fingerprint"},
		{"kms", "x", "unknown key type"},
	} {
		if _, err := secrets.MasterKey(tc.kind, tc.key); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("MasterKey(%s, %q): %v, want %q", tc.kind, tc.key, err, tc.want)
		}
	}
	if err := (secrets.Rotation{Add: true, Kind: "age", Keys: []string{key.Recipient, "age1nope"}}).Validate(); err == nil ||
		!strings.HasPrefix(err.Error(), "rotate-add: ") {
		t.Errorf("Validate of a bad key: %v", err)
	}
}
