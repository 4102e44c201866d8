package souls

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Runtime runs the Souls of one run: each Soul's process starts on first use and then serves
// every host of the run; Close ends them all. Safe for concurrent use.
type Runtime struct {
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

// NewRuntime returns a Runtime for souls (by manifest name).
func NewRuntime(souls []*Soul) *Runtime {
	r := &Runtime{souls: map[string]*Soul{}, procs: map[string]*Process{}, starts: map[string]*sync.Once{}, errs: map[string]error{}}
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
	r.mu.Lock()
	r.closed = true
	r.cancel()
	procs := r.procs
	r.procs = map[string]*Process{}
	r.mu.Unlock()
	var errs []error
	for _, p := range procs {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

// Started is how many Soul processes the run started.
func (r *Runtime) Started() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.started
}
