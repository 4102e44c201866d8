package pacman

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"go.yaml.in/yaml/v3"
)

// TestNoChangeBenchmark measures, on the same root and in the same run, a no-change plan of a
// 250-package Ch-obolo (the whole engine: one probe script through the chroot transport, parse, delta,
// plan) against the raw pacman queries a shell script would run (`pacman -Qq`, `-Qqe`, `-Qqm`,
// `-Qqdt`), and logs the ratio. 250 explicit packages with 100 shared dependencies.
func TestNoChangeBenchmark(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.ArchRoot(t)
	var pkgs []testenv.PacPkg
	var names []string
	for i := range 100 {
		pkgs = append(pkgs, testenv.PacPkg{Name: fmt.Sprintf("lib%03d", i), Provides: []string{fmt.Sprintf("libv%03d.so=1-64", i)}})
	}
	for i := range 250 {
		n := fmt.Sprintf("app%03d", i)
		names = append(names, n)
		pkgs = append(pkgs, testenv.PacPkg{Name: n, Depends: []string{fmt.Sprintf("lib%03d", i%100), fmt.Sprintf("libv%03d.so", (i*7)%100)}})
	}
	pkgs = append(pkgs, testenv.PacPkg{Name: "tinybase"})
	testenv.PacmanRepo(t, root, pkgs...)
	start := time.Now()
	testenv.Chroot(t, root, append([]string{"pacman", "--noconfirm", "-S", "tinybase"}, names...)...)
	t.Logf("installing 351 packages with pacman: %v", time.Since(start).Round(time.Millisecond))

	c := &chobolo.Chobolo{BaseOverride: []chobolo.Package{{Name: "tinybase"}}}
	for _, n := range names {
		c.Packages = append(c.Packages, chobolo.Package{Name: n})
	}
	c.SetKey("packages", chobolo.Pos{})
	c.SetKey("baseOverride", chobolo.Pos{})
	var on yaml.Node
	_ = yaml.Unmarshal([]byte("true"), &on)
	c.Extra = map[string]*yaml.Node{"prune_orphans": on.Content[0]}
	tr := enginetest.Chroot(t, root)
	role := &Role{} // names as-is: no package map lookups
	const runs = 5
	if hp := enginetest.Plan(t, tr, c, role); !hp.Empty() {
		t.Fatalf("not a no-change plan:\n%s", enginetest.Render(hp))
	}
	start = time.Now()
	for range runs {
		enginetest.Plan(t, tr, c, role)
	}
	chaos := time.Since(start) / runs

	start = time.Now()
	for range runs {
		for _, q := range []string{"-Qq", "-Qqe", "-Qqm", "-Qqdt"} {
			cmd := exec.Command("chroot", root, "pacman", q)
			_ = cmd.Run() // -Qqm and -Qqdt exit 1 when they list nothing
		}
	}
	raw := time.Since(start) / runs
	t.Logf("no-change plan of 250 packages (probe + plan, through the chroot transport): %v; raw pacman -Qq/-Qqe/-Qqm/-Qqdt: %v; ratio %.2f",
		chaos.Round(time.Microsecond), raw.Round(time.Microsecond), float64(chaos)/float64(raw))
}
