package dnf

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/users"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestIntegrationSudoNeeded: on the Fedora core, `sudo: true` makes the dnf role install sudo in its
// transaction (needed by users) and keep it; the second run changes nothing. (Before, only the Arch
// role added sudo; dnf never installed it.)
func TestIntegrationSudoNeeded(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.FedoraRoot(t)
	// The Fedora-flavoured root's userland is Debian's: its visudo is no rpm's. Moved off the PATH
	// and wrapped by the sudo rpm (a noarch rpm cannot carry the binary), the root is a Fedora
	// without sudo whose repository has it; a visudo that is there meets the need
	// (TestIntegrationSudoPresent).
	testenv.Chroot(t, root, "mv", "/usr/sbin/visudo", "/usr/libexec/debian-visudo")
	wrapper := "#!/bin/sh\nexec /usr/libexec/debian-visudo \"$@\"\n"
	testenv.RpmRepo(t, root, nil, testenv.RpmPkg{Name: "sudo", Files: map[string]string{"/usr/sbin/visudo": wrapper}}, testenv.RpmPkg{Name: "chaos-a"})
	c := &chobolo.Chobolo{File: "m.yml", Users: []chobolo.User{{Name: "alice", Sudo: true}}, Packages: []chobolo.Package{{Name: "chaos-a"}}}
	c.SetKey("users", chobolo.Pos{File: "m.yml", Line: 1, Col: 1})
	c.SetKey("packages", chobolo.Pos{File: "m.yml", Line: 5, Col: 1})
	c.SetPos("users[0].sudo", chobolo.Pos{File: "m.yml", Line: 3, Col: 5})
	tr := enginetest.Chroot(t, root)
	hp := enginetest.ApplyTwice(t, tr, c, New(), users.New())
	plan := enginetest.Render(hp)
	t.Logf("first plan:\n%s", plan)
	if !strings.Contains(plan, "+ package sudo: needed by users: visudo for sudo: true of user alice") {
		t.Errorf("the plan does not install sudo for users:\n%s", plan)
	}
	_, user := rpmState(t, root)
	if strings.Join(user, " ") != "chaos-a sudo" {
		t.Errorf("user-installed = %v, want chaos-a sudo", user)
	}
}

// TestIntegrationSudoPresent: `sudo: true` where visudo is on the target but no rpm provides it
// (installed another way): the need is met, no sudo package is installed for it, and the run
// converges. (Before, the dnf transaction asked for a sudo package the repositories may not have.)
func TestIntegrationSudoPresent(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.FedoraRoot(t)
	if _, _, code := testenv.ChrootResult(t, root, "sh", "-c", "command -v visudo && ! rpm -q sudo"); code != 0 {
		t.Fatal("the test root must have a visudo that no rpm owns")
	}
	testenv.RpmRepo(t, root, nil, testenv.RpmPkg{Name: "chaos-a"})
	c := &chobolo.Chobolo{File: "m.yml", Users: []chobolo.User{{Name: "alice", Sudo: true}}, Packages: []chobolo.Package{{Name: "chaos-a"}}}
	c.SetKey("users", chobolo.Pos{File: "m.yml", Line: 1, Col: 1})
	c.SetKey("packages", chobolo.Pos{File: "m.yml", Line: 5, Col: 1})
	tr := enginetest.Chroot(t, root)
	hp := enginetest.ApplyTwice(t, tr, c, New(), users.New())
	if plan := enginetest.Render(hp); strings.Contains(plan, "package sudo") {
		t.Errorf("the plan installs sudo although visudo is there:\n%s", plan)
	}
	if _, user := rpmState(t, root); strings.Join(user, " ") != "chaos-a" {
		t.Errorf("user-installed = %v, want chaos-a", user)
	}
}
