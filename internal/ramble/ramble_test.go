package ramble_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/ramble"
	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/secrets/secretstest"
	"github.com/ch-aos-ch/chaos/internal/team"
)

func isolate(t testing.TB) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_DATA_HOME", filepath.Join(home, ".local", "share"))
	for _, v := range []string{"SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "GNUPGHOME", "CHAOS_TEAMS_DIR", "CHAOS_RAMBLE_DIR"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
}

// notebook is an empty notebook whose .sops.yaml encrypts for one age key, held in a keyring
// (not in sops's discovery, so the sops CLI gets it through SOPS_AGE_KEY_FILE explicitly).
func notebook(t testing.TB) (ramble.Notebook, secretstest.AgeKey, string) {
	t.Helper()
	isolate(t)
	k := secretstest.NewAgeKey(t)
	keyFile := k.KeyFile(t, t.TempDir(), "keys.txt")
	kr := secrets.NewKeyring()
	if _, err := kr.AddAgeKeys("test", []byte(k.Secret)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".sops.yaml"), []byte("creation_rules:\n  - path_regex: \\.yml$\n    age: "+k.Recipient+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return ramble.Notebook{Dir: dir, Keys: kr}, k, keyFile
}

func ref(t testing.TB, s string) ramble.Ref {
	t.Helper()
	r, err := ramble.ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func page(title, what string, tags ...string) []byte {
	return fmt.Appendf(nil, "title: %s\nconcept: notes\nwhat: %s\nwhy: because\nhow: carefully\nscripts: |\n  echo hi\ntags: [%s]\n", title, what, strings.Join(tags, ", "))
}

func sops(t testing.TB, keyFile string, args ...string) string {
	t.Helper()
	cmd := exec.Command(secretstest.Sops(t), args...)
	cmd.Env = append(os.Environ(), "SOPS_AGE_KEY_FILE="+keyFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sops %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestEncryptKeepsTitlesSearchable: an encrypted page has title, concept and tags in clear and
// the rest encrypted; the sops CLI decrypts it; find reaches encrypted text and tags; edit keeps
// it encrypted; -k picks the encrypted keys; move and delete.
func TestEncryptKeepsTitlesSearchable(t *testing.T) {
	n, _, keyFile := notebook(t)
	ctx := context.Background()
	if err := n.Create(ref(t, "ops.backup"), page("Backups", "restic to the NAS", "storage", "Cron"), false, nil); err != nil {
		t.Fatal(err)
	}
	if err := n.Create(ref(t, "ops.backup"), page("x", "y"), false, nil); err == nil {
		t.Error("create over an existing page accepted")
	}
	if err := n.Create(ref(t, "dev.go"), page("Go", "generics"), true, nil); err != nil {
		t.Fatal(err)
	}
	if err := n.Encrypt(ref(t, "ops.backup"), nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(n.Dir, "ops", "backup.yml")
	raw, _ := os.ReadFile(path)
	s := string(raw)
	for _, clear := range []string{"title: Backups", "concept: notes", "- storage", "encrypted_regex: ^(how|scripts|what|why)$"} {
		if !strings.Contains(s, clear) {
			t.Errorf("encrypted page lacks %q in clear:\n%s", clear, s)
		}
	}
	for _, secret := range []string{"restic", "because", "carefully", "echo hi"} {
		if strings.Contains(s, secret) {
			t.Errorf("encrypted page shows %q", secret)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	if out := sops(t, keyFile, "decrypt", path); !strings.Contains(out, "restic to the NAS") {
		t.Errorf("sops decrypt: %s", out)
	}

	find := func(o ramble.FindOptions) string {
		t.Helper()
		ms, err := n.Find(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, fmt.Sprintf("%s:%s:%v", m.Ref, m.Title, m.Encrypted))
		}
		return strings.Join(out, " ")
	}
	if got := find(ramble.FindOptions{Term: "RESTIC"}); got != "ops.backup:Backups:true" {
		t.Errorf("find restic: %q", got)
	}
	if got := find(ramble.FindOptions{Tag: "cron"}); got != "ops.backup:Backups:true" {
		t.Errorf("find tag: %q", got)
	}
	if got := find(ramble.FindOptions{Term: "because"}); got != "dev.go:Go:true ops.backup:Backups:true" {
		t.Errorf("find because: %q", got)
	}
	if got := find(ramble.FindOptions{Term: "nowhere"}); got != "" {
		t.Errorf("find nowhere: %q", got)
	}

	// Edit: the saved page stays encrypted with the same data key and regex.
	p, err := n.Open(ref(t, "ops.backup"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Save(p, []byte(strings.Replace(string(p.Plain), "restic to the NAS", "borg to the NAS", 1))); err != nil {
		t.Fatal(err)
	}
	if err := n.Save(p, []byte("- not a mapping\n")); err == nil {
		t.Error("a non-mapping page saved")
	}
	p.Close()
	raw, _ = os.ReadFile(path)
	if strings.Contains(string(raw), "borg") || !strings.Contains(string(raw), "title: Backups") {
		t.Errorf("after edit:\n%s", raw)
	}
	if got := find(ramble.FindOptions{Term: "borg"}); got != "ops.backup:Backups:true" {
		t.Errorf("find after edit: %q", got)
	}
	// Re-encrypt with -k what: only what is encrypted now.
	if err := n.Encrypt(ref(t, "ops.backup"), []string{"what"}); err != nil {
		t.Fatal(err)
	}
	raw, _ = os.ReadFile(path)
	if !strings.Contains(string(raw), "how: carefully") || strings.Contains(string(raw), "borg") {
		t.Errorf("after encrypt -k what:\n%s", raw)
	}

	if err := n.Move(ref(t, "ops.backup"), ref(t, "infra.backups")); err != nil {
		t.Fatal(err)
	}
	if got := find(ramble.FindOptions{Term: "borg"}); got != "infra.backups:Backups:true" {
		t.Errorf("find after move: %q", got)
	}
	if err := n.Move(ref(t, "infra"), ref(t, "dev")); err == nil {
		t.Error("move over an existing journal accepted")
	}
	if err := n.Delete(ref(t, "dev")); err != nil {
		t.Fatal(err)
	}
	if refs, _ := n.Pages(""); len(refs) != 1 {
		t.Errorf("pages after delete: %v", refs)
	}
}

// TestSopsCLIPages: a page the sops CLI encrypted (with --encrypted-regex, as the original ran it)
// opens, is found and edited by chaos, and the sops CLI reads the edit.
func TestSopsCLIPages(t *testing.T) {
	n, _, keyFile := notebook(t)
	path := filepath.Join(n.Dir, "old", "page.yml")
	os.MkdirAll(filepath.Dir(path), 0o700)
	os.WriteFile(path, page("Legacy", "written by the original"), 0o600)
	sops(t, keyFile, "--config", filepath.Join(n.Dir, ".sops.yaml"), "encrypt", "-i", "--encrypted-regex", "^(what|why|how|scripts)$", path)
	ms, err := n.Find(context.Background(), ramble.FindOptions{Term: "by the original"})
	if err != nil || len(ms) != 1 || ms[0].Title != "Legacy" || !ms[0].Encrypted {
		t.Fatalf("find: %+v %v", ms, err)
	}
	p, err := n.Open(ref(t, "old.page"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Save(p, []byte(strings.Replace(string(p.Plain), "by the original", "by chaos", 1))); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if out := sops(t, keyFile, "decrypt", path); !strings.Contains(out, "what: written by chaos") {
		t.Errorf("sops decrypt after chaos's edit:\n%s", out)
	}
}

// TestUpdateRekeys: after a recipient is added to the creation rule, update gives every encrypted
// page the new recipients (a new key opens them), leaves plaintext pages alone, and a second run
// changes nothing.
func TestUpdateRekeys(t *testing.T) {
	n, k1, _ := notebook(t)
	for i := range 3 {
		if err := n.Create(ref(t, fmt.Sprintf("j.p%d", i)), page("P", "w"), i < 2, nil); err != nil {
			t.Fatal(err)
		}
	}
	k2 := secretstest.NewAgeKey(t)
	os.WriteFile(filepath.Join(n.Dir, ".sops.yaml"), []byte("creation_rules:\n  - path_regex: \\.yml$\n    age: "+k1.Recipient+","+k2.Recipient+"\n"), 0o644)
	done, err := n.Update(context.Background())
	if err != nil || len(done) != 2 {
		t.Fatalf("update: %v %v", done, err)
	}
	kr := secrets.NewKeyring()
	kr.AddAgeKeys("k2", []byte(k2.Secret))
	n2 := ramble.Notebook{Dir: n.Dir, Keys: kr}
	if ms, err := n2.Find(context.Background(), ramble.FindOptions{Term: "because"}); err != nil || len(ms) != 3 {
		t.Errorf("with the new key alone: %d pages, %v", len(ms), err)
	}
	if done, err := n.Update(context.Background()); err != nil || len(done) != 0 {
		t.Errorf("second update: %v %v", done, err)
	}
}

// TestTeamNotebook: company.team.person's notebook is the team's ramblings/PERSON with the team's
// sops configuration; paths stay inside it.
func TestTeamNotebook(t *testing.T) {
	isolate(t)
	k := secretstest.NewAgeKey(t)
	t.Setenv("SOPS_AGE_KEY_FILE", k.KeyFile(t, t.TempDir(), "keys.txt"))
	repo := filepath.Join(t.TempDir(), "infra")
	r, _ := team.ParseRef("acme.ops.alice")
	if _, err := team.Init(context.Background(), repo, r, team.Keys{Age: []string{k.Recipient}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ramble.TeamNotebook(team.Ref{Company: "acme", Team: "ops"}, ""); err == nil {
		t.Error("team notebook without a person accepted")
	}
	n, err := ramble.TeamNotebook(r, "")
	if err != nil {
		t.Fatal(err)
	}
	if n.Dir != filepath.Join(repo, "acme/ops/ramblings/alice") || n.Sops != filepath.Join(repo, "acme/ops/sops-config.yml") {
		t.Errorf("notebook %+v", n)
	}
	if err := n.Create(ref(t, "runbooks.db"), page("DB", "failover"), true, nil); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(n.Dir, "runbooks", "db.yml"))
	if !strings.Contains(string(raw), k.Recipient) || strings.Contains(string(raw), "failover") {
		t.Errorf("team page:\n%s", raw)
	}
	// A journal symlinked out of the notebook is refused.
	os.Symlink(t.TempDir(), filepath.Join(n.Dir, "evil"))
	if _, err := n.Open(ref(t, "evil.x")); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("symlinked journal: %v", err)
	}
	for _, bad := range []string{"../x", "a/b.c", "a.b.c", ".a", "a.", "a..b"} {
		if r, err := ramble.ParseRef(bad); err == nil {
			t.Errorf("%q accepted as %+v", bad, r)
		}
	}
}
