package users

import (
	"context"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/packages"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestIntegrationSudoNeeded: `sudo: true` on a Debian root without sudo, and no `packages`: one run
// installs sudo (needed by users) before the account and its sudoers file, which visudo checks, and
// the second run changes nothing. (Before, the plan failed: "declare the sudo package under
// `packages`".)
func TestIntegrationSudoNeeded(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, testenv.InstalledDebPkg(t, root, "sudo"))
	testenv.Chroot(t, root, "env", "SUDO_FORCE_REMOVE=yes", "dpkg", "--purge", "sudo") // its prerm refuses without a root password
	if _, _, code := testenv.ChrootResult(t, root, "sh", "-c", "command -v visudo"); code == 0 {
		t.Fatal("visudo is still there after purging sudo")
	}
	tr := enginetest.Chroot(t, root)
	c := chob(chobolo.User{Name: "alice", Sudo: true})
	hp := enginetest.ApplyTwice(t, tr, c, New(), packages.New())
	plan := enginetest.Render(hp)
	t.Logf("first plan:\n%s", plan)
	if !strings.Contains(plan, "+ package sudo: needed by users: visudo for sudo: true of user alice") {
		t.Errorf("the plan does not install sudo for users:\n%s", plan)
	}
	if got := testenv.Chroot(t, root, "dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "sudo"); got != "ii " {
		t.Errorf("sudo is %q", got)
	}
	if got := testenv.ReadFile(t, root, "/etc/sudoers.d/"+SudoFileName("alice")); got != SudoContent("alice") {
		t.Errorf("sudoers file = %q", got)
	}
}

// TestIntegrationShellNeeded: a user whose login shell is not installed, and no `packages`: one run
// installs the shell's package (needed by users) before the account is created, both when the
// Ch-obolo selects the packages role (its `users` key) and with `chaos apply users` (a tag: the
// packages role runs only for the needs). (Before, the plan failed: "declare its package under
// `packages`".)
func TestIntegrationShellNeeded(t *testing.T) {
	testenv.RequireRoot(t)
	zsh := testenv.DebPkg{Name: "zsh", Version: "5.9-9", // usrmerge conflicts with zsh << 5.2-4
		Files:    map[string]string{"/usr/bin/zsh": "#!/bin/sh\nexec /bin/bash \"$@\"\n"},
		Postinst: "add-shell /usr/bin/zsh"}
	for name, tags := range map[string][]string{"no tags": nil, "tag users": {"users"}} {
		t.Run(name, func(t *testing.T) {
			root := testenv.DebianRoot(t)
			testenv.AptRepo(t, root, zsh)
			tr := enginetest.Chroot(t, root)
			c := chob(chobolo.User{Name: "dan", Shell: "zsh"})
			e := &engine.Engine{Registry: engine.NewRegistry(New(), packages.New())}
			req := engine.Request{Chobolo: c, Tags: tags, Assume: true}
			hp, err := e.Plan(context.Background(), tr, req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Apply(context.Background(), tr, hp, req); err != nil {
				t.Fatalf("apply: %v\n%s", err, enginetest.Render(hp))
			}
			plan := enginetest.Render(hp)
			t.Logf("first plan:\n%s", plan)
			if !strings.Contains(plan, "+ package zsh: ") || !strings.Contains(plan, "login shell of user dan") {
				t.Errorf("the plan does not install zsh for dan:\n%s", plan)
			}
			if f := passwdEntry(t, root, "dan"); f == nil || f[6] != "/usr/bin/zsh" {
				t.Errorf("dan = %v", f)
			}
			if second, err := e.Plan(context.Background(), tr, req); err != nil || !second.Empty() {
				t.Fatalf("second run: %v\n%s", err, enginetest.Render(second))
			}
		})
	}
}
