package souls

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// SinkQueue is how many events a logbook sink may lag behind the run before chaos drops events.
const SinkQueue = 4096

// SinkDrain bounds how long the end of a run waits for a sink to take its queued events and exit.
const SinkDrain = 2 * time.Second

// Sink sends a run's events to a Soul's logbook sink as logbook.event notifications. The run
// never waits for it: events go through a bounded queue, and when the Soul is slow (the queue is
// full) or dead, events are dropped and Close reports it once.
type Sink struct {
	name  string
	p     *Process
	queue chan any
	done  chan struct{}

	mu      sync.Mutex
	closed  bool
	dropped int
	failed  error // the first send that failed: nothing more is sent
}

// Sink starts sending events to the logbook sink name, through the run's process of the Soul
// that provides it (shared with the Soul's other kinds).
func (r *Runtime) Sink(ctx context.Context, name string) (*Sink, error) {
	s, _, err := r.find(soul.KindSink, name)
	if err != nil {
		return nil, fmt.Errorf("logbook sink %s: %w", name, err)
	}
	p, err := r.Process(ctx, s.Manifest.Name)
	if err != nil {
		return nil, fmt.Errorf("logbook sink %s: %w", name, err)
	}
	k := &Sink{name: name, p: p, queue: make(chan any, SinkQueue), done: make(chan struct{})}
	go k.send()
	return k, nil
}

// Observe queues one event (any JSON-encodable value that no one changes any more, e.g. a
// json.RawMessage); it never blocks.
func (k *Sink) Observe(ev any) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return
	}
	if k.failed != nil {
		k.dropped++
		return
	}
	select {
	case k.queue <- ev:
	default:
		k.dropped++
	}
}

type sinkEvent struct {
	Sink  string `json:"sink"`
	Event any    `json:"event"`
}

func (k *Sink) send() {
	defer close(k.done)
	for ev := range k.queue {
		k.mu.Lock()
		failed := k.failed != nil
		k.mu.Unlock()
		if failed {
			k.mu.Lock()
			k.dropped++
			k.mu.Unlock()
			continue
		}
		if err := k.p.Notify(soul.MethodLogbookEvent, sinkEvent{Sink: k.name, Event: ev}); err != nil {
			k.mu.Lock()
			k.failed = err
			k.dropped++
			k.mu.Unlock()
		}
	}
}

// Close lets the sink take what is queued (for at most SinkDrain) and reports, once, what it lost:
// events dropped because it was slow, or that its Soul failed. The process is the run's (the
// Runtime ends it), unless it stopped reading: then it is killed, since it would hold up
// everything else it serves.
func (k *Sink) Close() error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	close(k.queue)
	k.mu.Unlock()
	select {
	case <-k.done:
	case <-time.After(SinkDrain):
		k.p.Kill() // it stopped reading: its pending write fails and the queue empties as drops
		<-k.done
		k.mu.Lock()
		defer k.mu.Unlock()
		return fmt.Errorf("logbook sink %s: soul %s: still running but not reading after %s; killed, %d events not delivered",
			k.name, k.p.soul.Manifest.Name, SinkDrain, k.dropped)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.failed == nil {
		k.failed = k.p.deadErr() // it may have died after taking the last line into its pipe
	}
	switch {
	case k.failed != nil:
		return fmt.Errorf("logbook sink %s: %v; %d events not delivered", k.name, k.failed, k.dropped)
	case k.dropped > 0:
		return fmt.Errorf("logbook sink %s: too slow; %d events dropped", k.name, k.dropped)
	}
	return nil
}
