package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// hostState is the host's full state (testenv.HostState) with the test packages' files.
func hostState(t *testing.T, root string) string {
	return testenv.HostState(t, root, "usr/share/chaos-tiny-a")
}

func stateDiff(a, b string) string { return testenv.StateDiff(a, b) }

const atomicA = `hostname: forge
users:
  - name: alice
    shell: bash
    groups: [adm]
    sudo: true
packages: [chaos-tiny-a, chaos-tiny-b]
region:
  timezone: Europe/Berlin
files:
  - path: /etc/motd
    content: "version A\n"
  - path: /srv/app
    state: directory
    mode: "0750"
  - path: /srv/app/conf
    content: "a=1\n"
`

// B changes every role: hostname, a second user, another package, the timezone, file contents, a
// new file and a removed one.
const atomicB = `hostname: anvil
users:
  - name: alice
    shell: sh
    groups: [adm]
  - name: bob
    shell: bash
packages: [chaos-tiny-a, chaos-tiny-c]
region:
  timezone: America/Sao_Paulo
files:
  - path: /etc/motd
    content: "version B\n"
  - path: /etc/issue.net
    content: "replaced by B\n"
  - path: /srv/app
    state: directory
    mode: "0755"
  - path: /srv/app/extra
    content: "b\n"
`

// journalEntries counts the entries of the open journal in root (-1: none).
func journalEntries(root string) int {
	if _, err := os.Stat(filepath.Join(root, engine.JournalFile)); err != nil {
		return -1
	}
	entries, _ := filepath.Glob(filepath.Join(root, engine.EntriesDir, "*.json"))
	return len(entries)
}

// TestSIGKILLMidApply kills the chaos binary with SIGKILL at many points of a five-role apply and
// checks that `chaos recover` (or the next `chaos apply`) leaves the host exactly as before that
// apply, or, when the kill came after the commit, exactly as after it.
func TestSIGKILLMidApply(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	bin := testenv.ChaosBinary(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, tinyPkgs...)
	target := "@chroot" + root
	file := writeChobolo(t, atomicA)
	chaos := func(args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	before := hostState(t, root)
	// How many ops the apply has.
	r := run(t, "", "apply", "-c", file, "--target", target, "--dry", "--json")
	var plan engine.HostPlan
	for _, l := range strings.Split(r.stdout, "\n") {
		var m struct {
			Type string           `json:"type"`
			Plan *engine.HostPlan `json:"plan"`
		}
		if json.Unmarshal([]byte(l), &m) == nil && m.Type == "plan" {
			plan = *m.Plan
		}
	}
	nops := 0
	for _, rp := range plan.Roles {
		for _, s := range rp.Steps {
			nops += len(s.Ops)
		}
	}
	if nops < 8 {
		t.Fatalf("plan has %d ops:\n%s", nops, r)
	}
	start := time.Now()
	trials := 0
	for k := 1; k <= nops; k += 2 {
		trials++
		cmd := exec.Command(bin, "apply", "-c", file, "--target", target, "-y")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		killed := false
	poll:
		for {
			select {
			case <-exited:
				break poll
			default:
			}
			if journalEntries(root) >= k {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				killed = true
				<-exited
				break
			}
			time.Sleep(500 * time.Microsecond)
		}
		if !killed {
			t.Fatalf("trial %d: the apply ended before op %d", k, k)
		}
		// Alternate the two ways to recover: `chaos recover`, and the next apply's own recovery
		// (here a --dry first shows the warning, then `chaos recover` runs).
		out, code := chaos("recover", "--target", target)
		if code != 0 || !strings.Contains(out, "rolled back") {
			t.Fatalf("trial %d: chaos recover: exit %d\n%s", k, code, out)
		}
		if got := hostState(t, root); got != before {
			t.Fatalf("trial %d (killed at op %d): host after recover differs from before:\n%s", k, k, stateDiff(before, got))
		}
	}
	t.Logf("%d SIGKILL trials recovered to the before state in %s", trials, time.Since(start).Round(time.Millisecond))

	// Killed once more, then a plain apply recovers first and converges.
	cmd := exec.Command(bin, "apply", "-c", file, "--target", target, "-y")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for journalEntries(root) < 3 {
		time.Sleep(500 * time.Microsecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	out, code := chaos("apply", "-c", file, "--target", target, "--dry")
	if !strings.Contains(out, "interrupted apply") || code != 2 {
		t.Fatalf("--dry over an interrupted apply: exit %d\n%s", code, out)
	}
	out, code = chaos("apply", "-c", file, "--target", target, "-y")
	if code != 0 || !strings.Contains(out, "rolled back") || !strings.Contains(out, "recorded generation 1") {
		t.Fatalf("apply after a kill: exit %d\n%s", code, out)
	}
	if out, code := chaos("apply", "-c", file, "--target", target, "--dry"); code != 0 {
		t.Fatalf("second apply is not a no-op: exit %d\n%s", code, out)
	}
	if out, code := chaos("recover", "--target", target); code != 0 || !strings.Contains(out, "nothing to recover") {
		t.Fatalf("recover with nothing to do: exit %d\n%s", code, out)
	}
}

// TestRecoverResume rolls an interrupted apply forward.
func TestRecoverResume(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	bin := testenv.ChaosBinary(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, tinyPkgs...)
	target := "@chroot" + root
	file := writeChobolo(t, atomicA)
	cmd := exec.Command(bin, "apply", "-c", file, "--target", target, "-y")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for journalEntries(root) < 4 {
		time.Sleep(500 * time.Microsecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	r := run(t, "", "recover", "--target", target, "--resume", "-y")
	if r.code != 0 || !strings.Contains(r.stdout, "resume") || !strings.Contains(r.stdout, "recorded generation 1") {
		t.Fatalf("recover --resume:\n%s", r)
	}
	if r := run(t, "", "apply", "-c", file, "--target", target, "--dry"); r.code != 0 {
		t.Fatalf("not converged after --resume:\n%s", r)
	}
}

// TestGenerationsRollback: apply A, apply B, rollback: the host equals the host after A, `apply A
// --dry` has nothing to do, and the list shows the three generations.
func TestGenerationsRollback(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, tinyPkgs...)
	testenv.WriteFile(t, root, "/etc/issue.net", "Debian GNU/Linux 12\n")
	target := "@chroot" + root
	fileA, fileB := writeChobolo(t, atomicA), writeChobolo(t, atomicB)
	if r := run(t, "", "apply", "-c", fileA, "--target", target, "-y"); r.code != 0 || !strings.Contains(r.stdout, "recorded generation 1") {
		t.Fatalf("apply A:\n%s", r)
	}
	afterA := hostState(t, root)
	if r := run(t, "", "apply", "-c", fileB, "--target", target, "-y"); r.code != 0 || !strings.Contains(r.stdout, "recorded generation 2") {
		t.Fatalf("apply B:\n%s", r)
	}
	if hostState(t, root) == afterA {
		t.Fatal("B changed nothing")
	}
	r := run(t, "", "generations", "diff", "1", "2", "--target", target, "--json")
	var diff struct {
		Identical bool     `json:"identical"`
		Chobolo   []string `json:"chobolo"`
		Files     []string `json:"files"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &diff); err != nil || diff.Identical || !strings.Contains(strings.Join(diff.Chobolo, "\n"), "-hostname: forge") ||
		!strings.Contains(strings.Join(diff.Files, " "), "/etc/issue.net") {
		t.Fatalf("generations diff 1 2: %v\n%s", err, r)
	}
	if r := run(t, "", "rollback", "--target", target, "--dry"); r.code != 2 || !strings.Contains(r.stdout, "rollback to generation 1") {
		t.Fatalf("rollback --dry:\n%s", r)
	}
	// One op per path: what a role of generation 1's Ch-obolo plans for (hostname, motd, the
	// timezone, ...) is left out of the restore section, and the change count is the paths' count.
	r = run(t, "", "rollback", "--target", target, "--dry", "--json")
	var plan struct {
		Type    string `json:"type"`
		Changes int    `json:"changes"`
		Plan    engine.HostPlan
	}
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.Contains(l, `"type":"plan"`) {
			if err := json.Unmarshal([]byte(l), &plan); err != nil {
				t.Fatal(err)
			}
		}
	}
	owner := map[string]string{}
	changes := 0
	for _, rp := range plan.Plan.Roles {
		for _, s := range rp.Steps {
			changes += len(s.Changes)
			for _, op := range s.Ops {
				if op.Path == "" || op.Path == "/usr/sbin/policy-rc.d" { // the packages role's own guard, written and removed
					continue
				}
				if o, ok := owner[op.Path]; ok && o != rp.Role {
					t.Errorf("%s planned by both %s and %s", op.Path, o, rp.Role)
				}
				owner[op.Path] = rp.Role
			}
		}
	}
	// Left to the restore section: /etc/issue.net, which B replaced and A does not declare.
	if owner["/etc/issue.net"] != "rollback" || owner["/etc/hostname"] != "hostname" || owner["/etc/motd"] != "files" {
		t.Errorf("owners: %v", owner)
	}
	if plan.Type != "plan" || plan.Changes != changes || changes != 13 {
		t.Fatalf("rollback --dry --json: %d changes counted, %d in the steps, want 13\n%s", plan.Changes, changes, r)
	}
	r = run(t, "", "rollback", "--target", target, "-y")
	if r.code != 0 || !strings.Contains(r.stdout, "recorded generation 3") {
		t.Fatalf("rollback:\n%s", r)
	}
	// The differences: bob's home directory (the users role never deletes the home of a user it
	// prunes, it may hold data made since, and a rollback is a declarative apply), and chaos's
	// generations, the history: generations 2 and 3 stay.
	withoutHistory := func(state string) string {
		var kept []string
		for _, l := range strings.Split(state, "\n") {
			if !strings.HasPrefix(l, "home/bob") && !strings.HasPrefix(l, "var/lib/chaos/generations/") {
				kept = append(kept, l)
			}
		}
		return strings.Join(kept, "\n")
	}
	got := hostState(t, root)
	if !strings.Contains(got, "home/bob ") {
		t.Error("bob's home was deleted by the rollback")
	}
	if got, afterA := withoutHistory(got), withoutHistory(afterA); got != afterA {
		t.Fatalf("host after rollback differs from after A:\n%s\n%s", stateDiff(afterA, got), r)
	}
	if r := run(t, "", "apply", "-c", fileA, "--target", target, "--dry"); r.code != 0 {
		t.Fatalf("apply A --dry after the rollback is not empty:\n%s", r)
	}
	r = run(t, "", "generations", "list", "--target", target, "--json")
	var gens []engine.Generation
	if err := json.Unmarshal([]byte(r.stdout), &gens); err != nil || len(gens) != 3 || gens[2].Kind != "rollback" || gens[2].Of != 1 {
		t.Fatalf("generations list: %v\n%s", err, r)
	}
	r = run(t, "", "generations", "--target", target)
	for _, want := range []string{"GEN", "rollback to 1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("generations list lacks %q:\n%s", want, r)
		}
	}
	r = run(t, "", "generations", "show", "2", "--target", target)
	for _, want := range []string{"hostname: anvil", "/etc/issue.net", "user bob"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("generations show 2 lacks %q:\n%s", want, r)
		}
	}
	// The generations are root-only and the Ch-obolos hold no secrets to begin with.
	if st, err := os.Stat(filepath.Join(root, engine.GenerationsDir)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("generations dir mode: %v %v", st.Mode(), err)
	}
}

// TestLogbook records applies in SQLite (the default) and PostgreSQL and reads them back with
// `chaos logbook list|show|export`.
func TestLogbook(t *testing.T) {
	testenv.RequireRoot(t)
	dir := isolate(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, tinyPkgs...)
	target := "@chroot" + root
	file := writeChobolo(t, "hostname: logged\nfiles:\n  - path: /etc/motd\n    content: \"logged\\n\"\n")
	pg := testenv.PostgreSQL(t)
	for _, limani := range []string{filepath.Join(dir, "limani.db"), pg} {
		name := "sqlite"
		if strings.HasPrefix(limani, "host=") {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) {
			t.Setenv("CHAOS_LIMANI", limani)
			testenv.WriteFile(t, root, "/etc/motd", "before "+name+"\n")
			r := run(t, "", "apply", "-c", file, "--target", target, "-y", "--logbook")
			if r.code != 0 {
				t.Fatalf("apply --logbook:\n%s", r)
			}
			for _, want := range []string{"run ", "HOST", target, "OP DURATIONS", "P99", "files"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("apply --logbook report lacks %q:\n%s", want, r)
				}
			}
			r = run(t, "", "logbook", "list", "--json")
			var runs []map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &runs); err != nil || len(runs) == 0 || runs[0]["status"] != "ok" {
				t.Fatalf("logbook list --json: %v\n%s", err, r)
			}
			id := runs[0]["id"].(string)
			r = run(t, "", "logbook", "export", id[:len(id)-3])
			var rep struct {
				Run   map[string]any   `json:"run"`
				Hosts []map[string]any `json:"hosts"`
				Ops   []map[string]any `json:"ops"`
				P     map[string]any   `json:"op_durations"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Hosts) != 1 || len(rep.Ops) == 0 ||
				rep.Hosts[0]["target"] != target || rep.P["p95_ns"] == nil {
				t.Fatalf("logbook export: %v\n%s", err, r)
			}
			if r := run(t, "", "logbook", "show", "last"); r.code != 0 || !strings.Contains(r.stdout, "write /etc/motd") {
				t.Fatalf("logbook show last:\n%s", r)
			}
			// A package transaction: its output is recorded and shown.
			pkgs := writeChobolo(t, "packages: [chaos-tiny-c]\n")
			if r := run(t, "", "apply", "-c", pkgs, "--target", target, "-y"); r.code != 0 {
				t.Fatalf("apply packages:\n%s", r)
			}
			defer testenv.Chroot(t, root, "apt-get", "-q", "-y", "purge", "chaos-tiny-c")
			r = run(t, "", "logbook", "show", "last")
			if r.code != 0 || !strings.Contains(r.stdout, "OUTPUT (last lines)") || !strings.Contains(r.stdout, "stdout| Setting up chaos-tiny-c") {
				t.Fatalf("logbook show: no op output:\n%s", r)
			}
			// A dry run is recorded too; on SQLite it is closed lazily (no checkpoint: its record
			// stays in the WAL) and read back like any other.
			if r := run(t, "", "apply", "-c", pkgs, "--target", target, "--dry"); r.code != 0 {
				t.Fatalf("apply --dry:\n%s", r)
			}
			if st, err := os.Stat(limani + "-wal"); name == "sqlite" && (err != nil || st.Size() == 0) {
				t.Fatalf("the dry run checkpointed the limani: WAL %v, %v", st, err)
			}
			r = run(t, "", "logbook", "list", "--json")
			runs = nil
			if err := json.Unmarshal([]byte(r.stdout), &runs); err != nil || len(runs) < 3 || runs[0]["command"] != "apply --dry" || runs[0]["status"] != "ok" {
				t.Fatalf("logbook list after a dry run: %v\n%s", err, r)
			}
		})
	}
}

// TestGenerationsRetention: `generations: {keep, max_size}` in config.yml and the
// --keep-generations and --generations-max-size flags prune the oldest generations on the host
// (their directories too), never the newest; a bad setting names its file, line and column.
func TestGenerationsRetention(t *testing.T) {
	testenv.RequireRoot(t)
	dir := isolate(t)
	root := testenv.DebianRoot(t)
	target := "@chroot" + root
	config := filepath.Join(dir, "config.yml")
	apply := func(n int, flags ...string) {
		t.Helper()
		file := writeChobolo(t, fmt.Sprintf("files:\n  - path: /etc/motd\n    content: \"version %d\\n\"\n", n))
		r := run(t, "", append([]string{"apply", "-c", file, "--target", target, "-y"}, flags...)...)
		if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("recorded generation %d", n)) {
			t.Fatalf("apply %d %v:\n%s", n, flags, r)
		}
	}
	kept := func(want ...int) {
		t.Helper()
		r := run(t, "", "generations", "list", "--target", target, "--json")
		var gens []engine.Generation
		if err := json.Unmarshal([]byte(r.stdout), &gens); err != nil {
			t.Fatalf("%v\n%s", err, r)
		}
		var got []int
		for _, g := range gens {
			got = append(got, g.N)
		}
		dirs, _ := filepath.Glob(filepath.Join(root, engine.GenerationsDir, "[0-9]*"))
		if fmt.Sprint(got) != fmt.Sprint(want) || len(dirs) != len(want) {
			t.Fatalf("generations kept: %v (directories %v), want %v", got, dirs, want)
		}
	}
	for _, bad := range []struct{ text, want string }{
		{"generations:\n  keep: 0\n", "config.yml:2:9: generations.keep"},
		{"generations:\n  max_size: lots\n", "config.yml:2:13: generations.max_size"},
		{"generations:\n  kept: 3\n", "config.yml:2:3: generations: unknown key \"kept\""},
	} {
		if err := os.WriteFile(config, []byte(bad.text), 0o600); err != nil {
			t.Fatal(err)
		}
		file := writeChobolo(t, "files:\n  - path: /etc/motd\n    content: \"x\\n\"\n")
		if r := run(t, "", "apply", "-c", file, "--target", target, "-y"); r.code != 1 || !strings.Contains(r.stderr, bad.want) {
			t.Fatalf("config %q: want %q:\n%s", bad.text, bad.want, r)
		}
	}
	if testenv.Exists(t, root, engine.GenerationsDir) {
		t.Fatal("an apply with a bad config recorded a generation")
	}
	if err := os.WriteFile(config, []byte("generations:\n  keep: 2\n  max_size: 1GiB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 4; n++ {
		apply(n)
	}
	kept(3, 4)
	apply(5, "--keep-generations", "1") // the flag wins over config.yml
	kept(5)
	apply(6)
	kept(5, 6)
	apply(7, "--generations-max-size", "1") // every generation is over 1 byte: only the newest stays
	kept(7)
	if r := run(t, "", "apply", "-c", writeChobolo(t, "hostname: x\n"), "--target", target, "-y", "--generations-max-size", "a lot"); r.code != 1 ||
		!strings.Contains(r.stderr, "--generations-max-size") {
		t.Fatalf("bad --generations-max-size:\n%s", r)
	}
}

// orphanPkg's postinst outlives the chaos that installs it: it runs for 2 s, and leaves a background
// job that, 4 s after, writes a file and adds a user (as a daemon a postinst starts without
// detaching might).
var orphanPkg = testenv.DebPkg{Name: "chaos-orphan", Version: "1.0",
	Files: map[string]string{"/usr/share/chaos-orphan/README": "o\n"},
	Postinst: `( sleep 4; echo late >/etc/chaos-orphan-late; useradd -m zed ) </dev/null >/dev/null 2>&1 &
touch /var/tmp/chaos-orphan-started
sleep 2
`}

// TestSIGKILLOrphans kills chaos with SIGKILL while apt-get runs a package's postinst: apt-get,
// dpkg and the postinst go on without chaos, and the postinst's background job acts 4 s later.
// `chaos recover` must neither undo the op while they run (it waits for apt-get, which holds the
// host lock it inherited) nor let the background job change the host after (it kills what is left
// of the command's process group): the host is exactly as before the apply, and stays so.
func TestSIGKILLOrphans(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	bin := testenv.ChaosBinary(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, append(append([]testenv.DebPkg{}, tinyPkgs...), orphanPkg)...)
	target := "@chroot" + root
	file := writeChobolo(t, "packages: [chaos-orphan]\nusers:\n  - name: alice\n    shell: bash\n")
	before := hostState(t, root)
	cmd := exec.Command(bin, "apply", "-c", file, "--target", target, "-y")
	var applyOut strings.Builder
	cmd.Stdout, cmd.Stderr = &applyOut, &applyOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	for !testenv.Exists(t, root, "/var/tmp/chaos-orphan-started") {
		select {
		case <-exited:
			t.Fatalf("the apply ended before the postinst ran:\n%s", applyOut.String())
		case <-time.After(time.Millisecond):
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	killed := time.Now()
	cmd = exec.Command(bin, "recover", "--target", target)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(string(out), "rolled back") {
		t.Fatalf("chaos recover: exit %d\n%s", code, out)
	}
	t.Logf("chaos recover (%s after the kill):\n%s", time.Since(killed).Round(time.Millisecond), out)
	if !strings.Contains(string(out), "waiting up to") {
		t.Errorf("recover did not wait for the interrupted apt-get:\n%s", out)
	}
	if got := hostState(t, root); got != before {
		t.Fatalf("after recover the host differs from before:\n%s", stateDiff(before, got))
	}
	// Past the background job's deadline: still as before.
	time.Sleep(time.Until(killed.Add(7 * time.Second)))
	if got := hostState(t, root); got != before {
		t.Fatalf("the killed chaos's processes changed the host after recover:\n%s", stateDiff(before, got))
	}
}

// TestSIGKILLOrphansSSH is TestSIGKILLOrphans over SSH, with the native worker and with the sh
// worker: chaos is killed while apt-get runs the postinst on the host. The worker notices the lost
// connection, lets apt-get finish, kills the postinst's background job and only then releases the
// host lock; the `chaos recover` started right after the kill waits for that lock (its owner is a
// dead chaos of this controller) and restores the host exactly, for good.
func TestSIGKILLOrphansSSH(t *testing.T) {
	for _, worker := range []string{"native", "sh"} {
		t.Run(worker, func(t *testing.T) {
			isolate(t)
			bin := testenv.ChaosBinary(t)
			hs := testenv.StartSSHHosts(t, 1, func(h *testenv.SSHHost) {
				testenv.AptRepo(t, h.Root, append(append([]testenv.DebPkg{}, tinyPkgs...), orphanPkg)...)
			})
			h := hs.Hosts[0]
			home := t.TempDir()
			testenv.WriteFile(t, home, "/.ssh/config", fmt.Sprintf("Host box\n  HostName %s\n  User root\n  IdentityFile %s\n  UserKnownHostsFile %s\n",
				h.Addr, hs.KeyFile, hs.KnownHosts))
			t.Setenv("HOME", home)
			if worker == "sh" {
				t.Setenv("CHAOS_SSH_WORKER", "sh")
			}
			file := writeChobolo(t, "packages: [chaos-orphan]\nusers:\n  - name: alice\n    shell: bash\n")
			before := hostState(t, h.Root)
			cmd := exec.Command(bin, "apply", "-c", file, "--target", "box", "-y")
			var applyOut strings.Builder
			cmd.Stdout, cmd.Stderr = &applyOut, &applyOut
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { _ = cmd.Wait(); close(exited) }()
			for !testenv.Exists(t, h.Root, "/var/tmp/chaos-orphan-started") {
				select {
				case <-exited:
					t.Fatalf("the apply ended before the postinst ran:\n%s", applyOut.String())
				case <-time.After(time.Millisecond):
				}
			}
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			killed := time.Now()
			out, code := chaosCmd(t, bin, "recover", "--target", "box")
			if code != 0 || !strings.Contains(out, "rolled back") {
				t.Fatalf("chaos recover: exit %d\n%s", code, out)
			}
			t.Logf("chaos recover (%s after the kill):\n%s", time.Since(killed).Round(time.Millisecond), out)
			if got := hostState(t, h.Root); got != before {
				t.Fatalf("after recover the host differs from before:\n%s", stateDiff(before, got))
			}
			time.Sleep(time.Until(killed.Add(7 * time.Second)))
			if got := hostState(t, h.Root); got != before {
				t.Fatalf("the killed chaos's processes changed the host after recover:\n%s", stateDiff(before, got))
			}
		})
	}
}
