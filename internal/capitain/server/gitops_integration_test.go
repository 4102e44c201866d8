package server_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ch-aos-ch/chaos/internal/capitain/notify"
	"github.com/ch-aos-ch/chaos/internal/capitain/server"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// receiver is a generic-webhook notification receiver on loopback: it verifies each request's
// signature and keeps the notifications.
type receiver struct {
	t      *testing.T
	secret []byte
	mu     sync.Mutex
	got    []notify.Payload
}

func newReceiver(t *testing.T, secret string) (*receiver, string) {
	r := &receiver{t: t, secret: []byte(secret)}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := notify.Verify(r.secret, req.Header, body, time.Now(), notify.DefaultTolerance); err != nil {
			t.Errorf("notification with a bad signature: %v", err)
			w.WriteHeader(401)
			return
		}
		var p notify.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("notification: %v", err)
		}
		r.mu.Lock()
		r.got = append(r.got, p)
		r.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return r, s.URL
}

// find returns the first notification of event ev whose job matches kind ("" any), if any.
func (r *receiver) find(ev notify.Event, kind string) *notify.Payload {
	return r.findFunc(func(p *notify.Payload) bool {
		return p.Event == ev && (kind == "" || p.Job != nil && p.Job.Kind == kind)
	})
}

func (r *receiver) findFunc(match func(*notify.Payload) bool) *notify.Payload {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.got {
		if p := r.got[i]; match(&p) {
			return &p
		}
	}
	return nil
}

func (r *receiver) events() []notify.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []notify.Event
	for _, p := range r.got {
		out = append(out, p.Event)
	}
	return out
}

// eventually polls cond until it holds (generous: the machine may be loaded).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// headCommit is the commit of HEAD in a work tree.
func headCommit(t *testing.T, work string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", work, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// push commits files (path -> content) in work and pushes main; it returns the new commit.
func push(t *testing.T, work string, files map[string]string) string {
	t.Helper()
	for p, c := range files {
		if err := os.WriteFile(filepath.Join(work, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Git(t, work, "commit", "-q", "-am", "change")
	testenv.Git(t, work, "push", "-q", "origin", "main")
	return headCommit(t, work)
}

// githubPush posts a GitHub push event for commit to the project's webhook route, signed with
// secret; it returns the status.
func (a *api) githubPush(project, repoURL, commit, secret string) int {
	body := fmt.Appendf(nil, `{"ref":"refs/heads/main","after":%q,"head_commit":{"id":%q},"repository":{"clone_url":%q,"default_branch":"main"}}`,
		commit, commit, repoURL)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	req, _ := http.NewRequest("POST", a.base+"/api/v1/webhooks/"+project, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "d-"+commit[:8])
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (a *api) jobs(query string) []server.Job {
	a.t.Helper()
	var page struct{ Items []server.Job }
	a.must(200, "GET", "/api/v1/jobs?"+query, nil, &page)
	return page.Items
}

// waitNewJob waits for a job of the project matching kind and trigger with an id above after,
// then for its end.
func (a *api) waitNewJob(t *testing.T, project, kind, trigger string, after int64) *server.Job {
	t.Helper()
	var id int64
	eventually(t, fmt.Sprintf("a %s job (%s) after job %d", kind, trigger, after), func() bool {
		for _, j := range a.jobs("project=" + project + "&kind=" + kind) {
			if j.ID > after && j.Trigger == trigger {
				id = j.ID
				return true
			}
		}
		return false
	})
	return a.waitJob(id)
}

func TestGitOpsSQLite(t *testing.T) { testGitOps(t, "") }

func TestGitOpsPostgreSQL(t *testing.T) { testGitOps(t, testenv.PostgreSQL(t)) }

// GitOps through the server, on real SSH hosts and a git daemon: a webhook with a bad signature
// queues nothing; a signed push validates, plans every host (drift check) and, with the auto
// policy, applies; a host changed by hand is found OutOfSync with the diff by a scheduled check,
// and selfHeal re-applies it; an invalid commit shows its errors with file:line:col and applies
// nothing; polling finds a commit without a webhook; a project rolls back to an earlier commit in
// one call; notifications reach a loopback receiver by the project's rules (another project's rule
// sends nothing); retention keeps the newest jobs.
func testGitOps(t *testing.T, dsn string) {
	hs := testenv.StartSSHHosts(t, 2)
	url, work := testenv.GitServer(t, "fleet", map[string]string{
		"site/chobolo.yml": fleetChobolo(hs, "v1\n"),
		"empty.yml":        "files:\n  - path: /etc/motd\n    content: x\n",
	})
	repo := url + "fleet.git"
	dir := t.TempDir()
	hookFile, notifyFile := filepath.Join(dir, "hook"), filepath.Join(dir, "notify")
	for f, v := range map[string]string{hookFile: "hook-s3cret\n", notifyFile: "notify-s3cret\n"} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	siteRecv, siteURL := newReceiver(t, "notify-s3cret")
	otherRecv, otherURL := newReceiver(t, "notify-s3cret")
	fast := notify.DeliveryConfig{Backoff: 50 * time.Millisecond, MaxBackoff: time.Second}
	a := startConfig(t, server.Config{DB: dsn, Workers: 4, Notifications: notify.Config{
		Channels: []notify.ChannelConfig{
			{Name: "ops", Type: "webhook", URL: siteURL, Secret: notify.Secret{File: notifyFile}},
			{Name: "other", Type: "webhook", URL: otherURL, Secret: notify.Secret{File: notifyFile}},
		},
		Rules: []notify.Rule{
			{Name: "site", Projects: []string{"site"}, Events: []notify.Event{notify.JobFailed, notify.DriftDetected, notify.SyncStarted, notify.SyncFinished},
				Channels: []string{"ops"}},
			{Name: "elsewhere", Projects: []string{"elsewhere"}, Channels: []string{"other"}},
		},
		Delivery: fast}}, "")

	site := map[string]any{"name": "site", "repo": repo, "ref": "main", "path": "site/chobolo.yml", "sync_policy": "auto",
		"webhook_secret": map[string]string{"file": hookFile}}
	var p server.Project
	a.must(201, "POST", "/api/v1/projects", site, &p)
	a.must(200, "POST", "/api/v1/projects/site/refresh", nil, &p)
	c1 := p.Commit
	var j server.Job
	a.must(201, "POST", "/api/v1/jobs", server.JobRequest{Project: "site", Kind: server.KindApply}, &j)
	if f := a.waitJob(j.ID); f.State != server.StateSucceeded {
		t.Fatalf("first apply: %+v", f)
	}
	last := j.ID

	// A push with a bad signature: 401, nothing queued, the project still at c1.
	c2 := push(t, work, map[string]string{"site/chobolo.yml": fleetChobolo(hs, "v2\n")})
	if st := a.githubPush("site", repo, c2, "wrong"); st != 401 {
		t.Fatalf("bad signature: %d", st)
	}
	a.must(200, "GET", "/api/v1/projects/site", nil, &p)
	if js := a.jobs("project=site"); len(js) != 1 || p.Commit != c1 {
		t.Fatalf("a badly signed push did something: commit %s, %d jobs", p.Commit, len(js))
	}
	// Signed: a drift check at c2 (both hosts OutOfSync with their plan), then the auto apply.
	if st := a.githubPush("site", repo, c2, "hook-s3cret"); st != 202 {
		t.Fatalf("signed push: %d", st)
	}
	dc := a.waitNewJob(t, "site", server.KindDriftCheck, server.TriggerWebhook, last)
	if dc.Commit != c2 || dc.Counts["pending"] != 2 {
		t.Fatalf("drift check after the push: %+v", dc)
	}
	ap := a.waitNewJob(t, "site", server.KindApply, server.TriggerAutoSync, dc.ID)
	if ap.State != server.StateSucceeded || ap.Commit != c2 || ap.Counts["changed"] != 2 {
		t.Fatalf("auto apply: %+v", ap)
	}
	for i, x := range hs.Hosts {
		if got := testenv.ReadFile(t, x.Root, "/etc/motd"); got != "v2\n" {
			t.Fatalf("host %d after the auto sync: %q", i, got)
		}
	}
	last = ap.ID

	// A host changed by hand, selfHeal off: the scheduled check marks it OutOfSync with the diff,
	// and auto (which follows commits, not hand changes) leaves it.
	if err := os.WriteFile(filepath.Join(hs.Hosts[0].Root, "etc/motd"), []byte("by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var sched server.Schedule
	a.must(201, "POST", "/api/v1/projects/site/schedules", map[string]string{"kind": "drift-check", "cron": "@every 2s"}, &sched)
	var h server.Host
	eventually(t, "the scheduled check to mark host one OutOfSync", func() bool {
		a.must(200, "GET", "/api/v1/hosts/site/one", nil, &h)
		return h.Status == server.StatusOutOfSync
	})
	if !strings.Contains(string(h.PendingPlan), "/etc/motd") || h.SyncedCommit != c2 {
		t.Fatalf("drifted host: %+v", h)
	}
	var drift *notify.Payload
	eventually(t, "the drift notification of the scheduled check", func() bool {
		drift = siteRecv.findFunc(func(p *notify.Payload) bool {
			return p.Event == notify.DriftDetected && p.Job.Trigger == server.TriggerSchedule
		})
		return drift != nil
	})
	if len(drift.Hosts) != 1 || drift.Hosts[0].Name != "one" || drift.Hosts[0].Status != server.StatusOutOfSync {
		t.Fatalf("drift notification: %+v", drift)
	}
	// selfHeal on: a scheduled check finds it and an automatic apply puts it back.
	site["self_heal"] = true
	a.must(200, "PUT", "/api/v1/projects/site", site, &p)
	eventually(t, "selfHeal to restore host one", func() bool {
		return testenv.ReadFile(t, hs.Hosts[0].Root, "/etc/motd") == "v2\n"
	})
	eventually(t, "host one Synced", func() bool {
		a.must(200, "GET", "/api/v1/hosts/site/one", nil, &h)
		return h.Status == server.StatusSynced
	})
	if st := a.do("DELETE", fmt.Sprintf("/api/v1/projects/site/schedules/%d", sched.ID), nil, nil); st != 204 {
		t.Fatalf("delete schedule: %d", st)
	}
	var scheds struct{ Items []server.Schedule }
	a.must(200, "GET", "/api/v1/projects/site/schedules", nil, &scheds)
	if len(scheds.Items) != 0 {
		t.Fatalf("schedules after delete: %+v", scheds.Items)
	}
	// Jobs the schedule queued before its deletion end before the next steps count jobs.
	for _, x := range a.jobs("project=site") {
		a.waitJob(x.ID)
	}

	// An invalid commit: its errors on the project with their position; nothing runs.
	c3 := push(t, work, map[string]string{"site/chobolo.yml": "files:\n  - path: /etc/motd\n    contnet: x\n"})
	if st := a.githubPush("site", repo, c3, "hook-s3cret"); st != 202 {
		t.Fatalf("signed push: %d", st)
	}
	eventually(t, "the invalid commit's problems", func() bool {
		a.must(200, "GET", "/api/v1/projects/site", nil, &p)
		return p.Commit == c3 && len(p.Problems) > 0
	})
	if p.Problems[0].File != "site/chobolo.yml" || p.Problems[0].Line != 3 || p.Problems[0].Col == 0 {
		t.Fatalf("problems of the invalid commit: %+v", p.Problems)
	}
	for _, x := range a.jobs("project=site&limit=1000") {
		if x.Commit == c3 {
			t.Fatalf("a job on the invalid commit: %+v", x)
		}
	}

	// Rollback of the project to c1 in one call: pinned there, applied, Synced at c1.
	var rb server.Job
	a.must(201, "POST", "/api/v1/projects/site/rollback", map[string]string{"commit": c1}, &rb)
	if rb.Kind != server.KindRollback || rb.ToCommit != c1 || rb.Commit != c1 {
		t.Fatalf("rollback job: %+v", rb)
	}
	if f := a.waitJob(rb.ID); f.State != server.StateSucceeded || f.Counts["changed"] != 2 {
		t.Fatalf("rollback: %+v", f)
	}
	a.must(200, "GET", "/api/v1/projects/site", nil, &p)
	a.must(200, "GET", "/api/v1/hosts/site/two", nil, &h)
	if p.Ref != c1 || p.Commit != c1 || len(p.Problems) != 0 || h.Status != server.StatusSynced || h.SyncedCommit != c1 ||
		testenv.ReadFile(t, hs.Hosts[1].Root, "/etc/motd") != "v1\n" {
		t.Fatalf("after the rollback: project %+v host %+v", p, h)
	}

	// A failed job is notified (rule site); sync.finished was for the auto apply.
	a.must(201, "POST", "/api/v1/jobs", server.JobRequest{Project: "site", Kind: server.KindRollback, ToGeneration: 99, Limit: "one"}, &j)
	if f := a.waitJob(j.ID); f.State != server.StateFailed {
		t.Fatalf("rollback to a missing generation: %+v", f)
	}
	eventually(t, "job.failed", func() bool { return siteRecv.find(notify.JobFailed, server.KindRollback) != nil })
	if f := siteRecv.find(notify.JobFailed, server.KindRollback); len(f.Hosts) != 1 || f.Hosts[0].Name != "one" || f.Hosts[0].Error == "" {
		t.Fatalf("job.failed: %+v", f)
	}
	if s := siteRecv.find(notify.SyncFinished, server.KindApply); s == nil || s.Job.Trigger != server.TriggerAutoSync || s.Job.Status != server.StateSucceeded {
		t.Fatalf("sync.finished: %+v (events %v)", s, siteRecv.events())
	}
	if siteRecv.find(notify.SyncStarted, server.KindApply) == nil || siteRecv.find(notify.JobSucceeded, "") != nil {
		t.Fatalf("the site rule's events: %v", siteRecv.events())
	}
	if ev := otherRecv.events(); len(ev) != 0 {
		t.Fatalf("another project's rule received %v", ev)
	}
	resp, err := http.Get(a.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(metrics, []byte(`capitain_notifications_total{channel="ops",event="host.drift",outcome="delivered"}`)) ||
		!bytes.Contains(metrics, []byte("capitain_notifications_pending ")) {
		t.Fatalf("/metrics lacks the notifications:\n%s", metrics)
	}

	// Polling: a project polled every second follows a push without any webhook.
	var polled server.Project
	a.must(201, "POST", "/api/v1/projects", map[string]any{"name": "polled", "repo": repo, "ref": "main", "path": "empty.yml", "poll_interval": "1s"}, nil)
	a.must(200, "POST", "/api/v1/projects/polled/refresh", nil, &polled)
	c4 := push(t, work, map[string]string{"empty.yml": "files:\n  - path: /etc/motd\n    content: y\n"})
	eventually(t, "the poller to find the new commit", func() bool {
		a.must(200, "GET", "/api/v1/projects/polled", nil, &polled)
		return polled.Commit == c4
	})

	// Retention: the newest 2 jobs of the project stay once the next one ends.
	site["retention"] = map[string]any{"max_jobs": 2}
	site["ref"] = c1
	a.must(200, "PUT", "/api/v1/projects/site", site, &p)
	if p.Retention.MaxJobs != 2 || p.WebhookSecret.File != hookFile {
		t.Fatalf("updated project: %+v", p)
	}
	a.must(201, "POST", "/api/v1/jobs", server.JobRequest{Project: "site", Kind: server.KindPlan}, &j)
	a.waitJob(j.ID)
	eventually(t, "retention to keep the newest 2 jobs", func() bool { return len(a.jobs("project=site&limit=1000")) == 2 })
	if js := a.jobs("project=site&limit=1000"); js[0].ID != j.ID {
		t.Fatalf("retention kept %+v", js)
	}
	var ev struct{ Items []server.Event }
	a.must(404, "GET", fmt.Sprintf("/api/v1/jobs/%d/events", dc.ID), nil, &ev)
}

// A project's HTTPS token is read from the server's environment (or a file) at each fetch: the
// repository served by the real git-http-backend behind basic auth is fetched with it, a wrong or
// missing token is a problem on the project that does not show the token, and neither the API nor
// the database file holds the token.
func TestProjectCredentials(t *testing.T) {
	_, work := testenv.GitServer(t, "fleet", map[string]string{"empty.yml": "files:\n  - path: /etc/motd\n    content: x\n"})
	origin, err := exec.Command("git", "-C", work, "remote", "get-url", "origin").Output()
	if err != nil {
		t.Fatal(err)
	}
	const token = "tok-3f9a7c1e5d"
	gh := testenv.GitHTTPServer(t, filepath.Dir(strings.TrimSpace(string(origin))), "ci", token)
	t.Setenv("CAPITAIN_TEST_GIT_TOKEN", token)
	wrong := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrong, []byte("tok-wrong-0000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "capitain.db")
	a := startConfig(t, server.Config{DB: db, Workers: 1}, "")

	repo := gh.URL + "fleet.git"
	var p server.Project
	a.must(201, "POST", "/api/v1/projects", map[string]any{"name": "private", "repo": repo, "path": "empty.yml",
		"credentials": map[string]any{"username": "ci", "token": map[string]string{"env": "CAPITAIN_TEST_GIT_TOKEN"}}}, nil)
	a.must(200, "POST", "/api/v1/projects/private/refresh", nil, &p)
	if len(p.Commit) != 40 || len(p.Problems) != 0 || p.Credentials.Token.Env != "CAPITAIN_TEST_GIT_TOKEN" {
		t.Fatalf("with the token: %+v", p)
	}
	if reqs := strings.Join(gh.Requests(), " "); !strings.Contains(reqs, "POST /fleet.git/git-upload-pack") {
		t.Fatalf("no fetch over HTTP: %s", reqs)
	}
	for name, creds := range map[string]any{"wrong": map[string]any{"username": "ci", "token": map[string]string{"file": wrong}}, "anonymous": nil} {
		body := map[string]any{"name": name, "repo": repo, "path": "empty.yml"}
		if creds != nil {
			body["credentials"] = creds
		}
		a.must(201, "POST", "/api/v1/projects", body, nil)
		p = server.Project{}
		a.must(200, "POST", "/api/v1/projects/"+name+"/refresh", nil, &p)
		if p.Commit != "" || len(p.Problems) != 1 || !strings.Contains(p.Problems[0].Message, "authentication") ||
			strings.Contains(p.Problems[0].Message, "tok-") {
			t.Fatalf("%s: %+v", name, p)
		}
	}
	var e struct{ Error struct{ Field string } }
	for field, creds := range map[string]any{
		"credentials.known_hosts": map[string]any{"ssh_key": map[string]string{"file": "/k"}},
		"credentials.token":       map[string]any{"token": map[string]string{"file": "/t", "env": "T"}},
	} {
		if st := a.do("POST", "/api/v1/projects", map[string]any{"name": "x", "repo": repo, "path": "p", "credentials": creds}, &e); st != 400 || e.Error.Field != field {
			t.Fatalf("%s: %d %+v", field, st, e)
		}
	}
	var raw json.RawMessage
	a.must(200, "GET", "/api/v1/projects", nil, &raw)
	if bytes.Contains(raw, []byte(token)) {
		t.Fatal("the API shows the token")
	}
	for _, f := range []string{db, db + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(token)) || bytes.Contains(b, []byte("tok-wrong")) {
			t.Fatalf("%s holds a token", f)
		}
	}
}

// With the auto policy and no prune, a commit that removes something is planned and left
// OutOfSync with its plan for a human: the automatic apply does not remove; a person's apply does.
func TestAutoSyncWaitsForRemovals(t *testing.T) {
	hs := testenv.StartSSHHosts(t, 1)
	withExtra := strings.Replace(fleetChobolo(hs, "v1\n"), "fleet:\n", "  - path: /etc/extra\n    content: \"x\\n\"\nfleet:\n", 1)
	url, work := testenv.GitServer(t, "fleet", map[string]string{"site/chobolo.yml": withExtra})
	hook := filepath.Join(t.TempDir(), "hook")
	if err := os.WriteFile(hook, []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startServer(t, "", 2)
	a.must(201, "POST", "/api/v1/projects", map[string]any{"name": "site", "repo": url + "fleet.git", "ref": "main", "path": "site/chobolo.yml",
		"sync_policy": "auto", "webhook_secret": map[string]string{"file": hook}}, nil)
	a.must(200, "POST", "/api/v1/projects/site/refresh", nil, nil)
	var j server.Job
	a.must(201, "POST", "/api/v1/jobs", server.JobRequest{Project: "site", Kind: server.KindApply}, &j)
	if f := a.waitJob(j.ID); f.State != server.StateSucceeded || testenv.ReadFile(t, hs.Hosts[0].Root, "/etc/extra") != "x\n" {
		t.Fatalf("first apply: %+v", f)
	}
	c2 := push(t, work, map[string]string{"site/chobolo.yml": fleetChobolo(hs, "v2\n")})
	if st := a.githubPush("site", url+"fleet.git", c2, "s"); st != 202 {
		t.Fatalf("push: %d", st)
	}
	dc := a.waitNewJob(t, "site", server.KindDriftCheck, server.TriggerWebhook, j.ID)
	ap := a.waitNewJob(t, "site", server.KindApply, server.TriggerAutoSync, dc.ID)
	var h server.Host
	a.must(200, "GET", "/api/v1/hosts/site/one", nil, &h)
	if ap.State != server.StateSucceeded || ap.Counts["pending"] != 1 || h.Status != server.StatusOutOfSync ||
		!strings.Contains(string(h.PendingPlan), "/etc/extra") || testenv.ReadFile(t, hs.Hosts[0].Root, "/etc/extra") != "x\n" {
		t.Fatalf("the automatic apply of a removal: job %+v host %+v", ap, h)
	}
	a.must(201, "POST", "/api/v1/jobs", server.JobRequest{Project: "site", Kind: server.KindApply}, &j)
	a.must(200, "GET", "/api/v1/hosts/site/one", nil, &h)
	if f := a.waitJob(j.ID); f.State != server.StateSucceeded || f.Counts["changed"] != 1 {
		t.Fatalf("a person's apply: %+v", f)
	}
	if _, err := os.Stat(filepath.Join(hs.Hosts[0].Root, "etc/extra")); !os.IsNotExist(err) {
		t.Fatalf("/etc/extra after a person's apply: %v", err)
	}
}

// A sync schedule of a manual project, inside its allow window: the pushed commit is applied by
// the schedule (trigger schedule), and sync.started / sync.finished are notified.
func TestSyncSchedule(t *testing.T) {
	hs := testenv.StartSSHHosts(t, 1)
	url, work := testenv.GitServer(t, "fleet", map[string]string{"site/chobolo.yml": fleetChobolo(hs, "v1\n")})
	secret := filepath.Join(t.TempDir(), "notify")
	if err := os.WriteFile(secret, []byte("n"), 0o600); err != nil {
		t.Fatal(err)
	}
	recv, recvURL := newReceiver(t, "n")
	a := startConfig(t, server.Config{Workers: 2, Notifications: notify.Config{
		Channels: []notify.ChannelConfig{{Name: "hook", Type: "webhook", URL: recvURL, Secret: notify.Secret{File: secret}}},
		Rules:    []notify.Rule{{Name: "syncs", Events: []notify.Event{notify.SyncStarted, notify.SyncFinished}, Channels: []string{"hook"}}}}}, "")
	a.must(201, "POST", "/api/v1/projects", map[string]any{"name": "site", "repo": url + "fleet.git", "ref": "main", "path": "site/chobolo.yml",
		"windows": []map[string]any{{"kind": "allow", "schedule": "* * * * *", "duration": "2m"}}}, nil)
	a.must(200, "POST", "/api/v1/projects/site/refresh", nil, nil)
	c2 := push(t, work, map[string]string{"site/chobolo.yml": fleetChobolo(hs, "v2\n")})
	var sched server.Schedule
	a.must(201, "POST", "/api/v1/projects/site/schedules", map[string]string{"kind": "sync", "cron": "@every 1s"}, &sched)
	if sched.Next == nil || sched.Kind != "sync" {
		t.Fatalf("schedule: %+v", sched)
	}
	j := a.waitNewJob(t, "site", server.KindApply, server.TriggerSchedule, 0)
	if j.State != server.StateSucceeded || j.Commit != c2 || testenv.ReadFile(t, hs.Hosts[0].Root, "/etc/motd") != "v2\n" {
		t.Fatalf("scheduled sync: %+v", j)
	}
	if st := a.do("DELETE", fmt.Sprintf("/api/v1/projects/site/schedules/%d", sched.ID), nil, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	eventually(t, "sync.started and sync.finished", func() bool {
		return recv.find(notify.SyncStarted, server.KindApply) != nil && recv.find(notify.SyncFinished, server.KindApply) != nil
	})
}

// A project fetched over SSH with a deploy key and known_hosts named by files: a real sshd in a
// network namespace running Debian's git-upload-pack; a known_hosts with another key is the
// project's problem.
func TestProjectSSHDeployKey(t *testing.T) {
	hs := testenv.StartSSHHostsFrom(t, testenv.BaseRootWith(t, "git"), 1)
	h := hs.Hosts[0]
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "empty.yml"), []byte("files:\n  - path: /etc/motd\n    content: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, work, "init", "-q", "-b", "main")
	testenv.Git(t, work, "add", ".")
	testenv.Git(t, work, "commit", "-q", "-m", "one")
	testenv.Git(t, t.TempDir(), "clone", "-q", "--bare", work, filepath.Join(h.Root, "srv/fleet.git"))
	wrong := filepath.Join(t.TempDir(), "known_hosts")
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ssh.NewPublicKey(pub)
	if err := os.WriteFile(wrong, []byte(knownhosts.Line([]string{knownhosts.Normalize(h.Addr + ":22")}, other)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startServer(t, "", 1)
	for name, kh := range map[string]string{"good": hs.KnownHosts, "wrong": wrong} {
		a.must(201, "POST", "/api/v1/projects", map[string]any{"name": name, "repo": "ssh://root@" + h.Addr + "/srv/fleet.git", "ref": "main",
			"path": "empty.yml", "credentials": map[string]any{"ssh_key": map[string]string{"file": hs.KeyFile},
				"known_hosts": map[string]string{"file": kh}}}, nil)
		var p server.Project
		a.must(200, "POST", "/api/v1/projects/"+name+"/refresh", nil, &p)
		switch {
		case name == "good" && (p.Commit != headCommit(t, work) || len(p.Problems) != 0):
			t.Fatalf("deploy key: %+v", p)
		case name == "wrong" && (p.Commit != "" || len(p.Problems) != 1 || !strings.Contains(p.Problems[0].Message, "knownhosts")):
			t.Fatalf("another host key: %+v", p)
		}
	}
}

// GitLab's and Gitea's pushes through the server's webhook route: a wrong token or signature is
// 401 and leaves the project; the right one moves it to the pushed commit.
func TestWebhookForges(t *testing.T) {
	url, work := testenv.GitServer(t, "fleet", map[string]string{"empty.yml": "files:\n  - path: /etc/motd\n    content: x\n"})
	repo := url + "fleet.git"
	hook := filepath.Join(t.TempDir(), "hook")
	if err := os.WriteFile(hook, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startServer(t, "", 1)
	a.must(201, "POST", "/api/v1/projects", map[string]any{"name": "p", "repo": repo, "ref": "main", "path": "empty.yml",
		"webhook_secret": map[string]string{"file": hook}}, nil)
	a.must(200, "POST", "/api/v1/projects/p/refresh", nil, nil)
	send := func(body []byte, hdr ...string) int {
		req, _ := http.NewRequest("POST", a.base+"/api/v1/webhooks/p", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := a.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	sign := func(body []byte, key string) string {
		m := hmac.New(sha256.New, []byte(key))
		m.Write(body)
		return hex.EncodeToString(m.Sum(nil))
	}
	for i, forge := range []string{"gitlab", "gitea"} {
		c := push(t, work, map[string]string{"empty.yml": fmt.Sprintf("files:\n  - path: /etc/motd\n    content: %d\n", i)})
		var body []byte
		var good, bad []string
		if forge == "gitlab" {
			body = fmt.Appendf(nil, `{"object_kind":"push","ref":"refs/heads/main","after":%q,"checkout_sha":%q,"project":{"git_http_url":%q,"default_branch":"main"}}`, c, c, repo)
			good = []string{"X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", "s3cret"}
			bad = []string{"X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", "s3cre"}
		} else {
			body = fmt.Appendf(nil, `{"ref":"refs/heads/main","after":%q,"repository":{"clone_url":%q,"default_branch":"main"}}`, c, repo)
			good = []string{"X-Gitea-Event", "push", "X-Gitea-Signature", sign(body, "s3cret")}
			bad = []string{"X-Gitea-Event", "push", "X-Gitea-Signature", sign(body, "other")}
		}
		var p server.Project
		if st := send(body, bad...); st != 401 {
			t.Fatalf("%s, bad secret: %d", forge, st)
		}
		if a.must(200, "GET", "/api/v1/projects/p", nil, &p); p.Commit == c {
			t.Fatalf("%s: a refused push moved the project", forge)
		}
		if st := send(body, good...); st != 202 {
			t.Fatalf("%s: %d", forge, st)
		}
		eventually(t, forge+"'s push to move the project", func() bool {
			a.must(200, "GET", "/api/v1/projects/p", nil, &p)
			return p.Commit == c
		})
	}
}
