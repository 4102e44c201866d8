package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// chaosCmd runs the chaos binary and returns its combined output and exit code.
func chaosCmd(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// planOps is the plan of `chaos apply --dry --json` as "role: op" lines, in order.
func planOps(t *testing.T, args ...string) []string {
	t.Helper()
	r := run(t, "", append([]string{"apply", "--dry", "--json"}, args...)...)
	var ops []string
	for _, l := range strings.Split(r.stdout, "\n") {
		var m struct {
			Type string           `json:"type"`
			Plan *engine.HostPlan `json:"plan"`
		}
		if json.Unmarshal([]byte(l), &m) == nil && m.Type == "plan" {
			for _, rp := range m.Plan.Roles {
				for _, s := range rp.Steps {
					for _, op := range s.Ops {
						ops = append(ops, rp.Role+": "+op.String())
					}
				}
			}
		}
	}
	if len(ops) == 0 {
		t.Fatalf("no plan:\n%s", r)
	}
	return ops
}

// TestLostConnectionRecoverSSH applies over SSH with the real chaos binary and kills the host's
// sshd (and every session with it) right after the journal entry of op k reached the host: the
// apply fails, its undo cannot reach the host, and the journal stays there. After sshd is back,
// `chaos recover` over SSH rolls the host back to exactly its state before the apply.
func TestLostConnectionRecoverSSH(t *testing.T) {
	isolate(t)
	bin := testenv.ChaosBinary(t)
	hs := testenv.StartSSHHosts(t, 1, func(h *testenv.SSHHost) { testenv.AptRepo(t, h.Root, tinyPkgs...) })
	h := hs.Hosts[0]
	home := t.TempDir()
	testenv.WriteFile(t, home, "/.ssh/config", fmt.Sprintf("Host box\n  HostName %s\n  User root\n  IdentityFile %s\n  UserKnownHostsFile %s\n",
		h.Addr, hs.KeyFile, hs.KnownHosts))
	t.Setenv("HOME", home)
	file := writeChobolo(t, atomicA)
	ops := planOps(t, "-c", file, "--target", "box")
	// Where to cut: the first op, the package transaction, the first user command, the last op.
	cuts := []int{1}
	for i, op := range ops {
		if strings.HasPrefix(op, "packages:") && !strings.Contains(op, "check:") && strings.Contains(op, " install ") && len(cuts) == 1 {
			cuts = append(cuts, i+1)
		}
	}
	for i, op := range ops {
		if strings.HasPrefix(op, "users: useradd") {
			cuts = append(cuts, i+1)
			break
		}
	}
	cuts = append(cuts, len(ops))
	if len(cuts) != 4 {
		t.Fatalf("plan lacks an install or a useradd (cuts %v):\n%s", cuts, strings.Join(ops, "\n"))
	}
	before := hostState(t, h.Root)
	for _, k := range cuts {
		cmd := exec.Command(bin, "apply", "-c", file, "--target", "box", "-y")
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		cut := false
	poll:
		for {
			select {
			case <-exited:
				break poll
			default:
			}
			if journalEntries(h.Root) >= k {
				h.Stop()
				cut = true
				<-exited
				break
			}
			time.Sleep(time.Millisecond)
		}
		if !cut || cmd.ProcessState.ExitCode() != 1 {
			t.Fatalf("op %d (%s): the apply was not cut off (exit %d):\n%s", k, ops[k-1], cmd.ProcessState.ExitCode(), out.String())
		}
		if journalEntries(h.Root) < k {
			t.Fatalf("op %d: no journal left on the host after the lost connection:\n%s", k, out.String())
		}
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
		if err := h.WaitReady(15 * time.Second); err != nil {
			t.Fatal(err)
		}
		rec, code := chaosCmd(t, bin, "recover", "--target", "box")
		if code != 0 || !strings.Contains(rec, "rolled back") {
			t.Fatalf("op %d (%s): chaos recover over SSH: exit %d\n%s\napply said:\n%s", k, ops[k-1], code, rec, out.String())
		}
		if got := hostState(t, h.Root); got != before {
			t.Fatalf("op %d (%s): after recover the host differs from before:\n%s", k, ops[k-1], stateDiff(before, got))
		}
		t.Logf("cut at op %d (%s): %s", k, ops[k-1], firstLine(rec))
	}
	if out, code := chaosCmd(t, bin, "apply", "-c", file, "--target", "box", "-y"); code != 0 || !strings.Contains(out, "recorded generation 1") {
		t.Fatalf("apply after the recoveries: exit %d\n%s", code, out)
	}
}

// sigkillChobolo is cheap but touches five roles: one package without dependencies, a user with a
// group and sudo, the hostname, the timezone, a directory and files.
const sigkillChobolo = `hostname: forge
packages: [chaos-tiny-c]
users:
  - name: alice
    shell: bash
    groups: [adm]
    sudo: true
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

// overlayRoot mounts a fresh writable overlay over lower (a prepared root) and returns it with its
// cleanup: cheaper than a new root and a package repository per trial.
func overlayRoot(t *testing.T, lower string) (string, func()) {
	t.Helper()
	dir, err := os.MkdirTemp("", "chaos-sigkill-")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	for _, d := range []string{root, filepath.Join(dir, "upper"), filepath.Join(dir, "work")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + dir + "/upper,workdir=" + dir + "/work"
	if err := syscall.Mount("overlay", root, "overlay", 0, opts); err != nil {
		os.RemoveAll(dir)
		testenv.Missing(t, "overlayfs over a prepared root: %v", err)
	}
	return root, func() {
		if err := syscall.Unmount(root, 0); err != nil {
			_ = syscall.Unmount(root, syscall.MNT_DETACH)
		}
		_ = os.RemoveAll(dir)
	}
}

// inRoot counts the processes that run inside root: the commands a killed chaos started (apt,
// useradd) are not killed with it, and keep running, as they would on a real host.
func inRoot(root string) int {
	n := 0
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		if r, err := os.Readlink("/proc/" + d.Name() + "/root"); err == nil && r == root {
			n++
		}
	}
	return n
}

// TestSIGKILLRandom kills the real chaos binary with SIGKILL at 50 random moments of a five-role
// apply (uniform over 1.3 times the duration of the whole apply, measured first and then following
// the applies that end, so that some kills land after the commit point and some after the end),
// runs `chaos recover` at once, and checks that the host is then exactly in the before or the after
// state (full state: testenv.HostState) and that nothing of the killed run still runs in it. The
// seed is logged; CHAOS_SIGKILL_SEED=N replays a run's delays, CHAOS_SIGKILL_TRIALS=N changes the
// count.
func TestSIGKILLRandom(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	bin := testenv.ChaosBinary(t)
	prepared := testenv.DebianRoot(t)
	testenv.AptRepo(t, prepared, tinyPkgs...)
	file := writeChobolo(t, sigkillChobolo)
	before := hostState(t, prepared)

	// The duration of a whole apply, process start to exit, and the state after it.
	var after string
	var full time.Duration
	for range 2 { // the longer of two runs (the first one warms the page cache)
		root, done := overlayRoot(t, prepared)
		start := time.Now()
		out, code := chaosCmd(t, bin, "apply", "-c", file, "--target", "@chroot"+root, "-y")
		full = max(full, time.Since(start))
		if code != 0 {
			t.Fatalf("calibration apply: exit %d\n%s", code, out)
		}
		after = hostState(t, root)
		done()
	}
	if after == before {
		t.Fatal("the apply changes nothing")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CHAOS_SIGKILL_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	trials := 50
	if s := os.Getenv("CHAOS_SIGKILL_TRIALS"); s != "" {
		trials, _ = strconv.Atoi(s)
	}
	t.Logf("apply takes %s; seed %d (CHAOS_SIGKILL_SEED=%d replays this run)", full.Round(time.Millisecond), seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	phases := map[string]int{}
	outcomes := map[string]int{}
	start := time.Now()
	for i := 1; i <= trials; i++ {
		delay := time.Duration(rng.Int64N(int64(full) * 13 / 10))
		t0 := time.Now()
		root, done := overlayRoot(t, prepared)
		cmd := exec.Command(bin, "apply", "-c", file, "--target", "@chroot"+root, "-y")
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		phase := ""
		select {
		case <-exited:
			phase = "finished"
			// The machine's load changes: follow the duration of the applies that ran to the end.
			full = (full + time.Since(t0)) / 2
		case <-time.After(delay):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			// Still running past the expected end: the machine got slower since the calibration, and
			// kills would never land after the commit. Stretch the expected duration.
			if delay > full*9/10 {
				full = max(full, delay*5/4)
			}
			phase = "killed, no journal"
			if data, err := os.ReadFile(filepath.Join(root, engine.JournalFile)); err == nil {
				var j engine.Journal
				_ = json.Unmarshal(data, &j)
				phase = fmt.Sprintf("killed, journal %s", j.State)
			}
		}
		// Recover at once: the recovery itself must wait for (or kill) what the killed chaos left
		// running before it undoes anything.
		orphans := inRoot(root)
		rec, code := chaosCmd(t, bin, "recover", "--target", "@chroot"+root)
		if code != 0 {
			t.Fatalf("trial %d (seed %d, delay %s, %s): chaos recover: exit %d\n%s", i, seed, delay, phase, code, rec)
		}
		if n := inRoot(root); n != 0 {
			t.Fatalf("trial %d (seed %d, delay %s, %s): %d processes still run in the root after chaos recover\n%s", i, seed, delay, phase, n, rec)
		}
		got := hostState(t, root)
		outcome := ""
		switch got {
		case before:
			outcome = "before"
		case after:
			outcome = "after"
		default:
			t.Fatalf("trial %d (seed %d, delay %s, %s): the host is neither as before nor as after the apply.\nvs before:\n%s\nvs after:\n%s\nrecover said:\n%s",
				i, seed, delay, phase, stateDiff(before, got), stateDiff(after, got), rec)
		}
		t.Logf("trial %2d: kill at %-6s %-26s orphans %d -> %s (trial took %s)", i, delay.Round(time.Millisecond), phase, orphans, outcome,
			time.Since(t0).Round(time.Millisecond))
		phases[phase]++
		outcomes[outcome]++
		done()
	}
	t.Logf("%d trials in %s: %v; %v", trials, time.Since(start).Round(time.Millisecond), outcomes, phases)
	if trials >= 50 && (outcomes["before"] == 0 || outcomes["after"] == 0 || phases["killed, journal open"] == 0) {
		t.Fatalf("the kills did not spread over the apply: %v %v (seed %d)", outcomes, phases, seed)
	}
}

// TestRollbackSnapshotBtrfs runs `chaos rollback --snapshot` end to end on a loop-mounted btrfs
// image whose Debian root is a subvolume: apply A, apply B with --snapshot, change more, then roll
// back to generation 1 from the snapshot. The running root is left alone; mounting the filesystem
// again without subvol= (as the next boot would) gives the new default subvolume, whose state
// equals the state right before B.
func TestRollbackSnapshotBtrfs(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	testenv.RequireTools(t, "btrfs-progs", "mkfs.btrfs", "btrfs")
	testenv.RequireTool(t, "util-linux", "findmnt")
	sh := func(argv ...string) string {
		t.Helper()
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
		return string(out)
	}
	dir := t.TempDir()
	img, mnt, next := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt"), filepath.Join(dir, "next-boot")
	for _, d := range []string{mnt, next} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sh("truncate", "-s", "1G", img)
	sh("mkfs.btrfs", "-q", img)
	sh("mount", "-o", "loop", img, mnt)
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	root := filepath.Join(mnt, "root")
	sh("btrfs", "subvolume", "create", root)
	sh("cp", "-a", testenv.BaseRoot(t)+"/.", root+"/")
	// The base root has no btrfs-progs: the host's tool and its libraries go in.
	bin, _ := exec.LookPath("btrfs")
	sh("cp", bin, filepath.Join(root, "usr/bin/btrfs"))
	for _, l := range strings.Fields(sh("sh", "-c", "ldd "+bin+" | awk '/=>/ {print $3}'")) {
		if _, err := os.Stat(filepath.Join(root, l)); err != nil {
			sh("cp", "-L", l, filepath.Join(root, l))
		}
	}
	for _, f := range []string{"etc/apt/sources.list"} {
		_ = os.Remove(filepath.Join(root, f))
	}
	testenv.AptRepo(t, root, tinyPkgs...)
	target := "@chroot" + root
	if r := run(t, "", "apply", "-c", writeChobolo(t, atomicA), "--target", target, "-y"); r.code != 0 || !strings.Contains(r.stdout, "recorded generation 1") {
		t.Fatalf("apply A:\n%s", r)
	}
	afterA := hostState(t, root)
	r := run(t, "", "apply", "-c", writeChobolo(t, atomicB), "--target", target, "-y", "--snapshot")
	if r.code != 0 || !strings.Contains(r.stdout, "read-only btrfs snapshot of / before the apply: "+engine.SnapshotDir+"/pre-") {
		t.Fatalf("apply B --snapshot:\n%s", r)
	}
	// More changes: by hand and by a third apply.
	testenv.WriteFile(t, root, "/etc/motd", "changed by hand\n")
	if r := run(t, "", "apply", "-c", writeChobolo(t, "hostname: third\nfiles:\n  - path: /srv/third\n    content: \"3\\n\"\n"), "--target", target, "-y"); r.code != 0 {
		t.Fatalf("apply C:\n%s", r)
	}
	running := hostState(t, root)
	if r := run(t, "", "rollback", "--to", "1", "--snapshot", "--target", target); r.code != 1 || !strings.Contains(r.stderr, "without -y") {
		t.Fatalf("rollback --snapshot without -y:\n%s", r)
	}
	if r := run(t, "", "rollback", "--to", "2", "--snapshot", "--target", target, "-y"); r.code != 1 || !strings.Contains(r.stderr, "without --snapshot") {
		t.Fatalf("rollback --snapshot to a generation whose successor took no snapshot:\n%s", r)
	}
	r = run(t, "", "rollback", "--to", "1", "--snapshot", "--target", target, "-y")
	if r.code != 0 || !strings.Contains(r.stdout, "is now the default subvolume") {
		t.Fatalf("rollback --to 1 --snapshot:\n%s", r)
	}
	if got := hostState(t, root); got != running {
		t.Fatalf("rollback --snapshot changed the running root:\n%s", stateDiff(running, got))
	}
	// The next boot: the filesystem mounted without subvol=.
	dev := strings.TrimSpace(sh("findmnt", "-n", "-o", "SOURCE", mnt))
	sh("mount", dev, next)
	t.Cleanup(func() { _ = exec.Command("umount", next).Run() })
	if def := sh("btrfs", "subvolume", "get-default", mnt); !strings.Contains(def, "restored-") {
		t.Fatalf("default subvolume: %s", def)
	}
	if got := hostState(t, next); got != afterA {
		t.Fatalf("the new default subvolume differs from the state before apply B:\n%s", stateDiff(afterA, got))
	}
}
