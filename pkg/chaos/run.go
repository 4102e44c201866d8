package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/logbook"
	"github.com/ch-aos-ch/chaos/internal/souls"
)

// run follows one run: it numbers nothing and holds no host state, it only fans events out (to
// the caller and the logbook, in order, one at a time) and collects the outcomes.
type run struct {
	mu     sync.Mutex
	start  time.Time
	events func(Event)
	log    *logbook.Run
	sinks  []*souls.Sink
	result Run
}

// startRun opens the run: the logbook record (when the controller has a logbook) and run.start.
func (c *Controller) startRun(ctx context.Context, req *ApplyRequest, count int) *run {
	r := &run{start: time.Now(), events: req.Events, result: Run{Plans: map[string]*Plan{}}}
	if c.opts.Logbook != nil {
		cmd := req.Command
		if cmd == "" {
			cmd = "apply"
		}
		if req.Dry {
			cmd += " --dry"
		}
		file := ""
		if req.Chobolo != nil {
			file = req.Chobolo.File
		}
		lr, err := c.opts.Logbook.StartRun(ctx, logbook.RunInfo{Command: cmd, Chobolo: file})
		if err != nil {
			r.emit(Event{Type: engine.EventMessage, Level: "warning", Message: fmt.Sprintf("logbook: %v", err)})
		} else {
			r.log = lr
			r.result.LogbookID = lr.ID
		}
	}
	var sinkErrs []string
	for _, name := range c.opts.Limanis {
		k, err := c.opts.Souls.Sink(ctx, name)
		if err != nil {
			sinkErrs = append(sinkErrs, err.Error())
			continue
		}
		r.sinks = append(r.sinks, k)
	}
	r.emit(Event{Type: engine.EventRunStart, Count: count})
	for _, e := range sinkErrs {
		r.emit(Event{Type: engine.EventMessage, Level: "warning", Message: e + "; the run goes on without it"})
	}
	return r
}

// emit hands ev to the caller and the logbook; hosts of a fleet call it concurrently.
func (r *run) emit(ev Event) {
	ev = ev.Stamp()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.events != nil {
		r.events(ev)
	}
	if r.log != nil {
		r.log.Observe(ev)
	}
	if len(r.sinks) > 0 {
		// Encoded now: the plan and results an event points to change as the run goes on.
		if data, err := json.Marshal(ev); err == nil {
			for _, k := range r.sinks {
				k.Observe(json.RawMessage(data))
			}
		}
	}
}

func (r *run) done(out HostOutcome, hp *Plan) {
	r.mu.Lock()
	r.result.Hosts = append(r.result.Hosts, out)
	if hp != nil {
		r.result.Plans[out.Name] = hp
	}
	r.mu.Unlock()
}

// finish closes the run: run.done with every outcome, and the logbook record.
func (r *run) finish() *Run {
	r.emit(Event{Type: engine.EventRunDone, Hosts: r.result.Hosts, Duration: time.Since(r.start)})
	r.mu.Lock()
	sinks := r.sinks
	r.sinks = nil // closed: nothing more goes to them
	r.mu.Unlock()
	// Closed together: the end of a run waits at most souls.SinkDrain, however many sinks hang.
	errs := make([]error, len(sinks))
	var wg sync.WaitGroup
	for i, k := range sinks {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = k.Close() }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			r.emit(Event{Type: engine.EventMessage, Level: "warning", Message: err.Error()})
		}
	}
	if r.log != nil {
		var err error
		if n := r.result.Failed(); n > 0 {
			err = fmt.Errorf("%d of %d targets failed", n, len(r.result.Hosts))
			for _, h := range r.result.Hosts {
				if h.Error != "" {
					err = errors.New(h.Error)
					if len(r.result.Hosts) > 1 {
						err = fmt.Errorf("%d of %d targets failed; first: %s", n, len(r.result.Hosts), h.Error)
					}
					break
				}
			}
		}
		lr := r.log
		lr.Finish(err)
		r.log = nil // finished: nothing more goes to it
		if werr := lr.Err(); werr != nil {
			r.emit(Event{Type: engine.EventMessage, Level: "warning", Message: fmt.Sprintf("logbook: %v", werr)})
		}
	}
	return &r.result
}
