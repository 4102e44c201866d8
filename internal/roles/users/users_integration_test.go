package users

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// protecting wraps the users role and adds protected users to the environment, as the engine does
// for the user running chaos, SUDO_USER and the SSH user.
type protecting struct {
	engine.Role
	users []string
}

func (p protecting) Plan(env *engine.Env, c *chobolo.Chobolo, f engine.Facts) (*engine.RolePlan, error) {
	env.ProtectedUsers = append(slices.Clone(env.ProtectedUsers), p.users...)
	return p.Role.Plan(env, c, f)
}

// passwdEntry returns the passwd fields of name in root, or nil.
func passwdEntry(t *testing.T, root, name string) []string {
	t.Helper()
	for line := range strings.SplitSeq(testenv.ReadFile(t, root, "/etc/passwd"), "\n") {
		if f := strings.Split(line, ":"); len(f) == 7 && f[0] == name {
			return f
		}
	}
	return nil
}

func groupsOf(t *testing.T, root, name string) string {
	t.Helper()
	return strings.TrimSpace(testenv.Chroot(t, root, "id", "-nG", name))
}

func TestIntegrationUsers(t *testing.T) {
	root := testenv.DebianRoot(t)
	tr := enginetest.Chroot(t, root)
	// Pre-existing regular users: keeper is protected (as if it ran chaos), stale is not declared.
	testenv.Chroot(t, root, "useradd", "-m", "-u", "1100", "-s", "/bin/bash", "keeper")
	testenv.Chroot(t, root, "useradd", "-m", "-u", "1101", "-s", "/bin/bash", "stale")
	testenv.WriteFile(t, root, "/etc/sudoers.d/99-charonte-stale", "stale ALL=(ALL:ALL) ALL\n")
	testenv.WriteFile(t, root, "/etc/sudoers.d/keep-me", "# not chaos's\n")
	if err := os.Chmod(filepath.Join(root, "etc/sudoers.d/keep-me"), 0o440); err != nil {
		t.Fatal(err)
	}
	role := protecting{New(), []string{"keeper"}}

	// 1. Create users with groups, sudo, shell, uid and home; prune stale, keep keeper.
	c := chob(
		chobolo.User{Name: "alice", Groups: []string{"devs", "users"}, Sudo: true},
		chobolo.User{Name: "bob", Shell: "sh", UID: intp(1500), Home: "/srv/bob"},
	)
	hp := enginetest.ApplyTwice(t, tr, c, role)
	if !hp.Removes() {
		t.Fatalf("first plan should remove stale:\n%s", enginetest.Render(hp))
	}
	if got := passwdEntry(t, root, "alice"); got == nil || got[5] != "/home/alice" || got[6] != "/bin/bash" {
		t.Fatalf("alice: %v", got)
	}
	if got := passwdEntry(t, root, "bob"); got == nil || got[2] != "1500" || got[5] != "/srv/bob" || got[6] != "/bin/sh" {
		t.Fatalf("bob: %v", got)
	}
	if !testenv.Exists(t, root, "/srv/bob/.bashrc") {
		t.Error("bob's home was not created from /etc/skel")
	}
	if got := groupsOf(t, root, "alice"); got != "alice users devs" {
		t.Errorf("alice groups: %q", got)
	}
	if passwdEntry(t, root, "stale") != nil || !testenv.Exists(t, root, "/home/stale") {
		t.Error("stale should be removed with its home kept")
	}
	if passwdEntry(t, root, "keeper") == nil {
		t.Error("protected keeper was removed")
	}
	sudoers := filepath.Join(root, "etc/sudoers.d/99-chaos-alice")
	if st, err := os.Stat(sudoers); err != nil || st.Mode().Perm() != 0o440 {
		t.Fatalf("sudoers file: %v %v", st, err)
	}
	if got := testenv.ReadFile(t, root, "/etc/sudoers.d/99-chaos-alice"); got != "alice ALL=(ALL:ALL) ALL\n" {
		t.Errorf("sudoers content %q", got)
	}
	if testenv.Exists(t, root, "/etc/sudoers.d/99-charonte-stale") || !testenv.Exists(t, root, "/etc/sudoers.d/keep-me") {
		t.Error("only role-managed sudoers files may be removed")
	}
	testenv.Chroot(t, root, "visudo", "-c")
	if out := testenv.Chroot(t, root, "sudo", "-l", "-U", "alice"); !strings.Contains(out, "(ALL : ALL) ALL") {
		t.Errorf("sudo -l -U alice:\n%s", out)
	}

	// 2. Modify shell, groups and home (moved with its content), move sudo from alice to bob.
	testenv.WriteFile(t, root, "/home/alice/notes.txt", "keep me\n")
	c = chob(
		chobolo.User{Name: "alice", Shell: "/bin/sh", Groups: []string{"users"}, Home: "/srv/alice"},
		chobolo.User{Name: "bob", Shell: "bash", UID: intp(1500), Home: "/srv/bob", Sudo: true},
	)
	enginetest.ApplyTwice(t, tr, c, role)
	if got := passwdEntry(t, root, "alice"); got[5] != "/srv/alice" || got[6] != "/bin/sh" {
		t.Fatalf("alice: %v", got)
	}
	if testenv.ReadFile(t, root, "/srv/alice/notes.txt") != "keep me\n" || testenv.Exists(t, root, "/home/alice") {
		t.Error("alice's home was not moved")
	}
	if got := groupsOf(t, root, "alice"); got != "alice users" {
		t.Errorf("alice groups: %q", got)
	}
	if testenv.Exists(t, root, "/etc/sudoers.d/99-chaos-alice") || !testenv.Exists(t, root, "/etc/sudoers.d/99-chaos-bob") {
		t.Error("sudo files not moved from alice to bob")
	}
	testenv.Chroot(t, root, "visudo", "-c")

	// 3. state: absent with purge_home.
	c = chob(
		chobolo.User{Name: "alice", State: "absent", PurgeHome: true},
		chobolo.User{Name: "bob", Shell: "bash", UID: intp(1500), Home: "/srv/bob", Sudo: true},
	)
	enginetest.ApplyTwice(t, tr, c, role)
	if passwdEntry(t, root, "alice") != nil || testenv.Exists(t, root, "/srv/alice") {
		t.Error("alice should be gone with her home")
	}
	if passwdEntry(t, root, "keeper") == nil {
		t.Error("protected keeper was removed")
	}
}

// A sudoers file that visudo rejects never lands, and the ops before it are undone: the new group
// and user are removed again and the pruned user is re-created with its uid, groups and home.
func TestIntegrationSudoersValidateFailure(t *testing.T) {
	root := testenv.DebianRoot(t)
	tr := enginetest.Chroot(t, root)
	testenv.Chroot(t, root, "useradd", "-m", "-u", "1234", "-s", "/bin/sh", "-c", "Old Timer,,,", "-G", "users", "oldtimer")
	before := map[string]string{}
	for _, p := range []string{"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"} {
		before[p] = testenv.ReadFile(t, root, p)
	}
	lsBefore := testenv.Chroot(t, root, "ls", "-A", "/etc/sudoers.d", "/home")

	c := chob(chobolo.User{Name: "carol", Groups: []string{"newgrp"}, Sudo: true})
	e := &engine.Engine{Registry: engine.NewRegistry(New())}
	req := engine.Request{Chobolo: c, Assume: true}
	hp, err := e.Plan(context.Background(), tr, req)
	if err != nil {
		t.Fatal(err)
	}
	var tampered bool
	for _, s := range hp.Roles[0].Steps {
		for i, op := range s.Ops {
			if op.Kind == engine.OpWrite && strings.HasSuffix(op.Path, "99-chaos-carol") {
				s.Ops[i].Content = []byte("carol ALL=(ALL:ALL ALL\n") // unbalanced parenthesis
				tampered = true
			}
		}
	}
	if !tampered || !hp.Removes() {
		t.Fatalf("want a sudoers write and a prune in the plan:\n%s", enginetest.Render(hp))
	}
	res, err := e.Apply(context.Background(), tr, hp, req)
	if err == nil || !strings.Contains(err.Error(), "visudo") {
		t.Fatalf("apply should fail in visudo, got %v", err)
	}
	if !res.RolledBack || len(res.UndoErrors) > 0 {
		t.Fatalf("rollback: %+v", res)
	}
	for p, want := range before {
		got := testenv.ReadFile(t, root, p)
		if p == "/etc/shadow" || p == "/etc/gshadow" {
			// The re-created account is locked (its hash is not restored) and dated today.
			got, want = firstFields(got), firstFields(want)
		}
		if got != want {
			t.Errorf("%s changed:\n%s", p, got)
		}
	}
	if got := testenv.Chroot(t, root, "ls", "-A", "/etc/sudoers.d", "/home"); got != lsBefore {
		t.Errorf("/etc/sudoers.d or /home changed:\n%s\nwas:\n%s", got, lsBefore)
	}
	testenv.Chroot(t, root, "visudo", "-c")
}

// A shell missing at apply time fails loudly before the account exists (useradd only warns).
func TestIntegrationMissingShell(t *testing.T) {
	root := testenv.DebianRoot(t)
	tr := enginetest.Chroot(t, root)
	c := chob(chobolo.User{Name: "dan", Shell: "fish"})
	c.SetKey("packages", chobolo.Pos{}) // the shell is expected from the packages role, which is not run here
	e := &engine.Engine{Registry: engine.NewRegistry(New())}
	req := engine.Request{Chobolo: c, Assume: true}
	hp, err := e.Plan(context.Background(), tr, req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Apply(context.Background(), tr, hp, req)
	if err == nil || !strings.Contains(err.Error(), "/usr/bin/fish is missing") {
		t.Fatalf("want a loud shell error, got %v", err)
	}
	if passwdEntry(t, root, "dan") != nil {
		t.Fatal("dan was created with a missing shell")
	}
}

// Passwords: a crypt hash is written as is (chpasswd -e on stdin); plaintext is hashed by the target
// (yescrypt on Debian 12) and verified on the next run, so both are idempotent.
func TestIntegrationPasswords(t *testing.T) {
	root := testenv.DebianRoot(t)
	tr := enginetest.Chroot(t, root)
	e := &engine.Engine{Registry: engine.NewRegistry(New())}
	// gus has no secret: "locked" is read back as a status, from the same getent as the hashes.
	c := chob(chobolo.User{Name: "erin"}, chobolo.User{Name: "finn"}, chobolo.User{Name: "gus", Password: "locked"})
	s := secrets{SecretPath("erin"): yescryptHash, SecretPath("finn"): "tr0ub4dor &3"}
	apply := func() *engine.HostPlan {
		req := engine.Request{Chobolo: c, Assume: true, Secrets: s}
		hp, err := e.Plan(context.Background(), tr, req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Apply(context.Background(), tr, hp, req); err != nil {
			t.Fatalf("apply: %v\n%s", err, enginetest.Render(hp))
		}
		return hp
	}
	shadow := func(name string) string {
		for line := range strings.SplitSeq(testenv.ReadFile(t, root, "/etc/shadow"), "\n") {
			if f := strings.Split(line, ":"); len(f) > 1 && f[0] == name {
				return f[1]
			}
		}
		return ""
	}
	hp := apply()
	if strings.Contains(enginetest.Render(hp), "tr0ub4dor") {
		t.Fatal("plan text shows a password")
	}
	if got := shadow("erin"); got != yescryptHash {
		t.Fatalf("erin's hash %q", got)
	}
	if got := shadow("finn"); !strings.HasPrefix(got, "$y$") {
		t.Fatalf("finn's password was not hashed with yescrypt: %q", got)
	}
	if got := shadow("gus"); !strings.HasPrefix(got, "!") {
		t.Fatalf("gus is not locked: %q", got)
	}
	if hp := apply(); !hp.Empty() {
		t.Fatalf("second run changes passwords:\n%s", enginetest.Render(hp))
	}
	// A changed plaintext is detected and rewritten.
	s[SecretPath("finn")] = "correct horse"
	old := shadow("finn")
	if hp := apply(); hp.Empty() {
		t.Fatal("changed password not detected")
	}
	if shadow("finn") == old {
		t.Fatal("finn's hash did not change")
	}
}

// firstFields keeps the name of each line of a shadow file.
func firstFields(s string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		name, _, _ := strings.Cut(line, ":")
		out = append(out, name)
	}
	return strings.Join(out, "\n")
}
