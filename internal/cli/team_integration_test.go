package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// editorScript is an $EDITOR that runs body with the file as "$1".
func editorScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "editor.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nset -e\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return "EDITOR=" + p
}

// TestTeamAndRambleCommands drives the chaos binary as a user of the original would: a team
// repository made with team init (git, chaos's own age key), a secret written and read with
// -t acme.ops.dev, an encrypted ramble in the team, found and edited; then a second machine clones
// the repository from a bare git remote and reads both with the same key. No plaintext is left in
// the private edit directories.
func TestTeamAndRambleCommands(t *testing.T) {
	testenv.RequireTool(t, "git", "git")
	s := newSecretEnv(t, "user_secrets: {}\n")
	data := t.TempDir()
	s.env = append(s.env, "XDG_DATA_HOME="+data, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t",
		"GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
	run := func(extra []string, stdin string, args ...string) string {
		t.Helper()
		out, err := s.runEnv(t, extra, stdin, args...)
		if err != nil {
			t.Fatalf("chaos %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	repo := filepath.Join(t.TempDir(), "infra")
	out := run(nil, "", "team", "init", "acme.ops.alice", repo, "--git")
	if !strings.Contains(out, filepath.Join(data, "chaos/teams/acme/ops")) {
		t.Errorf("team init:\n%s", out)
	}
	if out := run(nil, "", "team", "list"); !strings.Contains(out, "acme.ops\t"+filepath.Join(repo, "acme/ops")) {
		t.Errorf("team list:\n%s", out)
	}

	// -t completes the active teams with their groups and people.
	for _, args := range [][]string{{"secrets", "cat", "-t", "acme."}, {"ramble", "find", "-t", ""}, {"apply", "-t", "a"}} {
		out := run(nil, "", append([]string{"__complete"}, args...)...)
		for _, want := range []string{"acme.ops\n", "acme.ops.dev\n", "acme.ops.prod\n", "acme.ops.alice\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("__complete %v lacks %q:\n%s", args, want, out)
			}
		}
	}

	// Secrets of the dev group: created by edit, read by cat, both through -t.
	run([]string{editorScript(t, `printf 'user_secrets:\n  alice:\n    password: s3cret\n' > "$1"`)}, "", "secrets", "edit", "-t", "acme.ops.dev")
	if out := run(nil, "", "secrets", "cat", "-t", "acme.ops.dev", "user_secrets.alice.password", "--value"); strings.TrimSpace(out) != "s3cret" {
		t.Errorf("secrets cat -t: %q", out)
	}
	raw, _ := os.ReadFile(filepath.Join(repo, "acme/ops/secrets/dev/secrets.yml"))
	if strings.Contains(string(raw), "s3cret") || !strings.Contains(string(raw), "ENC[") {
		t.Errorf("team secrets file:\n%s", raw)
	}
	if out, err := s.run(t, "", "secrets", "cat", "-t", "acme.ops.dev", "-sf", "../../../etc/passwd"); err == nil {
		t.Errorf("-sf outside the team accepted:\n%s", out)
	}
	if out, err := s.run(t, "", "secrets", "cat", "-t", "acme.ops.qa"); err == nil || !strings.Contains(out, "no group") {
		t.Errorf("missing group: %v\n%s", err, out)
	}

	// A team ramble: created encrypted, found by its encrypted content, edited.
	page := `printf 'title: Failover\nconcept: db\nwhat: promote the replica\nwhy: x\nhow: y\nscripts: z\ntags: [db]\n' > "$1"`
	run([]string{editorScript(t, page)}, "", "ramble", "create", "-t", "acme.ops.alice", "runbooks.db", "-e")
	pagePath := filepath.Join(repo, "acme/ops/ramblings/alice/runbooks/db.yml")
	raw, _ = os.ReadFile(pagePath)
	if strings.Contains(string(raw), "replica") || !strings.Contains(string(raw), "title: Failover") {
		t.Errorf("team page:\n%s", raw)
	}
	if out := run(nil, "", "ramble", "find", "-t", "acme.ops.alice", "REPLICA"); !strings.Contains(out, "runbooks.db\tFailover  [db]") {
		t.Errorf("ramble find:\n%s", out)
	}
	run([]string{editorScript(t, `sed -i 's/promote the replica/promote db2/' "$1"`)}, "", "ramble", "edit", "-t", "acme.ops.alice", "runbooks.db")
	if out := run(nil, "", "ramble", "read", "-t", "acme.ops.alice", "runbooks.db", "--values", "what"); !strings.Contains(out, "what: promote db2") {
		t.Errorf("ramble read:\n%s", out)
	}
	tmpdir := ""
	for _, e := range s.env {
		if v, ok := strings.CutPrefix(e, "TMPDIR="); ok {
			tmpdir = v
		}
	}
	// Other processes may be editing at the same time: look for this test's plaintext, not for
	// any directory.
	for _, dir := range []string{"/dev/shm", tmpdir} {
		leftovers, _ := filepath.Glob(filepath.Join(dir, "chaos-edit-*", "*"))
		for _, f := range leftovers {
			if b, _ := os.ReadFile(f); strings.Contains(string(b), "promote") {
				t.Errorf("plaintext left in %s", f)
			}
		}
	}

	// Another machine: clone from a bare remote, the teams dir fresh, the same key.
	bare := filepath.Join(t.TempDir(), "infra.git")
	for _, args := range [][]string{{"-C", repo, "add", "-A"}, {"-C", repo, "commit", "-qm", "team"}, {"clone", "-q", "--bare", repo, bare}} {
		cmd := exec.Command("git", args...)
		cmd.Env = s.env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	data2 := t.TempDir()
	other := []string{"XDG_DATA_HOME=" + data2}
	clone := filepath.Join(t.TempDir(), "clone")
	if out := run(other, "", "team", "clone", "file://"+bare, clone); !strings.Contains(out, filepath.Join(data2, "chaos/teams/acme/ops")) {
		t.Errorf("team clone:\n%s", out)
	}
	if out := run(other, "", "secrets", "cat", "-t", "acme.ops.dev", "user_secrets.alice.password", "--value"); strings.TrimSpace(out) != "s3cret" {
		t.Errorf("after clone, secrets cat: %q", out)
	}
	if out := run(other, "", "ramble", "find", "-t", "acme.ops.alice", "--tag", "db"); !strings.Contains(out, "runbooks.db") {
		t.Errorf("after clone, ramble find:\n%s", out)
	}
	if out, err := s.runEnv(t, other, "", "team", "deactivate", "acme"); err == nil {
		t.Errorf("deactivate all without a terminal or -y:\n%s", out)
	}
	// apply -t decrypts the team's secrets before any target is contacted: for the dev group the
	// run gets as far as the (missing) target; the prod group, which has no secrets file, stops it
	// before.
	chobolo := writeChobolo(t, "users:\n  - name: alice\n")
	target := "@chroot" + filepath.Join(t.TempDir(), "missing")
	if out, err := s.runEnv(t, other, "", "apply", "-c", chobolo, "-t", "acme.ops.dev", "--dry", "--target", target); err == nil ||
		!strings.Contains(out, "missing: no such file") {
		t.Errorf("apply -t acme.ops.dev: %v\n%s", err, out)
	}
	if out, err := s.runEnv(t, other, "", "apply", "-c", chobolo, "-t", "acme.ops.prod", "--dry", "--target", target); err == nil ||
		!strings.Contains(out, "secrets/prod/secrets.yml") || strings.Contains(out, "missing: no such file") {
		t.Errorf("apply -t acme.ops.prod: %v\n%s", err, out)
	}
	run(other, "", "team", "deactivate", "acme", "ops")
	if out, err := s.runEnv(t, other, "", "secrets", "cat", "-t", "acme.ops.dev"); err == nil || !strings.Contains(out, "not active") {
		t.Errorf("after deactivate: %v\n%s", err, out)
	}
	if out, err := s.runEnv(t, other, "", "apply", "-c", chobolo, "-t", "acme.ops.dev", "--dry", "--target", target); err == nil || !strings.Contains(out, "not active") {
		t.Errorf("apply -t with the team deactivated: %v\n%s", err, out)
	}
	os.RemoveAll(repo)
	if out := run(nil, "", "team", "prune"); !strings.Contains(out, "pruned") {
		t.Errorf("team prune:\n%s", out)
	}
}

// TestPersonalRamble: $CHAOS_RAMBLE_DIR with the user's sops configuration from secrets init; a
// plain page, then encrypted, read back, moved and deleted.
func TestPersonalRamble(t *testing.T) {
	s := newSecretEnv(t, "user_secrets: {}\n")
	dir := t.TempDir()
	s.env = append(s.env, "CHAOS_RAMBLE_DIR="+dir)
	run := func(extra []string, args ...string) string {
		t.Helper()
		out, err := s.runEnv(t, extra, "", args...)
		if err != nil {
			t.Fatalf("chaos %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	run([]string{editorScript(t, `sed -i 's/^what: .*/what: tmux tricks/' "$1"`)}, "ramble", "create", "shell.tmux")
	raw, _ := os.ReadFile(filepath.Join(dir, "shell/tmux.yml"))
	if !strings.Contains(string(raw), "what: tmux tricks") || !strings.Contains(string(raw), "title: tmux") {
		t.Fatalf("plain page:\n%s", raw)
	}
	run(nil, "-ss", filepath.Join(s.dir, ".sops.yaml"), "ramble", "encrypt", "shell.tmux")
	raw, _ = os.ReadFile(filepath.Join(dir, "shell/tmux.yml"))
	if strings.Contains(string(raw), "tricks") {
		t.Errorf("encrypted page:\n%s", raw)
	}
	if out := run(nil, "ramble", "read", "shell.tmux", "--json"); !strings.Contains(out, `"what": "tmux tricks"`) {
		t.Errorf("read --json:\n%s", out)
	}
	run(nil, "ramble", "move", "shell.tmux", "term.tmux")
	if out := run(nil, "ramble", "read", "term"); strings.TrimSpace(out) != "term.tmux" {
		t.Errorf("read journal:\n%s", out)
	}
	if _, err := s.run(t, "", "ramble", "delete", "term"); err == nil {
		t.Error("delete without a terminal or -y")
	}
	run(nil, "ramble", "delete", "term", "-y")
	if _, err := os.Stat(filepath.Join(dir, "term")); err == nil {
		t.Error("journal not deleted")
	}
}
