package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/capitain/server"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// fleetChobolo is a Ch-obolo managing motd on the SSH hosts hs (names one, two, ...), the first
// in group web, the others in group db.
func fleetChobolo(hs *testenv.SSHHosts, motd string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "files:\n  - path: /etc/motd\n    content: %q\nfleet:\n  ssh: {known_hosts: %s, config: none, connect_timeout: 3s}\n  hosts:\n",
		motd, hs.KnownHosts)
	names := []string{"one", "two", "three", "four", "five", "six"}
	for i, h := range hs.Hosts {
		group := "db"
		if i == 0 {
			group = "web"
		}
		fmt.Fprintf(&b, "    %s: {ssh_hostname: %s, ssh_user: root, ssh_key: %s, groups: [%s]}\n", names[i], h.Addr, hs.KeyFile, group)
	}
	return b.String()
}

// startServer runs a server in this process on dsn ("" : SQLite in a temp dir) and returns its
// API client (the admin token read from what the first start printed).
func startServer(t *testing.T, dsn string, workers int) *api {
	t.Helper()
	return startReplica(t, dsn, workers, "")
}

// startReplica is startServer on a database another server already started (token: its admin
// token), or on a new one (token "").
func startReplica(t *testing.T, dsn string, workers int, token string) *api {
	t.Helper()
	return startConfig(t, server.Config{DB: dsn, Workers: workers}, token)
}

// startConfig is startReplica with a whole configuration (Data is set here).
func startConfig(t *testing.T, cfg server.Config, token string) *api {
	t.Helper()
	return startConfigIn(t, cfg, t.TempDir(), token)
}

// startConfigIn is startConfig in the data directory data.
func startConfigIn(t *testing.T, cfg server.Config, data, token string) *api {
	t.Helper()
	cfg.Data = data
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, &out, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	m := tokenRE.FindStringSubmatch(out.String())
	switch {
	case token != "" && m != nil:
		t.Fatalf("a second server printed a new admin token: %q", out.String())
	case token != "":
		m = []string{"", token}
	case m == nil:
		t.Fatalf("no admin token printed: %q", out.String())
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return newAPI(t, "http://"+l.Addr().String(), m[1])
}

// waitJob polls a job until it has finished.
func (a *api) waitJob(id int64) *server.Job {
	a.t.Helper()
	for range 600 {
		var j server.Job
		a.must(200, "GET", fmt.Sprintf("/api/v1/jobs/%d", id), nil, &j)
		if j.Finished != nil {
			return &j
		}
		time.Sleep(200 * time.Millisecond)
	}
	a.t.Fatalf("job %d did not finish", id)
	return nil
}

func TestServerSQLite(t *testing.T) { testServer(t, "") }

func TestServerPostgreSQL(t *testing.T) { testServer(t, testenv.PostgreSQL(t)) }

// A project from a git repository served by git daemon, its fleet of two real SSH hosts, a plan
// (hosts OutOfSync with their plan), an apply (Synced, a generation carrying the job), the events
// listed, streamed and resumed, an invalid Ch-obolo and a host claimed by two projects shown on
// both, list filters and pagination, and the API's errors: every response validated against the
// OpenAPI document.
func testServer(t *testing.T, dsn string) {
	hs := testenv.StartSSHHosts(t, 2)
	url, _ := testenv.GitServer(t, "fleet", map[string]string{
		"site/chobolo.yml": fleetChobolo(hs, "managed by capitain\n"),
		"bad.yml":          "files:\n  - path: /etc/motd\n    contnet: x\n",
	})
	a := startServer(t, dsn, 4)

	var p server.Project
	a.must(201, "POST", "/api/v1/projects", map[string]any{"name": "site", "repo": url + "fleet.git", "ref": "main", "path": "site/chobolo.yml"}, &p)
	if p.SyncPolicy != "manual" || p.Commit != "" {
		t.Fatalf("created: %+v", p)
	}
	a.must(200, "POST", "/api/v1/projects/site/refresh", nil, &p)
	if len(p.Commit) != 40 || p.Hosts != 2 || len(p.Problems) != 0 {
		t.Fatalf("refreshed: %+v", p)
	}
	var hosts struct{ Items []server.Host }
	a.must(200, "GET", "/api/v1/hosts?project=site", nil, &hosts)
	if len(hosts.Items) != 2 || hosts.Items[0].Name != "one" || hosts.Items[0].Status != server.StatusUnknown ||
		hosts.Items[0].Groups[0] != "web" {
		t.Fatalf("hosts: %+v", hosts.Items)
	}

	// An invalid Ch-obolo: its errors with their positions, on the project; no host.
	var bad server.Project
	a.must(201, "POST", "/api/v1/projects", map[string]any{"name": "bad", "repo": url + "fleet.git", "path": "bad.yml"}, nil)
	a.must(200, "POST", "/api/v1/projects/bad/refresh", nil, &bad)
	if len(bad.Problems) == 0 || bad.Problems[0].File != "bad.yml" || bad.Problems[0].Line != 3 || bad.Hosts != 0 {
		t.Fatalf("invalid Ch-obolo: %+v", bad)
	}
	var e struct {
		Error struct{ Code, Message, Field string }
	}
	if st := a.do("POST", "/api/v1/jobs", map[string]any{"project": "bad", "kind": "plan"}, &e); st != 400 || e.Error.Field != "project" {
		t.Fatalf("job on an unrefreshed... project: %d %+v", st, e)
	}

	// A second project naming the same hosts: refused, shown on both.
	var dup server.Project
	a.must(201, "POST", "/api/v1/projects", map[string]any{"name": "dup", "repo": url + "fleet.git", "path": "site/chobolo.yml"}, nil)
	a.must(200, "POST", "/api/v1/projects/dup/refresh", nil, &dup)
	a.must(200, "GET", "/api/v1/projects/site", nil, &p)
	if dup.Hosts != 0 || len(dup.Problems) != 2 || !strings.Contains(dup.Problems[0].Message, "belongs to project site") ||
		len(p.Problems) != 2 || !strings.Contains(p.Problems[0].Message, "also claimed by project dup") {
		t.Fatalf("claims: dup %+v\nsite %+v", dup.Problems, p.Problems)
	}

	// A plan: both hosts OutOfSync with their pending plan; nothing changed.
	var j server.Job
	a.must(201, "POST", "/api/v1/jobs", server.JobRequest{Project: "site", Kind: server.KindPlan}, &j)
	if j.Hosts != 2 || j.Trigger != server.TriggerUser || j.Actor != "admin" || j.Commit != p.Commit {
		t.Fatalf("plan job: %+v", j)
	}
	if f := a.waitJob(j.ID); f.State != server.StateSucceeded || f.Counts["pending"] != 2 {
		t.Fatalf("plan job: %+v", f)
	}
	var h server.Host
	a.must(200, "GET", "/api/v1/hosts/site/one", nil, &h)
	if h.Status != server.StatusOutOfSync || !strings.Contains(string(h.PendingPlan), "/etc/motd") || h.Probed == nil || h.Core != "debian" ||
		!strings.Contains(string(h.PendingPlan), `"file":"site/chobolo.yml"`) {
		t.Fatalf("after the plan: %+v", h)
	}
	if got := testenv.ReadFile(t, hs.Hosts[0].Root, "/etc/motd"); got == "managed by capitain\n" {
		t.Fatal("a plan changed the host")
	}

	// An apply on the web group only, then on everything.
	a.must(201, "POST", "/api/v1/jobs", server.JobRequest{Project: "site", Kind: server.KindApply, Limit: "web"}, &j)
	if j.Hosts != 1 {
		t.Fatalf("--limit web: %+v", j)
	}
	a.waitJob(j.ID)
	a.must(201, "POST", "/api/v1/jobs", server.JobRequest{Project: "site", Kind: server.KindApply}, &j)
	if f := a.waitJob(j.ID); f.State != server.StateSucceeded || f.Counts["changed"] != 1 || f.Counts["unchanged"] != 1 {
		t.Fatalf("apply: %+v", f)
	}
	var jh struct{ Items []server.JobHost }
	a.must(200, "GET", fmt.Sprintf("/api/v1/jobs/%d/hosts", j.ID), nil, &jh)
	if len(jh.Items) != 2 || jh.Items[1].Host != "two" || jh.Items[1].State != "changed" || jh.Items[1].Generation != 1 || jh.Items[1].Ops == 0 {
		t.Fatalf("job hosts: %+v", jh.Items)
	}
	for i, x := range hs.Hosts {
		if got := testenv.ReadFile(t, x.Root, "/etc/motd"); got != "managed by capitain\n" {
			t.Fatalf("host %d: motd %q", i, got)
		}
	}
	h = server.Host{}
	a.must(200, "GET", "/api/v1/hosts/site/two", nil, &h)
	if h.Status != server.StatusSynced || h.SyncedCommit != p.Commit || h.Generation != 1 || len(h.PendingPlan) != 0 {
		t.Fatalf("after the apply: %+v", h)
	}
	tr, err := chaos.Open(context.Background(), "@chroot"+hs.Hosts[1].Root, true)
	if err != nil {
		t.Fatal(err)
	}
	gens, err := chaos.Generations(context.Background(), tr)
	tr.Close()
	if err != nil || len(gens) != 1 || !strings.HasSuffix(gens[0].Job, fmt.Sprintf(":%d", j.ID)) {
		t.Fatalf("generations of two: %+v %v", gens, err)
	}

	// Events: listed, streamed from the start, resumed after the third.
	var evs struct {
		Items []server.Event
		Next  string
	}
	a.must(200, "GET", fmt.Sprintf("/api/v1/jobs/%d/events?limit=1000", j.ID), nil, &evs)
	if len(evs.Items) < 10 || evs.Items[0].Seq != 1 {
		t.Fatalf("events: %d", len(evs.Items))
	}
	types := map[string]bool{}
	for i, ev := range evs.Items {
		types[ev.Type] = true
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	for _, want := range []string{"run.start", "plan", "op.start", "op.end", "result", "generation", "run.done"} {
		if !types[want] {
			t.Errorf("no %s event among %v", want, types)
		}
	}
	stream := a.readStream(j.ID, "")
	if len(stream) != len(evs.Items)+1 || stream[0].id != "1" || stream[len(stream)-1].event != "end" {
		t.Fatalf("stream: %d events (listed %d), first %q", len(stream), len(evs.Items), stream[0].id)
	}
	if resumed := a.readStream(j.ID, "3"); len(resumed) != len(stream)-3 || resumed[0].id != "4" {
		t.Fatalf("resumed stream: %d events, first %q", len(resumed), resumed[0].id)
	}

	// Lists: filters, sorting, pagination.
	a.must(200, "GET", "/api/v1/hosts?status=Synced&name=t*", nil, &hosts)
	if len(hosts.Items) != 1 || hosts.Items[0].Name != "two" {
		t.Fatalf("filtered hosts: %+v", hosts.Items)
	}
	a.must(200, "GET", "/api/v1/hosts?label=web", nil, &hosts)
	if len(hosts.Items) != 1 || hosts.Items[0].Name != "one" {
		t.Fatalf("label web: %+v", hosts.Items)
	}
	var pg struct {
		Items []server.Host
		Next  string
	}
	a.must(200, "GET", "/api/v1/hosts?sort=name&order=desc&limit=1", nil, &pg)
	if len(pg.Items) != 1 || pg.Items[0].Name != "two" || pg.Next == "" {
		t.Fatalf("page 1: %+v", pg)
	}
	next := pg.Next
	pg.Items, pg.Next = nil, ""
	a.must(200, "GET", "/api/v1/hosts?sort=name&order=desc&limit=1&cursor="+next, nil, &pg)
	if len(pg.Items) != 1 || pg.Items[0].Name != "one" || pg.Next != "" {
		t.Fatalf("page 2: %+v", pg)
	}
	var jobs struct {
		Items []server.Job
		Next  string
	}
	a.must(200, "GET", "/api/v1/jobs?project=site&kind=apply&limit=1", nil, &jobs)
	if len(jobs.Items) != 1 || jobs.Items[0].ID != j.ID || jobs.Next == "" {
		t.Fatalf("jobs page: %+v", jobs)
	}
	jobs.Items, jobs.Next = nil, ""
	a.must(200, "GET", "/api/v1/jobs?host=one&limit=1000", nil, &jobs)
	if !slices.ContainsFunc(jobs.Items, func(x server.Job) bool { return x.ID == j.ID }) {
		t.Fatalf("the jobs of host one lack job %d: %+v", j.ID, jobs)
	}
	jobs.Items, jobs.Next = nil, ""
	a.must(200, "GET", "/api/v1/jobs?host=nosuchhost", nil, &jobs)
	if len(jobs.Items) != 0 {
		t.Fatalf("jobs of a host that never ran one: %+v", jobs)
	}

	// Errors: one JSON shape, the field named.
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code, field  string
	}{
		{"POST", "/api/v1/projects", `{"name": "x"`, 400, "invalid_json", ""},
		{"POST", "/api/v1/projects", `{"name": "x", "repo": "r", "path": "p", "color": 1}`, 400, "invalid_json", ""},
		{"POST", "/api/v1/projects", map[string]any{"name": "Bad Name", "repo": "r", "path": "p"}, 400, "invalid", "name"},
		{"POST", "/api/v1/projects", map[string]any{"name": "x", "repo": "r", "path": "../p"}, 400, "invalid", "path"},
		{"POST", "/api/v1/projects", map[string]any{"name": "x", "repo": "r", "path": "p", "prune": "yes"}, 400, "invalid", "prune"},
		{"POST", "/api/v1/projects", `{"name": "` + strings.Repeat("x", 2<<20) + `"}`, 413, "too_large", ""},
		{"POST", "/api/v1/jobs", server.JobRequest{Project: "site", Kind: "destroy"}, 400, "invalid", "kind"},
		{"POST", "/api/v1/jobs", server.JobRequest{Project: "site", Kind: "plan", Limit: "nosuchhost"}, 400, "invalid", "limit"},
		{"POST", "/api/v1/jobs", server.JobRequest{Project: "site", Kind: "plan", Limit: "@/etc/passwd"}, 400, "invalid", "limit"},
		{"GET", "/api/v1/hosts?limit=0", nil, 400, "invalid", "limit"},
		{"GET", "/api/v1/hosts?cursor=zzz", nil, 400, "invalid", "cursor"},
		{"GET", "/api/v1/hosts?status=Fine", nil, 400, "invalid", "status"},
		{"GET", "/api/v1/projects/nope", nil, 404, "not_found", ""},
		{"GET", "/api/v1/jobs/999999", nil, 404, "not_found", ""},
		{"GET", "/api/v1/nothing", nil, 404, "not_found", ""},
	} {
		e.Error.Code, e.Error.Field = "", ""
		if st := a.do(c.method, c.path, c.body, &e); st != c.status || e.Error.Code != c.code || e.Error.Field != c.field {
			t.Errorf("%s %s: %d %+v, want %d %s %s", c.method, c.path, st, e.Error, c.status, c.code, c.field)
		}
	}
	anon := newAPI(t, a.base, "")
	if st := anon.do("GET", "/api/v1/projects", nil, &e); st != 401 || e.Error.Code != "unauthenticated" {
		t.Fatalf("no token: %d %+v", st, e)
	}
	wrong := newAPI(t, a.base, "chaos_wrong")
	if st := wrong.do("GET", "/api/v1/jobs", nil, &e); st != 401 {
		t.Fatalf("wrong token: %d", st)
	}
	var doc map[string]any
	anon.must(200, "GET", "/api/v1/openapi.json", nil, &doc)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi.json: %v", doc["openapi"])
	}

	// Health and readiness.
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := a.hc.Get(a.base + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}

	// Metrics read from the database.
	resp, err := a.hc.Get(a.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var mb bytes.Buffer
	_, _ = mb.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`capitain_jobs{kind="apply",state="succeeded"} 2`, `capitain_hosts{status="Synced"} 2`,
		`capitain_host_duration_seconds_count{kind="apply",outcome="changed"} 2`, "capitain_queue_depth 0",
		`capitain_api_request_duration_seconds_count{code="Created",route="POST /api/v1/jobs"}`} {
		if !strings.Contains(mb.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A cancelled job: its queued hosts never run, a running host stops and undoes (pkg/chaos's
// cancellation), and the job ends cancelled. One worker, so that two of three hosts are queued
// when the cancel arrives.
func TestCancelJob(t *testing.T) {
	hs := testenv.StartSSHHosts(t, 3)
	url, _ := testenv.GitServer(t, "fleet", map[string]string{"chobolo.yml": fleetChobolo(hs, "cancelled\n")})
	a := startServer(t, "", 1)
	a.must(201, "POST", "/api/v1/projects", map[string]any{"name": "site", "repo": url + "fleet.git", "path": "chobolo.yml"}, nil)
	a.must(200, "POST", "/api/v1/projects/site/refresh", nil, nil)
	var j server.Job
	a.must(201, "POST", "/api/v1/jobs", server.JobRequest{Project: "site", Kind: server.KindApply}, &j)
	a.must(200, "POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", j.ID), nil, &j)
	if !j.CancelRequested {
		t.Fatalf("cancel: %+v", j)
	}
	done := a.waitJob(j.ID)
	if done.State != server.StateCancelled || done.Counts["cancelled"] < 2 || done.Counts["queued"]+done.Counts["running"] != 0 {
		t.Fatalf("cancelled job: %+v", done)
	}
	var jh struct{ Items []server.JobHost }
	a.must(200, "GET", fmt.Sprintf("/api/v1/jobs/%d/hosts", j.ID), nil, &jh)
	for i, h := range jh.Items {
		motd := testenv.ReadFile(t, hs.Hosts[i].Root, "/etc/motd")
		switch h.State {
		case "cancelled":
			if motd == "cancelled\n" || h.Generation != 0 {
				t.Errorf("%s was cancelled but applied: %+v", h.Host, h)
			}
		case "changed":
			if motd != "cancelled\n" {
				t.Errorf("%s changed without its change: %q", h.Host, motd)
			}
		default:
			t.Errorf("%s: state %s", h.Host, h.State)
		}
	}
	// A cancelled job cannot be cancelled into another state.
	a.must(200, "POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", j.ID), nil, &j)
	if j.State != server.StateCancelled {
		t.Fatalf("second cancel: %+v", j)
	}
}

// Two replicas on one PostgreSQL database: a job created on one runs each host once (both
// replicas work the shared queue), and both stream all its events, live, the same.
func TestTwoReplicas(t *testing.T) {
	dsn := testenv.PostgreSQL(t)
	hs := testenv.StartSSHHosts(t, 4)
	url, _ := testenv.GitServer(t, "fleet", map[string]string{"chobolo.yml": fleetChobolo(hs, "replicated\n")})
	a := startReplica(t, dsn, 1, "")
	b := startReplica(t, dsn, 1, a.token)
	a.must(201, "POST", "/api/v1/projects", map[string]any{"name": "site", "repo": url + "fleet.git", "path": "chobolo.yml"}, nil)
	b.must(200, "POST", "/api/v1/projects/site/refresh", nil, nil)
	var j server.Job
	a.must(201, "POST", "/api/v1/jobs", server.JobRequest{Project: "site", Kind: server.KindApply}, &j)
	streams := make(chan []sse, 2)
	for _, c := range []*api{a, b} {
		go func() { streams <- c.readStream(j.ID, "") }()
	}
	s1, s2 := <-streams, <-streams
	if len(s1) != len(s2) || len(s1) < 20 {
		t.Fatalf("streams of %d and %d events", len(s1), len(s2))
	}
	for i := range s1 {
		if s1[i].id != s2[i].id || string(s1[i].data) != string(s2[i].data) {
			t.Fatalf("streams differ at %d: %s %s", i, s1[i].data, s2[i].data)
		}
	}
	var done server.Job
	b.must(200, "GET", fmt.Sprintf("/api/v1/jobs/%d", j.ID), nil, &done)
	if done.State != server.StateSucceeded || done.Counts["changed"] != 4 {
		t.Fatalf("job: %+v", done)
	}
	for i, h := range hs.Hosts {
		tr, err := chaos.Open(context.Background(), "@chroot"+h.Root, true)
		if err != nil {
			t.Fatal(err)
		}
		gens, err := chaos.Generations(context.Background(), tr)
		tr.Close()
		if err != nil || len(gens) != 1 {
			t.Errorf("host %d: generations %+v %v", i, gens, err)
		}
	}
	// Each host ran once: one run.start event per host.
	starts := map[string]int{}
	for _, e := range s1 {
		if e.event == "run.start" {
			var ev struct{ Host string }
			_ = json.Unmarshal(e.data, &ev)
			starts[ev.Host]++
		}
	}
	for h, n := range starts {
		if n != 1 {
			t.Errorf("host %s started %d times", h, n)
		}
	}
	if len(starts) != 4 {
		t.Errorf("hosts started: %v", starts)
	}
}

// An event stream outlives the server's read timeout (net/http would cancel it when its
// background read times out): a 300 ms read timeout, a job of three hosts run one at a time.
func TestStreamOutlivesReadTimeout(t *testing.T) {
	hs := testenv.StartSSHHosts(t, 3)
	url, _ := testenv.GitServer(t, "fleet", map[string]string{"chobolo.yml": fleetChobolo(hs, "slow\n")})
	a := startConfig(t, server.Config{Workers: 1, ReadTimeout: 300 * time.Millisecond}, "")
	a.must(201, "POST", "/api/v1/projects", map[string]any{"name": "site", "repo": url + "fleet.git", "path": "chobolo.yml"}, nil)
	a.must(200, "POST", "/api/v1/projects/site/refresh", nil, nil)
	var j server.Job
	a.must(201, "POST", "/api/v1/jobs", server.JobRequest{Project: "site", Kind: server.KindPlan}, &j)
	start := time.Now()
	evs := a.readStream(j.ID, "")
	if time.Since(start) < 300*time.Millisecond {
		t.Fatalf("the job took %v: shorter than the read timeout, nothing shown", time.Since(start))
	}
	if evs[len(evs)-1].event != "end" {
		t.Fatal("no end event")
	}
}
