package dnf

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/yumrepos"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestIntegrationUnavailable: on a real dnf/rpm root, declared packages that the enabled
// repositories do not have are plan errors at their declarations, all of them, before any op; a
// virtual name a repository package provides is fine; a .repo file the repos role of the same plan
// adds turns the error into a "cannot verify" warning.
func TestIntegrationUnavailable(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.FedoraRoot(t)
	testenv.RpmRepo(t, root, nil, testenv.RpmPkg{Name: "chaos-a"}, testenv.RpmPkg{Name: "chaos-helper2", Provides: []string{"chaos-virt"}})
	tr := enginetest.Chroot(t, root)
	e := &engine.Engine{Registry: engine.NewRegistry(New(), yumrepos.New())}
	plan := func(src string) (*engine.HostPlan, error) { return enginetest.PlanYAML(t, e, tr, src) }
	_, err := plan("packages:\n  - chaos-a\n  - chaos-virt\n  - chaos-nope\n  - chaos-zzz\n")
	if err == nil {
		t.Fatal("plan accepted packages no repository has")
	}
	enginetest.WantAll(t, err.Error(),
		"m.yml:4:5: error: packages[2]: no package chaos-nope in the configured repositories",
		"m.yml:5:5: error: packages[3]: no package chaos-zzz in the configured repositories",
	)
	if strings.Contains(err.Error(), "chaos-a ") || strings.Contains(err.Error(), "chaos-virt") {
		t.Errorf("available packages reported:\n%v", err)
	}

	hp, err := plan("repos:\n  dnf:\n    - {name: extra, baseurl: \"file:///srv/extra\", gpgcheck: false}\npackages:\n  - chaos-nope\n")
	if err != nil {
		t.Fatal(err)
	}
	if out := enginetest.Render(hp); !strings.Contains(out, "warning: m.yml:5:5: cannot verify package chaos-nope: this plan adds or changes repositories (extra) first") {
		t.Errorf("no cannot-verify warning:\n%s", out)
	}
}
