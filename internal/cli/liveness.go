package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// liveEvery is how long an op runs before the terminal shows it is still alive, and how often that
// line is redrawn.
const liveEvery = time.Second

// stillRunning shows on a terminal that a long op is alive: once an op has run for `every`, one
// status line under the finished ops names it and its time ("still running packages: apt-get ...
// install nginx  20.0s"), redrawn in place every `every` and erased when the op ends, before its
// "ok" line. Only the terminal renderer has one: --json and redirected output are never redrawn,
// so they stay one line per event.
type stillRunning struct {
	w     io.Writer
	every time.Duration
	now   func() time.Time
	width func() int
	// ticker makes the ticks of one op, each carrying its time; its stop ends them. Tests hand in
	// their own channel and clock.
	ticker func(time.Duration) (<-chan time.Time, func())

	mu       sync.Mutex
	role, op string
	since    time.Time
	shown    bool
	stop     chan struct{}
	done     sync.WaitGroup
}

// stillRunning returns the liveness line for a.stdout, or nil when stdout is not a terminal that
// understands escape sequences (TERM=dumb).
func (a *app) stillRunning() *stillRunning {
	f, ok := a.stdout.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	fd := int(f.Fd())
	return &stillRunning{w: a.stdout, every: liveEvery, now: time.Now,
		width: func() int {
			if w, _, err := term.GetSize(fd); err == nil && w > 0 {
				return w
			}
			return 80
		},
		ticker: func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}}
}

// start follows a new op (op.start).
func (s *stillRunning) start(role, op string) {
	s.end() // an op.end that never came (it always does) must not leave a ticker behind
	s.mu.Lock()
	s.role, s.op, s.since = role, strings.Join(strings.Fields(op), " "), s.now()
	stop := make(chan struct{})
	s.stop = stop
	s.mu.Unlock()
	ticks, stopTicks := s.ticker(s.every)
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		defer stopTicks()
		for {
			select {
			case <-stop:
				return
			case now := <-ticks:
				s.tick(now)
			}
		}
	}()
}

// tick redraws the status line once the op has run for every (now is the tick's time).
func (s *stillRunning) tick(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.op == "" {
		return
	}
	elapsed := now.Sub(s.since)
	if elapsed < s.every {
		return
	}
	fmt.Fprint(s.w, "\r\x1b[K"+stillLine(s.role, s.op, elapsed, s.width()))
	s.shown = true
}

// end stops the ticks and erases the status line (op.end), so the op's own line takes its place.
func (s *stillRunning) end() {
	s.mu.Lock()
	stop := s.stop
	s.stop = nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		s.done.Wait()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shown {
		fmt.Fprint(s.w, "\r\x1b[K")
	}
	s.op, s.shown = "", false
}

// stillLine is the status line, shorter than width (the terminal never wraps it, so "\r" returns
// to its start). A long op keeps its end, where the packages, units or paths are named.
func stillLine(role, op string, elapsed time.Duration, width int) string {
	head := "  still running " + role + ": "
	tail := "  " + shortDuration(elapsed)
	room := width - 1 - len(head) - len(tail)
	switch {
	case room < 10:
		return clip(strings.TrimSuffix(head, ": ")+tail, max(width-1, 1))
	case len(op) > room:
		i := len(op) - (room - 3)
		for i < len(op) && !utf8.RuneStart(op[i]) { // never half a character
			i++
		}
		op = "..." + op[i:]
	}
	return head + op + tail
}
