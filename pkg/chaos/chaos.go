// Package chaos is Ch-aOS as a library: what the chaos command line does, for any Go program.
// The CLI, Capitain (the server and its agent), Souls and the installer all call this package,
// so they share every step and every safety rule.
//
// A [Controller] holds what a run needs besides its request: the roles, the user's aliases and
// retention settings, the logbook and the installed Souls ([LoadSouls], one process per Soul for
// everything it provides). Load a Ch-obolo with [Load] (or [Controller.Load], which knows the
// Souls' keys), then:
//
//   - [Controller.Apply] plans and applies it to targets (or, with Dry, plans only) and streams
//     typed [Event]s while it runs; [Controller.Plan] is the same without changes.
//   - [Controller.ApplyFleet] does the same for the hosts of the Ch-obolo's fleet (inventory,
//     boats, --limit, restrictions, parallelism, serial batches).
//   - [Controller.Rollback], [Controller.Recover], [Controller.Generations] and
//     [Controller.Capture] work on a target's history.
//
// Every apply follows one sequence: open the target, take the host lock, recover an interrupted
// apply, plan, ask the [Approver], apply with a journal (undone on failure or cancellation),
// record a generation, confirm access over a fresh connection when the plan touched it. The
// approval is the caller's (the CLI asks on the terminal, a server applies its policy); the
// large-prune guard and the engine's refusals hold whatever the approver says.
package chaos

import (
	"maps"
	"slices"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/logbook"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/souls"
	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// The types a caller names. They are aliases of the engine's own, so values flow through
// without copies.
type (
	// Chobolo is a loaded, validated Ch-obolo.
	Chobolo = chobolo.Chobolo
	// LoadOptions tune Load (e.g. where imports and templates are looked up).
	LoadOptions = chobolo.LoadOptions
	// Plan is the plan of one target: what --dry prints and what an apply executes.
	Plan = engine.HostPlan
	// Result is the outcome of an apply on one target.
	Result = engine.Result
	// Event is one step of a run (docs/events.md); EventType names it.
	Event     = engine.Event
	EventType = engine.EventType
	// HostOutcome is how one target of a run ended.
	HostOutcome = engine.HostOutcome
	// Role is a role: built in, or a Soul's.
	Role = engine.Role
	// SecretStore hands decrypted secrets to the roles.
	SecretStore = engine.SecretStore
	// Logbook is an open logbook (the Limani: SQLite or PostgreSQL).
	Logbook = logbook.Store
)

// EventVersion is the version of the event schema every Event carries as "v".
const EventVersion = engine.EventVersion

// Load reads and validates the Ch-obolo at path. Warnings (deprecated spellings, ...) are in the
// result's Warnings; an invalid file is an error naming FILE:LINE:COL of every problem.
func Load(path string, opts LoadOptions) (*Chobolo, error) {
	return chobolo.Load(path, opts)
}

// Load is the package's Load knowing the controller's roles: the keys of its Souls' roles are
// Ch-obolo keys (and checked against their schemas, FILE:LINE:COL).
func (c *Controller) Load(path string, opts LoadOptions) (*Chobolo, error) {
	opts.ExtraKeys = append(slices.Clone(opts.ExtraKeys), souls.Keys(c.registry.All())...)
	return chobolo.Load(path, opts)
}

// Options configure a Controller.
type Options struct {
	// Roles are the roles a run may use; nil means the built-in roles.
	Roles []Role
	// Aliases are the user's role aliases (alias -> space-separated tags), e.g. from config.yml;
	// AliasPos says where each is defined, for errors.
	Aliases  map[string]string
	AliasPos map[string]chobolo.Pos
	// Keep and MaxBytes bound the generations each host keeps (0: the engine's defaults).
	Keep     int
	MaxBytes int64
	// Logbook, when set, records every run; a logbook problem never fails a run.
	Logbook *Logbook
	// Limanis are logbook sinks installed Souls provide (config.yml `limanis:`): each gets every
	// event of a run. A slow, dead or missing sink is a warning; it never slows or fails a run.
	Limanis []string
	// Souls are the installed Souls (LoadSouls): their roles join the built-in ones (when Roles is
	// nil) and their aliases sit under Aliases; their boats, connectors, logbook sinks, secrets
	// providers and Ch-imera back ends are found there. Every kind of a Soul is served by its one
	// process, started on first use and ended by Souls.Close. nil: no Souls.
	Souls *Souls
}

// Souls are the installed Souls of a run and their processes (one per Soul, shared by everything
// the Soul provides, for every host). Close ends them.
type Souls = souls.Runtime

// SoulPaths are the standard directories Souls are installed in, first wins for a name:
// $CHAOS_SOUL_PATH (colon-separated), ~/.local/share/chaos/souls, /usr/share/chaos/souls.
func SoulPaths() []string { return souls.Paths() }

// LoadSouls reads the Souls installed under paths (each a directory of Soul directories; nil means
// SoulPaths). Nothing starts until a run uses a Soul. A Soul that cannot load (a bad soul.yaml, a
// role taking a built-in role's name, alias or key) is left out, and Errors says why with
// FILE:LINE:COL; the others load.
func LoadSouls(paths ...string) *Souls {
	if paths == nil {
		paths = SoulPaths()
	}
	return souls.Open(paths, builtin.Roles())
}

// Controller runs Ch-obolos against targets. It holds no global state: two Controllers in one
// process are independent (the host lock still excludes them from one host).
type Controller struct {
	opts     Options
	registry *engine.Registry
}

// New returns a Controller for opts.
func New(opts Options) (*Controller, error) {
	roles := opts.Roles
	if roles == nil {
		roles = append(builtin.Roles(), opts.Souls.Roles()...)
	}
	if opts.Souls != nil {
		// The user's aliases win over the Souls'.
		al, pos := opts.Souls.Aliases()
		maps.Copy(al, opts.Aliases)
		if opts.AliasPos != nil {
			maps.Copy(pos, opts.AliasPos)
		}
		opts.Aliases, opts.AliasPos = al, pos
	}
	return &Controller{opts: opts, registry: engine.NewRegistry(roles...)}, nil
}

// Registry is the controller's role registry (for listing and explaining roles).
func (c *Controller) Registry() *engine.Registry { return c.registry }

// roleKeys are the top-level keys of every role (a recorded Ch-obolo may hold a Soul role's).
func (c *Controller) roleKeys() []string {
	var out []string
	for _, r := range c.registry.All() {
		out = append(out, r.Meta().Keys...)
	}
	return out
}

func (c *Controller) engine() *engine.Engine { return &engine.Engine{Registry: c.registry} }

// kinds are the Souls' kinds for the packages that use them (nil when none are loaded).
func (c *Controller) kinds() soul.Kinds {
	if c.opts.Souls == nil {
		return nil
	}
	return c.opts.Souls
}
