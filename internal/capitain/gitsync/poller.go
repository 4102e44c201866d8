package gitsync

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// PollTarget is a project to poll.
type PollTarget struct {
	Project string
	Source  Source
	// Interval between two polls; 0 or less turns polling off for the project (webhooks only).
	Interval time.Duration
	// Commit is the commit the server knows for the project (synced, or reported before); only a
	// different commit is reported. When it changes (a webhook moved the project), the poller
	// takes it as the new reference.
	Commit string
}

// Poller asks each project's remote for its ref's commit at the project's interval, and calls
// OnCommit when it changed. A poll is one ref listing ([Cache.Resolve]): nothing is fetched when
// nothing changed, and the fetch of a new commit is left to the sync OnCommit starts. The first poll
// of a project and every following one are shifted by up to Jitter of its interval, so projects
// added together (or a server restart) do not poll in step.
type Poller struct {
	Cache *Cache
	// Targets lists the projects to poll; it is read on every PollDue.
	Targets func(ctx context.Context) ([]PollTarget, error)
	// OnCommit is told of a new commit; it may be called concurrently for different projects.
	OnCommit func(ctx context.Context, t PollTarget, commit string)
	// OnError receives a failed poll (the project is polled again at its next time); nil drops it.
	OnError func(project string, err error)
	// Jitter is the fraction of an interval by which polls are shifted at random; 0 means 0.1.
	Jitter float64
	// Parallel bounds the polls running at once; 0 means 8.
	Parallel int
	// Timeout bounds one poll (a remote that stops answering); 0 means one minute.
	Timeout time.Duration
	// Refresh bounds the time between two readings of Targets in Run; 0 means one minute.
	Refresh time.Duration

	mu    sync.Mutex
	state map[string]*pollState
	loop  loop
}

type pollState struct {
	next     time.Time
	interval time.Duration
	known    string // PollTarget.Commit as last given
	seen     string // the last commit known or reported
}

func (p *Poller) jitter(d time.Duration) time.Duration {
	j := p.Jitter
	if j <= 0 {
		j = 0.1
	}
	return time.Duration(float64(d) * j * (2*rand.Float64() - 1))
}

// PollDue polls every project whose time has come at now, waits for those polls, and returns the
// earliest next poll time (zero when nothing is to be polled). Run calls it in a loop; tests call
// it with chosen times.
func (p *Poller) PollDue(ctx context.Context, now time.Time) (time.Time, error) {
	targets, err := p.Targets(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("gitsync: listing poll targets: %w", err)
	}
	p.mu.Lock()
	if p.state == nil {
		p.state = map[string]*pollState{}
	}
	live := map[string]bool{}
	var due []PollTarget
	for _, t := range targets {
		if t.Interval <= 0 {
			continue
		}
		live[t.Project] = true
		st := p.state[t.Project]
		if st == nil || st.interval != t.Interval {
			// first seen, or a new interval: the first poll within the first Jitter of an interval
			first := p.jitter(t.Interval)
			if first < 0 {
				first = -first
			}
			st = &pollState{next: now.Add(first), interval: t.Interval, known: t.Commit, seen: t.Commit}
			p.state[t.Project] = st
		}
		if t.Commit != st.known {
			st.known, st.seen = t.Commit, t.Commit
		}
		if !st.next.After(now) {
			st.next = now.Add(t.Interval + p.jitter(t.Interval))
			due = append(due, t)
		}
	}
	for project := range p.state {
		if !live[project] {
			delete(p.state, project)
		}
	}
	p.mu.Unlock()

	parallel := p.Parallel
	if parallel <= 0 {
		parallel = 8
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, t := range due {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			p.poll(ctx, t)
		}()
	}
	wg.Wait()

	p.mu.Lock()
	defer p.mu.Unlock()
	var next time.Time
	for _, st := range p.state {
		if next.IsZero() || st.next.Before(next) {
			next = st.next
		}
	}
	return next, nil
}

func (p *Poller) poll(ctx context.Context, t PollTarget) {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	commit, err := p.Cache.Resolve(pctx, t.Project, t.Source)
	cancel()
	if err != nil {
		if p.OnError != nil {
			p.OnError(t.Project, err)
		}
		return
	}
	p.mu.Lock()
	st := p.state[t.Project]
	changed := st != nil && commit != st.seen
	if changed {
		st.seen = commit
	}
	p.mu.Unlock()
	if changed {
		p.OnCommit(ctx, t, commit)
	}
}

// Wake makes Run read Targets now (after the API added a project or changed its interval).
func (p *Poller) Wake() { p.loop.wake() }

// Run polls until ctx ends.
func (p *Poller) Run(ctx context.Context) error {
	return p.loop.run(ctx, p.Refresh, p.PollDue, func(err error) {
		if p.OnError != nil {
			p.OnError("", err)
		}
	})
}
