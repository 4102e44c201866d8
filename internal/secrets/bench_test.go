package secrets_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/secrets/secretstest"
)

// BenchmarkDecrypt100 opens a 100-key file (age recipient, every value encrypted, MAC checked) and
// reads one value: what `chaos apply -s` pays before probing.
func BenchmarkDecrypt100(b *testing.B) {
	key := secretstest.NewAgeKey(b)
	dir := b.TempDir()
	write(b, filepath.Join(dir, ".sops.yaml"), "creation_rules:\n  - age: "+key.Recipient+"\n")
	var plain strings.Builder
	plain.WriteString("user_secrets:\n")
	for i := range 100 {
		fmt.Fprintf(&plain, "    user%03d:\n        password: pw-%03d-abcdefghijklmnop\n", i, i)
	}
	k := secrets.NewKeyring()
	if _, err := k.AddAgeKeys("bench", []byte(key.Secret)); err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(dir, "s.yaml")
	_, enc, err := secrets.Create(p, []byte(plain.String()), secrets.Options{Keys: k})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		f, err := secrets.Decrypt(p, enc, secrets.Options{Keys: k})
		if err != nil {
			b.Fatal(err)
		}
		if v, _ := f.Values().Get("user_secrets.user042.password"); v != "pw-042-abcdefghijklmnop" {
			b.Fatal(v)
		}
		f.Close()
	}
}
