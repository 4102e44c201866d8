package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/bench/fleet"
	"github.com/ch-aos-ch/chaos/internal/capitain/server"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestCapitainVsApply (CHAOS_BENCH=1, bench/capitain-vs-apply.sh) is issue 20's "a real run of 20
// netns hosts through Capitain vs the same with chaos apply -f: overhead <= 10 %": on
// CHAOS_BENCH_HOSTS real SSH hosts (default 20; network namespaces + sshd, internal/testenv), the
// same Ch-obolo (a directory, 20 files with content, 5 users, a configuration file) is applied by
// `chaos apply -f` (parallelism: every host) and by an apply job of a Capitain server in this
// process (SQLite, one worker per host, the Ch-obolo from a git repository served by git daemon),
// from the POST of the job until its event stream's end event. First runs (each after an untimed
// reset of every host) and no-change runs alternate between the two, CHAOS_BENCH_RUNS rounds
// (default 3); it prints the medians and Capitain's overhead in percent. Every run must end with
// every host changed (first) or unchanged (no-change).
func TestCapitainVsApply(t *testing.T) {
	if os.Getenv("CHAOS_BENCH") == "" {
		// Not a missing tool: minutes of work on 20 hosts, run by bench/capitain-vs-apply.sh
		// (scripts/skips.allow).
		t.Skip("set CHAOS_BENCH=1 (bench/capitain-vs-apply.sh)")
	}
	n := envInt(t, "CHAOS_BENCH_HOSTS", 20)
	runs := envInt(t, "CHAOS_BENCH_RUNS", 3)
	chaosBin := os.Getenv("CHAOS_BIN")
	if chaosBin == "" {
		chaosBin = testenv.ChaosBinary(t)
	}
	hs := testenv.StartSSHHosts(t, n)
	yml := fleet.Workload(hs, "capt", "capitain")
	dir := t.TempDir()
	chobolo := filepath.Join(dir, "bench.yml")
	if err := os.WriteFile(chobolo, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	base, post, token := projectsServer(t, "", n, map[string]string{"site": yml})
	load0 := loadavg()

	viaChaos := func(want string) time.Duration {
		cmd := exec.Command(chaosBin, "apply", "-c", chobolo, "-f", "-y", "--json")
		cmd.Env = append(os.Environ(), "CHAOS_CONFIG_DIR="+dir, "CHAOS_LIMANI="+filepath.Join(dir, "limani.db"))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start)
		if err != nil {
			t.Fatalf("chaos apply: %v\n%s", err, errb.String())
		}
		if got := summaryCount(out.String(), want); got != n {
			t.Fatalf("chaos apply: %d of %d hosts %s:\n%s", got, n, want, out.String())
		}
		return d
	}
	viaCapitain := func(want string) time.Duration {
		start := time.Now()
		var j server.Job
		post("/api/v1/jobs", server.JobRequest{Project: "site", Kind: server.KindApply}, &j)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/jobs/%d/events", base, j.ID), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, err = readEvents(resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if err != nil {
			t.Fatalf("job %d: %v", j.ID, err)
		}
		req, _ = http.NewRequest("GET", fmt.Sprintf("%s/api/v1/jobs/%d/hosts?limit=1000", base, j.ID), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var hosts struct{ Items []server.JobHost }
		err = json.NewDecoder(resp.Body).Decode(&hosts)
		resp.Body.Close()
		good := 0
		for _, h := range hosts.Items {
			if h.State == want {
				good++
			} else {
				t.Errorf("job %d: %s: %s %s (want %s)", j.ID, h.Host, h.State, h.Error, want)
			}
		}
		if err != nil || good != n {
			t.Fatalf("job %d: %d of %d hosts %s (%v)", j.ID, good, n, want, err)
		}
		return d
	}
	// reset removes what a first run created, and chaos's state on the host.
	reset := func() {
		for _, h := range hs.Hosts {
			for i := range 5 {
				h.Exec(t, "userdel", "-r", fmt.Sprintf("capt%d", i))
			}
			h.Exec(t, "rm", "-rf", "/srv/bench-capitain", "/etc/bench-capitain.conf", "/var/lib/chaos")
		}
	}
	var chaosFirst, captFirst, chaosSame, captSame []time.Duration
	for i := range runs {
		if i > 0 { // the hosts start without the Ch-obolo's work
			reset()
		}
		chaosFirst = append(chaosFirst, viaChaos("changed"))
		reset()
		captFirst = append(captFirst, viaCapitain("changed"))
		chaosSame = append(chaosSame, viaChaos("unchanged"))
		captSame = append(captSame, viaCapitain("unchanged"))
	}
	t.Logf("chaos apply -f first %v, no-change %v", chaosFirst, chaosSame)
	t.Logf("Capitain job first %v, no-change %v", captFirst, captSame)
	fmt.Printf("\nCapitain (SQLite, %d workers) vs chaos apply -f over %d real SSH hosts; medians of %d runs (min-max); load average %s → %s\n\n",
		n, n, runs, load0, loadavg())
	fmt.Println("| hosts | chaos apply -f first | Capitain first | overhead | chaos apply -f no-change | Capitain no-change | overhead |")
	fmt.Println("|---|---|---|---|---|---|---|")
	fmt.Printf("| %d | %s | %s | %+.1f %% | %s | %s | %+.1f %% |\n", n,
		spreadOf(chaosFirst), spreadOf(captFirst), overhead(captFirst, chaosFirst),
		spreadOf(chaosSame), spreadOf(captSame), overhead(captSame, chaosSame))
}

// summaryCount is how many hosts of chaos apply --json's run.done event have status want.
func summaryCount(out, want string) int {
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `"type":"run.done"`) {
			continue
		}
		var s struct{ Hosts []struct{ Status string } }
		if json.Unmarshal([]byte(line), &s) != nil {
			return -1
		}
		n := 0
		for _, h := range s.Hosts {
			if h.Status == want {
				n++
			}
		}
		return n
	}
	return -1
}

// overhead is how much longer the median of a is than that of b, in percent.
func overhead(a, b []time.Duration) float64 {
	return 100 * (float64(medianOf(a))/float64(medianOf(b)) - 1)
}

func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// spreadOf is "median (min-max)" in seconds.
func spreadOf(ds []time.Duration) string {
	return fmt.Sprintf("%.2f s (%.2f-%.2f)", medianOf(ds).Seconds(), slices.Min(ds).Seconds(), slices.Max(ds).Seconds())
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a number >= 1", name, v)
	}
	return n
}

func loadavg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
