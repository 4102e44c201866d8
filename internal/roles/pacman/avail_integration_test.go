package pacman

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/pacmanconf"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestIntegrationUnavailable: on a real pacman root, declared packages that no sync database has are
// plan errors at their declarations, all of them, with a did-you-mean; a name a repository package
// provides is fine; a pacman.conf the repos role of the same plan rewrites turns the error into a
// "cannot verify" warning.
func TestIntegrationUnavailable(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.ArchRoot(t)
	testenv.PacmanRepo(t, root, testenv.PacPkg{Name: "chaos-hello"}, testenv.PacPkg{Name: "chaos-helper", Provides: []string{"chaos-helping"}})
	tr := enginetest.Chroot(t, root)
	e := &engine.Engine{Registry: engine.NewRegistry(New(), pacmanconf.New())}
	plan := func(src string) (*engine.HostPlan, error) { return enginetest.PlanYAML(t, e, tr, src) }
	_, err := plan("core: arch\nbaseOverride: [chaos-helper]\npackages:\n  - chaos-hello\n  - chaos-helping\n  - chaos-helo\n  - chaos-zzz-nothing\n")
	if err == nil {
		t.Fatal("plan accepted packages no repository has")
	}
	enginetest.WantAll(t, err.Error(),
		"m.yml:6:5: error: packages[2]: no package chaos-helo in the configured repositories; did you mean chaos-hello?",
		"m.yml:7:5: error: packages[3]: no package chaos-zzz-nothing in the configured repositories; check the spelling",
	)
	if strings.Count(err.Error(), "error:") != 2 {
		t.Errorf("want exactly two errors:\n%v", err)
	}

	hp, err := plan("core: arch\nbaseOverride: [chaos-helper]\nrepos:\n  third_party:\n    - {name: custom, url: \"file:///srv/extra\"}\npackages:\n  - chaos-zzz-nothing\n")
	if err != nil {
		t.Fatal(err)
	}
	if out := enginetest.Render(hp); !strings.Contains(out, "warning: m.yml:7:5: cannot verify package chaos-zzz-nothing: this plan adds or changes repositories (/etc/pacman.conf) first") {
		t.Errorf("no cannot-verify warning:\n%s", out)
	}
}
