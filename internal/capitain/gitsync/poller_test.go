package gitsync

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

type commits struct {
	mu  sync.Mutex
	got []string
}

func (c *commits) on(_ context.Context, t PollTarget, commit string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, t.Project+"@"+commit[:7])
}

func (c *commits) take() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := strings.Join(c.got, " ")
	c.got = nil
	return r
}

func countPrefix(reqs []string, prefix string) int {
	n := 0
	for _, r := range reqs {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// TestPoller polls real repositories behind git-http-backend through simulated time: a poll is one
// ref listing and never a fetch, a new commit is reported once, each project keeps its own
// interval with jitter, and a failing project does not stop the others.
func TestPoller(t *testing.T) {
	base := t.TempDir()
	web := newUpstream(t, filepath.Join(base, "web.git"), map[string]string{"chobolo.yml": "a: 1\n"})
	db := newUpstream(t, filepath.Join(base, "db.git"), map[string]string{"chobolo.yml": "b: 1\n"})
	srv := testenv.GitHTTPServer(t, base, "x-access-token", "tok")
	auth := Credentials{Username: "x-access-token", Password: "tok"}
	webTip := web.git(web.work, "rev-parse", "HEAD")
	dbTip := db.git(db.work, "rev-parse", "HEAD")
	targets := []PollTarget{
		{Project: "web", Source: Source{URL: srv.URL + "web.git", Ref: "main", Auth: auth}, Interval: time.Minute, Commit: webTip},
		{Project: "db", Source: Source{URL: srv.URL + "db.git", Ref: "main", Auth: auth}, Interval: 10 * time.Minute, Commit: dbTip},
		{Project: "gone", Source: Source{URL: srv.URL + "gone.git", Ref: "main", Auth: auth}, Interval: time.Minute},
		{Project: "hooks-only", Source: Source{URL: srv.URL + "web.git", Ref: "main"}, Interval: 0},
	}
	var mu sync.Mutex
	failures := map[string]int{}
	got := &commits{}
	p := &Poller{Cache: newCache(t), Targets: func(context.Context) ([]PollTarget, error) { return targets, nil },
		OnCommit: got.on, OnError: func(project string, err error) { mu.Lock(); failures[project]++; mu.Unlock() }}
	ctx := context.Background()
	t0 := at(t, "2026-03-02T10:00:00Z")

	// an hour in 10-second steps: web about 60 polls, db about 6, nothing new
	polls := map[string]int{}
	for now := t0; now.Before(t0.Add(time.Hour)); now = now.Add(10 * time.Second) {
		next, err := p.PollDue(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if next.Before(now) || next.After(now.Add(11*time.Minute)) {
			t.Fatalf("at %s the next poll is %s", now, next)
		}
		// with basic auth go-git may list twice per poll (a 401, then with credentials): count
		// projects listed in this step
		listed := map[string]bool{}
		for _, r := range srv.Requests() {
			if strings.HasPrefix(r, "POST") {
				t.Fatalf("a poll with nothing new fetched: %s", r)
			}
			if project, ok := strings.CutSuffix(strings.TrimPrefix(r, "GET /"), ".git/info/refs"); ok {
				listed[project] = true
			}
		}
		for project := range listed {
			polls[project]++
		}
	}
	t.Logf("polls in a simulated hour: %v", polls)
	if got := got.take(); got != "" {
		t.Fatalf("reported %q with nothing pushed", got)
	}
	// 10 % jitter: web's intervals are 54-66 s (measured in 10 s steps: 50-70 s), db's 9-11 min
	if polls["web"] < 51 || polls["web"] > 72 || polls["db"] < 5 || polls["db"] > 7 {
		t.Fatalf("polls in an hour: %v (want web ~60, db ~6)", polls)
	}
	if polls["hooks-only"] != 0 {
		t.Fatalf("a project with interval 0 was polled")
	}
	if failures["gone"] < 50 || len(failures) != 1 {
		t.Fatalf("failures %v: want only gone's, one per poll", failures)
	}

	// a push to web is reported once, at web's next poll; db is not
	c2 := web.commit("two", map[string]string{"chobolo.yml": "a: 2\n"})
	now := t0.Add(time.Hour)
	for i := 0; i < 20; i++ {
		if _, err := p.PollDue(ctx, now); err != nil {
			t.Fatal(err)
		}
		now = now.Add(10 * time.Second)
	}
	if r := got.take(); r != "web@"+c2[:7] {
		t.Fatalf("after a push: reported %q", r)
	}
	if n := countPrefix(srv.Requests(), "POST"); n != 0 {
		t.Fatalf("%d fetches while polling", n)
	}

	// the server synced db from a webhook to a commit the poller never saw: it takes that as known
	d2 := db.commit("two", map[string]string{"chobolo.yml": "b: 2\n"})
	targets[1].Commit = d2
	for i := 0; i < 70; i++ { // past db's 11-minute maximum
		if _, err := p.PollDue(ctx, now); err != nil {
			t.Fatal(err)
		}
		now = now.Add(10 * time.Second)
	}
	if r := got.take(); r != "" {
		t.Fatalf("reported %q for a commit the server already had", r)
	}

	// a project removed from the list is forgotten
	targets = targets[:1]
	if _, err := p.PollDue(ctx, now); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	n := len(p.state)
	p.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d projects tracked after removing all but one", n)
	}
}

// TestPollerRun checks Run's wiring with the real clock: the first poll of a project with a
// commit unknown to the server reports it, and Run ends with its context.
func TestPollerRun(t *testing.T) {
	base := t.TempDir()
	up := newUpstream(t, filepath.Join(base, "web.git"), map[string]string{"chobolo.yml": "a: 1\n"})
	tip := up.git(up.work, "rev-parse", "HEAD")
	url := gitDaemon(t, base) + "web.git"
	ctx, cancel := context.WithCancel(context.Background())
	reported := make(chan string, 1)
	p := &Poller{Cache: newCache(t), Jitter: 0.0001,
		Targets: func(context.Context) ([]PollTarget, error) {
			return []PollTarget{{Project: "web", Source: Source{URL: url, Ref: "main"}, Interval: time.Hour}}, nil
		},
		OnCommit: func(_ context.Context, _ PollTarget, c string) { reported <- c }}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	if c := <-reported; c != tip {
		t.Fatalf("reported %s, want %s", c, tip)
	}
	p.Wake()
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
}
