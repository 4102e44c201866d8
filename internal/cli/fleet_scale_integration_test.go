package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// slowUseradd goes first on PATH on the hosts that lose their sshd: it marks that the apply is
// under way and waits, so the test kills sshd in the middle of the run, never before or after.
const slowUseradd = `#!/bin/sh
touch /var/tmp/chaos-in-useradd
sleep 120
exec /usr/sbin/useradd "$@"
`

// TestFleetScale applies a small Debian core (files, users, hostname) to 50 plain SSH hosts at once
// (CHAOS_TEST_FLEET_HOSTS overrides the count; -short skips it). sshd is killed on the last 10
// hosts in the middle of the run: the other 40 finish, the summary names the 10, the exit code is
// 1. With their sshd back, the next run recovers the 10 interrupted applies (journal rollback)
// and completes them, and leaves the 40 unchanged.
func TestFleetScale(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 50 SSH hosts")
	}
	isolate(t)
	n := 50
	if v, err := strconv.Atoi(os.Getenv("CHAOS_TEST_FLEET_HOSTS")); err == nil && v >= 11 {
		n = v
	}
	killed := 10
	start := time.Now()
	hs := testenv.StartSSHHosts(t, n, func(h *testenv.SSHHost) {
		if i, _ := strconv.Atoi(strings.TrimPrefix(h.Name, "h")); i > n-killed {
			testenv.WriteFile(t, h.Root, "/usr/local/sbin/useradd", slowUseradd)
			if err := os.Chmod(filepath.Join(h.Root, "usr/local/sbin/useradd"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Logf("%d hosts started in %s", n, time.Since(start).Round(time.Millisecond))
	var b strings.Builder
	fmt.Fprintf(&b, `users:
  - name: alice
    shell: /bin/bash
  - name: bob
files:
  - path: /srv/app
    state: directory
  - path: /srv/app/config
    content: "port: 8080\n"
    mode: "0640"
  - path: /etc/motd
    content: "managed by chaos\n"
fleet:
  parallelism: 0
  ssh: {known_hosts: %s, config: none, connect_timeout: 20s}
  hosts:
`, hs.KnownHosts)
	for _, h := range hs.Hosts {
		fmt.Fprintf(&b, "    %s: {ssh_hostname: %s, ssh_user: root, ssh_key: %s, vars: {hostname: node-%s}}\n",
			h.Name, h.Addr, hs.KeyFile, h.Name)
	}
	file := writeChobolo(t, b.String())
	victims := hs.Hosts[n-killed:]

	// Kill each victim's sshd (and with it everything of that host) once its apply is in useradd.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, h := range victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			marker := filepath.Join(h.Root, "var/tmp/chaos-in-useradd")
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if _, err := os.Stat(marker); err == nil {
					h.Stop()
					return
				}
			}
		}()
	}
	start = time.Now()
	r := run(t, "", "apply", "-c", file, "-f", "-y")
	close(stop)
	wg.Wait()
	t.Logf("first run (%d killed mid-run): %s", killed, time.Since(start).Round(time.Millisecond))
	if r.code != 1 {
		t.Fatalf("exit %d with %d hosts killed, want 1\n%s", r.code, killed, r)
	}
	summary := r.stdout[strings.LastIndex(r.stdout, "HOST "):]
	for _, h := range hs.Hosts {
		var line string
		for _, l := range strings.Split(summary, "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == h.Name {
				line = l
			}
		}
		victim := slices.Contains(victims, h)
		switch f := strings.Fields(line); {
		case line == "":
			t.Errorf("%s missing from the summary:\n%s", h.Name, summary)
		case victim && f[1] != "failed" && f[1] != "unreachable":
			t.Errorf("killed host: %s", line)
		case !victim && f[1] != "changed":
			t.Errorf("healthy host: %s", line)
		}
	}
	if !strings.Contains(summary, fmt.Sprintf("%d changed", n-killed)) {
		t.Errorf("summary:\n%s", summary)
	}
	for _, h := range hs.Hosts {
		if slices.Contains(victims, h) {
			continue
		}
		if got := testenv.ReadFile(t, h.Root, "/srv/app/config"); got != "port: 8080\n" {
			t.Errorf("%s: config %q", h.Name, got)
		}
		if got := testenv.ReadFile(t, h.Root, "/etc/hostname"); got != "node-"+h.Name+"\n" {
			t.Errorf("%s: hostname %q", h.Name, got)
		}
		if !strings.Contains(testenv.ReadFile(t, h.Root, "/etc/passwd"), "\nbob:") {
			t.Errorf("%s: bob missing", h.Name)
		}
	}

	// sshd back, the slow useradd gone: the interrupted applies are rolled back and redone.
	for _, h := range victims {
		if err := os.Remove(filepath.Join(h.Root, "usr/local/sbin/useradd")); err != nil {
			t.Fatal(err)
		}
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range victims {
		if err := h.WaitReady(30 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	start = time.Now()
	r = run(t, "", "apply", "-c", file, "-f", "-y")
	t.Logf("second run: %s", time.Since(start).Round(time.Millisecond))
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("%d changed, %d unchanged", killed, n-killed)) {
		t.Fatalf("second run:\n%s", r)
	}
	if got := strings.Count(r.stdout, "found the journal of an interrupted apply"); got != killed {
		t.Errorf("%d hosts recovered an interrupted apply, want %d", got, killed)
	}
	for _, h := range victims {
		if got := testenv.ReadFile(t, h.Root, "/etc/hostname"); got != "node-"+h.Name+"\n" {
			t.Errorf("%s: hostname %q", h.Name, got)
		}
		if testenv.Exists(t, h.Root, "/var/lib/chaos/journal") {
			t.Errorf("%s: journal left", h.Name)
		}
	}
}
