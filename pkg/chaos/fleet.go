package chaos

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/fleet"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// Fleet is a Ch-obolo's inventory: its hosts, groups, SSH settings, restrictions and run options.
type Fleet = fleet.Fleet

// BoatResult is what one boat (dynamic inventory) added.
type BoatResult = fleet.BoatResult

// InventoryOptions shape LoadInventory.
type InventoryOptions struct {
	// Boats runs the fleet's boats (dynamic inventories) and adds their hosts.
	Boats bool
	// Secret resolves `{secret: PATH}` values boats need (nil: none available).
	Secret func(path string) (string, error)
}

// LoadInventory decodes the fleet of c, runs its boats (when asked) and resolves its groups.
// Boat warnings (a boat that failed without `required: true`) come back as warnings.
func (c *Controller) LoadInventory(ctx context.Context, ch *Chobolo, o InventoryOptions) (*Fleet, []BoatResult, []string, error) {
	inv, err := fleet.Decode(ch, c.registry.Canonical, c.kinds())
	if err != nil {
		return nil, nil, nil, err
	}
	var results []BoatResult
	var warnings []string
	if o.Boats {
		env := fleet.BoatEnv{Secret: o.Secret}
		if env.Secret == nil {
			env.Secret = func(path string) (string, error) {
				return "", errors.New("secret " + path + ": no secrets file was opened for this run (use -s)")
			}
		}
		if ch.File != "" {
			env.Dir = filepath.Dir(ch.File)
		}
		results, warnings, err = inv.LoadBoats(ctx, env)
		if err != nil {
			return nil, nil, warnings, err
		}
		// @terraform hosts run terraform, as boats run their commands: only for runs over the fleet.
		if err := inv.ExpandTerraform(ctx); err != nil {
			return nil, nil, warnings, err
		}
	}
	if err := inv.Resolve(); err != nil {
		return nil, nil, warnings, err
	}
	return inv, results, warnings, nil
}

// FleetRequest is a fleet run: an ApplyRequest (its Targets ignored) on the inventory's hosts.
type FleetRequest struct {
	ApplyRequest
	// Limit picks hosts, groups and patterns (--limit); "" is every host.
	Limit string
	// Serial overrides the fleet's rolling batch size when > 0.
	Serial int
}

// ApplyFleet plans and applies req on the selected hosts of req.Inventory in parallel (the fleet's
// parallelism, serial batches and max_fail_percentage), each host with its own variables and
// restrictions. A host's failure never stops the others of its batch.
func (c *Controller) ApplyFleet(ctx context.Context, req FleetRequest) (*Run, error) {
	inv := req.Inventory
	if inv == nil {
		return nil, errors.New("fleet: no inventory (LoadInventory)")
	}
	if req.Access.Timeout < 0 {
		return nil, errors.New("--confirm-timeout must be positive")
	}
	hosts := inv.Hosts
	if req.Limit != "" {
		var err error
		if hosts, err = fleet.Limit(inv, req.Limit, nil); err != nil {
			return nil, err
		}
	}
	if len(hosts) == 0 {
		return nil, errors.New("no hosts to apply to (fleet.hosts is empty or --limit selected none)")
	}
	ro := fleet.RunOptions{Parallelism: inv.Parallelism, Serial: inv.Serial, MaxFailPercentage: inv.MaxFailPercentage}
	if req.Serial > 0 {
		ro.Serial = req.Serial
	}
	co := req.Connect
	co.ReadOnly = req.Dry
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
		return nil, errors.New(strings.Join(secretErrs, "\n"))
	}
	r := c.startRun(ctx, &req.ApplyRequest, len(hosts))
	results := fleet.Run(ctx, hosts, ro, func(ctx context.Context, h *fleet.Host) fleet.Result {
		hreq := req.ApplyRequest
		hc, err := fleet.ChoboloFor(req.Chobolo, inv, h, c.roleKeys()...)
		if err != nil {
			return fleet.Result{Status: fleet.Failed, Error: err.Error()}
		}
		hreq.Chobolo = hc
		j := c.job(hreq, h.Name, func(ctx context.Context, readOnly bool) (transport.Transport, error) {
			o := co
			o.ReadOnly = readOnly
			return inv.Open(ctx, h, o)
		})
		if j.skip, err = inv.Restrictions.For(h); err != nil {
			return fleet.Result{Status: fleet.Failed, Error: err.Error()}
		}
		j.emit = r.emit
		out, hp := j.run(ctx)
		if hp != nil {
			r.mu.Lock()
			r.result.Plans[h.Name] = hp
			r.mu.Unlock()
		}
		return fleet.Result{Status: fleet.Status(out.Status), Changes: out.Changes, Error: out.Error}
	}, func(res fleet.Result) {
		o := outcome(res)
		r.emit(Event{Type: engine.EventHostResult, Target: res.Name, Host: &o})
	})
	for _, res := range results {
		r.result.Hosts = append(r.result.Hosts, outcome(res))
	}
	return r.finish(), nil
}

func outcome(r fleet.Result) HostOutcome {
	return HostOutcome{Name: r.Name, Status: string(r.Status), Changes: r.Changes, Elapsed: r.Elapsed, Error: r.Error}
}

// Host is one host of a Fleet (its name, connection, groups and variables).
type Host = fleet.Host

// SelectHosts picks the hosts of f that a --limit pattern selects (names, groups, globs,
// ~regular expressions, !exclusions, &intersections), in inventory order, as ApplyFleet's Limit
// does. The @FILE form is refused: a server must not read its own files for a client's pattern.
func SelectHosts(f *Fleet, limit string) ([]*Host, error) {
	return fleet.Limit(f, limit, func(name string) ([]byte, error) {
		return nil, fmt.Errorf("--limit @%s: patterns from files are not accepted here", name)
	})
}
