package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/transport"
)

// fileTree makes a bare chroot with a few files; file ops need no programs in the tree.
func fileTree(t *testing.T) (string, *transport.Host) {
	t.Helper()
	dir := treeRoot(t)
	mustWrite(t, filepath.Join(dir, "etc/keep"), "old\n", 0o600)
	mustWrite(t, filepath.Join(dir, "etc/gone"), "bye\n", 0o644)
	if err := os.Symlink("/old/target", filepath.Join(dir, "etc/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, StateDir), 0o755); err != nil {
		t.Fatal(err)
	}
	tr, err := transport.NewChroot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return dir, tr
}

func filePlan(tr transport.Transport, ops ...Op) *HostPlan {
	return &HostPlan{Target: tr.Name(), Roles: []*RolePlan{{Role: "t", Steps: []Step{{
		Changes: []Change{{Kind: Modify, Subject: "test"}}, Ops: ops}}}}}
}

func mixedOps() []Op {
	secret := Write("/etc/secret", []byte("s3cret-content"), 0o600, "", "")
	secret.Secret = true
	return []Op{
		Write("/etc/keep", []byte("new\n"), 0o644, "", ""),
		Write("/etc/new", []byte("x"), 0o600, "", ""),
		Mkdir("/srv/a/b", 0o750, "", ""),
		Remove("/etc/gone"),
		Symlink("/etc/link", "/new/target"),
		secret,
		Write("/srv/a/b/f", []byte("in a new dir"), 0o644, "", ""),
	}
}

// crashAt runs Apply and "kills" it right before op seq: the journal stays as a SIGKILL leaves it.
func crashAt(t *testing.T, tr transport.Transport, hp *HostPlan, seq int) {
	t.Helper()
	testHookBeforeOp = func(n int) {
		if n == seq {
			panic("crash")
		}
	}
	defer func() {
		testHookBeforeOp = nil
		if r := recover(); r != "crash" {
			t.Fatalf("apply did not crash at op %d: %v", seq, r)
		}
	}()
	_, _ = (&Engine{}).Apply(context.Background(), tr, hp, Request{Source: []byte("hostname: x\n")})
}

// An apply killed before any op leaves a journal; Recover puts the tree back exactly, at every
// position, and a later apply is refused until then.
func TestRecoverRollsBackAtEveryPosition(t *testing.T) {
	ops := mixedOps()
	for seq := 1; seq <= len(ops); seq++ {
		t.Run(fmt.Sprint(seq), func(t *testing.T) {
			dir, tr := fileTree(t)
			before := snapshot(t, dir)
			crashAt(t, tr, filePlan(tr, ops...), seq)
			j, err := ReadJournal(context.Background(), tr)
			if err != nil || j == nil || len(j.Entries) != seq || j.State != JournalOpen {
				t.Fatalf("journal after crash: %+v, %v", j, err)
			}
			if _, err := (&Engine{}).Apply(context.Background(), tr, filePlan(tr, ops[0]), Request{}); err == nil ||
				!strings.Contains(err.Error(), "chaos recover") {
				t.Fatalf("apply over an open journal: %v", err)
			}
			rec, err := (&Engine{}).Recover(context.Background(), tr, RecoverOptions{})
			if err != nil || rec == nil || rec.Action != "rolled back" || len(rec.Errors) > 0 {
				t.Fatalf("recover: %+v, %v", rec, err)
			}
			if after := snapshot(t, dir); after != before {
				t.Fatalf("tree after recovery:\n%s\nwant:\n%s", after, before)
			}
			if rec, err := (&Engine{}).Recover(context.Background(), tr, RecoverOptions{}); rec != nil || err != nil {
				t.Fatalf("second recover: %+v, %v", rec, err)
			}
		})
	}
}

// --resume keeps what was done and hands back the Ch-obolo to apply again.
func TestRecoverResume(t *testing.T) {
	dir, tr := fileTree(t)
	hp := filePlan(tr, mixedOps()...)
	crashAt(t, tr, hp, 4)
	rec, err := (&Engine{}).Recover(context.Background(), tr, RecoverOptions{Resume: true})
	if err != nil || rec.Action != "resume" || string(rec.Source) != "hostname: x\n" {
		t.Fatalf("recover --resume: %+v, %v", rec, err)
	}
	if got := readFile(t, dir, "/etc/keep"); got != "new\n" {
		t.Fatalf("resume undid the done ops: /etc/keep = %q", got)
	}
	if j, _ := ReadJournal(context.Background(), tr); j != nil {
		t.Fatal("journal left after resume")
	}
	if _, err := (&Engine{}).Apply(context.Background(), tr, hp, Request{}); err != nil {
		t.Fatal(err)
	}
}

// A committed journal (killed while recording the generation) is only cleaned up.
func TestRecoverCommitted(t *testing.T) {
	_, tr := fileTree(t)
	ctx := context.Background()
	jw := newJournal(tr, nil, nil)
	if err := jw.add(ctx, &JournalEntry{Seq: 1, Role: "t", Op: Write("/etc/keep", nil, 0, "", "")}); err != nil {
		t.Fatal(err)
	}
	if err := jw.setState(ctx, JournalCommitted); err != nil {
		t.Fatal(err)
	}
	rec, err := (&Engine{}).Recover(ctx, tr, RecoverOptions{})
	if err != nil || rec.Action != "cleaned up" {
		t.Fatalf("%+v, %v", rec, err)
	}
}

// Killed after the commit, before its generation was published: recovery keeps what was done and
// publishes the generation the apply staged before the commit, whole, as generation 1; the next
// apply records generation 2. Killed before the commit (before its last op), no
// generation at all.
func TestRecoverPublishesStagedGeneration(t *testing.T) {
	dir, tr := fileTree(t)
	ctx := context.Background()
	testHookAfterCommit = func() { panic("crash") }
	func() {
		defer func() {
			testHookAfterCommit = nil
			if r := recover(); r != "crash" {
				t.Fatalf("apply did not crash after the commit: %v", r)
			}
		}()
		_, _ = (&Engine{}).Apply(ctx, tr, filePlan(tr, mixedOps()...), Request{Source: []byte("hostname: x\n")})
	}()
	if gens, _ := ReadGenerations(ctx, tr); len(gens) != 0 {
		t.Fatalf("generations before the recovery: %+v", gens)
	}
	rec, err := (&Engine{}).Recover(ctx, tr, RecoverOptions{})
	if err != nil || rec.Action != "cleaned up" || rec.Generation != 1 || len(rec.Warnings) > 0 {
		t.Fatalf("recover: %+v, %v", rec, err)
	}
	if got := readFile(t, dir, "/etc/keep"); got != "new\n" {
		t.Fatalf("the committed apply was undone: /etc/keep = %q", got)
	}
	gens, err := ReadGenerations(ctx, tr)
	if err != nil || len(gens) != 1 || gens[0].N != 1 || gens[0].Ops != len(mixedOps()) {
		t.Fatalf("generations after the recovery: %+v %v", gens, err)
	}
	for _, f := range []string{"meta.json", "chobolo.yml", "facts.json", "plan.json", "journal.json"} {
		if _, err := ReadGenerationFile(ctx, tr, 1, f); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, JournalDir)); !os.IsNotExist(err) {
		t.Fatalf("journal left: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, GenerationDir(1), ".retention")); !os.IsNotExist(err) {
		t.Fatalf("stage file published: %v", err)
	}
	res, err := (&Engine{}).Apply(ctx, tr, filePlan(tr, Write("/etc/keep", []byte("newer\n"), 0o644, "", "")), Request{})
	if err != nil || res.Generation != 2 {
		t.Fatalf("next apply: %+v %v", res, err)
	}

	// Killed before the commit: rolled back, and no generation staged survives.
	_, tr2 := fileTree(t)
	crashAt(t, tr2, filePlan(tr2, mixedOps()...), len(mixedOps()))
	if rec, err := (&Engine{}).Recover(ctx, tr2, RecoverOptions{}); err != nil || rec.Action != "rolled back" || rec.Generation != 0 {
		t.Fatalf("recover: %+v, %v", rec, err)
	}
	if gens, _ := ReadGenerations(ctx, tr2); len(gens) != 0 {
		t.Fatalf("generations after a rollback: %+v", gens)
	}
}

// A crash at an op that cannot be undone (journaled, so it may have run): recovery rolls back the
// rest and names that op, whose reason travelled through the journal, as not undone.
func TestRecoverNamesIrreversibleOps(t *testing.T) {
	dir, tr := fileTree(t)
	before := snapshot(t, dir)
	ops := []Op{
		Write("/etc/keep", []byte("new\n"), 0o644, "", ""),
		Exec("/nonexistent-locale-gen").CannotUndo("compiles the locales"),
		Write("/etc/new", []byte("x"), 0o600, "", ""),
	}
	crashAt(t, tr, filePlan(tr, ops...), 2)
	rec, err := (&Engine{}).Recover(context.Background(), tr, RecoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.NotUndone) != 1 || rec.NotUndone[0] != "role t: /nonexistent-locale-gen (cannot be undone: compiles the locales)" || rec.Undone != 1 {
		t.Fatalf("recovery %+v", rec)
	}
	if after := snapshot(t, dir); after != before {
		t.Fatalf("tree not restored:\n%s\n%s", before, after)
	}
}

// Secrets never reach the journal or a generation: not the content of a secret write, not the
// stdin of a secret exec, not a secret inverse.
func TestJournalAndGenerationHoldNoSecrets(t *testing.T) {
	dir, tr := fileTree(t)
	mustWrite(t, filepath.Join(dir, "etc/secret"), "old-secret-hash", 0o600)
	mustWrite(t, filepath.Join(dir, "etc/from-secrets"), "old-s3cret-rendered", 0o600)
	ops := mixedOps()
	// Content from the secrets file: its previous content stays in memory (Op.PrevInMemory).
	mem := Write("/etc/from-secrets", []byte("new-s3cret-rendered"), 0o600, "", "")
	mem.Secret, mem.PrevInMemory = true, true
	ops = append(ops, mem)
	pw := Exec("/nonexistent-chpasswd")
	pw.Stdin, pw.Secret = []byte("alice:s3cret-stdin\n"), true
	undo := Exec("/nonexistent-chpasswd")
	undo.Stdin, undo.Secret = []byte("alice:s3cret-undo\n"), true
	undo.Manual = "set the password of user alice by hand: `passwd alice`"
	pw = pw.WithUndo(undo)
	ops = append(ops, pw)
	// Crash right before the exec: everything journaled so far is on disk.
	crashAt(t, tr, filePlan(tr, ops...), len(ops))
	grepTree(t, filepath.Join(dir, JournalDir), "s3cret")
	j, _ := ReadJournal(context.Background(), tr)
	if last := j.Entries[len(j.Entries)-1]; !last.UndoSecret || last.UndoData != nil {
		t.Fatalf("secret inverse journaled: %+v", last)
	}
	rec, err := (&Engine{}).Recover(context.Background(), tr, RecoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The secret inverse of the last op cannot run after a crash; that op may not have run, so it
	// is not an error. The private file's previous content came back from the journal; that of the
	// file from the secrets was never journaled: recovery says it cannot restore it (an error: the
	// write ran), and the file keeps the content it was given.
	if len(rec.Errors) != 1 || !strings.Contains(rec.Errors[0], "the previous content of /etc/from-secrets was secret and is never journaled: it cannot be restored after a crash") ||
		readFile(t, dir, "/etc/secret") != "old-secret-hash" || readFile(t, dir, "/etc/from-secrets") != "new-s3cret-rendered" {
		t.Fatalf("recover: %+v, secret files %q %q", rec, readFile(t, dir, "/etc/secret"), readFile(t, dir, "/etc/from-secrets"))
	}
	// It is a warning that says what to do by hand (Op.Manual of the inverse).
	if len(rec.Warnings) != 1 || !strings.Contains(rec.Warnings[0], "cannot run after a crash; set the password of user alice by hand: `passwd alice`") {
		t.Fatalf("recover warnings: %q", rec.Warnings)
	}
	// Success: the generation holds neither the secret content nor the previous secret content.
	res, err := (&Engine{}).Apply(context.Background(), tr, filePlan(tr, mixedOps()...), Request{})
	if err != nil || res.Generation != 1 {
		t.Fatalf("apply: %+v, %v", res, err)
	}
	grepTree(t, filepath.Join(dir, GenerationsDir), "s3cret")
	grepTree(t, filepath.Join(dir, GenerationsDir), "old-secret-hash")
	if st, err := os.Stat(filepath.Join(dir, GenerationsDir)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("generations dir: %v, %v", st.Mode(), err)
	}
}

func grepTree(t *testing.T, dir, needle string) {
	t.Helper()
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if data, _ := os.ReadFile(p); bytes.Contains(data, []byte(needle)) {
				t.Errorf("%s contains %q", p, needle)
			}
		}
		return nil
	})
}

func readFile(t *testing.T, dir, p string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, p))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// Apply A, apply B, roll back to A: the tree equals the tree after A, and there are three
// generations. Then retention keeps the newest ones.
func TestGenerationsRollbackRoundTrip(t *testing.T) {
	dir, tr := fileTree(t)
	ctx := context.Background()
	e := &Engine{}
	apply := func(hp *HostPlan, req Request) *Result {
		t.Helper()
		res, err := e.Apply(ctx, tr, hp, req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	apply(filePlan(tr, Write("/etc/keep", []byte("A\n"), 0o640, "", ""), Write("/etc/a-only", []byte("a"), 0o644, "", "")),
		Request{Source: []byte("a: 1\n")})
	afterA := snapshot(t, dir)
	apply(filePlan(tr, Write("/etc/keep", []byte("B\n"), 0o600, "", ""), Remove("/etc/a-only"),
		Mkdir("/srv/b", 0o755, "", ""), Write("/srv/b/new", []byte("b"), 0o644, "", ""),
		Symlink("/etc/link", "/b/target"), Remove("/etc/gone")), Request{Source: []byte("b: 2\n")})
	if snapshot(t, dir) == afterA {
		t.Fatal("B changed nothing")
	}
	rp, err := e.RollbackFiles(ctx, tr, 1)
	if err != nil {
		t.Fatal(err)
	}
	res := apply(&HostPlan{Target: tr.Name(), Roles: []*RolePlan{rp}}, Request{Source: []byte("a: 1\n"), Record: RecordOptions{Kind: "rollback", Of: 1}})
	if got := snapshot(t, dir); got != afterA {
		t.Fatalf("after rollback:\n%s\nwant:\n%s\nplan:%+v", got, afterA, rp)
	}
	gens, err := ReadGenerations(ctx, tr)
	if err != nil || len(gens) != 3 || gens[2].Kind != "rollback" || gens[2].Of != 1 || res.Generation != 3 {
		t.Fatalf("generations: %+v, %v", gens, err)
	}
	src, _ := ReadGenerationFile(ctx, tr, 3, "chobolo.yml")
	if string(src) != "a: 1\n" {
		t.Fatalf("generation 3 chobolo %q", src)
	}
	var plan HostPlan
	data, _ := ReadGenerationFile(ctx, tr, 2, "plan.json")
	if err := json.Unmarshal(data, &plan); err != nil || len(plan.Roles) != 1 {
		t.Fatalf("plan.json: %v", err)
	}
	// Rolling back to the latest changes nothing.
	if rp, err := e.RollbackFiles(ctx, tr, 3); err != nil || len(rp.Steps) != 0 {
		t.Fatalf("rollback to latest: %+v, %v", rp, err)
	}
	// Retention: keep 2.
	apply(filePlan(tr, Write("/etc/keep", []byte("C\n"), 0o600, "", "")), Request{Record: RecordOptions{Keep: 2}})
	gens, _ = ReadGenerations(ctx, tr)
	if len(gens) != 2 || gens[0].N != 3 || gens[1].N != 4 {
		t.Fatalf("retention: %+v", gens)
	}
	if _, err := os.Stat(filepath.Join(dir, GenerationDir(1))); !os.IsNotExist(err) {
		t.Fatalf("generation 1 not removed: %v", err)
	}
	if _, err := e.RollbackFiles(ctx, tr, 1); err == nil {
		t.Fatal("rollback to a pruned generation must fail")
	}
}

// Retention keeps the newest generations within the count and the total size, and never drops the
// newest (the host's current state), even when it alone is over the size cap.
func TestRetain(t *testing.T) {
	gens := func(sizes ...int64) []Generation {
		var out []Generation
		for i, b := range sizes {
			out = append(out, Generation{N: i + 1, Bytes: b})
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		gens     []Generation
		keep     int
		max      int64
		kept     []int
		droppped []int
	}{
		{"under both limits", gens(1, 1, 1), 20, 1000, []int{1, 2, 3}, nil},
		{"count", gens(1, 1, 1, 1, 1), 2, 1000, []int{4, 5}, []int{1, 2, 3}},
		{"keep 1", gens(1, 1, 1), 1, 1000, []int{3}, []int{1, 2}},
		{"size", gens(100, 100, 100), 20, 250, []int{2, 3}, []int{1}},
		{"size and count", gens(100, 10, 10, 10), 3, 25, []int{3, 4}, []int{1, 2}},
		{"the newest alone is over the cap", gens(5, 1000), 20, 10, []int{2}, []int{1}},
		{"a single generation over the cap stays", gens(1000), 20, 10, []int{1}, nil},
		{"defaults", gens(make([]int64, 25)...), 0, 0, []int{6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25},
			[]int{1, 2, 3, 4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kept, dropped := retain(tc.gens, tc.keep, tc.max)
			nums := func(gs []Generation) []int {
				var out []int
				for _, g := range gs {
					out = append(out, g.N)
				}
				return out
			}
			if fmt.Sprint(nums(kept)) != fmt.Sprint(tc.kept) || fmt.Sprint(nums(dropped)) != fmt.Sprint(tc.droppped) {
				t.Fatalf("kept %v dropped %v, want %v and %v", nums(kept), nums(dropped), tc.kept, tc.droppped)
			}
		})
	}
}

// Two applies on one host: the second process is refused while the first holds the lock.
func TestLockExcludesOtherProcesses(t *testing.T) {
	dir, tr := fileTree(t)
	ctx := context.Background()
	lock, err := LockHost(ctx, tr, LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Not re-entrant: a second caller in this process is refused, and so is Apply without the handle.
	if _, err := LockHost(ctx, tr, LockOptions{}); !errors.Is(err, ErrHostBusy) || !strings.Contains(err.Error(), "this process") {
		t.Fatalf("second LockHost in this process: %v", err)
	}
	if _, err := (&Engine{}).Apply(ctx, tr, filePlan(tr), Request{}); !errors.Is(err, ErrHostBusy) {
		t.Fatalf("Apply without the caller's lock: %v", err)
	}
	if err := exec.Command("flock", "-n", filepath.Join(dir, LockPath), "true").Run(); err == nil {
		t.Fatal("another process took the lock while chaos held it")
	}
	lock.Release()
	if out, err := exec.Command("flock", "-n", filepath.Join(dir, LockPath), "true").CombinedOutput(); err != nil {
		t.Fatalf("lock not released: %v %s", err, out)
	}
	// Held by another process: Apply refuses. The holder waits for the lock instead of giving up at
	// once (-n): the polling check below briefly takes the lock itself and would otherwise race it.
	cmd := exec.Command("flock", filepath.Join(dir, LockPath), "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if exec.Command("flock", "-n", filepath.Join(dir, LockPath), "true").Run() != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other process never took the lock")
		}
	}
	if _, err := (&Engine{}).Apply(ctx, tr, filePlan(tr, Write("/etc/x", nil, 0, "", "")), Request{}); !errors.Is(err, ErrHostBusy) ||
		!regexp.MustCompile(`: another chaos \(pid \d+\) is applying to this host \(lock /var/lib/chaos/lock\)$`).MatchString(err.Error()) {
		t.Fatalf("apply under a foreign lock: %v", err)
	}
}

// lostSSH stands in for an SSH host whose lock is still held by the worker of a connection lost
// when a chaos run from this controller was killed: Flock is refused `busy` times.
type lostSSH struct {
	*transport.Host
	busy int
}

func (l *lostSSH) Flock(string) (func() error, error) {
	if l.busy > 0 {
		l.busy--
		return nil, transport.ErrLocked
	}
	return func() error { return nil }, nil
}

// Over SSH, a lock held for a dead chaos of this controller is waited for (its worker lets the
// last command end, then releases it); one held for a live chaos, or another controller's, is
// refused at once.
func TestLockWaitsForLostSSHWorker(t *testing.T) {
	dir, h := fileTree(t)
	host, _ := os.Hostname()
	dead := exec.Command("true")
	_ = dead.Run()
	notices := 0
	old := transport.Notice
	transport.Notice = func(string) { notices++ }
	defer func() { transport.Notice = old }()
	for _, tc := range []struct {
		owner string
		wait  bool
	}{
		{fmt.Sprintf("%d on %s over ssh", dead.Process.Pid, host), true},
		{fmt.Sprintf("%d on %s over ssh", os.Getpid(), host), false},
		{fmt.Sprintf("%d on elsewhere over ssh", dead.Process.Pid), false},
	} {
		mustWrite(t, filepath.Join(dir, LockPath), "4242 99\nowner "+tc.owner+"\n", 0o600)
		tr := &lostSSH{Host: h, busy: 3}
		notices = 0
		lock, err := LockHost(context.Background(), tr, LockOptions{})
		if tc.wait {
			if err != nil || tr.busy != 0 || notices != 1 {
				t.Fatalf("%s: %v (busy %d, %d notices)", tc.owner, err, tr.busy, notices)
			}
			lock.Release()
			continue
		}
		if !errors.Is(err, ErrHostBusy) || !strings.Contains(err.Error(), "another chaos (pid "+tc.owner+")") || tr.busy != 2 {
			t.Fatalf("%s: %v (busy %d)", tc.owner, err, tr.busy)
		}
	}
}

// TestLeaveToRoles: a restore step is dropped when a role plans an op on its path (cleaned), and
// kept otherwise; exec ops name no path; the removal of a directory a role empties waits for it.
func TestLeaveToRoles(t *testing.T) {
	step := func(kind Kind, p string, op Op) Step {
		return Step{Changes: []Change{{Kind: kind, Subject: p}}, Ops: []Op{op}}
	}
	restore := &RolePlan{Role: "rollback", Steps: []Step{
		step(Del, "/srv/app/extra", Remove("/srv/app/extra")),
		step(Modify, "/etc/hostname", Write("/etc/hostname", []byte("a\n"), 0o644, "0", "0")),
		step(Modify, "/etc/issue.net", Write("/etc/issue.net", []byte("x\n"), 0o644, "0", "0")),
		step(Modify, "/etc/passwd", Write("/etc/passwd", nil, 0o644, "0", "0")),
	}, Notes: []string{"kept"}}
	roles := []*RolePlan{
		{Role: "hostname", Steps: []Step{{Ops: []Op{Write("/etc//hostname", []byte("a\n"), 0o644, "root", "root")}}}},
		{Role: "files", Steps: []Step{{Ops: []Op{Remove("/srv/app/extra/")}}}},
		{Role: "users", Steps: []Step{{Ops: []Op{Exec("usermod", "-s", "/bin/sh", "/etc/passwd")}}}},
	}
	LeaveToRoles(restore, roles)
	var got []string
	for _, s := range restore.Steps {
		got = append(got, s.Changes[0].Subject)
	}
	if strings.Join(got, " ") != "/etc/issue.net /etc/passwd" || len(restore.Notes) != 1 {
		t.Fatalf("left: %v, notes %v", got, restore.Notes)
	}
	// a directory a role empties is removed after that role, not before
	restore = &RolePlan{Role: "rollback", Steps: []Step{
		step(Del, "/home/a/.config", Remove("/home/a/.config")),
		step(Del, "/home/a/.cache", Remove("/home/a/.cache")),
	}}
	late := LeaveToRoles(restore, []*RolePlan{{Role: "dotfiles", Steps: []Step{{Ops: []Op{Remove("/home/a/.config/nvim")}}}}})
	if len(restore.Steps) != 1 || restore.Steps[0].Changes[0].Subject != "/home/a/.cache" ||
		late == nil || late.Role != "rollback" || len(late.Steps) != 1 || late.Steps[0].Changes[0].Subject != "/home/a/.config" {
		t.Fatalf("restore %+v, late %+v", restore.Steps, late)
	}
}
