package souls

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
)

// Runtime runs the Souls of one run: each Soul's process starts on first use and then serves
// every host and every kind of the run (its roles, boats, connectors, secrets providers, logbook
// sinks and Ch-imera back ends); Close ends them all. Safe for concurrent use.
type Runtime struct {
	// list are the Souls in discovery order; loadErrs the ones that could not be read, from paths.
	list     []*Soul
	loadErrs []error
	paths    []string
	// roles are the Souls' roles (Open), roleErrs the Souls refused for them.
	roles    []engine.Role
	roleErrs []error

	mu     sync.Mutex
	souls  map[string]*Soul
	procs  map[string]*Process
	starts map[string]*sync.Once
	errs   map[string]error
	closed bool
	// ctx is what calls run under: Close cancels it, so a run that ends (or is interrupted) stops
	// waiting for its Souls.
	ctx    context.Context
	cancel context.CancelFunc
	// started counts process starts (one per Soul per run; tests check it).
	started int
}

// Open discovers the Souls under paths (Paths() are the standard ones) and returns their Runtime,
// with their roles made beside builtins (a Soul role taking a built-in's name, alias or key
// refuses its Soul: Errors says why). Nothing starts until a Soul is used.
func Open(paths []string, builtins []engine.Role) *Runtime {
	found, errs := Discover(paths)
	r := NewRuntime(found)
	r.loadErrs, r.paths = errs, paths
	r.roles, r.roleErrs = Roles(r, found, builtins)
	return r
}

// List is the Souls of the run, in discovery order (a nil Runtime has none).
func (r *Runtime) List() []*Soul {
	if r == nil {
		return nil
	}
	return r.list
}

// Roles are the roles the Souls provide (Open).
func (r *Runtime) Roles() []engine.Role {
	if r == nil {
		return nil
	}
	return r.roles
}

// Errors are the Souls that could not be read or were refused, each with its soul.yaml position.
func (r *Runtime) Errors() []error {
	if r == nil {
		return nil
	}
	return append(slices.Clone(r.loadErrs), r.roleErrs...)
}

// Aliases are the Souls' tag aliases (soul.yaml's aliases: alias -> space-separated tags), with
// where each is defined; the first Soul to define one wins.
func (r *Runtime) Aliases() (map[string]string, map[string]chobolo.Pos) {
	al, pos := map[string]string{}, map[string]chobolo.Pos{}
	for _, s := range r.List() {
		for k, v := range s.Manifest.Aliases {
			if _, taken := al[k]; !taken {
				al[k], pos[k] = v, s.Pos["aliases."+k]
			}
		}
	}
	return al, pos
}

// NewRuntime returns a Runtime for souls (by manifest name).
func NewRuntime(souls []*Soul) *Runtime {
	r := &Runtime{list: souls, souls: map[string]*Soul{}, procs: map[string]*Process{}, starts: map[string]*sync.Once{}, errs: map[string]error{}}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	for _, s := range souls {
		r.souls[s.Manifest.Name] = s
		r.starts[s.Manifest.Name] = &sync.Once{}
	}
	return r
}

// Process returns the running process of the Soul name, starting it the first time. A Soul that
// failed to start fails every call of the run with the same error.
func (r *Runtime) Process(ctx context.Context, name string) (*Process, error) {
	if r == nil {
		return nil, fmt.Errorf("no Soul named %q is loaded", name)
	}
	r.mu.Lock()
	s, once := r.souls[name], r.starts[name]
	closed := r.closed
	r.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("no Soul named %q is installed", name)
	}
	if closed {
		return nil, fmt.Errorf("soul %s: the run is over", name)
	}
	once.Do(func() {
		p, err := s.Start(ctx)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.errs[name] = err
			return
		}
		if r.closed { // Close ran meanwhile
			go p.Close()
			r.errs[name] = fmt.Errorf("soul %s: the run is over", name)
			return
		}
		r.procs[name] = p
		r.started++
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.errs[name]; err != nil {
		return nil, err
	}
	return r.procs[name], nil
}

// Close ends every process the run started.
func (r *Runtime) Close() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	r.closed = true
	r.cancel()
	procs := r.procs
	r.procs = map[string]*Process{}
	r.mu.Unlock()
	// Together: the end of a run waits one grace period, however many Souls hang.
	errs := make(chan error, len(procs))
	for _, p := range procs {
		go func() { errs <- p.Close() }()
	}
	var all []error
	for range procs {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// Started is how many Soul processes the run started.
func (r *Runtime) Started() int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.started
}
