package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// sender is one channel: one attempt to deliver one notification.
type sender interface {
	send(ctx context.Context, n Notification) error
}

// DeadLetters stores the deliveries the dispatcher gave up on (the server implements it with its
// database); [Dispatcher.Enqueue] of a dead letter's Delivery sends it again.
type DeadLetters interface {
	Record(ctx context.Context, dl DeadLetter) error
}

// DeadLetter is a delivery that was not made, and why.
type DeadLetter struct {
	Delivery Delivery  `json:"delivery"`
	Attempts int       `json:"attempts"` // 0 when it was never tried (queue full, shutdown)
	Error    string    `json:"error"`    // the last attempt's error, without secrets
	Time     time.Time `json:"time"`
}

// Outcome is what happened to an attempt or a delivery, for metrics.
type Outcome string

// Outcomes reported to [Hooks.Metrics].
const (
	Delivered Outcome = "delivered" // an attempt succeeded
	Retried   Outcome = "retried"   // an attempt failed and another is scheduled
	Failed    Outcome = "failed"    // an attempt failed and the delivery is a dead letter
	Dropped   Outcome = "dropped"   // never attempted: the queue was full, or the dispatcher stopped
)

// Observation is one outcome: a Prometheus counter by channel, event and outcome, and a histogram
// of Duration, are what the server makes of it.
type Observation struct {
	Channel  string
	Event    Event
	Outcome  Outcome
	Attempt  int           // 1 for the first attempt; 0 for Dropped
	Duration time.Duration // of the attempt; 0 for Dropped
}

// Hooks are how the dispatcher reports to the server. Every field is optional.
type Hooks struct {
	DeadLetters DeadLetters
	Metrics     func(Observation) // called from the workers: it must be fast and safe for concurrent use
	Logger      *slog.Logger
}

// Errors of [Dispatcher.Enqueue].
var (
	ErrQueueFull = errors.New("notify: delivery queue is full")
	ErrClosed    = errors.New("notify: dispatcher is closed")
)

// Dispatcher delivers notifications in the background. Its methods are safe for concurrent use.
type Dispatcher struct {
	channels map[string]sender
	rules    []Rule
	conf     DeliveryConfig
	hooks    Hooks
	log      *slog.Logger

	queue  chan *item // capacity conf.Queue; never full, since pending <= conf.Queue
	ctx    context.Context
	cancel context.CancelFunc // aborts attempts when Close runs out of time
	stop   chan struct{}      // workers exit
	wg     sync.WaitGroup

	mu       sync.Mutex
	pending  int                   // queued + waiting to retry + being sent
	waiting  map[*item]*time.Timer // waiting to retry
	closed   bool                  // no new deliveries
	stopping bool                  // retries are not re-queued any more
	idle     chan struct{}         // closed when closed and pending reaches 0
}

type item struct {
	d        Delivery
	attempts int
	lastErr  error
}

// New reads the secrets, builds the channels, checks the rules and starts the workers.
func New(cfg Config, hooks Hooks) (*Dispatcher, error) {
	conf, err := cfg.Delivery.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	chans, err := cfg.build()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{
		channels: chans, rules: cfg.Rules, conf: conf, hooks: hooks, log: hooks.Logger,
		queue: make(chan *item, conf.Queue), ctx: ctx, cancel: cancel, stop: make(chan struct{}),
		waiting: map[*item]*time.Timer{}, idle: make(chan struct{}),
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	for range conf.Workers {
		d.wg.Add(1)
		go d.work()
	}
	return d, nil
}

// Notify routes n through the configured rules ([Route]) and queues one delivery per channel. It
// never waits for a receiver and never fails the caller: a delivery that cannot be queued is a
// dead letter, recorded before Notify returns (the one write a full queue costs the caller). It
// returns how many deliveries were queued. It sets n.ID and n.Time when they are empty; n must not
// be changed afterwards.
func (d *Dispatcher) Notify(n Notification) int {
	if n.ID == "" {
		n.ID = newID()
	}
	if n.Time.IsZero() {
		n.Time = time.Now().UTC()
	}
	queued := 0
	for _, dl := range Route(n, d.rules) {
		if d.Enqueue(dl) == nil {
			queued++
		}
	}
	return queued
}

// Pending is how many deliveries are queued, waiting to retry or being sent: a gauge for the
// server's metrics, at most the configured queue size.
func (d *Dispatcher) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pending
}

// CheckRule reports what is wrong with a rule (no channels, a channel or an event that does not
// exist): what the server calls before it stores a rule a user gave it.
func (d *Dispatcher) CheckRule(r Rule) error {
	names := make(map[string]bool, len(d.channels))
	for n := range d.channels {
		names[n] = true
	}
	return r.validate(names)
}

// Enqueue queues one delivery without blocking: to send one that [Route] made with other rules
// (rules stored per project), or to send a dead letter again. When the queue is full or the
// dispatcher closed, the delivery is recorded as a dead letter and the error says why.
func (d *Dispatcher) Enqueue(dl Delivery) error {
	if _, ok := d.channels[dl.Channel]; !ok {
		return fmt.Errorf("notify: no channel named %q", dl.Channel)
	}
	it := &item{d: dl}
	d.mu.Lock()
	var err error
	switch {
	case d.closed:
		err = ErrClosed
	case d.pending >= d.conf.Queue:
		err = ErrQueueFull
	default:
		d.pending++
		d.queue <- it
	}
	d.mu.Unlock()
	if err != nil {
		it.lastErr = err
		d.dead(it, Dropped, 0)
	}
	return err
}

func (d *Dispatcher) work() {
	defer d.wg.Done()
	for {
		select {
		case it := <-d.queue:
			if d.ctx.Err() != nil { // Close gave up: no new attempt
				d.abandon(it)
				continue
			}
			d.attempt(it)
		case <-d.stop:
			return
		}
	}
}

func (d *Dispatcher) attempt(it *item) {
	it.attempts++
	n := it.d.Notification
	ctx, cancel := context.WithTimeout(d.ctx, d.conf.Timeout)
	start := time.Now()
	err := d.channels[it.d.Channel].send(ctx, n)
	cancel()
	took := time.Since(start)
	if err == nil {
		d.observe(it, Delivered, took)
		d.log.Debug("notification delivered", "channel", it.d.Channel, "event", n.Event, "id", n.ID, "attempt", it.attempts)
		d.done()
		return
	}
	if errors.Is(err, context.DeadlineExceeded) && d.ctx.Err() == nil {
		err = fmt.Errorf("attempt timed out after %s: %w", d.conf.Timeout, err)
	}
	it.lastErr = err
	var de *deliveryError
	isDE := errors.As(err, &de)
	if (isDE && de.permanent) || it.attempts >= d.conf.Attempts || d.ctx.Err() != nil {
		d.dead(it, Failed, took)
		d.done()
		return
	}
	wait := d.conf.backoff(it.attempts)
	if isDE && de.after > wait {
		wait = min(de.after, d.conf.MaxBackoff)
	}
	d.observe(it, Retried, took)
	d.log.Warn("notification attempt failed; retrying", "channel", it.d.Channel, "event", n.Event, "id", n.ID, "attempt", it.attempts, "retry_in", wait, "error", err)
	d.mu.Lock()
	if d.stopping { // Close gave up waiting while this attempt ran
		d.mu.Unlock()
		d.dead(it, Failed, 0)
		return
	}
	d.waiting[it] = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, ok := d.waiting[it]; !ok {
			return // Close took it
		}
		delete(d.waiting, it)
		d.queue <- it // under the lock, so that Close, once stopping, finds it in the queue
	})
	d.mu.Unlock()
}

// backoff is the wait after the attempt-th failed attempt: Backoff doubled per attempt, capped at
// MaxBackoff, then a random point in its upper half, so that many deliveries failing together do
// not retry together.
func (c DeliveryConfig) backoff(attempt int) time.Duration {
	w := c.Backoff
	for i := 1; i < attempt && w < c.MaxBackoff; i++ {
		w *= 2
	}
	w = min(w, c.MaxBackoff)
	return w/2 + rand.N(w/2+1)
}

// done ends a delivery's life in the queue.
func (d *Dispatcher) done() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pending--
	if d.closed && d.pending == 0 {
		select {
		case <-d.idle:
		default:
			close(d.idle)
		}
	}
}

func (d *Dispatcher) observe(it *item, o Outcome, took time.Duration) {
	if d.hooks.Metrics == nil {
		return
	}
	attempt := it.attempts
	if o == Dropped {
		attempt = 0
	}
	d.hooks.Metrics(Observation{Channel: it.d.Channel, Event: it.d.Notification.Event, Outcome: o, Attempt: attempt, Duration: took})
}

// dead records a delivery that will not be made.
func (d *Dispatcher) dead(it *item, o Outcome, took time.Duration) {
	d.observe(it, o, took)
	dl := DeadLetter{Delivery: it.d, Attempts: it.attempts, Error: it.lastErr.Error(), Time: time.Now().UTC()}
	d.log.Error("notification not delivered", "channel", it.d.Channel, "event", it.d.Notification.Event, "id", it.d.Notification.ID, "attempts", it.attempts, "error", dl.Error)
	if d.hooks.DeadLetters == nil {
		return
	}
	// Recorded even while Close runs out of time: that is when dead letters matter most.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.hooks.DeadLetters.Record(ctx, dl); err != nil {
		d.log.Error("recording a dead letter", "channel", it.d.Channel, "id", it.d.Notification.ID, "error", err)
	}
}

// abandon records a delivery that Close gave up on before its next attempt.
func (d *Dispatcher) abandon(it *item) {
	if it.lastErr == nil {
		it.lastErr = errors.New("capitain stopped before the delivery was attempted")
		d.dead(it, Dropped, 0)
		return
	}
	d.dead(it, Failed, 0)
}

// Close stops taking deliveries and waits for the queued ones, retries included, until ctx ends.
// Then it aborts the attempts in flight and records everything not delivered as dead letters; the
// error says how many deliveries were pending.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	d.closed = true
	if d.pending == 0 {
		close(d.idle)
	}
	d.mu.Unlock()
	select {
	case <-d.idle:
		close(d.stop)
		d.wg.Wait()
		d.cancel()
		return nil
	case <-ctx.Done():
	}
	var left []*item
	d.mu.Lock()
	d.stopping = true
	lost := d.pending
	for it, t := range d.waiting {
		t.Stop()
		delete(d.waiting, it)
		left = append(left, it)
	}
	d.mu.Unlock()
	d.cancel() // attempts in flight fail at once and become dead letters
	close(d.stop)
	d.wg.Wait()
	for len(d.queue) > 0 {
		left = append(left, <-d.queue)
	}
	for _, it := range left {
		d.abandon(it)
	}
	return fmt.Errorf("notify: stopped with %d deliveries pending (%w); they are dead letters", lost, ctx.Err())
}
