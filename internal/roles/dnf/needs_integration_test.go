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
	testenv.RpmRepo(t, root, nil, testenv.RpmPkg{Name: "sudo"}, testenv.RpmPkg{Name: "chaos-a"})
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
