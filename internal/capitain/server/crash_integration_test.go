package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/capitain/server"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// serverProcess is `chaos capitain serve` running as its own process.
type serverProcess struct {
	cmd   *exec.Cmd
	token string // printed at the first start only
	addr  string
}

// startProcess runs `chaos capitain serve` on data (and dsn when not "") with one worker and a
// 2 s node timeout, and waits until it is ready.
func startProcess(t *testing.T, data, dsn, addr string) *serverProcess {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "capitain.yml")
	if err := os.WriteFile(cfg, []byte("node_timeout: 2s\nworkers: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"capitain", "serve", "--data", data, "--listen", addr, "--config", cfg}
	if dsn != "" {
		args = append(args, "--db", dsn)
	}
	cmd := exec.Command(testenv.ChaosBinary(t), args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, addr: addr}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if m := tokenRE.FindStringSubmatch(lines.Text()); m != nil {
			p.token = m[1]
		}
		if strings.HasPrefix(lines.Text(), "Capitain serves") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return p
}

func TestKilledServerFinishesJobSQLite(t *testing.T) { testKilledServer(t, "") }

func TestKilledServerFinishesJobPostgreSQL(t *testing.T) { testKilledServer(t, testenv.PostgreSQL(t)) }

// kill -9 of the server while a job's second host applies, then a restart: the job finishes and
// each host holds exactly one generation of it (the interrupted apply rolled back by its journal,
// then applied once).
func testKilledServer(t *testing.T, dsn string) {
	hs := testenv.StartSSHHosts(t, 4)
	url, _ := testenv.GitServer(t, "fleet", map[string]string{"chobolo.yml": fleetChobolo(hs, "after the crash\n")})
	data, addr := t.TempDir(), freeAddr(t)
	first := startProcess(t, data, dsn, addr)
	if first.token == "" {
		t.Fatal("no admin token printed at the first start")
	}
	a := newAPI(t, "http://"+addr, first.token)
	a.must(201, "POST", "/api/v1/projects", map[string]any{"name": "site", "repo": url + "fleet.git", "path": "chobolo.yml"}, nil)
	a.must(200, "POST", "/api/v1/projects/site/refresh", nil, nil)
	var j server.Job
	a.must(201, "POST", "/api/v1/jobs", server.JobRequest{Project: "site", Kind: server.KindApply}, &j)

	// Kill as soon as the second host starts its op.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var evs struct{ Items []server.Event }
		a.must(200, "GET", fmt.Sprintf("/api/v1/jobs/%d/events?limit=1000", j.ID), nil, &evs)
		n := 0
		for _, ev := range evs.Items {
			if ev.Type == "op.start" {
				n++
			}
		}
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job did not reach its second host")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = first.cmd.Process.Signal(syscall.SIGKILL)
	_ = first.cmd.Wait()
	var before server.Job
	second := startProcess(t, data, dsn, addr)
	if second.token != "" {
		t.Fatal("a restart printed a new admin token")
	}
	a.must(200, "GET", fmt.Sprintf("/api/v1/jobs/%d", j.ID), nil, &before)
	if before.Finished != nil {
		t.Fatalf("the job finished before the kill: %+v", before)
	}
	done := a.waitJob(j.ID)
	if done.State != server.StateSucceeded || done.Counts["changed"] != 4 {
		t.Fatalf("after the restart: %+v", done)
	}
	for i, h := range hs.Hosts {
		if got := testenv.ReadFile(t, h.Root, "/etc/motd"); got != "after the crash\n" {
			t.Errorf("host %d: motd %q", i, got)
		}
		tr, err := chaos.Open(context.Background(), "@chroot"+h.Root, true)
		if err != nil {
			t.Fatal(err)
		}
		gens, err := chaos.Generations(context.Background(), tr)
		tr.Close()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, g := range gens {
			if strings.HasSuffix(g.Job, fmt.Sprintf(":%d", j.ID)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("host %d has %d generations of job %d: %+v", i, n, j.ID, gens)
		}
	}
}
