// Package fleet is the fleet benchmark against Ansible (bench/fleet/run.sh runs it): the same work
// with chaos and with ansible-playbook on the same real SSH test hosts, in the same run.
package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// envList reads a list of integers >= 0.
func envList(name, def string) []int {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n >= 0 {
			out = append(out, n)
		}
	}
	return out
}

func loadavg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// row is one line of the table: every measured run, so the table shows medians and spreads.
type row struct {
	hosts                          int
	chaosFirst, ansibleFirst       []time.Duration
	chaosNoChange, ansibleNoChange []time.Duration
	floorTrue, floorProbe          []time.Duration
	load                           string
}

// spread is "median (min-max)" of runs.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 1 {
		return secs(s[0])
	}
	return fmt.Sprintf("%s (%.2f-%.2f)", secs(median(s)), s[0].Seconds(), s[len(s)-1].Seconds())
}

// speedups is the median ratio and the one that holds at the worst: Ansible's fastest run against
// chaos's slowest.
func speedups(ansible, chaos []time.Duration) string {
	if len(ansible) == 0 || len(chaos) == 0 {
		return "-"
	}
	return fmt.Sprintf("**%.1fx** (worst %.1fx)", ratio(median(ansible), median(chaos)), ratio(slices.Min(ansible), slices.Max(chaos)))
}

// TestFleetVsAnsible (CHAOS_BENCH=1) applies one directory, 20 files with content, 5 users and one
// line in a file to N hosts with chaos and with Ansible (forks = N, pipelining on, no fact
// gathering), first run and no-change run, and measures the floor: a fresh SSH connection per host
// running `true`, and running the raw probe chaos sends, all hosts at once. The two tools manage
// different names (/srv/bench-chaos and /srv/bench-ansible, users chaos0-4 and ans0-4) so that both
// first runs do the whole work on the same hosts. No-change runs and floors are medians of
// CHAOS_BENCH_RUNS (default 3) runs, Ansible's of CHAOS_BENCH_ANSIBLE_RUNS (default the same; 0
// skips Ansible). CHAOS_BENCH_HOSTS sets the host counts (default 1,10,30,50);
// CHAOS_BIN the chaos binary (default: built from this tree).
func TestFleetVsAnsible(t *testing.T) {
	if os.Getenv("CHAOS_BENCH") == "" {
		// Not a missing tool: an hour of work, run by `make bench-fleet` (scripts/skips.allow).
		t.Skip("set CHAOS_BENCH=1 (bench/fleet/run.sh)")
	}
	testenv.RequireTool(t, "ansible", "ansible-playbook")
	chaos := os.Getenv("CHAOS_BIN")
	if chaos == "" {
		chaos = testenv.ChaosBinary(t)
	}
	runs := envList("CHAOS_BENCH_RUNS", "3")[0]
	ansibleRuns := envList("CHAOS_BENCH_ANSIBLE_RUNS", strconv.Itoa(runs))[0]
	lower := testenv.BaseRootWith(t, "python3") // Ansible's modules need python3 on the targets
	var rows []row
	for _, n := range envList("CHAOS_BENCH_HOSTS", "1,10,30,50") {
		t.Run(fmt.Sprintf("hosts=%d", n), func(t *testing.T) {
			rows = append(rows, benchHosts(t, chaos, lower, n, runs, ansibleRuns))
		})
	}
	fmt.Printf("\nchaos vs Ansible %s over real SSH hosts (network namespaces + sshd); %d chaos runs of each kind and floors, "+
		"%d Ansible runs of each kind; each cell is the median (min-max); worst = Ansible's fastest run against chaos's slowest; %d cores\n\n",
		ansibleVersion(), runs, ansibleRuns, numCPU())
	fmt.Println("| hosts | chaos first | Ansible first | speed-up | chaos no-change | Ansible no-change | speed-up | floor: dial+true | floor: dial+raw probe | no-change / floor | load avg |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %.2fx | %s |\n", r.hosts,
			spread(r.chaosFirst), spread(r.ansibleFirst), speedups(r.ansibleFirst, r.chaosFirst),
			spread(r.chaosNoChange), spread(r.ansibleNoChange), speedups(r.ansibleNoChange, r.chaosNoChange),
			spread(r.floorTrue), spread(r.floorProbe), ratio(median(r.chaosNoChange), median(r.floorProbe)), r.load)
	}
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func numCPU() int {
	data, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(data), "\nprocessor") + 1
}

func ansibleVersion() string {
	out, _ := exec.Command("ansible-playbook", "--version").Output()
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(first)
}

func benchHosts(t *testing.T, chaos, lower string, n, runs, ansibleRuns int) row {
	hs := testenv.StartSSHHostsFrom(t, lower, n)
	dir := t.TempDir()
	r := row{hosts: n, load: loadavg()}

	// chaos
	chobolo := filepath.Join(dir, "bench.yml")
	write(t, chobolo, Workload(hs, "chaos", "chaos"))
	probe := filepath.Join(dir, "probe.sh")
	chaosRun := func(want string, debugProbe bool) time.Duration {
		cmd := exec.Command(chaos, "apply", "-c", chobolo, "-f", "-y", "--json")
		cmd.Env = append(os.Environ(), "CHAOS_CONFIG_DIR="+dir, "CHAOS_LIMANI="+filepath.Join(dir, "limani.db"))
		if debugProbe {
			cmd.Env = append(cmd.Env, "CHAOS_DEBUG_PROBE="+probe)
		}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start)
		if err != nil {
			t.Fatalf("chaos: %v\n%s\n%s", err, tail(out.String()), errb.String())
		}
		checkSummary(t, out.String(), n, want)
		return d
	}
	// First runs: each after an untimed reset of the host to the state before the first (what the
	// Ch-obolo creates and chaos's own state removed), so every one does the whole work.
	for i := range runs {
		if i > 0 {
			reset(t, hs, "chaos", "/var/lib/chaos")
		}
		r.chaosFirst = append(r.chaosFirst, chaosRun("changed", false))
	}
	t.Logf("chaos first runs: %v", r.chaosFirst)
	for i := range runs {
		r.chaosNoChange = append(r.chaosNoChange, chaosRun("unchanged", i == 0))
	}
	t.Logf("chaos no-change runs: %v", r.chaosNoChange)

	// The floor: what a no-change run cannot avoid.
	script, err := os.ReadFile(probe)
	if err != nil || len(script) == 0 {
		t.Fatalf("no probe script captured: %v", err)
	}
	one := script[:len(script)/n] // every host got the same script
	for range runs {
		r.floorTrue = append(r.floorTrue, floor(t, hs, "true", nil))
		r.floorProbe = append(r.floorProbe, floor(t, hs, "/bin/sh -s", one))
	}
	t.Logf("floor dial+true %v, dial+probe %v", r.floorTrue, r.floorProbe)

	// Ansible (CHAOS_BENCH_ANSIBLE_RUNS=0: chaos only, to iterate on chaos)
	if ansibleRuns == 0 {
		r.load += " → " + loadavg()
		return r
	}
	ansible := ansibleSetup(t, dir, hs)
	for i := range ansibleRuns {
		if i > 0 {
			reset(t, hs, "ans")
		}
		r.ansibleFirst = append(r.ansibleFirst, ansible(true))
	}
	t.Logf("Ansible first runs: %v", r.ansibleFirst)
	for range ansibleRuns {
		r.ansibleNoChange = append(r.ansibleNoChange, ansible(false))
	}
	t.Logf("Ansible no-change runs: %v", r.ansibleNoChange)
	r.load += " → " + loadavg()
	return r
}

// reset removes, on every host, what a first run of one tool created: its 5 users with their
// homes, its directory and its configuration file (tool "chaos" or "ans"), and extra paths.
func reset(t *testing.T, hs *testenv.SSHHosts, tool string, extra ...string) {
	t.Helper()
	dir := map[string]string{"chaos": "bench-chaos", "ans": "bench-ansible"}[tool]
	for _, h := range hs.Hosts {
		for i := range 5 {
			h.Exec(t, "userdel", "-r", fmt.Sprintf("%s%d", tool, i))
		}
		h.Exec(t, append([]string{"rm", "-rf", "/srv/" + dir, "/etc/" + dir + ".conf"}, extra...)...)
	}
}

func write(t *testing.T, p, text string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return "..." + s[len(s)-3000:]
	}
	return s
}

// checkSummary checks chaos's --json fleet summary (run.done; fleet.summary before the event
// schema, so that a baseline binary can be timed too): every host has status want.
func checkSummary(t *testing.T, out string, n int, want string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `"type":"run.done"`) && !strings.Contains(line, `"type":"fleet.summary"`) {
			continue
		}
		var s struct {
			Hosts []struct {
				Host, Status, Error string
			}
		}
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatal(err)
		}
		good := 0
		for _, h := range s.Hosts {
			if h.Status == want {
				good++
			} else {
				t.Errorf("chaos: %s: %s %s (want %s)", h.Host, h.Status, h.Error, want)
			}
		}
		if good != n {
			t.Fatalf("chaos: %d of %d hosts %s", good, n, want)
		}
		return
	}
	t.Fatalf("chaos printed no fleet summary:\n%s", tail(out))
}

const playbook = `- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.file:
        path: /srv/bench-ansible
        state: directory
        mode: "0755"
    - ansible.builtin.copy:
        dest: "/srv/bench-ansible/f{{ '%02d' | format(item) }}"
        content: "content {{ item }}\n"
        mode: "0644"
      loop: "{{ range(0, 20) | list }}"
    - ansible.builtin.user:
        name: "ans{{ item }}"
        shell: /bin/bash
      loop: "{{ range(0, 5) | list }}"
    - ansible.builtin.lineinfile:
        path: /etc/bench-ansible.conf
        line: bench=1
        create: true
        mode: "0644"
`

// ansibleSetup writes the inventory, configuration and playbook, and returns a function that runs
// the playbook once (cold: a new ControlPath directory each run, as chaos dials each run) and
// checks its recap.
func ansibleSetup(t *testing.T, dir string, hs *testenv.SSHHosts) func(first bool) time.Duration {
	write(t, filepath.Join(dir, "playbook.yml"), playbook)
	return ansibleSetupIn(t, dir, hs)
}

// ansibleSetupIn is ansibleSetup with the playbook already in dir.
func ansibleSetupIn(t *testing.T, dir string, hs *testenv.SSHHosts) func(first bool) time.Duration {
	var inv strings.Builder
	inv.WriteString("[bench]\n")
	for _, h := range hs.Hosts {
		fmt.Fprintf(&inv, "%s ansible_host=%s\n", h.Name, h.Addr)
	}
	fmt.Fprintf(&inv, "[bench:vars]\nansible_user=root\nansible_ssh_private_key_file=%s\nansible_python_interpreter=/usr/bin/python3\n", hs.KeyFile)
	write(t, filepath.Join(dir, "inventory.ini"), inv.String())
	run := 0
	return func(first bool) time.Duration {
		run++
		cfg := filepath.Join(dir, fmt.Sprintf("ansible-%d.cfg", run))
		write(t, cfg, fmt.Sprintf(`[defaults]
forks = %d
inventory = %s
host_key_checking = True
deprecation_warnings = False
retry_files_enabled = False
local_tmp = %s/ansible-tmp
[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=%s -o IdentitiesOnly=yes
control_path_dir = %s/cp-%d
`, len(hs.Hosts), filepath.Join(dir, "inventory.ini"), dir, hs.KnownHosts, dir, run))
		cmd := exec.Command("ansible-playbook", filepath.Join(dir, "playbook.yml"))
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+cfg, "ANSIBLE_NOCOLOR=1", "HOME="+dir)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start)
		if err != nil {
			t.Fatalf("ansible-playbook: %v\n%s", err, tail(out.String()))
		}
		// PLAY RECAP lines: "h1 : ok=5 changed=5 unreachable=0 failed=0 ..."
		recaps := 0
		for _, line := range strings.Split(out.String(), "\n") {
			if !strings.Contains(line, " changed=") {
				continue
			}
			recaps++
			changed := !strings.Contains(line, " changed=0 ")
			if !strings.Contains(line, " failed=0 ") || !strings.Contains(line, " unreachable=0 ") || changed != first {
				t.Fatalf("ansible-playbook recap (first run %v): %s", first, line)
			}
		}
		if recaps != len(hs.Hosts) {
			t.Fatalf("ansible-playbook: %d recap lines for %d hosts\n%s", recaps, len(hs.Hosts), tail(out.String()))
		}
		return d
	}
}

// floor dials every host at once (a fresh connection each, as a run does) and runs argv once in
// a plain session: x/crypto/ssh directly, not chaos's transport, so no worker is involved.
func floor(t *testing.T, hs *testenv.SSHHosts, cmdline string, stdin []byte) time.Duration {
	key, err := os.ReadFile(hs.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	hostKeys, err := knownhosts.New(hs.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: hostKeys,
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519}, Timeout: 30 * time.Second}
	start := time.Now()
	var wg sync.WaitGroup
	for _, h := range hs.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ssh.Dial("tcp", h.Addr+":22", cfg)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			sess, err := c.NewSession()
			if err != nil {
				t.Error(err)
				return
			}
			defer sess.Close()
			sess.Stdin = bytes.NewReader(stdin)
			var out bytes.Buffer
			sess.Stdout = &out
			if err := sess.Run(cmdline); err != nil {
				t.Errorf("%s: %s: %v", h.Name, cmdline, err)
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}
