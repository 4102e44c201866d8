package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/fleet"
	"github.com/ch-aos-ch/chaos/internal/printable"
	"github.com/ch-aos-ch/chaos/internal/transport"
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
	// per host (set on the copy of applyOpts for one host)
	open    func(ctx context.Context) (transport.Transport, error)
	skip    func(role string) string
	onPlan  func(*engine.HostPlan)
	observe func(engine.Event)
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
			return store, rf.file, nil
		}
		sf, rf, err := a.openSecrets(ctx, f, c)
		if err != nil {
			return nil, "", fmt.Errorf("secrets: %w", err)
		}
		defer sf.Close()
		return sf.Values(), rf.file, nil
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
func (a *app) prepareFleet(ctx context.Context, c *chobolo.Chobolo, o *applyOpts) (bool, error) {
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
	inv, _, err := a.loadInventory(ctx, c, o.fleet.active(), o.fleet.secrets)
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
func (a *app) loadInventory(ctx context.Context, c *chobolo.Chobolo, withBoats bool, sec *fleetSecrets) (*fleet.Fleet, []fleet.BoatResult, error) {
	inv, err := fleet.Decode(c, a.registry.Canonical)
	if err != nil {
		return nil, nil, err
	}
	var results []fleet.BoatResult
	if withBoats {
		env := fleet.BoatEnv{Secret: sec.get}
		if c.File != "" {
			env.Dir = filepath.Dir(c.File)
		}
		var warnings []string
		results, warnings, err = inv.LoadBoats(ctx, env)
		for _, w := range warnings {
			fmt.Fprintln(a.stderr, "chaos: warning: "+w)
		}
		if err != nil {
			return nil, nil, err
		}
		// @terraform hosts run terraform, as boats run their commands: only for runs over the fleet.
		if err := inv.ExpandTerraform(ctx); err != nil {
			return nil, nil, err
		}
	}
	if err := inv.Resolve(); err != nil {
		return nil, nil, err
	}
	return inv, results, nil
}

func (a *app) readBecomePass() ([]byte, error) {
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.stderr, "BECOME (sudo) password: ")
		p, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		return p, err
	}
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && line == "" {
		return nil, errors.New("--ask-become-pass: no password on stdin")
	}
	return []byte(strings.TrimRight(line, "\r\n")), nil
}

// openApplyTarget opens one --target: a connector, a fleet host by name, or [user@]host[:port] over SSH
// (containers, @vagrant and @terraform go through the fleet's Open, with fleet.ssh's settings).
func (a *app) openApplyTarget(ctx context.Context, spec string, o applyOpts) (transport.Transport, error) {
	if o.fleet.open != nil {
		return o.fleet.open(ctx)
	}
	s, err := transport.ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	if s.Kind == transport.KindLocal || s.Kind == transport.KindChroot || s.Kind == transport.KindPID {
		return s.Open()
	}
	inv := o.fleet.inv
	if inv == nil {
		inv = &fleet.Fleet{}
	}
	co := o.fleet.connectOptions()
	co.ReadOnly = o.dry
	for _, h := range inv.Hosts {
		if h.Name == spec {
			return inv.Open(ctx, h, co)
		}
	}
	h, err := fleet.ParseTarget(spec)
	if err != nil {
		return nil, err
	}
	return inv.Open(ctx, h, co)
}

// applyFleet applies to the selected fleet hosts in parallel and prints a summary table. Progress is
// live on a terminal (progress.go), plain lines otherwise, and JSON lines streamed as they happen
// with --json.
func (a *app) applyFleet(ctx context.Context, c *chobolo.Chobolo, tags []string, o applyOpts) error {
	inv := o.fleet.inv
	hosts := inv.Hosts
	if o.fleet.limit != "" {
		var err error
		if hosts, err = fleet.Limit(inv, o.fleet.limit, nil); err != nil {
			return err
		}
	}
	if len(hosts) == 0 {
		return errors.New("no hosts to apply to (fleet.hosts is empty or --limit selected none)")
	}
	ro := fleet.RunOptions{Parallelism: inv.Parallelism, Serial: inv.Serial, MaxFailPercentage: inv.MaxFailPercentage}
	if o.fleet.serial > 0 {
		ro.Serial = o.fleet.serial
	}
	co := o.fleet.connectOptions()
	co.ReadOnly = o.dry
	// Secrets named by become_password are resolved before any host is touched: a missing one stops
	// the run rather than failing hosts one by one.
	var secretErrs []string
	for _, h := range hosts {
		pass, err := inv.BecomePassword(h, co)
		clear(pass)
		if err != nil {
			secretErrs = append(secretErrs, err.Error())
		}
	}
	if len(secretErrs) > 0 {
		return errors.New(strings.Join(secretErrs, "\n"))
	}
	eng := &engine.Engine{Registry: a.registry}
	out := a.fleetOutput(o.json, len(hosts))
	defer out.close()
	if !o.json {
		head := fmt.Sprintf("fleet: %d hosts, %d at a time", len(hosts), effective(ro.Parallelism, len(hosts)))
		if ro.Serial > 0 {
			head += fmt.Sprintf(", batches of %d", ro.Serial)
		}
		out.block(head + "\n")
	} else {
		out.event(map[string]any{"type": "fleet.start", "hosts": len(hosts)})
	}
	out.start()
	start := time.Now()
	results := fleet.Run(ctx, hosts, ro, func(ctx context.Context, h *fleet.Host) fleet.Result {
		out.phase(h.Name, phaseConnecting)
		var buf bytes.Buffer
		ha := *a
		ha.stdin = strings.NewReader("")
		if o.json {
			ha.stdout = out.jsonLines()
			ha.stderr = out.stderrLines(h.Name)
		} else {
			ha.stdout, ha.stderr = &buf, &buf
		}
		ho := o
		var hp *engine.HostPlan
		ho.fleet.onPlan = func(p *engine.HostPlan) {
			hp = p
			if !o.dry {
				out.planned(h.Name, planOps(p))
			}
		}
		ho.fleet.observe = func(ev engine.Event) {
			switch ev.Type {
			case engine.EventProbed:
				out.phase(h.Name, phasePlanning)
			case engine.EventOpEnd:
				out.opDone(h.Name)
			}
		}
		skip, err := inv.Restrictions.For(h)
		if err != nil {
			return fleet.Result{Status: fleet.Failed, Error: err.Error()}
		}
		ho.fleet.skip = skip
		hc, err := fleet.ChoboloFor(c, inv, h)
		if err != nil {
			return fleet.Result{Status: fleet.Failed, Error: err.Error()}
		}
		var unreachable, opened bool
		ho.fleet.open = func(ctx context.Context) (transport.Transport, error) {
			if opened { // the fresh connection that confirms access after the apply
				out.phase(h.Name, phaseConfirming)
			}
			t, err := inv.Open(ctx, h, co)
			var ue *transport.UnreachableError
			unreachable = errors.As(err, &ue)
			if err == nil && !opened {
				out.phase(h.Name, phaseProbing)
			}
			opened = true
			return t, err
		}
		st := engine.Style{}
		changed, err := ha.applyTarget(ctx, eng, h.Name, hc, tags, ho, st)
		r := fleet.Result{Status: fleet.Unchanged}
		if hp != nil {
			r.Changes = hp.Changes()
		}
		switch {
		case err != nil && unreachable:
			r.Status, r.Error = fleet.Unreachable, err.Error()
		case err != nil:
			r.Status, r.Error = fleet.Failed, err.Error()
		case changed && o.dry:
			r.Status = fleet.Pending
		case changed:
			r.Status = fleet.Changed
		}
		if !o.json {
			var b strings.Builder
			for _, line := range strings.SplitAfter(buf.String(), "\n") {
				if line == "" {
					continue
				}
				if !strings.HasPrefix(line, h.Name+":") {
					line = h.Name + ": " + strings.TrimLeft(line, " ")
				}
				b.WriteString(line)
			}
			if r.Error != "" && !strings.Contains(buf.String(), r.Error) {
				fmt.Fprintf(&b, "%s: %s: %s\n", h.Name, r.Status, printable.Text(r.Error))
			}
			out.block(b.String())
		}
		return r
	}, out.finished)
	out.close()
	bad, pending := 0, false
	for _, r := range results {
		if r.Bad() || r.Status == fleet.Skipped {
			bad++
		}
		if r.Status == fleet.Pending {
			pending = true
		}
	}
	if o.json {
		a.jsonLine(map[string]any{"type": "fleet.summary", "hosts": results, "elapsed_ns": time.Since(start)})
	} else {
		fmt.Fprintln(a.stdout)
		fleet.Summary(a.stdout, results)
		fmt.Fprintf(a.stdout, "fleet: done in %s\n", time.Since(start).Round(time.Millisecond))
	}
	switch {
	case bad > 0:
		return ExitError{Code: 1}
	case o.dry && pending:
		return ExitError{Code: 2}
	}
	return nil
}

func effective(par, n int) int {
	if par <= 0 || par > n {
		return n
	}
	return par
}
