// Command library shows chaos used as a Go library (pkg/chaos): it plans a Ch-obolo against a
// target, prints each event as it happens and, with -apply, applies the plan when it removes
// nothing. The installed Souls (chaos soul list) take part as in the CLI: their roles and keys,
// and their connectors as targets (-target @machines/web1).
//
//	go run ./examples/library -c examples/workstation.yml -target @chroot/mnt
//	go run ./examples/library -c examples/workstation.yml -target @chroot/mnt -apply
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"

	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

func main() {
	file := flag.String("c", "chobolo.yml", "the Ch-obolo")
	target := flag.String("target", "@local", "where to apply it")
	apply := flag.Bool("apply", false, "apply (plans that remove something are refused)")
	flag.Parse()
	if err := run(*file, *target, *apply); err != nil {
		log.Fatal(err)
	}
}

func run(file, target string, apply bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// One option loads the Souls; each runs as one process for everything it provides, ended by
	// Close.
	souls := chaos.LoadSouls()
	defer souls.Close()
	for _, err := range souls.Errors() {
		log.Printf("warning: %v", err)
	}
	ctl, err := chaos.New(chaos.Options{Souls: souls})
	if err != nil {
		return err
	}
	c, err := ctl.Load(file, chaos.LoadOptions{}) // the Souls' keys are Ch-obolo keys
	if err != nil {
		return err
	}
	run, err := ctl.Apply(ctx, chaos.ApplyRequest{
		Chobolo: c,
		Targets: []string{target},
		Dry:     !apply,
		Approve: func(_ context.Context, p *chaos.Plan) (chaos.Approval, error) {
			if p.Removes() {
				return chaos.Refuse, fmt.Errorf("%s: the plan removes things; use the chaos CLI to review it", p.Target)
			}
			return chaos.Approve, nil
		},
		Events: printEvent,
	})
	if err != nil {
		return err
	}
	for _, h := range run.Hosts {
		fmt.Printf("%s: %s (%d changes) %s\n", h.Name, h.Status, h.Changes, h.Error)
	}
	if n := run.Failed(); n > 0 {
		return fmt.Errorf("%d of %d targets failed", n, len(run.Hosts))
	}
	return nil
}

func printEvent(ev chaos.Event) {
	switch ev.Type {
	case chaos.EventPlan:
		chaos.RenderPlan(os.Stdout, ev.Plan, false)
	case chaos.EventOpEnd:
		status := "ok"
		if ev.Error != "" {
			status = "FAILED: " + ev.Error
		}
		fmt.Printf("  %s %s: %s\n", status, ev.Role, ev.Op)
	case chaos.EventMessage:
		fmt.Printf("%s: %s\n", ev.Target, ev.Message)
	}
}
