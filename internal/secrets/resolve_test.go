package secrets_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/secrets/providers"
	"github.com/ch-aos-ch/chaos/internal/secrets/secretstest"
)

// TestResolvePrecedence: the secrets file is the flag, else the default (secrets_file), else the
// Ch-obolo's secrets.file (or sec_file) relative to the Ch-obolo; the same for the sops
// configuration, which falls back to the original's CONFIGDIR/sops-config.yml only when no
// .sops.yaml is found. Without a loaded Ch-obolo, the default one's secrets section is read.
func TestResolvePrecedence(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // no .sops.yaml from the working directory up
	cdir := filepath.Join(dir, "infra")
	file := write(t, filepath.Join(cdir, "machine.yml"), "secrets:\n  file: sec/s.yaml\n  sops: sec/sops.yaml\n")
	legacy := write(t, filepath.Join(dir, "legacy.yml"), "secrets:\n  sec_file: /abs/s.yaml\n  sec_sops: old.yaml\nhostname: [not, validated]\n")
	loaded, err := chobolo.Load(file, chobolo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	confDir := filepath.Join(dir, "conf")
	oldSops := write(t, filepath.Join(confDir, "sops-config.yml"), "creation_rules: []\n")
	fromChobolo := secrets.Sources{File: filepath.Join(cdir, "sec/s.yaml"), Sops: filepath.Join(cdir, "sec/sops.yaml")}

	for _, tc := range []struct {
		name string
		c    *chobolo.Chobolo
		src  secrets.Sources
		d    secrets.Defaults
		want secrets.Sources
	}{
		{"flags win", loaded, secrets.Sources{File: "f.yaml", Sops: "f-sops.yaml"},
			secrets.Defaults{File: "cfg.yaml", Sops: "cfg-sops.yaml"}, secrets.Sources{File: "f.yaml", Sops: "f-sops.yaml"}},
		{"config.yml over the Ch-obolo", loaded, secrets.Sources{},
			secrets.Defaults{File: "cfg.yaml", Sops: "cfg-sops.yaml"}, secrets.Sources{File: "cfg.yaml", Sops: "cfg-sops.yaml"}},
		{"each setting on its own", loaded, secrets.Sources{Sops: "f-sops.yaml"},
			secrets.Defaults{File: "cfg.yaml"}, secrets.Sources{File: "cfg.yaml", Sops: "f-sops.yaml"}},
		{"the Ch-obolo, relative to it", loaded, secrets.Sources{}, secrets.Defaults{}, fromChobolo},
		{"the default Ch-obolo, read lightly", nil, secrets.Sources{}, secrets.Defaults{Chobolo: file}, fromChobolo},
		{"the original's spellings", nil, secrets.Sources{}, secrets.Defaults{Chobolo: legacy},
			secrets.Sources{File: "/abs/s.yaml", Sops: filepath.Join(dir, "old.yaml")}},
		{"no light read once a file is named", nil, secrets.Sources{File: "f.yaml"}, secrets.Defaults{Chobolo: file},
			secrets.Sources{File: "f.yaml"}},
		{"the original's sops-config.yml when no .sops.yaml is found", nil, secrets.Sources{File: "f.yaml"},
			secrets.Defaults{ConfigDir: confDir}, secrets.Sources{File: "f.yaml", Sops: oldSops}},
		{"a missing Ch-obolo names nothing", nil, secrets.Sources{}, secrets.Defaults{Chobolo: filepath.Join(dir, "none.yml")},
			secrets.Sources{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := secrets.Resolve(tc.c, tc.src, tc.d); got != tc.want {
				t.Errorf("Resolve = %+v, want %+v", got, tc.want)
			}
		})
	}

	// A .sops.yaml next to the secrets file beats the original's sops-config.yml.
	write(t, filepath.Join(cdir, "sec", ".sops.yaml"), "creation_rules: []\n")
	got := secrets.Resolve(nil, secrets.Sources{File: filepath.Join(cdir, "sec", "s.yaml")}, secrets.Defaults{ConfigDir: confDir})
	if got.Sops != "" {
		t.Errorf("sops config with a .sops.yaml next to the file = %q, want \"\" (found when opening)", got.Sops)
	}
	if _, err := secrets.OpenFile(context.Background(), secrets.Sources{}, nil); !errors.Is(err, secrets.ErrNoFile) {
		t.Errorf("OpenFile without a file: %v, want ErrNoFile", err)
	}
}

// TestLoadKeyring: chaos's own keys and the provider's key open files; a broken provider set only
// matters when a provider is asked for.
func TestLoadKeyring(t *testing.T) {
	isolateKeys(t)
	own, fetched := secretstest.NewAgeKey(t), secretstest.NewAgeKey(t)
	confDir := t.TempDir()
	own.KeyFile(t, filepath.Join(confDir, secrets.KeysDir), "age.txt")
	keyFile := fetched.KeyFile(t, t.TempDir(), "remote.txt")
	set := providers.Set{Providers: map[string]providers.Config{"vault": {Type: "file", Path: keyFile}}, Default: "vault"}
	broken := func() (providers.Set, error) { return providers.Set{}, errors.New("secret_providers: broken") }
	ctx := context.Background()

	k, err := secrets.LoadKeyring(ctx, secrets.KeyringOptions{ConfigDir: confDir, Providers: broken})
	if err != nil || k.Len() != 1 || k.Recipients()[0] != own.Recipient {
		t.Fatalf("without -p and a broken provider set: %v, %v", k.Recipients(), err)
	}
	if _, err := secrets.LoadKeyring(ctx, secrets.KeyringOptions{ConfigDir: confDir, Providers: broken, Provider: "vault"}); err == nil ||
		!strings.Contains(err.Error(), "broken") {
		t.Errorf("with -p and a broken provider set: %v", err)
	}
	k, err = secrets.LoadKeyring(ctx, secrets.KeyringOptions{ConfigDir: confDir,
		Providers: func() (providers.Set, error) { return set, nil }, Provider: "default"})
	if err != nil || k.Len() != 2 || !strings.Contains(strings.Join(k.Sources(), " "), "provider vault") {
		t.Fatalf("with -p default: %v, %v", k.Sources(), err)
	}

	// The values of a file encrypted for the provider's key come out through LoadValues.
	p := filepath.Join(t.TempDir(), "s.yaml")
	write(t, filepath.Join(filepath.Dir(p), ".sops.yaml"), "creation_rules:\n  - age: "+fetched.Recipient+"\n")
	_, enc, err := secrets.Create(p, []byte("user_secrets:\n  alice:\n    password: hunter2\n"), secrets.Options{Keys: k})
	if err != nil {
		t.Fatal(err)
	}
	write(t, p, string(enc))
	v, err := secrets.LoadValues(ctx, secrets.Sources{File: p}, k)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := v.Get("user_secrets.alice.password"); !ok || got != "hunter2" {
		t.Errorf("LoadValues: %q %v", got, ok)
	}
}

// ParseSopsConfig (chaos secrets edit -s) accepts what sops accepts, flat and grouped, with cloud
// keys it leaves to sops, and refuses rules that could never encrypt or decrypt a file.
func TestParseSopsConfig(t *testing.T) {
	age := "age1uh8jr85z2jupfa9vut3altedz4t6x7kd55wcwdhs72ulwdklp5rquqhevv"
	vault := "https://vault.example:8200/v1/transit/keys/ops"
	for _, ok := range []string{
		"creation_rules:\n  - age: " + age + "\n",
		"creation_rules:\n  - path_regex: \\.ya?ml$\n    hc_vault_transit_uri: " + vault + "\n",
		"creation_rules:\n  - kms: arn:aws:kms:eu-west-2:111122223333:key/x\n",
		"creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [" + age + "]\n      - hc_vault: [" + vault + "]\n",
	} {
		if _, err := secrets.ParseSopsConfig("s.yaml", []byte(ok)); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"creation_rules: {}\n":                                             "want a list of rules",
		"creation_rules:\n  - path_regex: x\n":                             "no keys",
		"creation_rules:\n  - hc_vault_transit_uri: x\n":                   "not a Vault transit key URI",
		"creation_rules:\n  - pgp: 1234\n":                                 "40-hex-digit",
		"creation_rules:\n  - age: " + age + "\n    shamir_threshold: 2\n": "shamir_threshold 2",
	} {
		if _, err := secrets.ParseSopsConfig("s.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", bad, err, want)
		}
	}
}
