package gitsync

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Schedule is a project's cron schedule: a drift check or a sync at the times Cron names.
type Schedule struct {
	// ID identifies the schedule in the store.
	ID string
	// Project and Kind ("drift-check", "sync", ...) are the server's: the scheduler passes them to Fire.
	Project string
	Kind    string
	// Cron is a 5-field cron expression or a descriptor (@hourly), read in TimeZone ("" is UTC).
	Cron     string
	TimeZone string
	// Last is the due time of the last run claimed. A new schedule starts with its creation time,
	// so its first run is the first due time after it was created.
	Last time.Time
}

// Validate checks Cron and TimeZone.
func (s Schedule) Validate() error {
	if _, _, err := parseCron(s.Cron, s.TimeZone); err != nil {
		return fmt.Errorf("schedule %s: %w", s.ID, err)
	}
	return nil
}

// Next is the first due time after Last (what a UI shows as "next run" when nothing was missed).
func (s Schedule) Next() (time.Time, error) {
	c, loc, err := parseCron(s.Cron, s.TimeZone)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule %s: %w", s.ID, err)
	}
	return c.Next(s.Last.In(loc)), nil
}

// ScheduleStore keeps schedules and their last claimed run; the server implements it on its
// database, the same on SQLite and PostgreSQL.
type ScheduleStore interface {
	// Schedules returns every schedule to run, with its Last.
	Schedules(ctx context.Context) ([]Schedule, error)
	// Claim records due as the schedule's Last if and only if the stored Last is before due, and
	// reports whether this call recorded it. One conditional statement does it:
	//   UPDATE schedules SET last = :due WHERE id = :id AND last < :due
	// (true when it changed a row), so that of two replicas, or of a server and its restarted self,
	// exactly one claims each due time.
	Claim(ctx context.Context, id string, due time.Time) (bool, error)
}

// Scheduler fires schedules at their due times, at most once per due time whatever restarts and
// replicas do: a run is fired only after the store's Claim for it succeeded. Runs missed while no
// server ran are caught up with one run, for the latest missed due time, not one per missed time.
// A run claimed by a server that died before Fire returned is not run again (at most once: a drift
// check or sync is better skipped than doubled; the next due time runs it).
type Scheduler struct {
	Store ScheduleStore
	// Fire starts the run (enqueues a job); it should return quickly.
	Fire func(ctx context.Context, s Schedule, due time.Time)
	// OnError receives errors of single schedules (an invalid cron, a failed Claim), which do not
	// stop the others; nil drops them.
	OnError func(error)
	// Refresh bounds the time between two readings of the store, so that schedules added or changed
	// by the API are seen (Wake makes it immediate); 0 means one minute.
	Refresh time.Duration

	loop loop
}

// maxCatchUp bounds the walk to the latest missed due time (a per-minute schedule after a year
// down is 525,600 steps, about a tenth of a second).
const maxCatchUp = 1 << 20

// RunDue claims and fires every schedule due at now and returns the earliest due time after now
// (the zero time when there is no schedule). Run calls it in a loop; tests call it with chosen times.
func (sc *Scheduler) RunDue(ctx context.Context, now time.Time) (time.Time, error) {
	list, err := sc.Store.Schedules(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("gitsync: reading schedules: %w", err)
	}
	var next time.Time
	for _, s := range list {
		c, loc, err := parseCron(s.Cron, s.TimeZone)
		if err != nil {
			sc.report(fmt.Errorf("gitsync: schedule %s of project %s: %w", s.ID, s.Project, err))
			continue
		}
		n := c.Next(s.Last.In(loc))
		if !n.After(now) {
			due := n
			for i := 0; i < maxCatchUp; i++ {
				after := c.Next(due)
				if after.After(now) || after.IsZero() {
					break
				}
				due = after
			}
			ok, err := sc.Store.Claim(ctx, s.ID, due)
			if err != nil {
				sc.report(fmt.Errorf("gitsync: claiming schedule %s of project %s: %w", s.ID, s.Project, err))
				continue
			}
			if ok {
				s.Last = due
				sc.Fire(ctx, s, due)
			}
			n = c.Next(due)
		}
		if !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	return next, nil
}

func (sc *Scheduler) report(err error) {
	if sc.OnError != nil {
		sc.OnError(err)
	}
}

// Wake makes Run read the store now (after the API changed a schedule).
func (sc *Scheduler) Wake() { sc.loop.wake() }

// Run fires schedules until ctx ends, sleeping until the next due time (at most Refresh). A store
// error is reported and retried after Refresh.
func (sc *Scheduler) Run(ctx context.Context) error {
	return sc.loop.run(ctx, sc.Refresh, sc.RunDue, sc.report)
}

// loop is the driver Scheduler and Poller share: call step with the time, sleep until the time it
// returns (at most refresh), or until woken or cancelled.
type loop struct {
	once sync.Once
	ch   chan struct{}
}

func (l *loop) wakeCh() chan struct{} {
	l.once.Do(func() { l.ch = make(chan struct{}, 1) })
	return l.ch
}

func (l *loop) wake() {
	select {
	case l.wakeCh() <- struct{}{}:
	default:
	}
}

func (l *loop) run(ctx context.Context, refresh time.Duration, step func(context.Context, time.Time) (time.Time, error),
	report func(error)) error {
	if refresh <= 0 {
		refresh = time.Minute
	}
	wake := l.wakeCh()
	for {
		now := time.Now()
		next, err := step(ctx, now)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			report(err)
		}
		sleep := refresh
		if !next.IsZero() && next.Sub(now) < sleep {
			sleep = next.Sub(now)
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-wake:
			t.Stop()
		case <-t.C:
		}
	}
}
