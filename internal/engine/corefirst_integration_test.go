package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestProbeCarriesOnlyTheDetectedCore: a chroot target without `core:` is detected from its
// os-release before the probe (a file read, no round trip), so the one probe script carries only
// that core's sections: a Debian root is not sent pacman's, dnf's nor rpm's (it was sent all
// three cores' packages.host). The plan is the same as with `core:` given.
func TestProbeCarriesOnlyTheDetectedCore(t *testing.T) {
	testenv.RequireRoot(t)
	others := map[string][]string{
		"debian": {"packages.rpmdb", "packages.groups", "packages.local", "pacman", "dnf"},
		"arch":   {"packages.rpmdb", "packages.status", "dpkg-query", "dnf"},
		"fedora": {"packages.status", "packages.local", "dpkg-query", "pacman -Q"},
	}
	for core, root := range map[string]func(testing.TB) string{
		"debian": testenv.DebianRoot, "arch": testenv.ArchRoot, "fedora": testenv.FedoraRoot} {
		t.Run(core, func(t *testing.T) {
			tr := enginetest.Chroot(t, root(t))
			e := &engine.Engine{Registry: builtin.Registry()}
			plan := func(yml string) (string, string) {
				t.Helper()
				dump := filepath.Join(t.TempDir(), "probe.sh")
				t.Setenv(engine.DebugProbeEnv, dump)
				hp, err := e.Plan(context.Background(), tr, engine.Request{Chobolo: load(t, yml)})
				if err != nil {
					t.Fatal(err)
				}
				script, err := os.ReadFile(dump)
				if err != nil {
					t.Fatal(err)
				}
				if hp.Core != core {
					t.Fatalf("core %s, want %s", hp.Core, core)
				}
				return string(script), enginetest.Render(hp)
			}
			const yml = "packages: [nano]\nusers:\n  - name: alice\n"
			script, detected := plan(yml)
			if strings.Contains(script, "__chaos_core") {
				t.Error("the probe still picks the core on the host")
			}
			for _, s := range others[core] {
				if strings.Contains(script, s) {
					t.Errorf("a %s target is sent %q", core, s)
				}
			}
			if !strings.Contains(script, "packages.host") {
				t.Errorf("the %s sections are missing:\n%s", core, script)
			}
			// core: last, so the positions in the plan's warnings are the same
			if _, given := plan(yml + "core: " + core + "\n"); given != detected {
				t.Errorf("plan with the detected core:\n%s\nwith core: given:\n%s", detected, given)
			}
		})
	}
}
