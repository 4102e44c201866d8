package chaos_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// TestOneSoulProcessPerRun: a Soul providing a role, a boat, a connector and a logbook sink, loaded
// with one option (Options.Souls), serves a whole fleet run through the library in ONE process
// (it writes its pid at each start): the boat finds the host @here/NAME, the connector enters it
// (chroot into a throwaway Debian root), the role plans and applies there, the sink gets the
// events. A second run of the same Controller reuses the process; Close ends it.
func TestOneSoulProcessPerRun(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	path, dir := testenv.AllKindsSoul(t, filepath.Dir(root))
	souls := chaos.LoadSouls(path)
	if errs := souls.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	ctl, err := chaos.New(chaos.Options{Souls: souls, Limanis: []string{"tape"}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "machine.yml")
	os.WriteFile(file, []byte("stamp: {text: one process}\nfleet:\n  boats:\n    - soul: here\n      config: {names: ["+filepath.Base(root)+"]}\n"), 0o644)
	c, err := ctl.Load(file, chaos.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	run := func() *chaos.Run {
		t.Helper()
		inv, _, warnings, err := ctl.LoadInventory(context.Background(), c, chaos.InventoryOptions{Boats: true})
		if err != nil || len(warnings) > 0 || len(inv.Hosts) != 1 || inv.Hosts[0].Name != "@here/"+filepath.Base(root) {
			t.Fatalf("inventory: %v %v %+v", err, warnings, inv)
		}
		r, err := ctl.ApplyFleet(context.Background(), chaos.FleetRequest{ApplyRequest: chaos.ApplyRequest{Chobolo: c, Inventory: inv, Yes: true}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := run()
	if r.Failed() > 0 || r.Hosts[0].Status != chaos.StatusChanged || testenv.ReadFile(t, root, "/etc/stamp") != "one process\n" {
		t.Fatalf("first run: %+v", r.Hosts)
	}
	if n, pids := testenv.SoulStarts(t, dir); n != 1 {
		t.Fatalf("the Soul started %d times in one run (pids %s); want 1", n, pids)
	}
	if r := run(); r.Failed() > 0 || r.Hosts[0].Status != chaos.StatusUnchanged {
		t.Fatalf("rerun: %+v", r.Hosts)
	}
	if n, _ := testenv.SoulStarts(t, dir); n != 1 {
		t.Fatalf("the second run of the Controller started the Soul again (%d starts)", n)
	}
	if err := souls.Close(); err != nil {
		t.Fatal(err)
	}
	tape := testenv.ReadFile(t, dir, "tape")
	if !strings.HasPrefix(tape, "run.start\n") || strings.Count(tape, "run.done\n") != 2 || !strings.Contains(tape, "op.end\n") {
		t.Errorf("the sink got:\n%s", tape)
	}
}
