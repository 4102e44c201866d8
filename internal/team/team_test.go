package team_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/secrets/secretstest"
	"github.com/ch-aos-ch/chaos/internal/team"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// isolate gives the test its own HOME, teams directory and key discovery.
func isolate(t *testing.T) (teams string) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_DATA_HOME", filepath.Join(home, ".local", "share"))
	for _, v := range []string{"SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "GNUPGHOME", "CHAOS_TEAMS_DIR", "CHAOS_TEAM_DIR"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	return filepath.Join(home, ".local", "share", "chaos", "teams")
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	testenv.RequireTool(t, "git", "git")
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func mustRef(t *testing.T, s string) team.Ref {
	t.Helper()
	r, err := team.ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// newTeam makes a git team repository acme/ops with person alice, for an age key and a PGP key in
// a second (backup) group, with a dev secrets file encrypted by chaos, committed.
func newTeam(t *testing.T) (repo string, age secretstest.AgeKey, gpg secretstest.GPG) {
	t.Helper()
	age = secretstest.NewAgeKey(t)
	gpg = secretstest.NewGPG(t)
	t.Setenv("GNUPGHOME", gpg.Home)
	t.Setenv("SOPS_AGE_KEY_FILE", age.KeyFile(t, t.TempDir(), "keys.txt"))
	repo = filepath.Join(t.TempDir(), "infra")
	res, err := team.Init(context.Background(), repo, mustRef(t, "acme.ops.alice"),
		team.Keys{Age: []string{age.Recipient}, BackupPGP: []string{gpg.Fingerprint}, Shamir: 2}, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.SopsConfig == "" || res.Link == "" {
		t.Fatalf("init result %+v", res)
	}
	src, err := team.SecretSources(mustRef(t, "acme.ops.dev"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	f, out, err := secrets.Create(src.File, []byte("user_secrets:\n  alice:\n    password: hunter2\n"), secrets.Options{SopsConfig: src.Sops})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile(src.File, out, 0o600); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-q", "-m", "team")
	return repo, age, gpg
}

// TestInitLayout: the original's layout, .chaos.yml, the activation link, and secrets under -t
// acme.ops.dev encrypted for both key groups with a threshold sops accepts: the upstream sops
// CLI decrypts the file with the team's configuration.
func TestInitLayout(t *testing.T) {
	teams := isolate(t)
	repo, _, gpg := newTeam(t)
	for _, p := range []string{".git", ".chaos.yml", "acme/ops/sops-config.yml", "acme/ops/secrets/dev", "acme/ops/secrets/prod", "acme/ops/ramblings/alice"} {
		if _, err := os.Stat(filepath.Join(repo, p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	m, err := team.ReadManifest(repo)
	if err != nil {
		t.Fatal(err)
	}
	if m.Company != "acme" || len(m.Teams) != 1 || m.Teams[0].Name != "ops" || strings.Join(m.Teams[0].People, ",") != "alice" ||
		strings.Join(m.Engine, ",") != "age,gpg" {
		t.Errorf(".chaos.yml = %+v", m)
	}
	if target, err := os.Readlink(filepath.Join(teams, "acme", "ops")); err != nil || target != filepath.Join(repo, "acme", "ops") {
		t.Errorf("link -> %q, %v", target, err)
	}
	file := filepath.Join(repo, "acme/ops/secrets/dev/secrets.yml")
	info, err := secrets.Inspect(file, filepath.Join(repo, "acme/ops/sops-config.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Groups) != 2 || info.Threshold != 2 {
		t.Errorf("groups %d shamir %d, want 2 and 2", len(info.Groups), info.Threshold)
	}
	cmd := exec.Command(secretstest.Sops(t), "--config", filepath.Join(repo, "acme/ops/sops-config.yml"), "decrypt", file)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+gpg.Home)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hunter2") {
		t.Fatalf("sops decrypt: %v\n%s", err, out)
	}
	// A prod file written by the sops CLI with the team's rules opens under -t acme.ops.prod.
	prod := filepath.Join(repo, "acme/ops/secrets/prod/secrets.yml")
	os.WriteFile(prod, []byte("token: abc123\n"), 0o600)
	cmd = exec.Command(secretstest.Sops(t), "--config", filepath.Join(repo, "acme/ops/sops-config.yml"), "encrypt", "-i", prod)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+gpg.Home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sops encrypt: %v\n%s", err, out)
	}
	src, err := team.SecretSources(mustRef(t, "acme.ops.prod"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := secrets.LoadValues(context.Background(), src, secrets.NewKeyring()); err != nil {
		t.Fatal(err)
	} else if tok, _ := v.Get("token"); tok != "abc123" {
		t.Errorf("token %q", tok)
	}
	// A second person joins: the existing sops configuration is kept.
	before, _ := os.ReadFile(filepath.Join(repo, "acme/ops/sops-config.yml"))
	res, err := team.Init(context.Background(), repo, mustRef(t, "acme.ops.bob"), team.Keys{Age: []string{secretstest.NewAgeKey(t).Recipient}}, false)
	if err != nil || res.SopsConfig != "" {
		t.Fatalf("second init: %+v %v", res, err)
	}
	after, _ := os.ReadFile(filepath.Join(repo, "acme/ops/sops-config.yml"))
	if !bytes.Equal(before, after) {
		t.Error("second init rewrote the sops configuration")
	}
	if m, _ := team.ReadManifest(repo); strings.Join(m.Teams[0].People, ",") != "alice,bob" {
		t.Errorf("people = %v", m.Teams[0].People)
	}
}

// TestInitRefusals: thresholds sops would reject (the original wrote 3 for two groups), no keys,
// another company's repository.
func TestInitRefusals(t *testing.T) {
	isolate(t)
	k := secretstest.NewAgeKey(t).Recipient
	repo := t.TempDir()
	for _, keys := range []team.Keys{{}, {Age: []string{k}, Shamir: 2}, {Age: []string{k}, BackupAge: []string{k}, Shamir: 3}, {Age: []string{"age1nope"}}, {PGP: []string{"ABCD"}}} {
		if _, err := team.Init(context.Background(), repo, mustRef(t, "acme.ops"), keys, false); err == nil {
			t.Errorf("keys %+v accepted", keys)
		}
	}
	if _, err := team.Init(context.Background(), repo, mustRef(t, "acme.ops"), team.Keys{Age: []string{k}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := team.Init(context.Background(), repo, mustRef(t, "other.ops"), team.Keys{Age: []string{k}}, false); err == nil {
		t.Error("a second company in one repository accepted")
	}
}

func TestParseRef(t *testing.T) {
	good := map[string]team.Ref{"acme.ops": {"acme", "ops", ""}, "acme.ops.dev": {"acme", "ops", "dev"}, "a-1.b_2.C3": {"a-1", "b_2", "C3"}}
	for s, want := range good {
		if r, err := team.ParseRef(s); err != nil || r != want {
			t.Errorf("%q: %+v, %v", s, r, err)
		}
	}
	for _, s := range []string{"acme", "acme.ops.dev.x", "..", "../x.y", "a/b.c", "a.b/c", ".a.b", "a..b", "a.b.", "-x.y", "a.b.-", "a.b c", "a.\x00"} {
		if r, err := team.ParseRef(s); err == nil {
			t.Errorf("%q accepted as %+v", s, r)
		}
	}
}

// TestPathTraversal: -sf/-ss cannot leave the team directory, and symlinks planted in a team
// repository (the original followed them) are refused: the team directory itself, a group
// directory, the secrets file, .chaos.yml.
func TestPathTraversal(t *testing.T) {
	isolate(t)
	k := secretstest.NewAgeKey(t).Recipient
	repo := filepath.Join(t.TempDir(), "r")
	if _, err := team.Init(context.Background(), repo, mustRef(t, "acme.ops"), team.Keys{Age: []string{k}}, false); err != nil {
		t.Fatal(err)
	}
	dev := mustRef(t, "acme.ops.dev")
	for _, sf := range []string{"../../../etc/passwd", "/etc/passwd", "secrets/../../x.yml"} {
		if src, err := team.SecretSources(dev, sf, ""); err == nil {
			t.Errorf("-sf %s accepted: %+v", sf, src)
		}
	}
	if _, err := team.SecretSources(dev, "", "../../.chaos.yml"); err == nil {
		t.Error("-ss outside the team accepted")
	}
	if src, err := team.SecretSources(dev, "secrets/dev/other.yaml", ""); err != nil || src.File != filepath.Join(repo, "acme/ops/secrets/dev/other.yaml") {
		t.Errorf("relative -sf: %+v %v", src, err)
	}
	if _, err := team.SecretSources(mustRef(t, "acme.ops.staging"), "", ""); err == nil {
		t.Error("missing group accepted")
	}
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secrets.yml"), []byte("x: 1\n"), 0o600)
	// A symlinked secrets file.
	if err := os.Symlink(filepath.Join(outside, "secrets.yml"), filepath.Join(repo, "acme/ops/secrets/dev/secrets.yml")); err != nil {
		t.Fatal(err)
	}
	if _, err := team.SecretSources(dev, "", ""); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("symlinked secrets file: %v", err)
	}
	// A symlinked group directory.
	os.RemoveAll(filepath.Join(repo, "acme/ops/secrets/prod"))
	os.Symlink(outside, filepath.Join(repo, "acme/ops/secrets/prod"))
	if _, err := team.SecretSources(mustRef(t, "acme.ops.prod"), "", ""); err == nil {
		t.Error("symlinked group directory accepted")
	}
	// An active team whose directory became a symlink later (a git pull) is refused.
	moved := filepath.Join(t.TempDir(), "ops")
	if err := os.Rename(filepath.Join(repo, "acme/ops"), moved); err != nil {
		t.Fatal(err)
	}
	os.Symlink(moved, filepath.Join(repo, "acme/ops"))
	if _, err := team.SecretSources(mustRef(t, "acme.ops"), "", ""); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("team directory turned symlink: %v", err)
	}
	// A repository whose team directory is a symlink is not activated.
	evil := filepath.Join(t.TempDir(), "evil")
	os.MkdirAll(filepath.Join(evil, "acme"), 0o755)
	os.Symlink(outside, filepath.Join(evil, "acme", "web"))
	os.WriteFile(filepath.Join(evil, ".chaos.yml"), []byte("company: acme\nteams: [{name: web}]\n"), 0o644)
	if _, err := team.Activate(evil); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("symlinked team directory: %v", err)
	}
	// Nor one whose .chaos.yml is a symlink or names paths.
	os.Remove(filepath.Join(evil, ".chaos.yml"))
	os.Symlink(filepath.Join(repo, ".chaos.yml"), filepath.Join(evil, ".chaos.yml"))
	if _, err := team.Activate(evil); err == nil {
		t.Error("symlinked .chaos.yml accepted")
	}
	for _, m := range []string{"company: ../../x\nteams: [{name: web}]\n", "company: acme\nteams: [{name: ../web}]\n",
		"company: acme\nteams: [{name: web, people: [../../x]}]\n", "company: acme\nteams: [{name: web}]\nengine: [rot13]\n", "company: acme\n"} {
		os.Remove(filepath.Join(evil, ".chaos.yml"))
		os.WriteFile(filepath.Join(evil, ".chaos.yml"), []byte(m), 0o644)
		if _, err := team.Activate(evil); err == nil {
			t.Errorf(".chaos.yml %q accepted", m)
		}
	}
}

// TestCloneActivates: clone from a bare git repository over file:// (it crashed in the original),
// on another "machine" (a fresh teams directory): the teams are linked and the committed secrets
// open under -t with the member's keys. A repository without a valid .chaos.yml is removed again,
// and a URL that git would read as an option is refused.
func TestCloneActivates(t *testing.T) {
	isolate(t)
	repo, _, _ := newTeam(t)
	bare := filepath.Join(t.TempDir(), "infra.git")
	git(t, t.TempDir(), "clone", "-q", "--bare", repo, bare)

	teams := filepath.Join(t.TempDir(), "teams2")
	t.Setenv("CHAOS_TEAMS_DIR", teams)
	dest := filepath.Join(t.TempDir(), "clone")
	links, err := team.Clone(context.Background(), "file://"+bare, dest)
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 1 || links[0] != filepath.Join(teams, "acme", "ops") {
		t.Errorf("links %v", links)
	}
	src, err := team.SecretSources(mustRef(t, "acme.ops.dev"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if src.File != filepath.Join(dest, "acme/ops/secrets/dev/secrets.yml") {
		t.Errorf("file %s", src.File)
	}
	v, err := secrets.LoadValues(context.Background(), src, secrets.NewKeyring())
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := v.Get("user_secrets.alice.password"); p != "hunter2" {
		t.Errorf("password %q", p)
	}

	// Not a team repository: removed.
	plain := filepath.Join(t.TempDir(), "plain")
	os.MkdirAll(plain, 0o755)
	git(t, plain, "init", "-q")
	os.WriteFile(filepath.Join(plain, ".chaos.yml"), []byte("company: ../../etc\nteams: [{name: x}]\n"), 0o644)
	git(t, plain, "add", "-A")
	git(t, plain, "commit", "-q", "-m", "evil")
	dest2 := filepath.Join(t.TempDir(), "clone2")
	if _, err := team.Clone(context.Background(), plain, dest2); err == nil || !strings.Contains(err.Error(), "removed") {
		t.Errorf("invalid repository: %v", err)
	}
	if _, err := os.Lstat(dest2); err == nil {
		t.Error("invalid clone left behind")
	}
	if _, err := team.Clone(context.Background(), "--upload-pack=touch /tmp/pwned", filepath.Join(t.TempDir(), "x")); err == nil {
		t.Error("option-like URL accepted")
	}
	if _, err := team.Clone(context.Background(), "file://"+bare, dest); err == nil {
		t.Error("clone over an existing directory accepted")
	}
}

// TestDeactivateListPrune: list shows active teams, deactivate removes links only, prune removes
// the links of repositories that are gone.
func TestDeactivateListPrune(t *testing.T) {
	teams := isolate(t)
	k := secretstest.NewAgeKey(t).Recipient
	r1 := filepath.Join(t.TempDir(), "one")
	r2 := filepath.Join(t.TempDir(), "two")
	for _, c := range []struct{ repo, ref string }{{r1, "acme.ops"}, {r1, "acme.web"}, {r2, "globex.dev"}} {
		if _, err := team.Init(context.Background(), c.repo, mustRef(t, c.ref), team.Keys{Age: []string{k}}, false); err != nil {
			t.Fatal(err)
		}
	}
	names := func(as []team.Active) string {
		var s []string
		for _, a := range as {
			n := a.Company + "." + a.Team
			if a.Dangling {
				n += "(gone)"
			}
			s = append(s, n)
		}
		return strings.Join(s, " ")
	}
	if l, err := team.List(); err != nil || names(l) != "acme.ops acme.web globex.dev" {
		t.Errorf("list: %q %v", names(l), err)
	}
	if _, err := team.Deactivate("acme", "web"); err != nil {
		t.Fatal(err)
	}
	if l, _ := team.List("acme"); names(l) != "acme.ops" {
		t.Errorf("after deactivate: %q", names(l))
	}
	if _, err := os.Stat(filepath.Join(r1, "acme", "web")); err != nil {
		t.Error("deactivate removed the team directory")
	}
	// A real directory in the teams dir is not a link: left alone.
	os.MkdirAll(filepath.Join(teams, "acme", "notalink"), 0o700)
	if _, err := team.Deactivate("acme", "notalink"); err == nil {
		t.Error("deactivate removed a directory")
	}
	os.RemoveAll(r2)
	if l, _ := team.List(); names(l) != "acme.ops globex.dev(gone)" {
		t.Errorf("after removing a repository: %q", names(l))
	}
	if removed, err := team.Prune(); err != nil || len(removed) != 1 {
		t.Errorf("prune: %v %v", removed, err)
	}
	if l, _ := team.List(); names(l) != "acme.ops" {
		t.Errorf("after prune: %q", names(l))
	}
	if _, err := os.Lstat(filepath.Join(teams, "globex")); err == nil {
		t.Error("empty company directory left after prune")
	}
	if _, err := team.Deactivate("../x"); err == nil {
		t.Error("deactivate accepted a path as company")
	}
}
