package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/config"
	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/secrets/providers"
)

func write(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, config.FileName)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDir(t *testing.T) {
	t.Setenv("HOME", "/home/h")
	t.Setenv("CHAOS_CONFIG_DIR", "")
	t.Setenv("XDG_CONFIG_HOME", "")
	for _, tc := range []struct{ env, val, want string }{
		{"", "", "/home/h/.config/chaos"},
		{"XDG_CONFIG_HOME", "/x", "/x/chaos"},
		{"CHAOS_CONFIG_DIR", "/c", "/c"},
	} {
		if tc.env != "" {
			t.Setenv(tc.env, tc.val)
		}
		if d, err := config.Dir(); err != nil || d != tc.want {
			t.Errorf("Dir with %s=%s: %q %v, want %q", tc.env, tc.val, d, err, tc.want)
		}
	}
}

// TestLoad: every known key typed, alias positions, a missing file as an empty config that Save
// creates, and secret_providers decoded on use.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CHAOS_CONFIG_DIR", dir)
	c, err := config.Load()
	if err != nil || c.Path != "" || c.Dir != dir || len(c.Aliases) != 0 || c.Retention != (config.Retention{}) {
		t.Fatalf("missing config: %+v, %v", c, err)
	}
	p := write(t, dir, `chobolo_file: /srv/machine.yml
secrets_file: /srv/secrets.yaml
sops_file: /srv/.sops.yaml
limani: postgres://chaos@db/chaos
limanis: [audit, chat]
aliases:
  web: "users packages"
  all:   web services
generations:
  keep: 3
  max_size: 1GiB
secret_providers:
  default: vault
  vault: {type: file, path: /keys/age.txt}
self_update: {enabled: true, url: "https://mirror.example/chaos/latest", public_key: RWQkey}
`)
	c, err = config.Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != p || c.ChoboloFile != "/srv/machine.yml" || c.SecretsFile != "/srv/secrets.yaml" || c.SopsFile != "/srv/.sops.yaml" ||
		c.Limani != "postgres://chaos@db/chaos" || c.Retention != (config.Retention{Keep: 3, MaxBytes: 1 << 30}) {
		t.Errorf("Load = %+v", c)
	}
	if c.Aliases["web"] != "users packages" || c.Aliases["all"] != "web services" {
		t.Errorf("aliases = %v", c.Aliases)
	}
	if c.SelfUpdate != (config.SelfUpdate{Enabled: true, URL: "https://mirror.example/chaos/latest", PublicKey: "RWQkey"}) {
		t.Errorf("self_update = %+v", c.SelfUpdate)
	}
	if !reflect.DeepEqual(c.Limanis, []string{"audit", "chat"}) {
		t.Errorf("limanis = %v", c.Limanis)
	}
	if got := c.AliasPos["all"]; got != (chobolo.Pos{File: p, Line: 8, Col: 10}) {
		t.Errorf("position of alias all = %v", got)
	}
	set, err := c.Providers()
	if err != nil || set.Default != "vault" || !reflect.DeepEqual(set.Providers["vault"], providers.Config{Type: "file", Path: "/keys/age.txt"}) {
		t.Errorf("Providers = %+v, %v", set, err)
	}
	if d := c.SecretDefaults(""); d != (secrets.Defaults{File: "/srv/secrets.yaml", Sops: "/srv/.sops.yaml", Chobolo: "/srv/machine.yml", ConfigDir: dir}) {
		t.Errorf("SecretDefaults = %+v", d)
	}
	if d := c.SecretDefaults("-c.yml"); d.Chobolo != "-c.yml" {
		t.Errorf("SecretDefaults with -c = %+v", d)
	}
}

// TestBadConfig: every problem is reported as FILE:LINE:COL; a broken secret_providers only when
// the providers are asked for.
func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ text, want string }{
		{"generations:\n  keep: 0\n", ":2:9: generations.keep: want a whole number"},
		{"generations:\n  max_size: lots\n", ":2:13: generations.max_size"},
		{"generations:\n  kept: 3\n", `:2:3: generations: unknown key "kept"`},
		{"generations: 3\n", ":1:14: generations: want a mapping"},
		{"self_update:\n  enabled: sure\n", ":2:12: self_update.enabled: want true or false"},
		{"self_update:\n  enable: true\n", `:2:3: self_update: unknown key "enable"`},
		{"self_update: true\n", ":1:14: self_update: want a mapping"},
		{"limanis: audit\n", ":1:10: limanis: want a list of logbook sink names"},
		{"limanis: [[a]]\n", ":1:11: limanis: want a logbook sink's name"},
		{"chobolo_file: [a, b]\n", ":1:15: chobolo_file: want a string"},
		{"aliases:\n  web: [users]\n", ":2:8: aliases.web: want the roles as one string"},
		{"aliases: users\n", ":1:10: aliases: want a mapping"},
		{"- a\n- b\n", ":1:1: want a mapping of settings"},
		{"aliases:\n  web: users\n bad: x\n", ":3:"},
	} {
		p := write(t, dir, tc.text)
		if _, err := config.LoadFile(p); err == nil || !strings.HasPrefix(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: %v, want %s%s", tc.text, err, p, tc.want)
		}
	}
	p := write(t, dir, "chobolo_file: ~\nsecrets_file:\naliases: {web: null}\n")
	if c, err := config.LoadFile(p); err != nil || c.ChoboloFile != "" || c.SecretsFile != "" || c.Aliases["web"] != "" {
		t.Errorf("null settings: %+v, %v", c, err)
	}
	p = write(t, dir, "chobolo_file: /m.yml\nsecret_providers:\n  vault: {type: [file]}\n")
	c, err := config.LoadFile(p)
	if err != nil || c.ChoboloFile != "/m.yml" {
		t.Fatalf("a broken secret_providers stopped Load: %v", err)
	}
	if _, err := c.Providers(); err == nil || !strings.HasPrefix(err.Error(), p+":3:10: secret_providers.vault") {
		t.Errorf("Providers of a broken entry: %v", err)
	}
}

// TestSave: atomic (no temp file left, mode 0600, in a new 0700 directory), keys this version does
// not know survive, empty settings disappear, generations is rewritten only when changed.
func TestSave(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	c, err := config.LoadFile(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	c.ChoboloFile = "/m.yml"
	c.Aliases = map[string]string{"web": "users"}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, config.FileName)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("config dir: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 || c.Path != p {
		t.Errorf("config file: %v %v (Path %q)", fi.Mode(), err, c.Path)
	}

	write(t, dir, "# mine\nchobolo_file: /m.yml\nfuture_key: {nested: [1, 2]}\ngenerations: {keep: 4, max_size: 2G}\naliases: {web: users}\nlimani: off\n")
	c, err = config.LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	c.SecretsFile, c.ChoboloFile, c.Aliases, c.Limani = "/s.yaml", "", nil, ""
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	data, _ := os.ReadFile(p)
	if err := yaml.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"secrets_file": "/s.yaml", "future_key": map[string]any{"nested": []any{1, 2}},
		"generations": map[string]any{"keep": 4, "max_size": "2G"}}
	if !yamlEqual(got, want) {
		t.Errorf("saved:\n%s", data)
	}
	c.Retention.Keep = 2
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c, err = config.LoadFile(p)
	if err != nil || c.Retention != (config.Retention{Keep: 2, MaxBytes: 2 << 30}) {
		t.Errorf("retention after save: %+v, %v", c.Retention, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left in the config dir: %v", entries)
	}
}

func yamlEqual(a, b any) bool {
	x, err1 := yaml.Marshal(a)
	y, err2 := yaml.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

func TestStyxSection(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, config.FileName)
	os.WriteFile(p, []byte("chobolo_file: /m.yml\nstyx:\n  registry: file:///srv/styx\n  index_keys: [\"ssh-ed25519 AAAA k\"]\n"), 0o600)
	c, err := config.LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Styx.Registry != "file:///srv/styx" || len(c.Styx.IndexKeys) != 1 {
		t.Fatalf("styx = %+v", c.Styx)
	}
	c.Styx.Publishers = map[string]string{"alice": "ssh-ed25519 AAAA alice"}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c, err = config.LoadFile(p)
	if err != nil || c.Styx.Publishers["alice"] != "ssh-ed25519 AAAA alice" || c.ChoboloFile != "/m.yml" || c.Styx.Registry == "" {
		t.Fatalf("after save: %+v %v", c, err)
	}
	os.WriteFile(p, []byte("styx:\n  registy: x\n"), 0o600)
	if _, err := config.LoadFile(p); err == nil || !strings.Contains(err.Error(), ":2:3: styx: unknown key \"registy\"") {
		t.Fatalf("unknown key: %v", err)
	}
}
