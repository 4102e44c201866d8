package hostfacts_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/dnf"
	"github.com/ch-aos-ch/chaos/internal/roles/hostfacts"
	"github.com/ch-aos-ch/chaos/internal/roles/packages"
	"github.com/ch-aos-ch/chaos/internal/roles/pacman"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// capture is a role that keeps the host section its probe printed.
type capture struct {
	engine.Role
	host string
}

func (c *capture) Plan(env *engine.Env, ch *chobolo.Chobolo, f engine.Facts) (*engine.RolePlan, error) {
	c.host = f["host"].Stdout
	return c.Role.Plan(env, ch, f)
}

const shellPath = "/usr/bin/chaos-sh"

// TestIntegrationProtected runs each core's packages role on its cached real root where a user's login
// shell comes from a manually installed package no Ch-obolo declares, the user is in the core's admin
// group and sshd is enabled through a socket link: the shared fragment reads all three with the
// core's package database, and the plan keeps the shell's package with the reason its unit tests
// expect.
func TestIntegrationProtected(t *testing.T) {
	testenv.RequireRoot(t)
	sh := map[string]string{shellPath: "#!/bin/sh\nexec /bin/sh \"$@\"\n"}
	for _, tc := range []struct {
		core    string
		root    func(testing.TB) string
		install func(t *testing.T, root string)
		role    engine.Role
		admin   string
	}{
		{"debian", testenv.DebianRoot, func(t *testing.T, root string) {
			testenv.AptRepo(t, root, testenv.DebPkg{Name: "chaos-sh", Version: "1.0", Files: sh})
			testenv.Chroot(t, root, "apt-get", "-q", "-y", "install", "chaos-sh")
		}, packages.New(), "sudo"},
		{"arch", testenv.ArchRoot, func(t *testing.T, root string) {
			testenv.PacmanRepo(t, root, testenv.PacPkg{Name: "chaos-sh", Files: sh}, testenv.PacPkg{Name: "tinybase"})
			testenv.Chroot(t, root, "pacman", "--noconfirm", "-S", "chaos-sh", "tinybase")
		}, pacman.New(), "wheel"},
		{"fedora", testenv.FedoraRoot, func(t *testing.T, root string) {
			testenv.RpmRepo(t, root, nil, testenv.RpmPkg{Name: "chaos-sh", Files: sh})
			testenv.Chroot(t, root, "dnf", "-y", "-q", "install", "chaos-sh")
		}, dnf.New(), "wheel"},
	} {
		t.Run(tc.core, func(t *testing.T) {
			root := tc.root(t)
			tc.install(t, root)
			testenv.Chroot(t, root, "sh", "-c", "groupadd -f "+tc.admin+" && useradd -m -s "+shellPath+" -G "+tc.admin+" eve"+
				" && mkdir -p /etc/systemd/system/sockets.target.wants && touch /etc/systemd/system/sockets.target.wants/ssh.socket")

			// No package declared: chaos-sh is a prune candidate. The Arch root's repository has
			// none of Arch's base set, so the Arch core gets a base set it has.
			c := &chobolo.Chobolo{File: "m.yml"}
			c.SetKey("packages", chobolo.Pos{File: "m.yml", Line: 1, Col: 1})
			if tc.core == "arch" {
				c.BaseOverride = []chobolo.Package{{Name: "tinybase"}}
				c.SetKey("baseOverride", chobolo.Pos{File: "m.yml", Line: 2, Col: 1})
			}
			role := &capture{Role: tc.role}
			hp := enginetest.Plan(t, enginetest.Chroot(t, root), c, role)
			plan := enginetest.Render(hp)

			f := hostfacts.Parse(role.host)
			if !slices.Equal(f.ShellPkgs["chaos-sh"], []string{shellPath}) || !f.SSHDEnabled || !slices.Contains(f.SudoMembers, "eve") || f.Kernel == "" {
				t.Errorf("facts %+v from\n%s", f, role.host)
			}
			if f.SSHDRunning {
				t.Errorf("sshd running in a chroot that runs no sshd: %+v", f)
			}
			want := "package chaos-sh is kept: it provides the login shell " + shellPath + " of a user on this host"
			if !strings.Contains(plan, want) || strings.Contains(plan, "- package chaos-sh") {
				t.Errorf("the plan does not keep chaos-sh (%q):\n%s", want, plan)
			}
		})
	}
}
