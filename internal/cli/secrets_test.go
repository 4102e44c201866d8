package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/cli"
	"github.com/ch-aos-ch/chaos/internal/secrets/secretstest"
)

// isolateSecrets gives a test its own chaos config dir, HOME and sops environment.
func isolateSecrets(t *testing.T) (cfg, dir string) {
	t.Helper()
	cfg = isolate(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	for _, v := range []string{"SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "EDITOR", "VISUAL"} {
		t.Setenv(v, "") // restored after the test
		os.Unsetenv(v)
	}
	return cfg, t.TempDir()
}

func mustRun(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := run(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("chaos %s:\n%s", strings.Join(args, " "), r)
	}
	return r
}

func TestLegacyFlags(t *testing.T) {
	got := cli.LegacyFlags([]string{"apply", "-s", "-sf", "a.yml", "-ss=b.yml", "--", "-sf"})
	want := []string{"apply", "-s", "--secrets-file", "a.yml", "--sops-file=b.yml", "--", "-sf"}
	if !slices.Equal(got, want) {
		t.Errorf("LegacyFlags = %q, want %q", got, want)
	}
}

func TestSecretsCommands(t *testing.T) {
	cfg, dir := isolateSecrets(t)
	file := filepath.Join(dir, "secrets.yaml")
	mustRun(t, "", "secrets", "init", "-sf", file)
	keys, _ := filepath.Glob(filepath.Join(cfg, "keys", "*.txt"))
	if len(keys) != 1 {
		t.Fatalf("init made %d key files", len(keys))
	}
	if fi, _ := os.Stat(keys[0]); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, ".sops.yaml")); err != nil {
		t.Fatal("init wrote no .sops.yaml next to the secrets file")
	}
	// init again reuses the key.
	if r := mustRun(t, "", "secrets", "init", "-sf", file); !strings.Contains(r.stdout, "existing") {
		t.Errorf("second init:\n%s", r)
	}

	// set: value from stdin; a value in argv is refused.
	mustRun(t, "s3cret-one\n", "secrets", "set", "-sf", file, "user_secrets.alice.password")
	if r := run(t, "", "secrets", "set", "-sf", file, "user_secrets.alice.password", "in-argv"); r.code == 0 || !strings.Contains(r.stderr, "stdin") {
		t.Errorf("set with a value in argv:\n%s", r)
	}
	mustRun(t, "x\n", "secrets", "set", "-sf", file, "tokens[0]")
	if r := mustRun(t, "", "secrets", "cat", "-sf", file, "user_secrets.alice.password", "--value"); r.stdout != "s3cret-one\n" {
		t.Errorf("cat --value = %q", r.stdout)
	}
	if r := mustRun(t, "", "secrets", "cat", "-sf", file, "tokens.0"); r.stdout != "tokens.0: x\n" {
		t.Errorf("cat tokens.0 = %q", r.stdout)
	}
	if r := run(t, "", "secrets", "cat", "-sf", file, "nope.x"); r.code == 0 || !strings.Contains(r.stderr, "nope.x") {
		t.Errorf("cat of a missing key:\n%s", r)
	}
	if r := mustRun(t, "", "secrets", "list", "--paths", "-sf", file); r.stdout != "tokens.0\nuser_secrets.alice.password\n" {
		t.Errorf("list --paths = %q", r.stdout)
	}
	if data, _ := os.ReadFile(file); strings.Contains(string(data), "s3cret-one") {
		t.Fatal("plaintext in the encrypted file")
	}

	// edit: a result that does not parse keeps the old file; a good one is encrypted.
	before, _ := os.ReadFile(file)
	bad := filepath.Join(t.TempDir(), "bad.sh")
	os.WriteFile(bad, []byte("#!/bin/sh\necho 'a: [' > \"$1\"\n"), 0o755)
	t.Setenv("EDITOR", bad)
	if r := run(t, "", "secrets", "edit", "-sf", file); r.code == 0 || !strings.Contains(r.stderr, "unchanged") {
		t.Errorf("edit with a broken result:\n%s", r)
	}
	t.Setenv("EDITOR", "false")
	if r := run(t, "", "secrets", "edit", "-sf", file); r.code == 0 {
		t.Errorf("edit with a failing editor:\n%s", r)
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Error("a failed edit changed the file")
	}
	good := filepath.Join(t.TempDir(), "good.sh")
	os.WriteFile(good, []byte("#!/bin/sh\nsed -i 's/s3cret-one/s3cret-two/' \"$1\"\n"), 0o755)
	t.Setenv("EDITOR", good)
	mustRun(t, "", "secrets", "edit", "-sf", file)
	if r := mustRun(t, "", "secrets", "cat", "-sf", file, "user_secrets.alice.password", "--value"); r.stdout != "s3cret-two\n" {
		t.Errorf("after edit: %q", r.stdout)
	}

	// rotate-add a second recipient; the sops CLI decrypts with it alone.
	other := secretstest.NewAgeKey(t)
	mustRun(t, "", "secrets", "rotate-add", "age", other.Recipient, "-sf", file)
	sopsYAML, _ := os.ReadFile(filepath.Join(dir, ".sops.yaml"))
	if !strings.Contains(string(sopsYAML), other.Recipient) {
		t.Errorf("rotate-add did not update .sops.yaml:\n%s", sopsYAML)
	}
	if out, err := sopsDecrypt(t, dir, other, file); err != nil || !strings.Contains(out, "s3cret-two") {
		t.Errorf("sops with the added key: %q %v", out, err)
	}
	// A second group held by nobody here would lock us out (sops's default threshold is all groups).
	if r := run(t, "", "secrets", "rotate-add", "age", secretstest.NewAgeKey(t).Recipient, "--group", "1", "-sf", file); r.code == 0 || !strings.Contains(r.stderr, "could not decrypt") {
		t.Errorf("lock-out rotate-add accepted:\n%s", r)
	}
	if r := run(t, "", "secrets", "shamir", "3", "-sf", file); r.code == 0 {
		t.Errorf("shamir above the group count accepted:\n%s", r)
	}
	// rotate-rm: the removed key no longer decrypts.
	mustRun(t, "", "secrets", "rotate-rm", other.Recipient, "-sf", file)
	if _, err := sopsDecrypt(t, dir, other, file); err == nil {
		t.Error("the removed recipient still decrypts")
	}
	if r := mustRun(t, "", "secrets", "list", "-sf", file); strings.Contains(r.stdout, other.Recipient) || !strings.Contains(r.stdout, "private key held") {
		t.Errorf("list after rotate-rm:\n%s", r)
	}
}

func sopsDecrypt(t *testing.T, dir string, key secretstest.AgeKey, file string) (string, error) {
	t.Helper()
	kf := key.KeyFile(t, t.TempDir(), "k.txt")
	return runSops(t, dir, []string{"SOPS_AGE_KEY_FILE=" + kf}, "decrypt", file)
}

// standIn writes an executable that records its argv, stdin and BW_SESSION/OP_* environment in
// dir, and prints reply.
func standIn(t *testing.T, dir, name, reply string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + dir + "/argv\ncat > " + dir + "/stdin\nenv > " + dir + "/env\nprintf '%s' '" + reply + "'\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSecretProviders(t *testing.T) {
	cfg, dir := isolateSecrets(t)
	key := secretstest.NewAgeKey(t)
	file := filepath.Join(dir, "secrets.yaml")
	os.WriteFile(filepath.Join(dir, ".sops.yaml"), []byte("creation_rules:\n  - age: "+key.Recipient+"\n"), 0o644)
	keyFile := key.KeyFile(t, t.TempDir(), "k.txt")
	t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
	mustRun(t, "", "secrets", "init", "-sf", filepath.Join(t.TempDir(), "unused.yaml")) // a chaos key of its own
	os.Unsetenv("SOPS_AGE_KEY_FILE")
	os.WriteFile(file+".plain", nil, 0o600)
	src := filepath.Join(dir, "plain.yaml")
	os.WriteFile(src, []byte("user_secrets:\n    bob:\n        password: pw\n"), 0o600)
	out, err := runSops(t, dir, []string{"SOPS_AGE_KEY_FILE=" + keyFile}, "encrypt", "--filename-override", file, src)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(file, []byte(out), 0o600)
	os.Remove(src)
	os.Remove(file + ".plain")

	bwDir, opDir := t.TempDir(), t.TempDir()
	bw := standIn(t, bwDir, "bw", key.Secret)
	op := standIn(t, opDir, "op", "# NO-IMPORT\n"+key.Secret)
	cmdKey := filepath.Join(t.TempDir(), "printkey")
	os.WriteFile(cmdKey, []byte("#!/bin/sh\ncat "+keyFile+"\n"), 0o755)
	t.Setenv("TEST_AGE_KEY", key.Secret)
	config := `secret_providers:
  default: cmd
  cmd: {type: command, command: [` + cmdKey + `]}
  envk: {type: env, var: TEST_AGE_KEY}
  fil: {type: file, path: ` + keyFile + `}
  bw: {type: bitwarden, item: item-123, binary: ` + bw + `}
  op: {type: 1password, ref: "op://Vault/chaos/key", binary: ` + op + `}
`
	os.WriteFile(filepath.Join(cfg, "config.yml"), []byte(config), 0o600)

	// Without a provider the file's key is not available, and the message says what to do.
	r := run(t, "", "secrets", "cat", "-sf", file)
	if r.code == 0 {
		t.Fatalf("decrypted without the key:\n%s", r)
	}
	for _, want := range []string{"age " + key.Recipient, filepath.Join(cfg, "keys") + "/ (chaos keys): 1 key(s), none fits",
		"SOPS_AGE_KEY_FILE: not set", "providers configured (fetch a key with -p NAME): bw, cmd, envk, fil, op",
		"rotate-add age YOUR_PUBLIC_KEY"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("no-key message lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr+r.stdout, "AGE-SECRET-KEY") {
		t.Errorf("no-key message leaks a secret:\n%s", r)
	}
	for _, p := range []string{"cmd", "default", "envk", "fil", "bw", "op"} {
		r := run(t, "", "secrets", "cat", "-sf", file, "-p", p, "user_secrets.bob.password", "--value")
		if r.code != 0 || r.stdout != "pw\n" {
			t.Errorf("-p %s:\n%s", p, r)
		}
	}
	argv, _ := os.ReadFile(filepath.Join(bwDir, "argv"))
	if string(argv) != "get\nnotes\nitem-123\n" {
		t.Errorf("bw argv = %q", argv)
	}
	argv, _ = os.ReadFile(filepath.Join(opDir, "argv"))
	if string(argv) != "read\n--no-newline\nop://Vault/chaos/key\n" {
		t.Errorf("op argv = %q", argv)
	}

	// export: the key reaches bw and op on stdin, never in argv.
	secretOf := func() string {
		keys, _ := filepath.Glob(filepath.Join(cfg, "keys", "*.txt"))
		data, _ := os.ReadFile(keys[0])
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "AGE-SECRET-KEY-") {
				return l
			}
		}
		t.Fatal("no key in the chaos key file")
		return ""
	}()
	mustRun(t, "", "secrets", "export", "bw")
	argv, _ = os.ReadFile(filepath.Join(bwDir, "argv"))
	stdin, _ := os.ReadFile(filepath.Join(bwDir, "stdin"))
	if string(argv) != "create\nitem\n" || strings.Contains(string(argv), "AGE-SECRET") {
		t.Errorf("bw create argv = %q", argv)
	}
	if len(stdin) == 0 {
		t.Error("bw create got nothing on stdin")
	}
	mustRun(t, "", "secrets", "export", "op", "--no-import")
	argv, _ = os.ReadFile(filepath.Join(opDir, "argv"))
	stdin, _ = os.ReadFile(filepath.Join(opDir, "stdin"))
	if string(argv) != "item\ncreate\n--vault\nVault\n-\n" || strings.Contains(string(argv), "AGE-SECRET") {
		t.Errorf("op create argv = %q", argv)
	}
	if !strings.Contains(string(stdin), secretOf) || !strings.Contains(string(stdin), "# NO-IMPORT") {
		t.Errorf("op create stdin lacks the key or the marker: %q", stdin)
	}

	// import: NO-IMPORT refused; a plain key lands 0600 in the keys dir.
	if r := run(t, "", "secrets", "import", "op"); r.code == 0 || !strings.Contains(r.stderr, "NO-IMPORT") {
		t.Errorf("import of a NO-IMPORT key:\n%s", r)
	}
	mustRun(t, "", "secrets", "import", "bw")
	p := filepath.Join(cfg, "keys", "imported-bw.txt")
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("imported key: %v %v", fi, err)
	}
	if r := run(t, "", "secrets", "import", "bw"); r.code == 0 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("import over an existing file:\n%s", r)
	}
	// Now without -p.
	if r := mustRun(t, "", "secrets", "cat", "-sf", file, "user_secrets.bob.password", "--value"); r.stdout != "pw\n" {
		t.Errorf("after import: %q", r.stdout)
	}
	if r := run(t, "", "secrets", "cat", "-sf", file, "-p", "nope"); r.code == 0 || !strings.Contains(r.stderr, "not configured") {
		t.Errorf("unknown provider:\n%s", r)
	}
}

// runSops runs the real sops CLI (built from chaos's module version) in dir.
func runSops(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(secretstest.Sops(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("sops %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// Without a secrets file anywhere, the commands that need one say where to set it.
func TestNoSecretsFile(t *testing.T) {
	isolateSecrets(t)
	for _, args := range [][]string{{"secrets", "list"}, {"secrets", "cat", "a.b"}, {"secrets", "edit"}} {
		r := run(t, "", args...)
		if r.code == 0 || !strings.Contains(r.stderr, "no secrets file: pass -sf FILE or run `chaos set secrets FILE`") {
			t.Errorf("%v:\n%s", args, r)
		}
	}
	file := writeChobolo(t, "hostname: h\n")
	if r := run(t, "", "apply", "-c", file, "-s", "--target", "@chroot/nonexistent", "--dry"); r.code == 0 ||
		!strings.Contains(r.stderr, "or set secrets.file in the Ch-obolo") {
		t.Errorf("apply -s:\n%s", r)
	}
}

// TestMoreProviders: bws, rbw, Doppler and Infisical, in chaos's shape and in the original's
// (`rbw: {age_id: ...}` read with `-p rbw.age`, doppler's NAME:PROJECT:CONFIG id). Stand-ins record
// argv, stdin and environment: the key is fetched with the original's commands, and stored on
// stdin, never in argv; bws, whose CLI takes a value only in argv, refuses to store. The bws, rbw
// and Infisical CLIs are neither packaged for Debian nor served by the Go module proxy, so this is
// all that proves them; Doppler's real CLI runs in TestServiceProviders.
func TestMoreProviders(t *testing.T) {
	cfg, dir := isolateSecrets(t)
	key := secretstest.NewAgeKey(t)
	file := filepath.Join(dir, "secrets.yaml")
	os.WriteFile(filepath.Join(dir, ".sops.yaml"), []byte("creation_rules:\n  - age: "+key.Recipient+"\n"), 0o644)
	keyFile := key.KeyFile(t, t.TempDir(), "k.txt")
	src := filepath.Join(dir, "plain.yaml")
	os.WriteFile(src, []byte("user_secrets:\n    bob:\n        password: pw\n"), 0o600)
	out, err := runSops(t, dir, []string{"SOPS_AGE_KEY_FILE=" + keyFile}, "encrypt", "--filename-override", file, src)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(file, []byte(out), 0o600)
	os.Remove(src)

	dirs := map[string]string{}
	bin := map[string]string{}
	for name, reply := range map[string]string{
		"bws":       `{"id":"be8e0ad8-d545-4017-a55a-b02f014d4158","key":"chaos-age","value":"` + key.Secret + `"}`,
		"rbw":       key.Secret + "\n",
		"doppler":   key.Secret,
		"infisical": key.Secret,
	} {
		dirs[name] = t.TempDir()
		bin[name] = standIn(t, dirs[name], name, reply)
	}
	config := `secret_providers:
  default: rbw.age
  bws: {type: bws, id: be8e0ad8-d545-4017-a55a-b02f014d4158, binary: ` + bin["bws"] + `}
  rbw: {age_id: chaos-age, binary: ` + bin["rbw"] + `}
  dp: {age_id: "CHAOS_AGE:infra:prd", binary: ` + bin["doppler"] + `}
  inf: {type: infisical, secret: CHAOS_AGE, project_id: 6f1c, env_name: prod, secret_path: /chaos, binary: ` + bin["infisical"] + `}
`
	os.WriteFile(filepath.Join(cfg, "config.yml"), []byte(config), 0o600)
	t.Setenv("BWS_ACCESS_TOKEN", "0.test-token")
	argv := func(name string) string {
		data, _ := os.ReadFile(filepath.Join(dirs[name], "argv"))
		return string(data)
	}
	for _, c := range []struct{ p, cli, argv string }{
		{"bws", "bws", "secret\nget\nbe8e0ad8-d545-4017-a55a-b02f014d4158\n--output\njson\n"},
		{"rbw.age", "rbw", "get\n--field\nnotes\nchaos-age\n"},
		{"default", "rbw", "get\n--field\nnotes\nchaos-age\n"},
		{"dp", "doppler", "secrets\nget\nCHAOS_AGE\n--plain\n--project\ninfra\n--config\nprd\n"},
		{"inf", "infisical", "secrets\nget\nCHAOS_AGE\n--plain\n--env\nprod\n--path\n/chaos\n--projectId\n6f1c\n"},
	} {
		r := run(t, "", "secrets", "cat", "-sf", file, "-p", c.p, "user_secrets.bob.password", "--value")
		if r.code != 0 || r.stdout != "pw\n" {
			t.Errorf("-p %s:\n%s", c.p, r)
		}
		if got := argv(c.cli); got != c.argv {
			t.Errorf("-p %s: %s argv = %q, want %q", c.p, c.cli, got, c.argv)
		}
	}
	if env, _ := os.ReadFile(filepath.Join(dirs["bws"], "env")); !strings.Contains(string(env), "BWS_ACCESS_TOKEN=0.test-token") {
		t.Error("bws did not get BWS_ACCESS_TOKEN from the environment")
	}
	if r := run(t, "", "secrets", "cat", "-sf", file, "-p", "rbw.gpg"); r.code == 0 || !strings.Contains(r.stderr, "rbw has no gpg_id") {
		t.Errorf("-p rbw.gpg without gpg_id:\n%s", r)
	}

	// export: on stdin, never in argv; bws refuses.
	secret := strings.TrimSpace(key.Secret)
	for _, c := range []struct{ p, cli, argv, stdin string }{
		{"rbw", "rbw", "add\nchaos-age\n", "\n" + secret + "\n"},
		{"dp", "doppler", "secrets\nset\nCHAOS_AGE\n--project\ninfra\n--config\nprd\n", secret + "\n"},
		{"inf", "infisical", "secrets\nset\nCHAOS_AGE=@/dev/stdin\n--env\nprod\n--path\n/chaos\n--projectId\n6f1c\n", secret + "\n"},
	} {
		mustRun(t, "", "secrets", "export", c.p, "--key-file", keyFile)
		if got := argv(c.cli); got != c.argv || strings.Contains(got, "AGE-SECRET") {
			t.Errorf("export %s: argv = %q, want %q", c.p, got, c.argv)
		}
		stdin, _ := os.ReadFile(filepath.Join(dirs[c.cli], "stdin"))
		if !strings.HasSuffix(string(stdin), c.stdin) || !strings.Contains(string(stdin), secret) {
			t.Errorf("export %s: stdin = %q", c.p, stdin)
		}
	}
	if r := run(t, "", "secrets", "export", "bws", "--key-file", keyFile); r.code == 0 || !strings.Contains(r.stderr, "only on its command line") {
		t.Errorf("export bws:\n%s", r)
	}
}

// TestServiceProviders: through chaos's commands, entries in the original's shape for Doppler
// (`dp: {age_id: NAME:PROJECT:CONFIG}`, the real Doppler CLI against a loopback server speaking
// Doppler's v3 secrets API, secretstest.StartDoppler) and Infisical (`in: {age_id:
// NAME:PROJECT:ENV:PATH, address: SITE}`, chaos speaking Infisical's HTTP API to a loopback server,
// secretstest.StartInfisical): `secrets export` stores the key, `secrets cat -p` opens a file with
// it alone, and `secrets import` copies it to chaos's keys. A PGP key goes the same way (`export
// NAME.gpg --key-type pgp`, the original's gpg_id) and opens a file encrypted for it with `-p
// NAME.gpg` while GnuPG's home does not hold it.
func TestServiceProviders(t *testing.T) {
	for _, c := range []struct{ name, entry string }{{"dp", "doppler"}, {"in", "infisical"}} {
		t.Run(c.entry, func(t *testing.T) {
			cfg, dir := isolateSecrets(t)
			var entry string
			var stored func() string
			switch c.entry {
			case "doppler":
				d := secretstest.StartDoppler(t)
				d.Setenv(t)
				entry = `{age_id: "CHAOS_AGE:infra:prd", gpg_id: "CHAOS_PGP:infra:prd", binary: ` + secretstest.DopplerCLI(t) + `}`
				stored = func() string { v, _ := d.Secret("infra", "prd", "CHAOS_AGE"); return v }
			case "infisical":
				s := secretstest.StartInfisical(t)
				t.Setenv("INFISICAL_TOKEN", s.Token)
				entry = `{age_id: "CHAOS_AGE:6f1c:prod:/chaos", gpg_id: "CHAOS_PGP:6f1c:prod:/chaos", address: ` + s.URL + `}`
				stored = func() string { v, _ := s.Secret("6f1c", "prod", "/chaos", "CHAOS_AGE"); return v }
			}
			key := secretstest.NewAgeKey(t)
			file := filepath.Join(dir, "secrets.yaml")
			os.WriteFile(filepath.Join(dir, ".sops.yaml"), []byte("creation_rules:\n  - age: "+key.Recipient+"\n"), 0o644)
			keyFile := key.KeyFile(t, t.TempDir(), "k.txt")
			src := filepath.Join(dir, "plain.yaml")
			os.WriteFile(src, []byte("user_secrets:\n    bob:\n        password: pw\n"), 0o600)
			out, err := runSops(t, dir, []string{"SOPS_AGE_KEY_FILE=" + keyFile}, "encrypt", "--filename-override", file, src)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(file, []byte(out), 0o600)
			os.WriteFile(filepath.Join(cfg, "config.yml"), []byte("secret_providers:\n  "+c.name+": "+entry+"\n"), 0o600)

			if r := run(t, "", "secrets", "cat", "-sf", file, "-p", c.name, "user_secrets.bob.password", "--value"); r.code == 0 {
				t.Fatalf("opened before the key was stored:\n%s", r)
			}
			mustRun(t, "", "secrets", "export", c.name, "--key-file", keyFile)
			if v := stored(); !strings.Contains(v, strings.TrimSpace(key.Secret)) {
				t.Fatalf("the service holds %q", v)
			}
			if r := mustRun(t, "", "secrets", "cat", "-sf", file, "-p", c.name, "user_secrets.bob.password", "--value"); r.stdout != "pw\n" {
				t.Errorf("cat -p %s:\n%s", c.name, r)
			}
			mustRun(t, "", "secrets", "import", c.name)
			if r := mustRun(t, "", "secrets", "cat", "-sf", file, "user_secrets.bob.password", "--value"); r.stdout != "pw\n" {
				t.Errorf("cat with the imported key:\n%s", r)
			}

			// A PGP key, stored from GnuPG and used in memory with GnuPG's home empty.
			g := secretstest.NewGPG(t)
			pdir := t.TempDir()
			pfile := filepath.Join(pdir, "secrets.yaml")
			os.WriteFile(filepath.Join(pdir, ".sops.yaml"), []byte("creation_rules:\n  - pgp: "+g.Fingerprint+"\n"), 0o644)
			psrc := filepath.Join(pdir, "plain.yaml")
			os.WriteFile(psrc, []byte("db: {password: pgp-pw}\n"), 0o600)
			out, err = runSops(t, pdir, []string{"GNUPGHOME=" + g.Home}, "encrypt", "--filename-override", pfile, psrc)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(pfile, []byte(out), 0o600)
			t.Setenv("GNUPGHOME", g.Home)
			mustRun(t, "", "secrets", "export", c.name+".gpg", "--key-type", "pgp", "-f", g.Fingerprint)
			empty, err := os.MkdirTemp("/tmp", "gpg-empty-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { exec.Command("gpgconf", "--homedir", empty, "--kill", "all").Run(); os.RemoveAll(empty) })
			t.Setenv("GNUPGHOME", empty)
			if r := run(t, "", "secrets", "cat", "-sf", pfile, "db.password", "--value"); r.code == 0 {
				t.Fatalf("opened without the PGP key:\n%s", r)
			}
			if r := mustRun(t, "", "secrets", "cat", "-sf", pfile, "-p", c.name+".gpg", "db.password", "--value"); r.stdout != "pgp-pw\n" {
				t.Errorf("cat -p %s.gpg:\n%s", c.name, r)
			}
		})
	}
}

// TestEditSopsConfig: `secrets edit -s` (the original's) opens the sops configuration in $EDITOR;
// a result sops would reject later (a bad key, a bad regex, an impossible Shamir threshold, no key)
// is refused and the file kept; a good one replaces it, comments and mode kept, and rules the
// next rotate-add and encryption.
func TestEditSopsConfig(t *testing.T) {
	_, dir := isolateSecrets(t)
	file := filepath.Join(dir, "secrets.yaml")
	mustRun(t, "", "secrets", "init", "-sf", file)
	cfgPath := filepath.Join(dir, ".sops.yaml")
	os.Chmod(cfgPath, 0o640)
	before, _ := os.ReadFile(cfgPath)
	ed := filepath.Join(t.TempDir(), "ed.sh")
	for _, c := range []struct{ sed, want string }{
		{`s/age1/age2/`, "not an age recipient"},
		{`s/^\(  - \)/\1path_regex: "a("\n    /`, "path_regex"},
		{`$a\    shamir_threshold: 3`, "shamir_threshold 3"},
		{`/age1/d`, "no keys"},
	} {
		os.WriteFile(ed, []byte("#!/bin/sh\nsed -i '"+c.sed+"' \"$1\"\n"), 0o755)
		t.Setenv("EDITOR", ed)
		if r := run(t, "", "secrets", "edit", "-s", "-sf", file); r.code == 0 || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "unchanged") {
			t.Errorf("edit -s with %s:\n%s", c.sed, r)
		}
		if after, _ := os.ReadFile(cfgPath); string(after) != string(before) {
			t.Fatalf("a refused edit changed %s:\n%s", cfgPath, after)
		}
	}
	other := secretstest.NewAgeKey(t)
	os.WriteFile(ed, []byte("#!/bin/sh\nsed -i 's/^\\(\\s*- \\)\\(age1.*\\)$/\\1\\2\\n\\1"+other.Recipient+"/' \"$1\"\necho '# kept' >> \"$1\"\n"), 0o755)
	r := mustRun(t, "", "secrets", "edit", "-s", "-sf", file)
	after, _ := os.ReadFile(cfgPath)
	if !strings.Contains(string(after), other.Recipient) || !strings.Contains(string(after), "# kept") {
		t.Fatalf("edit -s did not save:\n%s\n%s", r, after)
	}
	if fi, _ := os.Stat(cfgPath); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after edit -s: %v", fi.Mode().Perm())
	}
	// The next encryption uses the new rule: the sops CLI opens a new file with the added key alone.
	os.WriteFile(ed, []byte("#!/bin/sh\nprintf 'user_secrets:\\n  x:\\n    password: pw\\n' > \"$1\"\n"), 0o755)
	mustRun(t, "", "secrets", "edit", "-sf", filepath.Join(dir, "new.yaml"))
	if out, err := sopsDecrypt(t, dir, other, filepath.Join(dir, "new.yaml")); err != nil || !strings.Contains(out, "pw") {
		t.Errorf("sops with the key added by edit -s: %q %v", out, err)
	}
}
