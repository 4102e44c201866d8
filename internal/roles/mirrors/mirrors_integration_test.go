package mirrors

import (
	"context"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/pacman"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// fakeReflector is a STAND-IN for reflector, which cannot run here: it is an Arch-only Python tool
// (not packaged for Debian 12, and PyPI is unreachable from this machine), and it ranks mirrors by
// downloading from them. It writes its arguments into the --save file under a reflector-like
// header, so this test proves what the role does around it (reflector.conf, running it only when
// the configuration changed or the list is not reflector's, idempotence); the exact argv and the
// real header are pinned by the unit tests TestArgv and TestProbeHeader.
const fakeReflector = `#!/bin/sh
save=""
args="$*"
while [ $# -gt 0 ]; do [ "$1" = --save ] && save=$2; shift; done
printf '%s\n%s\n' '# With:       reflector (fake)' "# args: $args" > "$save"
echo 'Server = https://mirror.example/$repo/os/$arch' >> "$save"
`

func TestIntegration(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.ArchRoot(t)
	testenv.WriteFile(t, root, "/usr/bin/reflector", fakeReflector)
	testenv.Chroot(t, root, "chmod", "755", "/usr/bin/reflector")
	c := chob(t, "{countries: [BR, United States], count: 5}")
	tr := enginetest.Chroot(t, root)
	hp := enginetest.ApplyTwice(t, tr, c, New())
	t.Logf("first plan:\n%s", enginetest.Render(hp))
	list := testenv.ReadFile(t, root, Mirrorlist)
	if !strings.Contains(list, "# args: --save /etc/pacman.d/mirrorlist --protocol https --latest 5 --sort rate --country BR,United States") {
		t.Errorf("mirrorlist:\n%s", list)
	}
	if got := testenv.ReadFile(t, root, ConfPath); got != Conf(&Spec{Countries: []string{"BR", "United States"}, Count: 5}) {
		t.Errorf("reflector.conf:\n%s", got)
	}
}

// TestIntegrationReflectorNeeded: `mirrors` on a root without reflector, and no `packages`: the
// packages role installs reflector (needed by mirrors) from the repository, then mirrors ranks the
// list, in one run; the second run changes nothing. (Before, the role only noted that reflector was
// missing and left the mirror list alone.) The package carries the same stand-in as TestIntegration.
func TestIntegrationReflectorNeeded(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.ArchRoot(t)
	testenv.PacmanRepo(t, root, testenv.PacPkg{Name: "reflector", Files: map[string]string{"/usr/bin/reflector": fakeReflector}})
	c := chob(t, "{countries: [BR], count: 3}")
	tr := enginetest.Chroot(t, root)
	hp := enginetest.ApplyTwice(t, tr, c, New(), pacman.New())
	plan := enginetest.Render(hp)
	t.Logf("first plan:\n%s", plan)
	if !strings.Contains(plan, "+ package reflector: needed by mirrors: ranks the mirrors") {
		t.Errorf("the plan does not install reflector for mirrors:\n%s", plan)
	}
	if list := testenv.ReadFile(t, root, Mirrorlist); !strings.Contains(list, "--latest 3 --sort rate --country BR") {
		t.Errorf("mirrorlist:\n%s", list)
	}
	if got := strings.TrimSpace(testenv.Chroot(t, root, "pacman", "-Qqe")); got != "reflector" {
		t.Errorf("explicit packages = %q, want reflector", got)
	}
}

// TestIntegrationReflectorKeptByTag: `chaos apply packages` (a tag) with `mirrors` declared: the need
// stands while `mirrors` is declared, so the prune keeps reflector although `packages` does not
// declare it; dropping `mirrors` lets the next prune remove it like any undeclared package.
func TestIntegrationReflectorKeptByTag(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.ArchRoot(t)
	testenv.PacmanRepo(t, root, testenv.PacPkg{Name: "reflector", Files: map[string]string{"/usr/bin/reflector": fakeReflector}},
		testenv.PacPkg{Name: "tinybase"})
	testenv.Chroot(t, root, "pacman", "--noconfirm", "-S", "reflector", "tinybase")
	c := chob(t, "{countries: [BR], count: 3}")
	c.BaseOverride = []chobolo.Package{{Name: "tinybase"}}
	c.SetKey("packages", chobolo.Pos{})
	c.SetKey("baseOverride", chobolo.Pos{})
	tr := enginetest.Chroot(t, root)
	e := &engine.Engine{Registry: engine.NewRegistry(New(), pacman.New())}
	req := engine.Request{Chobolo: c, Tags: []string{"packages"}, Assume: true}
	hp, err := e.Plan(context.Background(), tr, req)
	if err != nil {
		t.Fatal(err)
	}
	if !hp.Empty() {
		t.Fatalf("the plan changes something (reflector is needed by mirrors):\n%s", enginetest.Render(hp))
	}
	delete(c.Extra, "mirrors")
	hp, err = e.Plan(context.Background(), tr, req)
	if err != nil {
		t.Fatal(err)
	}
	if plan := enginetest.Render(hp); !strings.Contains(plan, "- package reflector: explicitly installed, not declared") {
		t.Errorf("without mirrors, reflector should be pruned:\n%s", plan)
	}
}
