package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestStillRunning: an op that runs longer than the interval gets a status line with its name and
// time, redrawn in place at each tick and erased when it ends; a short op and a tick before the
// interval draw nothing. The clock and the ticks are the test's, so nothing here waits.
func TestStillRunning(t *testing.T) {
	var out bytes.Buffer
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ticks := make(chan time.Time) // unbuffered: a send returns once the ticker goroutine took it
	stopped := 0
	s := &stillRunning{w: &out, every: 5 * time.Second, now: func() time.Time { return clock }, width: func() int { return 80 },
		ticker: func(time.Duration) (<-chan time.Time, func()) { return ticks, func() { stopped++ } }}
	tick := func(after time.Duration) {
		clock = clock.Add(after)
		ticks <- clock
	}

	// A short op: started, one tick before the interval, ended: nothing on the screen.
	s.start("files", "write /etc/motd (10 bytes)")
	tick(2 * time.Second)
	s.end()
	if out.Len() != 0 || stopped != 1 {
		t.Fatalf("short op: %q (ticker stopped %d times)", out.String(), stopped)
	}

	// A long op: a line after 5s, redrawn at 20s, erased at the end.
	op := "'DEBIAN_FRONTEND=noninteractive' apt-get -q -y -o 'DPkg::Lock::Timeout=300' install --no-install-recommends nginx"
	s.start("packages", op)
	tick(3 * time.Second) // 3s: not yet
	tick(2 * time.Second) // 5s
	tick(15 * time.Second)
	s.end()
	got := strings.Split(out.String(), "\r\x1b[K")
	want := []string{"",
		"  still running packages: ...t=300' install --no-install-recommends nginx  5.0s",
		"  still running packages: ...=300' install --no-install-recommends nginx  20.0s",
		""}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("long op:\n got %q\nwant %q", got, want)
	}
	for _, l := range got {
		if len(l) >= 80 {
			t.Errorf("line of %d columns at width 80: %q", len(l), l)
		}
	}
	if stopped != 2 {
		t.Errorf("ticker stopped %d times, want 2", stopped)
	}
}

// TestStillRunningOnlyOnTerminals: the renderer of a redirected stdout (and so of --json, which
// never renders) has no liveness line; nor has a terminal with TERM=dumb.
func TestStillRunningOnlyOnTerminals(t *testing.T) {
	if s := (&app{stdout: &bytes.Buffer{}}).stillRunning(); s != nil {
		t.Fatal("a buffer got a liveness line")
	}
}

func TestStillLineNarrow(t *testing.T) {
	for _, w := range []int{10, 30, 45, 200} {
		l := stillLine("packages", "apt-get install nginx ünïcödé", 65*time.Second, w)
		if len(l) >= max(w, 2) {
			t.Errorf("width %d: %q", w, l)
		}
		if !strings.Contains(l, "still") && w >= 30 {
			t.Errorf("width %d: %q", w, l)
		}
	}
}
