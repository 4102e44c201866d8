package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/capitain/server"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

const (
	loadClients     = 200 // concurrent API clients (issue 20)
	loadSubscribers = 500 // SSE subscribers on one running job (issue 20)
	loadMinRequests = 20  // each client's requests at least, and until every subscriber is done
	loadSSHHosts    = 4   // real SSH hosts of the running job
	loadFiles       = 100 // files per host: the job's events
)

// BenchmarkCapitainLoad runs, against one server (16 workers) holding the 10,000-host project
// "big" and a project "live" of real SSH hosts (network namespaces), per iteration: an apply job
// on "live" (each host writes loadFiles files: hundreds of events), 500 SSE subscribers reading
// that job's stream from its start to its end event, and meanwhile 200 API clients, each looping
// over a filtered page of big's hosts, the next page, the job and its per-host results until every
// subscriber is done (at least loadMinRequests each). Any transport error, non-200 status, stream
// without its end event, or stream whose events are not exactly the job's stored events 1..N in
// order fails the benchmark: the errors metric is 0 whenever it reports at all. It reports the
// latency percentiles of the API requests (by kind) and of the streams' first byte, and how many
// subscribers connected while the job was still running.
func BenchmarkCapitainLoad(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchLoad(b, "") })
	b.Run("postgres", func(b *testing.B) { benchLoad(b, testenv.PostgreSQL(b)) })
}

func liveYML(hs *testenv.SSHHosts) string {
	var y strings.Builder
	y.WriteString("files:\n  - path: /srv/load\n    state: directory\n")
	for i := range loadFiles {
		fmt.Fprintf(&y, "  - path: /srv/load/f%03d\n    content: \"file %d\\n\"\n", i, i)
	}
	fmt.Fprintf(&y, "fleet:\n  ssh: {known_hosts: %s, config: none, connect_timeout: 10s}\n  hosts:\n", hs.KnownHosts)
	for _, h := range hs.Hosts {
		fmt.Fprintf(&y, "    %s: {ssh_hostname: %s, ssh_user: root, ssh_key: %s}\n", h.Name, h.Addr, hs.KeyFile)
	}
	return y.String()
}

func benchLoad(b *testing.B, dsn string) {
	hs := testenv.StartSSHHosts(b, loadSSHHosts)
	base, post, token := projectsServer(b, dsn, 0, map[string]string{"big": bigYML(), "live": liveYML(hs)})
	// Connections are kept and reused as a real client's would be (the default keeps 2 per host).
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadClients + loadSubscribers}}
	get := func(ctx context.Context, path string, hdr ...string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", base+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		return hc.Do(req)
	}
	var (
		mu                  sync.Mutex
		listT, jobT, firstT []time.Duration
		requests, live      int
		errs                []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		errs = append(errs, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for b.Loop() {
		var j server.Job
		post("/api/v1/jobs", server.JobRequest{Project: "live", Kind: server.KindApply}, &j)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		var subs sync.WaitGroup
		var finishedAt atomic.Int64 // when a client first saw the job finished (unix ns)
		seqs := make([]int64, loadSubscribers)
		for i := range loadSubscribers {
			subs.Add(1)
			go func() {
				defer subs.Done()
				start := time.Now()
				resp, err := get(ctx, fmt.Sprintf("/api/v1/jobs/%d/events", j.ID), "Accept", "text/event-stream")
				if err != nil {
					fail("stream %d: %v", i, err)
					return
				}
				defer resp.Body.Close()
				first := time.Since(start)
				if resp.StatusCode != 200 {
					fail("stream %d: status %d", i, resp.StatusCode)
					return
				}
				mu.Lock()
				firstT = append(firstT, first)
				if f := finishedAt.Load(); f == 0 || start.UnixNano() < f {
					live++
				}
				mu.Unlock()
				n, err := readEvents(resp.Body)
				if err != nil {
					fail("stream %d: %v", i, err)
				}
				seqs[i] = n
			}()
		}
		var clients sync.WaitGroup
		subsDone := make(chan struct{})
		go func() { subs.Wait(); close(subsDone) }()
		hostPath := "/api/v1/hosts?project=big&label=g3&name=h0*&sort=name&limit=100"
		for c := range loadClients {
			clients.Add(1)
			go func() {
				defer clients.Done()
				timed := func(path string, into *[]time.Duration, out any) bool {
					start := time.Now()
					resp, err := get(ctx, path)
					if err != nil {
						fail("client %d: GET %s: %v", c, path, err)
						return false
					}
					defer resp.Body.Close()
					if resp.StatusCode != 200 {
						fail("client %d: GET %s: status %d", c, path, resp.StatusCode)
						_, _ = io.Copy(io.Discard, resp.Body)
						return false
					}
					if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
						fail("client %d: GET %s: %v", c, path, err)
						return false
					}
					d := time.Since(start)
					mu.Lock()
					*into = append(*into, d)
					requests++
					mu.Unlock()
					return true
				}
				for n := 0; ; n += 4 {
					if n >= loadMinRequests {
						select {
						case <-subsDone:
							return
						default:
						}
					}
					var page struct {
						Items []server.Host
						Next  string
					}
					if !timed(hostPath, &listT, &page) || len(page.Items) != 100 {
						fail("client %d: host page of %d", c, len(page.Items))
						return
					}
					if !timed(hostPath+"&cursor="+page.Next, &listT, &page) {
						return
					}
					var jj server.Job
					if !timed(fmt.Sprintf("/api/v1/jobs/%d", j.ID), &jobT, &jj) {
						return
					}
					if jj.Finished != nil {
						finishedAt.CompareAndSwap(0, time.Now().UnixNano())
					}
					var hosts struct{ Items []server.JobHost }
					if !timed(fmt.Sprintf("/api/v1/jobs/%d/hosts", j.ID), &jobT, &hosts) {
						return
					}
				}
			}()
		}
		clients.Wait()
		subs.Wait()
		cancel()
		if len(errs) > 0 {
			b.Fatalf("%d errors, the first: %s", len(errs), strings.Join(errs[:min(5, len(errs))], "; "))
		}
		// Every subscriber read every stored event: the job's last sequence number.
		var evs struct{ Items []server.Event }
		resp, err := get(context.Background(), fmt.Sprintf("/api/v1/jobs/%d/events?after=%d", j.ID, seqs[0]-1))
		if err != nil {
			b.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&evs)
		resp.Body.Close()
		if err != nil || len(evs.Items) != 1 || evs.Items[0].Seq != seqs[0] {
			b.Fatalf("the streams ended at event %d, the job's last stored event is not that one: %+v %v", seqs[0], evs.Items, err)
		}
		for i, n := range seqs {
			if n != seqs[0] {
				b.Fatalf("stream %d read %d events, stream 0 %d", i, n, seqs[0])
			}
		}
		var done server.Job
		resp, err = get(context.Background(), fmt.Sprintf("/api/v1/jobs/%d", j.ID))
		if err != nil {
			b.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&done)
		resp.Body.Close()
		if err != nil || done.State != "succeeded" {
			b.Fatalf("job %d: %s %v", j.ID, done.State, err)
		}
		b.Logf("job %d: %d events streamed to %d subscribers (%d connected while it ran), %d API requests",
			j.ID, seqs[0], loadSubscribers, live, requests)
	}
	b.ReportMetric(0, "errors")
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
	b.ReportMetric(float64(live)/float64(b.N), "live-subscribers/op")
	reportPercentiles(b, "hostlist", listT)
	reportPercentiles(b, "jobread", jobT)
	reportPercentiles(b, "sse-first", firstT)
}

// reportPercentiles reports the p50 and p99 of ds in milliseconds as NAME-p50-ms and NAME-p99-ms.
func reportPercentiles(b *testing.B, name string, ds []time.Duration) {
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, name+"-p50-ms")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, name+"-p99-ms")
}

// readEvents reads an event stream to its end event and returns the last sequence number; the
// events' ids must be 1, 2, 3, ... without a gap or a repeat.
func readEvents(r io.Reader) (int64, error) {
	var last int64
	var event string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			id, err := strconv.ParseInt(line[4:], 10, 64)
			if err != nil || id != last+1 {
				return last, fmt.Errorf("event id %q after %d", line[4:], last)
			}
			last = id
		case strings.HasPrefix(line, "event: "):
			event = line[7:]
		case line == "" && event == "end":
			return last, nil
		}
	}
	return last, fmt.Errorf("stream ended after event %d without its end event: %v", last, sc.Err())
}
