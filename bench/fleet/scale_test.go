package fleet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestScaleOverSSH (CHAOS_BENCH=1, bench/fleet/scale.sh) is DESIGN §7's "cost flat in resources"
// over SSH: for each count N of CHAOS_BENCH_SCALE (default 10,100,1000) a host of its own (network
// namespace + sshd) gets N files with content and N users from chaos: first run, then no-change
// runs and the raw probe (a fresh connection running the script chaos sent), every count
// interleaved in each round (CHAOS_BENCH_RUNS rounds, default 5; medians). At the counts of
// CHAOS_BENCH_ANSIBLE_SCALE (default 1000; empty or 0 skips), one more host gets the same
// resources from ansible-playbook (one task per kind of resource, with a loop): first run and one
// no-change run.
func TestScaleOverSSH(t *testing.T) {
	if os.Getenv("CHAOS_BENCH") == "" {
		// Not a missing tool: minutes of work, run by bench/fleet/scale.sh (scripts/skips.allow).
		t.Skip("set CHAOS_BENCH=1 (bench/fleet/scale.sh)")
	}
	chaos := os.Getenv("CHAOS_BIN")
	if chaos == "" {
		chaos = testenv.ChaosBinary(t)
	}
	counts := envList("CHAOS_BENCH_SCALE", "10,100,1000")
	runs := envList("CHAOS_BENCH_RUNS", "5")[0]
	var ansibleAt []int
	for _, n := range envList("CHAOS_BENCH_ANSIBLE_SCALE", "1000") {
		if n > 0 {
			ansibleAt = append(ansibleAt, n)
		}
	}
	if len(ansibleAt) > 0 {
		testenv.RequireTool(t, "ansible", "ansible-playbook")
	}
	lower := testenv.BaseRootWith(t, "python3")
	hs := testenv.StartSSHHostsFrom(t, lower, len(counts)+len(ansibleAt))
	dir := t.TempDir()
	load := loadavg()

	one := func(i int) *testenv.SSHHosts {
		return &testenv.SSHHosts{Hosts: hs.Hosts[i : i+1], KeyFile: hs.KeyFile, KnownHosts: hs.KnownHosts}
	}
	chobolo := func(i, n int) string {
		var b strings.Builder
		b.WriteString("users:\n")
		for j := range n {
			fmt.Fprintf(&b, "  - name: s%05d\n    password: locked\n", j)
		}
		b.WriteString("files:\n  - path: /srv/scale\n    state: directory\n")
		for j := range n {
			fmt.Fprintf(&b, "  - path: /srv/scale/f%05d\n    content: \"file %d\\n\"\n", j, j)
		}
		h := hs.Hosts[i]
		fmt.Fprintf(&b, "fleet:\n  ssh: {known_hosts: %s, config: none}\n  hosts:\n    %s: {ssh_hostname: %s, ssh_user: root, ssh_key: %s}\n",
			hs.KnownHosts, h.Name, h.Addr, hs.KeyFile)
		p := filepath.Join(dir, fmt.Sprintf("scale-%d.yml", n))
		write(t, p, b.String())
		return p
	}
	run := func(c string, want string, probe string) {
		cmd := exec.Command(chaos, "apply", "-c", c, "-f", "-y", "--json")
		cmd.Env = append(os.Environ(), "CHAOS_CONFIG_DIR="+dir, "CHAOS_LIMANI="+filepath.Join(dir, "limani.db"))
		if probe != "" {
			cmd.Env = append(cmd.Env, "CHAOS_DEBUG_PROBE="+probe)
		}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chaos %s: %v\n%s", c, err, tail(string(out)))
		}
		checkSummary(t, string(out), 1, want)
	}
	timed := func(f func()) time.Duration { s := time.Now(); f(); return time.Since(s) }

	files := make([]string, len(counts))
	first := make([]time.Duration, len(counts))
	scripts := make([][]byte, len(counts))
	for i, n := range counts {
		files[i] = chobolo(i, n)
		first[i] = timed(func() { run(files[i], "changed", "") })
		probe := filepath.Join(dir, fmt.Sprintf("probe-%d.sh", n))
		run(files[i], "unchanged", probe)
		script, err := os.ReadFile(probe)
		if err != nil {
			t.Fatal(err)
		}
		scripts[i] = script
		t.Logf("%d files and users: first run %s", n, first[i])
	}
	nochange := make([][]time.Duration, len(counts))
	raw := make([][]time.Duration, len(counts))
	for range runs {
		for i := range counts {
			nochange[i] = append(nochange[i], timed(func() { run(files[i], "unchanged", "") }))
			raw[i] = append(raw[i], floor(t, one(i), "/bin/sh -s", scripts[i]))
		}
	}
	load += " → " + loadavg()
	fmt.Printf("\nchaos over SSH, one host per count, N files with content and N users (password: locked); "+
		"medians of %d interleaved rounds; %d cores; load %s\n\n", runs, numCPU(), load)
	fmt.Println("| N files + N users | chaos first | chaos no-change | / smallest | dial + raw probe | / smallest |")
	fmt.Println("|---|---|---|---|---|---|")
	for i, n := range counts {
		fmt.Printf("| %d | %s | %s | %.2fx | %s | %.2fx |\n", n, secs(first[i]), secs(median(nochange[i])),
			ratio(median(nochange[i]), median(nochange[0])), secs(median(raw[i])), ratio(median(raw[i]), median(raw[0])))
	}
	if last := len(counts) - 1; last > 0 {
		fmt.Printf("\nslope: %.3f ms per extra resource (file or user) with no change, %.2f ms on a first run (%d -> %d of each)\n",
			float64(median(nochange[last])-median(nochange[0]))/1e6/float64(2*(counts[last]-counts[0])),
			float64(first[last]-first[0])/1e6/float64(2*(counts[last]-counts[0])), counts[0], counts[last])
	}

	for k, n := range ansibleAt {
		i := len(counts) + k
		adir := filepath.Join(dir, fmt.Sprintf("ansible-%d", n))
		if err := os.MkdirAll(adir, 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(adir, "playbook.yml"), fmt.Sprintf(`- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.user:
        name: "s{{ '%%05d' | format(item) }}"
        password_lock: true
      loop: "{{ range(0, %d) | list }}"
    - ansible.builtin.file:
        path: /srv/scale
        state: directory
    - ansible.builtin.copy:
        dest: "/srv/scale/f{{ '%%05d' | format(item) }}"
        content: "file {{ item }}\n"
      loop: "{{ range(0, %d) | list }}"
`, n, n))
		ansible := ansibleSetupIn(t, adir, one(i))
		af := ansible(true)
		an := ansible(false)
		ci := -1
		for j, c := range counts {
			if c == n {
				ci = j
			}
		}
		fmt.Printf("\nAnsible (%s) on its own host, %d files + %d users: first run %s, no change %s", ansibleVersion(), n, n, secs(af), secs(an))
		if ci >= 0 {
			fmt.Printf("; chaos: first run %s (%.1fx faster), no change %s (%.1fx faster)",
				secs(first[ci]), ratio(af, first[ci]), secs(median(nochange[ci])), ratio(an, median(nochange[ci])))
		}
		fmt.Printf("; load %s\n", loadavg())
	}
}
