package users

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
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
