package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/fleet"
	"github.com/ch-aos-ch/chaos/internal/printable"
)

// Phases of a running host, in order.
const (
	phaseConnecting = "connecting"
	phaseProbing    = "probing"
	phasePlanning   = "planning"
	phaseApplying   = "applying"
	// phaseConfirming: a fresh connection confirms access after the apply (access.go).
	phaseConfirming = "confirming access"
)

// progressHost is one running host in a frame.
type progressHost struct {
	Name    string
	Phase   string
	Op, Ops int // applying: ops done / planned
	Elapsed time.Duration
}

// progressState is everything a frame shows; renderProgress turns it into lines.
type progressState struct {
	Running                      []progressHost // in the order the hosts started
	Total, Done                  int
	Changed, Failed, Unreachable int
	Elapsed                      time.Duration
	// MaxRows bounds the frame's height (bar included); hosts beyond it are summarized.
	MaxRows int
}

// renderProgress draws the live frame: one line per running host (name, elapsed, phase), then the
// overall bar. Every line is shorter than width, so the terminal never wraps and the frame can be
// erased by moving up len(lines) rows.
func renderProgress(s progressState, width int) []string {
	width = max(width, 20)
	limit := width - 1
	rows := s.MaxRows - 1 // the bar's row
	if rows < 1 {
		rows = 1
	}
	shown := s.Running
	more := 0
	if len(shown) > rows {
		more = len(shown) - (rows - 1)
		shown = shown[:rows-1]
	}
	nameW := 4
	for _, h := range shown {
		nameW = max(nameW, len(h.Name))
	}
	nameW = min(nameW, max(8, limit/3))
	var lines []string
	for _, h := range shown {
		phase := h.Phase
		if h.Phase == phaseApplying {
			phase = fmt.Sprintf("%s %d/%d", phaseApplying, h.Op, h.Ops)
		}
		lines = append(lines, clip(fmt.Sprintf("  %-*s %6s  %s", nameW, clip(h.Name, nameW), shortDuration(h.Elapsed), phase), limit))
	}
	if more > 0 {
		lines = append(lines, clip(fmt.Sprintf("  ... and %d more running", more), limit))
	}
	stats := fmt.Sprintf(" %d/%d hosts", s.Done, s.Total)
	for _, c := range []struct {
		n    int
		what string
	}{{s.Changed, "changed"}, {s.Failed, "failed"}, {s.Unreachable, "unreachable"}} {
		if c.n > 0 {
			stats += fmt.Sprintf(", %d %s", c.n, c.what)
		}
	}
	stats += "  " + shortDuration(s.Elapsed)
	barW := min(40, limit-len(stats)-2)
	if barW < 10 {
		return append(lines, clip(strings.TrimLeft(stats, " "), limit))
	}
	fill := 0
	if s.Total > 0 {
		fill = barW * s.Done / s.Total
	}
	return append(lines, "["+strings.Repeat("#", fill)+strings.Repeat(".", barW-fill)+"]"+stats)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 3 {
		return s[:n]
	}
	return s[:n-3] + "..."
}

// shortDuration: 0.4s, 12.3s, 2m05s.
func shortDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// fleetTracker follows the hosts of a fleet run; safe for concurrent use.
type fleetTracker struct {
	mu      sync.Mutex
	start   time.Time
	total   int
	running []*trackedHost
	done    int
	counts  map[fleet.Status]int
}

type trackedHost struct {
	name    string
	phase   string
	op, ops int
	since   time.Time
}

func newFleetTracker(total int, start time.Time) *fleetTracker {
	return &fleetTracker{start: start, total: total, counts: map[fleet.Status]int{}}
}

// host returns the running host, starting it on first sight (t.mu held).
func (t *fleetTracker) host(name string, now time.Time) *trackedHost {
	for _, h := range t.running {
		if h.name == name {
			return h
		}
	}
	h := &trackedHost{name: name, since: now}
	t.running = append(t.running, h)
	return h
}

func (t *fleetTracker) setPhase(name, phase string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.host(name, now).phase = phase
}

func (t *fleetTracker) planned(name string, ops int, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ops > 0 {
		h := t.host(name, now)
		h.phase, h.op, h.ops = phaseApplying, 0, ops
	}
}

func (t *fleetTracker) opDone(name string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.host(name, now)
	if h.op < h.ops {
		h.op++
	}
}

func (t *fleetTracker) finish(r engine.HostOutcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, h := range t.running {
		if h.name == r.Name {
			t.running = append(t.running[:i], t.running[i+1:]...)
			break
		}
	}
	t.done++
	t.counts[fleet.Status(r.Status)]++
}

func (t *fleetTracker) snapshot(now time.Time, maxRows int) progressState {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := progressState{Total: t.total, Done: t.done, Changed: t.counts[fleet.Changed] + t.counts[fleet.Pending],
		Failed: t.counts[fleet.Failed], Unreachable: t.counts[fleet.Unreachable], Elapsed: now.Sub(t.start), MaxRows: maxRows}
	for _, h := range t.running {
		s.Running = append(s.Running, progressHost{Name: h.name, Phase: h.phase, Op: h.op, Ops: h.ops, Elapsed: now.Sub(h.since)})
	}
	return s
}

// progressRate is how often the live frame is redrawn.
const progressRate = 200 * time.Millisecond

// fleetOutput is where a fleet run reports: a live frame on a terminal, plain lines otherwise, JSON
// lines with --json. All writes to stdout go through mu, so lines from hosts never interleave.
type fleetOutput struct {
	a    *app
	mode string // "live", "plain", "json"
	mu   sync.Mutex
	tr   *fleetTracker
	json *jsonReporter
	// head is the run's first line (text modes), from the number of hosts.
	head func(n int) string
	// the text of the running hosts, by name
	hmu   sync.Mutex
	hosts map[string]*textReporter
	bufs  map[string]*bytes.Buffer
	// live
	fd      int
	lines   int // rows of the frame on screen
	stop    chan struct{}
	ticker  sync.WaitGroup
	started bool
	closed  bool
}

// fleetOutput picks the mode: JSON with --json, live when stdout is a terminal (and TERM is not
// dumb), else plain lines.
func (a *app) fleetOutput(jsonMode bool, total int) *fleetOutput {
	o := &fleetOutput{a: a, mode: "plain", tr: newFleetTracker(total, time.Now()), json: &jsonReporter{w: a.stdout},
		hosts: map[string]*textReporter{}, bufs: map[string]*bytes.Buffer{}}
	switch {
	case jsonMode:
		o.mode = "json"
	case os.Getenv("TERM") != "dumb":
		if f, ok := a.stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			o.mode, o.fd = "live", int(f.Fd())
		}
	}
	return o
}

// start begins redrawing the live frame.
func (o *fleetOutput) start() {
	if o.mode != "live" {
		return
	}
	o.mu.Lock()
	o.started = true
	o.drawLocked()
	o.mu.Unlock()
	o.stop = make(chan struct{})
	o.ticker.Add(1)
	go func() {
		defer o.ticker.Done()
		t := time.NewTicker(progressRate)
		defer t.Stop()
		for {
			select {
			case <-o.stop:
				return
			case <-t.C:
				o.mu.Lock()
				if !o.closed {
					o.eraseLocked()
					o.drawLocked()
				}
				o.mu.Unlock()
			}
		}
	}()
}

// close stops the live frame and erases it; later output is plain. Safe to call twice.
func (o *fleetOutput) close() {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	if o.mode == "live" {
		o.eraseLocked()
	}
	o.mu.Unlock()
	if o.stop != nil {
		close(o.stop)
		o.ticker.Wait()
	}
}

func (o *fleetOutput) size() (int, int) {
	w, h, err := term.GetSize(o.fd)
	if err != nil || w <= 0 {
		return 80, 24
	}
	return w, h
}

func (o *fleetOutput) drawLocked() {
	w, h := o.size()
	frame := renderProgress(o.tr.snapshot(time.Now(), min(max(h/2, 3), 20)), w)
	_, _ = io.WriteString(o.a.stdout, strings.Join(frame, "\n")+"\n")
	o.lines = len(frame)
}

// eraseLocked moves to the frame's first row and clears to the end of the screen.
func (o *fleetOutput) eraseLocked() {
	if o.lines > 0 {
		fmt.Fprintf(o.a.stdout, "\x1b[%dA\x1b[J", o.lines)
		o.lines = 0
	}
}

// block prints text (a host's plan and progress) above the live frame.
func (o *fleetOutput) block(text string) {
	if text == "" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	live := o.mode == "live" && o.started && !o.closed
	if live {
		o.eraseLocked()
	}
	_, _ = io.WriteString(o.a.stdout, text)
	if live {
		o.drawLocked()
	}
}

// Event follows the run: JSON lines with --json; otherwise each host's text (the text reporter's)
// is kept until the host is done and printed as one block, and the tracker follows the phases.
func (o *fleetOutput) Event(ev engine.Event) {
	if ev.Type == engine.EventRunStart {
		o.tr.mu.Lock()
		o.tr.total = ev.Count
		o.tr.mu.Unlock()
		if o.mode != "json" {
			o.block(o.head(ev.Count))
		}
		defer o.start()
	}
	switch ev.Type {
	case engine.EventPhase:
		if ev.Phase == phaseApplying {
			o.tr.planned(ev.Target, ev.Ops, time.Now())
		} else {
			o.tr.setPhase(ev.Target, ev.Phase, time.Now())
		}
	case engine.EventOpEnd:
		o.tr.opDone(ev.Target, time.Now())
	}
	if o.mode == "json" {
		o.json.Event(ev)
		if ev.Type == engine.EventHostResult {
			o.tr.finish(*ev.Host)
		}
		return
	}
	switch ev.Type {
	case engine.EventRunStart, engine.EventRunDone, engine.EventError:
	case engine.EventHostResult:
		o.finished(*ev.Host)
	default:
		if ev.Target == "" {
			o.a.textReporter(engine.Style{}).Event(ev)
			return
		}
		o.hostText(ev.Target).Event(ev)
	}
}

// hostText is the text reporter of one host, writing into its block.
func (o *fleetOutput) hostText(name string) *textReporter {
	o.hmu.Lock()
	defer o.hmu.Unlock()
	if r, ok := o.hosts[name]; ok {
		return r
	}
	buf := &bytes.Buffer{}
	r := &textReporter{out: buf, errw: buf, verbose: o.a.verbose}
	o.hosts[name] = r
	o.bufs[name] = buf
	return r
}

// finished prints a host's block and records its result: a plain line or a redraw.
func (o *fleetOutput) finished(r engine.HostOutcome) {
	o.hmu.Lock()
	buf := o.bufs[r.Name]
	delete(o.hosts, r.Name)
	delete(o.bufs, r.Name)
	o.hmu.Unlock()
	var text string
	if buf != nil {
		text = buf.String()
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, r.Name+":") {
			line = r.Name + ": " + strings.TrimLeft(line, " ")
		}
		b.WriteString(line)
	}
	if r.Error != "" && !strings.Contains(text, r.Error) {
		fmt.Fprintf(&b, "%s: %s: %s\n", r.Name, r.Status, printable.Text(r.Error))
	}
	o.block(b.String())
	o.tr.finish(r)
	switch o.mode {
	case "plain":
		s := o.tr.snapshot(time.Now(), 0)
		o.block(fmt.Sprintf("fleet: [%d/%d] %s %s (%s)\n", s.Done, s.Total, r.Name, r.Status, shortDuration(r.Elapsed)))
	case "live":
		o.mu.Lock()
		if o.started && !o.closed {
			o.eraseLocked()
			o.drawLocked()
		}
		o.mu.Unlock()
	}
}
