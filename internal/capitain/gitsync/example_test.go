package gitsync_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/ch-aos-ch/chaos/internal/capitain/gitsync"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// project stands for the server's stored project.
type project struct {
	Name          string
	Source        gitsync.Source
	WebhookSecret []byte
	Windows       []gitsync.Window
	PollInterval  time.Duration
	Commit        string
}

func lookup(r *http.Request) *project { return nil }

func enqueueSync(p *project, commit, trigger string) {}

// A webhook route: verify with the project's secret, answer StatusCode, queue a sync when the push
// moves the project's ref.
func ExampleParsePush() {
	http.HandleFunc("POST /api/v1/projects/{name}/webhook", func(w http.ResponseWriter, r *http.Request) {
		p := lookup(r)
		if p == nil {
			http.NotFound(w, r)
			return
		}
		push, err := gitsync.ParsePush(r, p.WebhookSecret)
		if err != nil {
			http.Error(w, err.Error(), gitsync.StatusCode(err))
			return
		}
		if !push.Deleted && push.Affects(p.Source.URL, p.Source.Ref) {
			enqueueSync(p, push.Commit, "webhook")
		}
		w.WriteHeader(http.StatusOK)
	})
}

// A sync job: check the windows, get the checkout, load the Ch-obolo from it.
func ExampleCache_Sync() {
	cache, err := gitsync.NewCache("/var/lib/capitain/git")
	if err != nil {
		log.Fatal(err)
	}
	p := &project{Name: "web", Source: gitsync.Source{URL: "https://git.example.org/ops/fleet.git", Ref: "main",
		Path: "fleet/chobolo.yml", Auth: gitsync.Credentials{Username: "oauth2", Password: "token from a file"}}}
	if ok, err := gitsync.MaySync(p.Windows, time.Now(), false); err != nil || !ok {
		return // an automatic sync outside its windows waits
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	co, err := cache.Sync(ctx, p.Name, p.Source)
	if err != nil {
		log.Print(err) // names the project and URL, never the token
		return
	}
	c, err := chaos.Load(co.Chobolo, chaos.LoadOptions{ReadFile: co.ReadFile})
	if err != nil {
		log.Print(err) // FILE:LINE:COL of every problem, under co.Dir
		return
	}
	_ = c // plan and apply it with a chaos.Controller
}

// Polling every project: the targets come from the database on each round.
func ExamplePoller() {
	cache, _ := gitsync.NewCache("/var/lib/capitain/git")
	var projects []*project
	poller := &gitsync.Poller{
		Cache: cache,
		Targets: func(context.Context) ([]gitsync.PollTarget, error) {
			var ts []gitsync.PollTarget
			for _, p := range projects {
				ts = append(ts, gitsync.PollTarget{Project: p.Name, Source: p.Source, Interval: p.PollInterval, Commit: p.Commit})
			}
			return ts, nil
		},
		OnCommit: func(_ context.Context, t gitsync.PollTarget, commit string) {
			for _, p := range projects {
				if p.Name == t.Project {
					enqueueSync(p, commit, "poll")
				}
			}
		},
		OnError: func(project string, err error) { log.Print(err) },
	}
	go func() { _ = poller.Run(context.Background()) }()
}
