package cli_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// TestFleetBench measures chaos over SSH on real test hosts (CHAOS_BENCH=1 to run; CHAOS_BENCH_HOSTS
// overrides the host counts, default "1,10,30"): a Ch-obolo with 16 files and 5 users, first run and
// no-change run, against the floor: dial + `true`, and dial + the raw probe script, all hosts in
// parallel.
func TestFleetBench(t *testing.T) {
	if os.Getenv("CHAOS_BENCH") == "" {
		t.Skip("set CHAOS_BENCH=1")
	}
	isolate(t)
	counts := os.Getenv("CHAOS_BENCH_HOSTS")
	if counts == "" {
		counts = "1,10,30"
	}
	var rows []string
	for _, cs := range strings.Split(counts, ",") {
		var n int
		fmt.Sscan(cs, &n)
		hs := testenv.StartSSHHosts(t, n)
		var b strings.Builder
		b.WriteString("users:\n")
		for i := range 5 {
			fmt.Fprintf(&b, "  - name: user%d\n", i)
		}
		b.WriteString("files:\n  - path: /srv/bench\n    state: directory\n")
		for i := range 15 {
			fmt.Fprintf(&b, "  - path: /srv/bench/f%02d\n    content: \"content %d\\n\"\n", i, i)
		}
		fmt.Fprintf(&b, "fleet:\n  parallelism: 0\n  ssh: {known_hosts: %s, config: none}\n  hosts:\n", hs.KnownHosts)
		for _, h := range hs.Hosts {
			fmt.Fprintf(&b, "    %s: {ssh_hostname: %s, ssh_user: root, ssh_key: %s}\n", h.Name, h.Addr, hs.KeyFile)
		}
		file := writeChobolo(t, b.String())
		probeFile := filepath.Join(t.TempDir(), "probe.sh")
		t.Setenv(engine.DebugProbeEnv, probeFile)
		start := time.Now()
		if r := run(t, "", "apply", "-c", file, "-f", "-y"); r.code != 0 {
			t.Fatalf("first run: %s", r)
		}
		first := time.Since(start)
		os.Remove(probeFile)
		start = time.Now()
		r := run(t, "", "apply", "-c", file, "-f", "-y")
		noChange := time.Since(start)
		if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("%d hosts: %d unchanged", n, n)) {
			t.Fatalf("no-change run: %s", r)
		}
		t.Setenv(engine.DebugProbeEnv, "")
		script, _ := os.ReadFile(probeFile)
		one := string(script[:len(script)/n]) // every host got the same script
		floor := func(argv []string, stdin []byte) time.Duration {
			start := time.Now()
			var wg sync.WaitGroup
			for _, h := range hs.Hosts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := transport.DialSSH(context.Background(), transport.SSHConfig{Host: h.Addr, User: "root",
						KeyFiles: []string{hs.KeyFile}, NoAgent: true, KnownHostsFiles: []string{hs.KnownHosts}, SSHConfigFile: "none"})
					if err != nil {
						t.Error(err)
						return
					}
					defer s.Close()
					if _, err := transport.Check(context.Background(), s, transport.Cmd{Argv: argv, Stdin: stdin}); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			return time.Since(start)
		}
		tru := floor([]string{"true"}, nil)
		probe := floor([]string{"/bin/sh", "-s"}, []byte(one))
		rows = append(rows, fmt.Sprintf("| %d | %s | %s | %s | %s | %.2fx |", n, first.Round(time.Millisecond),
			noChange.Round(time.Millisecond), tru.Round(time.Millisecond), probe.Round(time.Millisecond),
			float64(noChange)/float64(probe)))
	}
	t.Log("\n| hosts | first run | no-change run | floor: dial+true | floor: dial+raw probe | no-change / probe floor |\n|---|---|---|---|---|---|\n" + strings.Join(rows, "\n"))
}
