package packages

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/repos"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestIntegrationUnavailable: on a real root, a declared package that no configured repository has
// is a plan error at its declaration, every such package at once, with a did-you-mean when a name
// is close; the same package is only a "cannot verify" warning when the repos role of the same plan
// adds the repository that may have it, or when apt has no package lists yet.
func TestIntegrationUnavailable(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, testenv.DebPkg{Name: "chaos-hello", Version: "1.0"}, testenv.DebPkg{Name: "chaos-a", Version: "1.0"})
	tr := enginetest.Chroot(t, root)
	e := &engine.Engine{Registry: engine.NewRegistry(New(), repos.New())}
	plan := func(src string) (*engine.HostPlan, error) { return enginetest.PlanYAML(t, e, tr, src) }

	_, err := plan("packages:\n  - chaos-a\n  - chaos-helo\n  - chaos-zzz-nothing\n")
	if err == nil {
		t.Fatal("plan accepted packages no repository has")
	}
	enginetest.WantAll(t, err.Error(),
		"m.yml:3:5: error: packages[1]: no package chaos-helo in the configured repositories; did you mean chaos-hello?",
		"m.yml:4:5: error: packages[2]: no package chaos-zzz-nothing in the configured repositories; check the spelling, or add the repository that has it under repos.apt",
	)
	if strings.Contains(err.Error(), "chaos-a ") {
		t.Errorf("chaos-a is available:\n%v", err)
	}

	// A repository this plan adds may have it: a warning, not an error, and not silence.
	hp, err := plan("repos:\n  apt:\n    - {name: extra, uris: [\"file:///srv/extra\"], suites: [./]}\n" +
		"packages:\n  - chaos-a\n  - chaos-zzz-nothing\n")
	if err != nil {
		t.Fatal(err)
	}
	if out := enginetest.Render(hp); !strings.Contains(out, "warning: m.yml:6:5: cannot verify package chaos-zzz-nothing: this plan adds or changes repositories (extra) first") {
		t.Errorf("no cannot-verify warning:\n%s", out)
	}

	// Without package lists (apt-get update comes first in the plan) apt cannot tell either.
	testenv.Chroot(t, root, "sh", "-c", "rm -f /var/lib/apt/lists/*_Packages*")
	hp, err = plan("packages:\n  - chaos-zzz-nothing\n")
	if err != nil {
		t.Fatal(err)
	}
	if out := enginetest.Render(hp); !strings.Contains(out, "warning: m.yml:2:5: cannot verify package chaos-zzz-nothing: apt has no package lists yet") {
		t.Errorf("no cannot-verify warning:\n%s", out)
	}
}
