package cli

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/fleet"
	"github.com/ch-aos-ch/chaos/internal/transport"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// fleetFlags are apply's fleet and SSH options, plus per-host hooks the fleet run sets on its copy
// of applyOpts.
type fleetFlags struct {
	all           bool   // --fleet/-f
	limit         string // --limit
	serial        int    // --serial
	acceptNew     bool   // --accept-new-host-keys
	askBecomePass bool   // --ask-become-pass

	inv        *fleet.Fleet
	becomePass []byte
	secrets    *fleetSecrets
}

// connectOptions are the connection settings of every host of the run.
func (f *fleetFlags) connectOptions() fleet.ConnectOptions {
	co := fleet.ConnectOptions{AcceptNewHostKeys: f.acceptNew, BecomePassword: f.becomePass}
	if f.secrets != nil {
		co.Secret = f.secrets.get
	}
	return co
}

// fleetSecrets opens the secrets file the first time a fleet setting (become_password) or a boat
// names a secret, or uses the values `apply -s` already decrypted. Runs that name no secret never
// touch the file.
type fleetSecrets struct {
	once  sync.Once
	open  func() (engine.SecretStore, string, error)
	store engine.SecretStore
	file  string
	err   error
}

func (a *app) newFleetSecrets(ctx context.Context, f secretFlags, c *chobolo.Chobolo, store engine.SecretStore) *fleetSecrets {
	return &fleetSecrets{open: func() (engine.SecretStore, string, error) {
		rf, err := a.resolveSecrets(f, c)
		if err != nil {
			return nil, "", fmt.Errorf("secrets: %w", err)
		}
		if store != nil {
			return store, rf.File, nil
		}
		v, err := a.loadApplySecrets(ctx, f, c)
		if err != nil {
			return nil, "", fmt.Errorf("secrets: %w", err)
		}
		return v, rf.File, nil
	}}
}

// get returns the secret at a dotted path; errors name the path, never a value.
func (s *fleetSecrets) get(path string) (string, error) {
	s.once.Do(func() { s.store, s.file, s.err = s.open() })
	if s.err != nil {
		return "", s.err
	}
	v, ok := s.store.Get(path)
	if !ok {
		return "", fmt.Errorf("secret %s is not in %s", path, s.file)
	}
	return v, nil
}

func (f *fleetFlags) register(fs *pflag.FlagSet) {
	fs.BoolVarP(&f.all, "fleet", "f", false, "apply to the hosts of the Ch-obolo's fleet (in parallel)")
	fs.StringVar(&f.limit, "limit", "", "select fleet hosts: names, globs, groups, !exclude, &intersect, comma lists, @file (implies --fleet)")
	fs.IntVar(&f.serial, "serial", 0, "rolling batches of N hosts (fleet.max_fail_percentage stops later batches)")
	fs.BoolVar(&f.acceptNew, "accept-new-host-keys", false, "record the SSH host key of hosts seen for the first time (a changed key is always refused)")
	fs.BoolVar(&f.askBecomePass, "ask-become-pass", false, "read the sudo password for hosts with become (once, from the terminal or stdin)")
}

func (f *fleetFlags) active() bool { return f.all || f.limit != "" }

// prepareFleet decodes the fleet when the run needs it (--fleet, --limit, or an SSH --target) and
// reads the become password. It reports whether the run is a fleet run.
func (a *app) prepareFleet(ctx context.Context, ctl *chaos.Controller, c *chobolo.Chobolo, o *applyOpts) (bool, error) {
	needInv := o.fleet.active()
	for _, t := range o.targets {
		if s, err := transport.ParseSpec(t); err == nil && s.Kind != transport.KindLocal && s.Kind != transport.KindChroot && s.Kind != transport.KindPID {
			needInv = true // a fleet host's name, or a connector reached with fleet.ssh's settings
		}
	}
	if o.fleet.active() && len(o.targets) > 0 {
		return false, errors.New("--target and --fleet/--limit are exclusive (use --limit to pick fleet hosts)")
	}
	if !needInv {
		return false, nil
	}
	o.fleet.secrets = a.newFleetSecrets(ctx, o.secrets, c, o.store)
	inv, _, err := a.loadInventory(ctx, ctl, c, o.fleet.active(), o.fleet.secrets)
	if err != nil {
		return false, err
	}
	o.fleet.inv = inv
	if o.fleet.askBecomePass {
		pass, err := a.readBecomePass()
		if err != nil {
			return false, err
		}
		o.fleet.becomePass = pass
	}
	return o.fleet.active(), nil
}

// loadInventory decodes the fleet, runs the boats (when withBoats) and resolves groups. Boat
// warnings go to stderr.
func (a *app) loadInventory(ctx context.Context, ctl *chaos.Controller, c *chobolo.Chobolo, withBoats bool, sec *fleetSecrets) (*fleet.Fleet, []fleet.BoatResult, error) {
	inv, results, warnings, err := ctl.LoadInventory(ctx, c, chaos.InventoryOptions{Boats: withBoats, Secret: sec.get})
	for _, w := range warnings {
		fmt.Fprintln(a.stderr, "chaos: warning: "+w)
	}
	return inv, results, err
}

func (a *app) readBecomePass() ([]byte, error) {
	p, err := a.readSecret("BECOME (sudo) password: ")
	if err != nil {
		return nil, fmt.Errorf("--ask-become-pass: %w", err)
	}
	return p, nil
}

// readSecret reads a password: without echo after prompt on a terminal, else a line of stdin.
func (a *app) readSecret(prompt string) ([]byte, error) {
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.stderr, prompt)
		p, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		return p, err
	}
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && line == "" {
		return nil, errors.New("no password on stdin")
	}
	return []byte(strings.TrimRight(line, "\r\n")), nil
}

// applyFleet applies to the selected fleet hosts in parallel and prints a summary table. Progress is
// live on a terminal (progress.go), plain lines otherwise, and JSON lines streamed as they happen
// with --json.
func (a *app) applyFleet(ctx context.Context, ctl *chaos.Controller, req chaos.ApplyRequest, o applyOpts) (*chaos.Run, error) {
	inv := o.fleet.inv
	// A host has no terminal: removals need -y, guarded prunes -y and --prune-all.
	req.Approve, req.AskFirst = nil, false
	out := a.fleetOutput(o.json, 0)
	out.head = func(n int) string {
		serial := cmp.Or(o.fleet.serial, inv.Serial)
		head := fmt.Sprintf("fleet: %d hosts, %d at a time", n, effective(inv.Parallelism, min(n, cmp.Or(serial, n))))
		if serial > 0 {
			head += fmt.Sprintf(", batches of %d", serial)
		}
		return head + "\n"
	}
	defer out.close()
	req.Events = out.Event
	start := time.Now()
	run, err := ctl.ApplyFleet(ctx, chaos.FleetRequest{ApplyRequest: req, Limit: o.fleet.limit, Serial: o.fleet.serial})
	out.close()
	if err != nil || o.json {
		return run, err
	}
	fmt.Fprintln(a.stdout)
	fleet.Summary(a.stdout, fleetResults(run.Hosts))
	fmt.Fprintf(a.stdout, "fleet: done in %s\n", time.Since(start).Round(time.Millisecond))
	return run, nil
}

// fleetResults are a run's outcomes as the fleet's summary table takes them.
func fleetResults(hosts []engine.HostOutcome) []fleet.Result {
	rs := make([]fleet.Result, len(hosts))
	for i, h := range hosts {
		rs[i] = fleet.Result{Name: h.Name, Status: fleet.Status(h.Status), Changes: h.Changes, Elapsed: h.Elapsed, Error: h.Error}
	}
	return rs
}

func effective(par, n int) int {
	if par <= 0 || par > n {
		return n
	}
	return par
}
