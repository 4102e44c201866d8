package files

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

// TestIntegrationUnknownOwner: on a real root, an owner or group that neither exists nor is
// declared under users is a plan error at its position, every one of them; a declared user (and
// its group, and the groups it is put in) is accepted; when the plan installs a package (it may
// create a daemon's account), the plan warns "cannot verify" instead.
func TestIntegrationUnknownOwner(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, testenv.DebPkg{Name: "chaos-daemon", Version: "1.0"})
	tr := enginetest.Chroot(t, root)
	e := &engine.Engine{Registry: engine.NewRegistry(New(), packages.New())}
	plan := func(src string) (*engine.HostPlan, error) {
		c, err := chobolo.LoadBytes("m.yml", []byte(src), chobolo.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return e.Plan(context.Background(), tr, engine.Request{Chobolo: c, ReadOnly: true, Core: "debian"})
	}
	files := "files:\n" +
		"  - {path: /etc/a, content: x, owner: root, group: daemon}\n" +
		"  - {path: /etc/b, content: x, owner: ghost}\n" +
		"  - {path: /etc/c, content: x, owner: bob, group: staff2}\n" +
		"  - {path: /etc/d, content: x, owner: \"1234\", group: ghosts}\n"
	_, err := plan("users:\n  - {name: bob, groups: [staff2]}\n" + files)
	if err == nil {
		t.Fatal("plan accepted an unknown owner")
	}
	want := []string{
		"m.yml:5:39: error: files[1].owner: user ghost does not exist on the target and is not declared under users",
		"m.yml:7:54: error: files[3].group: group ghosts does not exist on the target and is not declared under users",
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("plan error lacks %q:\n%v", w, err)
		}
	}
	if strings.Count(err.Error(), "error:") != len(want) {
		t.Errorf("want exactly %d errors:\n%v", len(want), err)
	}

	hp, err := plan("baseOverride: []\npackages: [chaos-daemon]\nusers:\n  - {name: bob, groups: [staff2]}\n" + files)
	if err != nil {
		t.Fatal(err)
	}
	if out := enginetest.Render(hp); !strings.Contains(out, "warning: m.yml:7:39: cannot verify owner ghost of /etc/b: the target has no such user yet, and a package this plan installs (chaos-daemon) may create it") {
		t.Errorf("no cannot-verify warning:\n%s", out)
	}
}
