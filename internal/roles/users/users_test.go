package users

import (
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/golden"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
)

// secrets is a map-backed engine.SecretStore.
type secrets map[string]string

func (s secrets) Get(p string) (string, bool) { v, ok := s[p]; return v, ok }

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// host is a recorded Debian bookworm host: the minbase root's passwd/group/shells plus alice (1000),
// bob (1001, in sudo), carol (1002), an LDAP-like uid 70000 and a systemd dynamic user.
type host struct {
	passwd, group, shells string
	logindefs             string
	paths                 []string // "x /bin/bash", "d /home/alice", ...
	sudoers               map[string]string
	shadow                string
	noVisudo              bool
}

func debianHost(t *testing.T) *host {
	return &host{
		passwd: readTestdata(t, "passwd"), group: readTestdata(t, "group"), shells: readTestdata(t, "shells"),
		logindefs: "UID_MIN\t\t\t 1000\nUID_MAX\t\t\t60000\n",
		paths: []string{"x /bin/bash", "x /usr/bin/bash", "x /bin/sh", "x /usr/bin/sh", "x /usr/sbin/nologin",
			"d /home/alice", "d /home/bob", "d /home/carol"},
		sudoers: map[string]string{},
	}
}

func (h *host) facts() engine.Facts {
	var paths strings.Builder
	if !h.noVisudo {
		paths.WriteString("visudo\nsudoers.d\n")
	}
	paths.WriteString("merged-usr\n")
	for _, p := range h.paths {
		paths.WriteString(p + "\n")
	}
	var sudo strings.Builder
	names := slices.Sorted(maps.Keys(h.sudoers))
	for _, n := range names {
		fmt.Fprintf(&sudo, "F 440:root:root %s\n%s\n", n, base64.StdEncoding.EncodeToString([]byte(h.sudoers[n])))
	}
	f := engine.Facts{
		"passwd":    {Stdout: h.passwd},
		"group":     {Stdout: h.group},
		"shells":    {Stdout: h.shells},
		"logindefs": {Stdout: h.logindefs},
		"paths":     {Stdout: paths.String()},
		"sudoers":   {Stdout: sudo.String()},
	}
	if h.shadow != "" {
		f["shadow"] = engine.Output{Stdout: h.shadow}
	}
	return f
}

// chob builds a Ch-obolo whose users[i] fields sit at line 10*(i+1) of c.yml.
func chob(users ...chobolo.User) *chobolo.Chobolo {
	c := &chobolo.Chobolo{File: "c.yml", Users: users}
	c.SetKey("users", chobolo.Pos{File: "c.yml", Line: 1, Col: 1})
	for i := range users {
		for j, f := range []string{"name", "shell", "home", "groups", "sudo", "uid", "state"} {
			c.SetPos(fmt.Sprintf("users[%d].%s", i, f), chobolo.Pos{File: "c.yml", Line: 10*(i+1) + j, Col: 5})
		}
	}
	return c
}

func plan(t *testing.T, h *host, c *chobolo.Chobolo, env *engine.Env) (*engine.RolePlan, error) {
	t.Helper()
	if env == nil {
		env = &engine.Env{Core: "debian"}
	}
	return New().Plan(env, c, h.facts())
}

func mustPlan(t *testing.T, h *host, c *chobolo.Chobolo, env *engine.Env) *engine.RolePlan {
	t.Helper()
	p, err := plan(t, h, c, env)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return p
}

func intp(i int) *int { return &i }

// declared matches the recorded host exactly (alice, bob in sudo with his sudoers file, carol).
func matching() []chobolo.User {
	return []chobolo.User{
		{Name: "alice", Shell: "sh", Groups: []string{"docker"}},
		{Name: "bob", Groups: []string{"sudo"}, Sudo: true},
		{Name: "carol", Shell: "/bin/bash", Groups: []string{"docker"}},
	}
}

func TestNoChanges(t *testing.T) {
	h := debianHost(t)
	h.sudoers["99-chaos-bob"] = "bob ALL=(ALL:ALL) ALL\n"
	p := mustPlan(t, h, chob(matching()...), nil)
	if !p.Empty() {
		t.Fatalf("expected no changes:\n%s", enginetest.RenderRole(p))
	}
	// Declaring an existing system account without shell or home leaves both alone (no bash, no
	// move to /home/www-data).
	users := append(matching(), chobolo.User{Name: "www-data", Groups: []string{"docker"}})
	if out := enginetest.RenderRole(mustPlan(t, h, chob(users...), nil)); out != "~ user www-data: groups (none) -> docker [c.yml:40:5]\n  $ usermod -G docker www-data\n    undo: usermod -G '' www-data\n" {
		t.Fatalf("got:\n%s", out)
	}
	// /usr/bin/bash is the same shell as /bin/bash on a merged-/usr host.
	h.passwd = strings.Replace(h.passwd, "/home/bob:/bin/bash", "/home/bob:/usr/bin/bash", 1)
	if p := mustPlan(t, h, chob(matching()...), nil); !p.Empty() {
		t.Fatalf("/usr/bin/bash should satisfy shell bash:\n%s", enginetest.RenderRole(p))
	}
}

func TestGoldenFull(t *testing.T) {
	h := debianHost(t)
	h.sudoers["99-charonte-bob"] = "bob ALL=(ALL:ALL) ALL\n"
	h.sudoers["99-chaos-carol"] = "carol ALL=(ALL:ALL) ALL\n"
	c := chob(
		chobolo.User{Name: "alice", Shell: "zsh", Groups: []string{"docker", "devs"}, Home: "/srv/alice"},
		chobolo.User{Name: "bob", Sudo: true},
		chobolo.User{Name: "dave", Groups: []string{"devs", "docker"}, Sudo: true, UID: intp(1500)},
		chobolo.User{Name: "svc", System: true, Shell: "nologin", Home: "/var/lib/svc"},
	)
	c.SetKey("packages", chobolo.Pos{})
	golden.Check(t, "full", enginetest.RenderRole(mustPlan(t, h, c, nil)))
}

func TestGoldenRemoveAndAbsent(t *testing.T) {
	h := debianHost(t)
	c := chob(
		chobolo.User{Name: "alice", Shell: "sh", Groups: []string{"docker"}},
		chobolo.User{Name: "bob", State: "absent", PurgeHome: true},
		chobolo.User{Name: "ghost", State: "absent"}, // not on the host: nothing to do
	)
	golden.Check(t, "remove", enginetest.RenderRole(mustPlan(t, h, c, nil)))
}

func TestProtectedUsers(t *testing.T) {
	h := debianHost(t)
	h.sudoers["99-chaos-carol"] = "carol ALL=(ALL:ALL) ALL\n"
	env := &engine.Env{Core: "debian", ProtectedUsers: []string{"root", "carol"}}
	users := matching()[:2]
	users[1].Groups = nil // bob leaves sudo: he is not protected
	p := mustPlan(t, h, chob(users...), env)
	out := enginetest.RenderRole(p)
	for _, want := range []string{"user carol (uid 1002) kept although undeclared", "99-chaos-carol kept", "usermod -G '' bob"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "userdel carol") || strings.Contains(out, "remove /etc/sudoers.d/99-chaos-carol") {
		t.Errorf("protected carol touched:\n%s", out)
	}
	// A protected user keeps its admin group even when the Ch-obolo drops it.
	env.ProtectedUsers = []string{"bob"}
	p = mustPlan(t, h, chob(append(users[:1], chobolo.User{Name: "bob"})...), env)
	if out := enginetest.RenderRole(p); strings.Contains(out, "usermod -G") || !strings.Contains(out, "kept in group sudo") {
		t.Errorf("protected bob should stay in sudo:\n%s", out)
	}
	// state: absent on a protected user is an error with its position.
	_, err := plan(t, h, chob(chobolo.User{Name: "bob", State: "absent"}), env)
	if err == nil || !strings.Contains(err.Error(), "c.yml:10:5") || !strings.Contains(err.Error(), "protected") {
		t.Fatalf("want a positioned protected error, got %v", err)
	}
	// Nor may a protected user get a no-login shell.
	_, err = plan(t, h, chob(chobolo.User{Name: "bob", Shell: "nologin"}), env)
	if err == nil || !strings.Contains(err.Error(), "c.yml:11:5") {
		t.Fatalf("want a positioned no-login error, got %v", err)
	}
}

func TestUIDRanges(t *testing.T) {
	for _, tc := range []struct {
		name      string
		logindefs string
		removed   []string
	}{
		{"defaults", "", []string{"alice", "bob", "carol"}},
		{"login.defs", "UID_MIN 1000\nUID_MAX 60000\n", []string{"alice", "bob", "carol"}},
		{"UID_MIN below 1000 is floored", "UID_MIN 500\n", []string{"alice", "bob", "carol"}},
		{"UID_MIN 1001", "UID_MIN 1001\n", []string{"bob", "carol"}},
		{"UID_MAX 1001", "UID_MAX 1001\n", []string{"alice", "bob"}},
		{"UID_MAX above the dynamic range", "UID_MAX 100000\n", []string{"alice", "bob", "carol", "ldapish"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := debianHost(t)
			h.logindefs = tc.logindefs
			p := mustPlan(t, h, chob(), nil)
			var removed []string
			for _, s := range p.Steps {
				for _, c := range s.Changes {
					if c.Kind == engine.Del && strings.HasPrefix(c.Subject, "user ") {
						removed = append(removed, strings.TrimPrefix(c.Subject, "user "))
					}
				}
			}
			if !slices.Equal(removed, tc.removed) {
				t.Fatalf("removed %v, want %v", removed, tc.removed)
			}
		})
	}
}

func TestNoPruneWithoutUsersKey(t *testing.T) {
	h := debianHost(t)
	c := &chobolo.Chobolo{}
	c.SetKey("hostname", chobolo.Pos{})
	p := mustPlan(t, h, c, nil)
	if !p.Empty() {
		t.Fatalf("users not declared must change nothing:\n%s", enginetest.RenderRole(p))
	}
}

func TestGuard(t *testing.T) {
	h := debianHost(t)
	h.passwd += "dan:x:1003:1003::/home/dan:/bin/bash\neve:x:1004:1004::/home/eve:/bin/bash\n"
	p := mustPlan(t, h, chob(chobolo.User{Name: "alice", Shell: "sh", Groups: []string{"docker"}}), nil)
	if !strings.Contains(p.Guard, "would remove 4 of the 5 regular users") {
		t.Fatalf("guard = %q", p.Guard)
	}
	p = mustPlan(t, h, chob(matching()...), nil)
	if p.Guard != "" {
		t.Fatalf("removing 2 of 5 should not need the guard: %q", p.Guard)
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		user chobolo.User
		pos  string
		msg  string
	}{
		{"command substitution", chobolo.User{Name: "$(rm -rf /)"}, "c.yml:10:5", "invalid user name"},
		{"leading dash", chobolo.User{Name: "-rf"}, "c.yml:10:5", `starts with "-"`},
		{"semicolon", chobolo.User{Name: "a;b"}, "c.yml:10:5", "invalid user name"},
		{"newline", chobolo.User{Name: "a\nb"}, "c.yml:10:5", "newline"},
		{"traversal", chobolo.User{Name: "../x"}, "c.yml:10:5", "invalid user name"},
		{"backtick group", chobolo.User{Name: "ok", Groups: []string{"`id`"}}, "c.yml:13:5", "invalid group name"},
		{"dash group", chobolo.User{Name: "ok", Groups: []string{"-G"}}, "c.yml:13:5", `starts with "-"`},
		{"shell injection", chobolo.User{Name: "ok", Shell: "zsh;rm"}, "c.yml:11:5", "invalid shell"},
		{"shell option", chobolo.User{Name: "ok", Shell: "-c"}, "c.yml:11:5", "invalid shell"},
		{"relative home", chobolo.User{Name: "ok", Home: "home/ok"}, "c.yml:12:5", "not absolute"},
		{"home traversal", chobolo.User{Name: "ok", Home: "/home/../etc"}, "c.yml:12:5", ".."},
		{"home colon", chobolo.User{Name: "ok", Home: "/home/a:b"}, "c.yml:12:5", ":"},
		{"home root", chobolo.User{Name: "ok", Home: "/"}, "c.yml:12:5", "cannot be /"},
		{"uid 0", chobolo.User{Name: "ok", UID: intp(0)}, "c.yml:15:5", "second root"},
		{"uid taken", chobolo.User{Name: "ok", UID: intp(33)}, "c.yml:15:5", "already used by www-data"},
		{"bad state", chobolo.User{Name: "ok", State: "gone"}, "c.yml:16:5", "present or absent"},
		{"remove root", chobolo.User{Name: "root", State: "absent"}, "c.yml:10:5", "refusing to remove"},
		{"remove system user", chobolo.User{Name: "www-data", State: "absent"}, "c.yml:10:5", "below 1000"},
		{"missing shell", chobolo.User{Name: "ok", Shell: "zsh"}, "c.yml:11:5", "declare its package under `packages`"},
		{"unlisted shell", chobolo.User{Name: "ok", Shell: "/usr/sbin/nologin2"}, "c.yml:11:5", "not installed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := plan(t, debianHost(t), chob(tc.user), nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.pos) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q lacks %s / %q", err, tc.pos, tc.msg)
			}
		})
	}
	t.Run("duplicate", func(t *testing.T) {
		_, err := plan(t, debianHost(t), chob(chobolo.User{Name: "x"}, chobolo.User{Name: "x"}), nil)
		if err == nil || !strings.Contains(err.Error(), "declared twice") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("duplicate uid", func(t *testing.T) {
		_, err := plan(t, debianHost(t), chob(chobolo.User{Name: "x", UID: intp(2000)}, chobolo.User{Name: "y", UID: intp(2000)}), nil)
		if err == nil || !strings.Contains(err.Error(), "c.yml:25:5") || !strings.Contains(err.Error(), "also declared for x") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("shell not in /etc/shells", func(t *testing.T) {
		h := debianHost(t)
		h.paths = append(h.paths, "x /usr/bin/fish")
		_, err := plan(t, h, chob(chobolo.User{Name: "ok", Shell: "fish"}), nil)
		if err == nil || !strings.Contains(err.Error(), "not listed in /etc/shells") || !strings.Contains(err.Error(), "c.yml:11:5") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("sudo without visudo", func(t *testing.T) {
		h := debianHost(t)
		h.noVisudo = true
		_, err := plan(t, h, chob(chobolo.User{Name: "ok", Sudo: true}), nil)
		if err == nil || !strings.Contains(err.Error(), "c.yml:14:5") || !strings.Contains(err.Error(), "packages role, which would install it, does not run here") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestSudoNeed: a user with sudo: true needs the sudo package on every core; when a packages role
// runs in the same plan (it installs the need first), a missing visudo is no error.
func TestSudoNeed(t *testing.T) {
	c := chob(chobolo.User{Name: "ok", Sudo: true}, chobolo.User{Name: "x"})
	needs := New().(engine.Needer).Needs(&engine.Env{Core: "fedora"}, c)
	if len(needs) != 1 || needs[0].Package != "sudo" || needs[0].Pos.String() != "c.yml:14:5" || !strings.Contains(needs[0].Why, "user ok") {
		t.Fatalf("needs %+v", needs)
	}
	if n := New().(engine.Needer).Needs(&engine.Env{Core: "debian"}, chob(chobolo.User{Name: "x"})); len(n) != 0 {
		t.Fatalf("needs without sudo users: %+v", n)
	}
	h := debianHost(t)
	h.noVisudo = true
	p := mustPlan(t, h, c, &engine.Env{Core: "debian", Needs: needs, NeedsServed: true})
	if !strings.Contains(enginetest.RenderRole(p), "sudo is not installed yet; expecting it from the packages role") {
		t.Fatalf("plan:\n%s", enginetest.RenderRole(p))
	}
}

func TestHomeMove(t *testing.T) {
	h := debianHost(t)
	users := matching()
	users[0].Home = "/srv/alice"
	out := enginetest.RenderRole(mustPlan(t, h, chob(users...), nil))
	if !strings.Contains(out, "$ usermod -d /srv/alice -m alice") || !strings.Contains(out, "undo: usermod -d /home/alice -m alice") {
		t.Fatalf("want a moving usermod with a moving undo:\n%s", out)
	}
	h.paths = append(h.paths, "d /srv/alice")
	out = enginetest.RenderRole(mustPlan(t, h, chob(users...), nil))
	if !strings.Contains(out, "$ usermod -d /srv/alice alice") || !strings.Contains(out, "is not moved") {
		t.Fatalf("an existing new home must not be moved onto:\n%s", out)
	}
	h.paths = slices.DeleteFunc(h.paths, func(p string) bool { return strings.HasSuffix(p, "alice") })
	out = enginetest.RenderRole(mustPlan(t, h, chob(users...), nil))
	if !strings.Contains(out, "$ usermod -d /srv/alice alice") || !strings.Contains(out, "$ mkdir /srv/alice (mode 0700, owner alice:-)") {
		t.Fatalf("a missing old home cannot be moved: the new one is made:\n%s", out)
	}
}

// yescryptHash is "correct horse" hashed by libxcrypt with Debian 12's default parameters
// (perl -e 'print crypt("correct horse", q{$y$j9T$Kq3vN0xq1e2Zr8TQwE4mB/})').
const yescryptHash = "$y$j9T$Kq3vN0xq1e2Zr8TQwE4mB/$N3dtKmMHDywbpGpecVyidSWOXSzfMvNl0xDk8JhZo61"

func TestPasswords(t *testing.T) {
	hash := yescryptHash
	h := debianHost(t)
	h.sudoers["99-chaos-bob"] = "bob ALL=(ALL:ALL) ALL\n"
	users := lockedExcept(matching(), "alice")

	t.Run("no secrets: shadow is not probed", func(t *testing.T) {
		for _, s := range probeSections(chob(matching()...), nil) {
			if s.Name == "shadow" || strings.Contains(s.Script, "shadow") {
				t.Fatalf("probe reads shadow without secrets: %s", s.Script)
			}
		}
	})
	t.Run("probe reads only the hashes of users with a secret", func(t *testing.T) {
		var script string
		for _, s := range probeSections(chob(users...), secrets{SecretPath("alice"): "x"}) {
			if s.Name == "shadow" {
				script = s.Script
			}
		}
		if !strings.Contains(script, "-v names=' alice bob carol '") ||
			!strings.Contains(script, "-v hashed=' alice '") || strings.Contains(script, "cat /etc/shadow") {
			t.Fatalf("shadow probe:\n%s", script)
		}
	})
	t.Run("hash passthrough", func(t *testing.T) {
		env := &engine.Env{Core: "debian", Secrets: secrets{SecretPath("alice"): hash}}
		h.shadow = "hash alice !\nstatus bob locked\n"
		p := mustPlan(t, h, chob(users...), env)
		var op *engine.Op
		for _, s := range p.Steps {
			for i := range s.Ops {
				if s.Ops[i].Argv[0] == "chpasswd" {
					op = &s.Ops[i]
				}
			}
		}
		if op == nil || !slices.Equal(op.Argv, []string{"chpasswd", "-e"}) || !op.Secret || string(op.Stdin) != "alice:"+hash+"\n" {
			t.Fatalf("want chpasswd -e with the hash on stdin:\n%s", enginetest.RenderRole(p))
		}
		if op.Undo == nil || string(op.Undo.Stdin) != "alice:!\n" || !op.Undo.Secret {
			t.Fatalf("undo should restore the old field: %+v", op.Undo)
		}
		// The undo is never journaled: what recovery says after a crash names the user and the command.
		if m := op.Undo.Manual; !strings.Contains(m, "password of user alice") || !strings.Contains(m, "`passwd alice`") {
			t.Fatalf("the undo's manual instruction = %q", m)
		}
		if out := enginetest.RenderRole(p); strings.Contains(out, hash) {
			t.Fatalf("plan text leaks the hash:\n%s", out)
		}
		h.shadow = "hash alice " + hash + "\n"
		if p := mustPlan(t, h, chob(users...), env); !p.Empty() {
			t.Fatalf("same hash must be a no-op:\n%s", enginetest.RenderRole(p))
		}
	})
	t.Run("plaintext verified against the shadow hash", func(t *testing.T) {
		env := &engine.Env{Core: "debian", Secrets: secrets{SecretPath("alice"): "correct horse"}}
		h.shadow = "hash alice " + hash + "\n"
		if p := mustPlan(t, h, chob(users...), env); !p.Empty() {
			t.Fatalf("verified plaintext must be a no-op:\n%s", enginetest.RenderRole(p))
		}
		env.Secrets = secrets{SecretPath("alice"): "battery staple"}
		p := mustPlan(t, h, chob(users...), env)
		out := enginetest.RenderRole(p)
		if !strings.Contains(out, "$ chpasswd <<< (secret)") || strings.Contains(out, "battery") {
			t.Fatalf("want chpasswd with a secret stdin:\n%s", out)
		}
	})
	t.Run("new user gets the password after useradd", func(t *testing.T) {
		env := &engine.Env{Core: "debian", Secrets: secrets{SecretPath("dave"): "pw"}}
		h.shadow = ""
		out := enginetest.RenderRole(mustPlan(t, h, chob(append(lockedExcept(matching(), "dave"), chobolo.User{Name: "dave"})...), env))
		if !strings.Contains(out, "password from secrets") || strings.Index(out, "useradd") > strings.Index(out, "chpasswd") {
			t.Fatalf("plan:\n%s", out)
		}
	})
	t.Run("a declared user needs a password or password: locked", func(t *testing.T) {
		env := &engine.Env{Core: "debian", Secrets: secrets{SecretPath("alice"): "pw"}}
		_, err := plan(t, h, chob(matching()...), env)
		if err == nil || !strings.Contains(err.Error(), "no password in the secrets (user_secrets.bob.password); set one or declare `password: locked`") {
			t.Fatalf("got %v", err)
		}
		both := lockedExcept(matching(), "")
		if _, err := plan(t, h, chob(both...), env); err == nil || !strings.Contains(err.Error(), "keep one of them") {
			t.Fatalf("locked and a secret: got %v", err)
		}
	})
	t.Run("password: locked locks an account, also without secrets", func(t *testing.T) {
		h.shadow = "status alice set\nstatus bob locked\n"
		c := chob(lockedExcept(matching(), "carol")...)
		var script string
		for _, s := range probeSections(c, nil) {
			if s.Name == "shadow" {
				script = s.Script
			}
		}
		if !strings.Contains(script, "-v names=' alice bob '") || strings.Contains(script, "carol") || !strings.Contains(script, "-v hashed='  '") {
			t.Fatalf("without secrets the probe reads only the lock status of locked users:\n%s", script)
		}
		out := enginetest.RenderRole(mustPlan(t, h, c, &engine.Env{Core: "debian"}))
		if !strings.Contains(out, "~ password of alice: locked") || !strings.Contains(out, "$ usermod -L -- alice") || strings.Contains(out, "-L -- bob") {
			t.Fatalf("plan:\n%s", out)
		}
		h.shadow = "status alice locked\nstatus bob locked\n"
		if p := mustPlan(t, h, c, &engine.Env{Core: "debian"}); !p.Empty() {
			t.Fatalf("locked accounts must be a no-op:\n%s", enginetest.RenderRole(p))
		}
		h.shadow = ""
	})
	t.Run("bad secrets", func(t *testing.T) {
		for _, v := range []string{"", "a\nb", "$6$x:y"} {
			env := &engine.Env{Core: "debian", Secrets: secrets{SecretPath("alice"): v}}
			_, err := plan(t, h, chob(users...), env)
			if err == nil || !strings.Contains(err.Error(), "c.yml:10:5") || (v != "" && strings.Contains(err.Error(), v)) {
				t.Fatalf("%q: got %v", v, err)
			}
		}
	})
}

func TestProbeQuotesValues(t *testing.T) {
	c := chob(chobolo.User{Name: "x", Home: "/home/it's $(id)", Shell: "/bin/`id`"})
	for _, s := range probeSections(c, nil) {
		if s.Name != "paths" {
			continue
		}
		if !strings.Contains(s.Script, `'/home/it'\''s $(id)'`) || !strings.Contains(s.Script, "'/bin/`id`'") {
			t.Fatalf("values not quoted:\n%s", s.Script)
		}
	}
}

func TestParseSudoers(t *testing.T) {
	f, err := ParseFacts(engine.Facts{
		"passwd": {Stdout: "root:x:0:0:root:/root:/bin/bash\n"}, "group": {Stdout: "root:x:0:\n"},
		"sudoers": {Stdout: "F 644:root:staff 99-chaos-a b\n" + base64.StdEncoding.EncodeToString([]byte("x\ny\n")) + "\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := SudoFile{Name: "99-chaos-a b", Content: "x\ny\n", Mode: "644", Owner: "root", Group: "staff"}
	if got := f.Sudoers["99-chaos-a b"]; got != want {
		t.Fatalf("got %+v", got)
	}
}

func TestCaptureRoundTrip(t *testing.T) {
	h := debianHost(t)
	h.sudoers["99-chaos-bob"] = "bob ALL=(ALL:ALL) ALL\n"
	f, err := ParseFacts(h.facts())
	if err != nil {
		t.Fatal(err)
	}
	c := chob(CaptureUsers(f)...)
	var names []string
	for _, u := range c.Users {
		names = append(names, u.Name)
	}
	if !slices.Equal(names, []string{"alice", "bob", "carol"}) {
		t.Fatalf("captured %v", names)
	}
	h.paths = append(h.paths, "x /bin/sh")
	if p := mustPlan(t, h, c, nil); !p.Empty() {
		t.Fatalf("applying the capture must change nothing:\n%s", enginetest.RenderRole(p))
	}
}

// lockedExcept declares `password: locked` for every user but keep.
func lockedExcept(users []chobolo.User, keep string) []chobolo.User {
	out := slices.Clone(users)
	for i := range out {
		if out[i].Name != keep {
			out[i].Password = "locked"
		}
	}
	return out
}

// TestLookupFileThenGetent: the names the file holds are answered from it in one pass (the first
// entry of a name wins, as getent's), the others by getent (here root, from this machine's own
// user database), and an unreadable file leaves every name to getent.
func TestLookupFileThenGetent(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(file, []byte("alice:x:1000:1000::/home/alice:/bin/sh\nalice:x:1001:1001::/elsewhere:/bin/sh\nbob:x:1002:1002::/home/bob:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(file string) string {
		t.Helper()
		script := lookup("passwd", file, []string{"alice", "root", "nobody-here-x"}, "-v tag=home", `o[++no] = tag " " $1 " " $6`)
		out, err := exec.Command("/bin/sh", "-c", "IFS='\n'\n"+script).Output()
		if err != nil {
			t.Fatalf("%v\n%s", err, script)
		}
		return string(out)
	}
	if got := run(file); got != "home alice /home/alice\nhome root /root\n" {
		t.Fatalf("from the file and getent:\n%s", got)
	}
	if got := run(file + ".missing"); got != "home root /root\n" {
		t.Fatalf("without the file:\n%s", got)
	}
}
