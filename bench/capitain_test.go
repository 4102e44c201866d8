package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/capitain/server"
	"github.com/ch-aos-ch/chaos/internal/capitain/web"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// launchHosts is the inventory size of the job-launch benchmark (issue 20: < 1 s at 10,000).
const launchHosts = 10000

// BenchmarkCapitainJobLaunch measures one POST /api/v1/jobs (an apply on every host of a
// 10,000-host project) from the request to the answer, by which time the job, its 10,000 host
// rows and its 10,000 River jobs (one per host, inserted at once) are committed. The server is an
// API-only replica (no workers), so nothing runs the jobs meanwhile; the hosts are addresses
// nobody answers on (simulated hosts: only the launch is measured).
func BenchmarkCapitainJobLaunch(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchLaunch(b, "") })
	b.Run("postgres", func(b *testing.B) { benchLaunch(b, testenv.PostgreSQL(b)) })
}

// bigServer starts an API-only server on dsn ("": SQLite) with a refreshed 10,000-host project
// "big", and returns its base URL, a POST helper and its admin token; it stops with the benchmark.
func bigServer(b *testing.B, dsn string) (string, func(path string, body, out any), string) {
	b.Helper()
	var yml strings.Builder
	yml.WriteString("files:\n  - path: /etc/motd\n    content: \"x\\n\"\nfleet:\n  ssh: {config: none}\n  hosts:\n")
	for i := range launchHosts {
		fmt.Fprintf(&yml, "    h%05d: {ssh_hostname: 10.%d.%d.%d, groups: [g%d]}\n", i, 100+i/65536, i/256%256, i%256, i%10)
	}
	url, _ := testenv.GitServer(b, "fleet", map[string]string{"chobolo.yml": yml.String()})
	base, post, token := benchServer(b, dsn, -1)
	post("/api/v1/projects", map[string]any{"name": "big", "repo": url + "fleet.git", "path": "chobolo.yml"}, nil)
	var p server.Project
	post("/api/v1/projects/big/refresh", nil, &p)
	if p.Hosts != launchHosts {
		b.Fatalf("project: %d hosts, problems %+v", p.Hosts, p.Problems)
	}
	return base, post, token
}

// benchServer starts a server on dsn ("": SQLite in a temporary directory; else a postgres:// DSN
// or a SQLite file) with workers, and returns its base URL, a POST helper and its admin token; it
// stops with the benchmark.
func benchServer(b *testing.B, dsn string, workers int) (string, func(path string, body, out any), string) {
	b.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{Data: b.TempDir(), DB: dsn, Workers: workers}, &out, nil)
	if err != nil {
		b.Fatal(err)
	}
	ui, err := web.New(srv, nil)
	if err != nil {
		b.Fatal(err)
	}
	srv.SetUI(ui)
	token := regexp.MustCompile(`(chaos_\S+)`).FindString(out.String())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, l) }()
	b.Cleanup(func() { cancel(); <-done })
	base := "http://" + l.Addr().String()
	post := func(path string, body any, out any) {
		b.Helper()
		js, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(js))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		if err := getJSON(req, out); err != nil {
			b.Fatalf("POST %s: %v", path, err)
		}
	}
	return base, post, token
}

// getJSON sends req and decodes its JSON answer into out (nil: ignored); a status >= 300 is an
// error with the body.
func getJSON(req *http.Request, out any) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e bytes.Buffer
		_, _ = e.ReadFrom(resp.Body)
		return fmt.Errorf("%d %s", resp.StatusCode, e.String())
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func benchLaunch(b *testing.B, dsn string) {
	base, post, _ := bigServer(b, dsn)
	ctx := context.Background()
	// A first job loads and caches the fleet at this commit, as any server has once per commit.
	post("/api/v1/jobs", server.JobRequest{Project: "big", Kind: server.KindApply}, nil)
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		var j server.Job
		post("/api/v1/jobs", server.JobRequest{Project: "big", Kind: server.KindApply}, &j)
		if j.Hosts != launchHosts {
			b.Fatalf("job: %d hosts", j.Hosts)
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	var queued int
	if err := srvQueueDepth(ctx, base, &queued); err != nil {
		b.Fatal(err)
	}
	if want := launchHosts * (b.N + 1); queued != want {
		b.Fatalf("%d River jobs available, want %d (one per host and job)", queued, want)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/launch")
	// The CPU the launch cost this process (server and client), which a loaded machine does not
	// inflate as it does the wall time; PostgreSQL's own CPU is not in it.
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/launch")
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// srvQueueDepth reads capitain_queue_depth from /metrics.
func srvQueueDepth(ctx context.Context, base string, n *int) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	m := regexp.MustCompile(`(?m)^capitain_queue_depth (\d+)`).FindStringSubmatch(buf.String())
	if m == nil {
		return fmt.Errorf("no capitain_queue_depth in /metrics")
	}
	_, err = fmt.Sscan(m[1], n)
	return err
}

// BenchmarkCapitainHostList measures a filtered page of 100 of the 10,000 hosts
// (GET /api/v1/hosts?label=g3&name=h0*&sort=name&limit=100, then the next page), on SQLite, and
// reports the p99 of the requests' wall times (issue 20: p99 < 20 ms on SQLite).
func BenchmarkCapitainHostList(b *testing.B) {
	base, _, token := bigServer(b, "")
	var times []time.Duration
	get := func(path string) string {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var page struct {
			Items []server.Host
			Next  string
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		times = append(times, time.Since(start))
		if err != nil || resp.StatusCode != 200 || len(page.Items) != 100 {
			b.Fatalf("GET %s: %d, %d hosts, %v", path, resp.StatusCode, len(page.Items), err)
		}
		return page.Next
	}
	for b.Loop() {
		next := get("/api/v1/hosts?label=g3&name=h0*&sort=name&limit=100")
		get("/api/v1/hosts?label=g3&name=h0*&sort=name&limit=100&cursor=" + next)
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
}

// BenchmarkCapitainWebHosts measures the web UI's hosts page on the 10,000-host project
// (GET /hosts: 100 rows rendered as HTML, then a page filtered by label, then that filter's
// second page), on SQLite, from the request to the last byte, and reports p50 and p99 (issue 21:
// any page < 100 ms at 10,000 hosts).
func BenchmarkCapitainWebHosts(b *testing.B) {
	base, _, token := bigServer(b, "")
	next := regexp.MustCompile(`href="(/hosts\?[^"]*cursor=[^"]*)" id="next"`)
	var times []time.Duration
	get := func(path string) string {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var body bytes.Buffer
		_, err = body.ReadFrom(resp.Body)
		resp.Body.Close()
		times = append(times, time.Since(start))
		if err != nil || resp.StatusCode != 200 || strings.Count(body.String(), "<tr>") != 101 {
			b.Fatalf("GET %s: %d, %d rows, %v", path, resp.StatusCode, strings.Count(body.String(), "<tr>")-1, err)
		}
		m := next.FindStringSubmatch(body.String())
		if m == nil {
			b.Fatalf("GET %s: no next page", path)
		}
		return strings.ReplaceAll(m[1], "&amp;", "&")
	}
	for b.Loop() {
		get("/hosts")
		get(get("/hosts?label=g3"))
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
}
