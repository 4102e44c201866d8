package chaos_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// Load a Ch-obolo: the old Ch-aOS spellings load too, with a warning naming FILE:LINE:COL.
func ExampleLoad() {
	c, err := chaos.Load("testdata/machine.yml", chaos.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Hostname, len(c.Users), len(c.Files))
	// Output: forge 1 1
}

// Load the Souls installed in a directory (LoadSouls() reads the standard ones): their roles and
// aliases join the controller's, and their boats, connectors, sinks and back ends are found there.
// Nothing starts until a run uses a Soul; then each is one process for all it provides.
func ExampleLoadSouls() {
	souls := chaos.LoadSouls("../../examples/souls")
	defer souls.Close()
	ctl, err := chaos.New(chaos.Options{Souls: souls})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range souls.List() {
		fmt.Println(s.Manifest.Name)
	}
	tags, err := ctl.ResolveTags([]string{"home"}) // an alias in the dotfiles Soul's soul.yaml
	fmt.Println(tags, err, len(souls.Errors()), souls.Started())
	// Output:
	// cmdb
	// dotfiles
	// keyfile
	// machines
	// [dotfiles] <nil> 0 0
}

// Resolve role names and aliases before anything is contacted: a typo is refused with a
// suggestion.
func ExampleController_ResolveTags() {
	ctl, err := chaos.New(chaos.Options{Aliases: map[string]string{"base": "users pkgs"}})
	if err != nil {
		log.Fatal(err)
	}
	tags, err := ctl.ResolveTags([]string{"base", "files"})
	fmt.Println(tags, err)
	_, err = ctl.ResolveTags([]string{"usres"})
	fmt.Println(err)
	// Output:
	// [users pkgs files] <nil>
	// unknown role or alias "usres"; did you mean users? (see `chaos check roles` and `chaos check aliases`)
}

// Plan a Ch-obolo against a chroot and print what would change, from the events.
func ExampleController_Plan() {
	c, err := chaos.Load("testdata/machine.yml", chaos.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	ctl, err := chaos.New(chaos.Options{})
	if err != nil {
		log.Fatal(err)
	}
	run, err := ctl.Plan(context.Background(), chaos.ApplyRequest{
		Chobolo: c,
		Targets: []string{"@chroot/mnt"},
		Events: func(ev chaos.Event) {
			if ev.Type == chaos.EventPlan {
				chaos.RenderPlan(os.Stdout, ev.Plan, false)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pending:", run.Pending())
}

// Apply with an approval policy of your own: here, anything but removals.
func ExampleController_Apply() {
	c, err := chaos.Load("testdata/machine.yml", chaos.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	ctl, err := chaos.New(chaos.Options{})
	if err != nil {
		log.Fatal(err)
	}
	run, err := ctl.Apply(context.Background(), chaos.ApplyRequest{
		Chobolo: c,
		Targets: []string{"@chroot/mnt"},
		Approve: func(_ context.Context, p *chaos.Plan) (chaos.Approval, error) {
			if p.Removes() {
				return chaos.Refuse, nil
			}
			return chaos.Approve, nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range run.Hosts {
		fmt.Println(h.Name, h.Status, h.Changes, h.Error)
	}
}

// Apply to the hosts of the Ch-obolo's fleet, ten at a time, limited to one group.
func ExampleController_ApplyFleet() {
	c, err := chaos.Load("fleet.yml", chaos.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	ctl, err := chaos.New(chaos.Options{})
	if err != nil {
		log.Fatal(err)
	}
	inv, _, warnings, err := ctl.LoadInventory(context.Background(), c, chaos.InventoryOptions{Boats: true})
	if err != nil {
		log.Fatal(err)
	}
	for _, w := range warnings {
		log.Print(w)
	}
	run, err := ctl.ApplyFleet(context.Background(), chaos.FleetRequest{
		ApplyRequest: chaos.ApplyRequest{Chobolo: c, Inventory: inv, Yes: true},
		Limit:        "web",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d hosts, %d failed\n", len(run.Hosts), run.Failed())
}
