package fleet

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Status is a host's outcome.
type Status string

// Host outcomes.
const (
	Changed     Status = "changed"
	Unchanged   Status = "unchanged"
	Pending     Status = "pending" // --dry: changes to apply
	Failed      Status = "failed"
	Unreachable Status = "unreachable"
	Skipped     Status = "skipped" // not run: an earlier batch exceeded max_fail_percentage, or interrupted
)

// Result is one host's outcome.
type Result struct {
	Host    *Host         `json:"-"`
	Name    string        `json:"host"`
	Status  Status        `json:"status"`
	Changes int           `json:"changes"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Error   string        `json:"error,omitempty"`
}

// Bad reports whether the host failed or could not be reached.
func (r Result) Bad() bool { return r.Status == Failed || r.Status == Unreachable }

// RunOptions shape a fleet run.
type RunOptions struct {
	// Parallelism bounds how many hosts run at once (0 = all of a batch).
	Parallelism int
	// Serial > 0 runs rolling batches of that many hosts, one batch after the other.
	Serial int
	// MaxFailPercentage stops the run after a batch in which more than this share of hosts failed
	// (0..100; 100 never stops). Only meaningful with Serial.
	MaxFailPercentage int
}

// Run calls apply for every host, at most Parallelism at a time, in batches of Serial. A host's
// failure never stops the others of its batch. done, when set, is called as each host finishes (from
// several goroutines, serialized). The results are in the order of hosts.
func Run(ctx context.Context, hosts []*Host, o RunOptions, apply func(context.Context, *Host) Result, done func(Result)) []Result {
	results := make([]Result, len(hosts))
	var mu sync.Mutex
	batch := o.Serial
	if batch <= 0 || batch > len(hosts) {
		batch = len(hosts)
	}
	stopped := ""
	for start := 0; start < len(hosts); start += batch {
		end := min(start+batch, len(hosts))
		if stopped != "" || ctx.Err() != nil {
			why := stopped
			why = cmp.Or(why, "interrupted")
			for i := start; i < end; i++ {
				results[i] = Result{Host: hosts[i], Name: hosts[i].Name, Status: Skipped, Error: why}
				if done != nil {
					done(results[i])
				}
			}
			continue
		}
		par := o.Parallelism
		if par <= 0 || par > end-start {
			par = end - start
		}
		sem := make(chan struct{}, par)
		var wg sync.WaitGroup
		for i := start; i < end; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				t0 := time.Now()
				r := safeApply(ctx, hosts[i], apply)
				r.Host, r.Name = hosts[i], hosts[i].Name
				if r.Elapsed == 0 {
					r.Elapsed = time.Since(t0)
				}
				mu.Lock()
				results[i] = r
				if done != nil {
					done(r)
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		bad := 0
		for i := start; i < end; i++ {
			if results[i].Bad() {
				bad++
			}
		}
		if o.Serial > 0 && o.MaxFailPercentage < 100 && bad*100 > o.MaxFailPercentage*(end-start) {
			stopped = fmt.Sprintf("not run: %d of %d hosts failed in the previous batch (max_fail_percentage %d)",
				bad, end-start, o.MaxFailPercentage)
		}
	}
	return results
}

// safeApply turns a panic in one host's apply into that host's failure.
func safeApply(ctx context.Context, h *Host, apply func(context.Context, *Host) Result) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			r = Result{Status: Failed, Error: fmt.Sprintf("internal error: %v", p)}
		}
	}()
	return apply(ctx, h)
}

// Summary prints the per-host table and a totals line.
func Summary(w io.Writer, results []Result) {
	wName, wStatus := len("HOST"), len("STATUS")
	for _, r := range results {
		wName = max(wName, len(r.Name))
		wStatus = max(wStatus, len(r.Status))
	}
	fmt.Fprintf(w, "%-*s  %-*s  %7s  %8s  %s\n", wName, "HOST", wStatus, "STATUS", "CHANGES", "TIME", "DETAIL")
	counts := map[Status]int{}
	for _, r := range results {
		counts[r.Status]++
		ch := "-"
		if r.Status == Changed || r.Status == Pending {
			ch = fmt.Sprint(r.Changes)
		} else if r.Status == Unchanged {
			ch = "0"
		}
		detail := r.Error
		if i := strings.IndexByte(detail, '\n'); i >= 0 {
			detail = detail[:i] + " ..."
		}
		if len(detail) > 160 {
			detail = detail[:157] + "..."
		}
		fmt.Fprintf(w, "%-*s  %-*s  %7s  %8s  %s\n", wName, r.Name, wStatus, r.Status, ch,
			r.Elapsed.Round(time.Millisecond), detail)
	}
	var parts []string
	for _, s := range []Status{Changed, Pending, Unchanged, Failed, Unreachable, Skipped} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	fmt.Fprintf(w, "%d hosts: %s\n", len(results), strings.Join(parts, ", "))
}
