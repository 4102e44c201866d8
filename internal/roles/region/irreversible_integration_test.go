package region_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/region"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// An apply that fails after locale-gen ran cannot take the generated locales back: the plan says so
// under the op, and the result is no rollback (RolledBack false) but names locale-gen as not undone,
// while the files it could restore (locale.gen) are restored.
func TestFailureAfterLocaleGenIsNoRollback(t *testing.T) {
	root := testenv.DebianRoot(t)
	tr := enginetest.Chroot(t, root)
	gen := testenv.ReadFile(t, root, "/etc/locale.gen")
	c := &chobolo.Chobolo{Region: chobolo.Region{Locales: []string{"pt_BR.UTF-8"}}}
	c.SetKey("region", chobolo.Pos{})
	hp := enginetest.Plan(t, tr, c, region.New())
	if plan := enginetest.Render(hp); !strings.Contains(plan, "$ locale-gen\n        cannot be undone: compiles the locales") {
		t.Fatalf("the plan does not mark locale-gen:\n%s", plan)
	}
	hp.Roles = append(hp.Roles, &engine.RolePlan{Role: "doomed", Steps: []engine.Step{{Ops: []engine.Op{engine.Exec("false")}}}})
	e := &engine.Engine{Registry: engine.NewRegistry(region.New())}
	res, err := e.Apply(context.Background(), tr, hp, engine.Request{Chobolo: c, Assume: true})
	if err == nil || res == nil {
		t.Fatalf("apply: %v %+v, want the failure of `false`", err, res)
	}
	if res.RolledBack || len(res.NotUndone) != 1 || !strings.Contains(res.NotUndone[0], "role region: locale-gen (cannot be undone: ") {
		t.Fatalf("RolledBack %v, NotUndone %q: want no rollback naming locale-gen", res.RolledBack, res.NotUndone)
	}
	if got := testenv.ReadFile(t, root, "/etc/locale.gen"); got != gen {
		t.Errorf("/etc/locale.gen was not restored:\n%s", got)
	}
	if locales := testenv.Chroot(t, root, "locale", "-a"); !strings.Contains(locales, "pt_BR.utf8") {
		t.Errorf("locale -a lacks pt_BR.utf8, which locale-gen generated and nothing undid:\n%s", locales)
	}
}
