package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

var faultPkgs = []testenv.DebPkg{
	{Name: "chaos-tiny-a", Version: "1.0", Files: map[string]string{"/usr/share/chaos-tiny-a/README": "a\n"}},
	{Name: "chaos-tiny-lib", Version: "1.0"},
	{Name: "chaos-tiny-b", Version: "1.0", Depends: []string{"chaos-tiny-lib"},
		Files: map[string]string{"/usr/bin/chaos-tiny-b": "#!/bin/sh\necho tiny-b\n", "/etc/chaos-tiny-b.conf": "b=1\n"}},
	{Name: "chaos-broken", Version: "1.0", Files: map[string]string{"/usr/share/chaos-broken/x": "x\n"},
		Postinst: "echo 'chaos-broken: postinst fails on purpose' >&2\nexit 1\n"},
}

const faultChobolo = `hostname: forge
packages: [chaos-tiny-a, chaos-tiny-b]
users:
  - name: alice
    shell: bash
    groups: [adm]
    sudo: true
region:
  timezone: Europe/Berlin
files:
  - path: /etc/motd
    content: "managed by chaos\n"
  - path: /srv/data
    state: directory
    mode: "0750"
  - path: /srv/data/conf
    content: "x=1\n"
`

// state is the host's full state (testenv.HostState) with the test packages' files.
func state(t *testing.T, root string) string {
	return testenv.HostState(t, root, "usr/share/chaos-tiny-a", "usr/share/chaos-broken")
}

func diffState(a, b string) string { return testenv.StateDiff(a, b) }

// faulty fails the op that starts after the k-th op.start event: the failure is injected exactly
// where the op touches the target (its command or its file operation), and the op does nothing.
type faulty struct {
	transport.Transport
	armed bool
}

var errInjected = errors.New("injected failure")

func (f *faulty) trip() error {
	if f.armed {
		f.armed = false
		return errInjected
	}
	return nil
}
func (f *faulty) Run(ctx context.Context, c transport.Cmd) (transport.Result, error) {
	if err := f.trip(); err != nil {
		return transport.Result{}, err
	}
	return f.Transport.Run(ctx, c)
}
func (f *faulty) WriteFile(ctx context.Context, p string, data []byte, mode fs.FileMode, uid, gid int, v func(string) error) error {
	if err := f.trip(); err != nil {
		return err
	}
	return f.Transport.WriteFile(ctx, p, data, mode, uid, gid, v)
}
func (f *faulty) Remove(ctx context.Context, p string, r bool) error {
	if err := f.trip(); err != nil {
		return err
	}
	return f.Transport.Remove(ctx, p, r)
}
func (f *faulty) Symlink(ctx context.Context, p, target string) error {
	if err := f.trip(); err != nil {
		return err
	}
	return f.Transport.Symlink(ctx, p, target)
}
func (f *faulty) Mkdir(ctx context.Context, p string, mode fs.FileMode) error {
	if err := f.trip(); err != nil {
		return err
	}
	return f.Transport.Mkdir(ctx, p, mode)
}
func (f *faulty) Chmod(ctx context.Context, p string, mode fs.FileMode) error {
	if err := f.trip(); err != nil {
		return err
	}
	return f.Transport.Chmod(ctx, p, mode)
}

func load(t *testing.T, text string) *chobolo.Chobolo {
	t.Helper()
	c, err := chobolo.LoadBytes("faults.yml", []byte(text), chobolo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFailAtEveryPosition fails each op of a five-role plan in turn on a real Debian root: after
// each failure the host is exactly as before (files, owners, modes, dpkg state) and the next plan
// is the same plan. Then the real apply succeeds and records generation 1.
func TestFailAtEveryPosition(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, faultPkgs...)
	tr := enginetest.Chroot(t, root)
	ctx := context.Background()
	e := &engine.Engine{Registry: builtin.Registry()}
	c := load(t, faultChobolo)
	req := engine.Request{Chobolo: c, Assume: true}
	first, err := e.Plan(ctx, tr, req)
	if err != nil {
		t.Fatal(err)
	}
	nops := 0
	for _, rp := range first.Roles {
		for _, s := range rp.Steps {
			nops += len(s.Ops)
		}
	}
	if nops < 10 {
		t.Fatalf("plan too small for the test (%d ops):\n%s", nops, enginetest.Render(first))
	}
	before := state(t, root)
	plan0 := enginetest.Render(first)
	start := time.Now()
	for k := 1; k <= nops; k++ {
		f := &faulty{Transport: tr}
		seen := 0
		var failedOp string
		r := req
		r.Observe = func(ev engine.Event) {
			if ev.Type == engine.EventOpStart {
				seen++
				if seen == k {
					f.armed, failedOp = true, ev.Role+": "+ev.Op
				}
			}
		}
		hp, err := e.Plan(ctx, tr, req)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Apply(ctx, f, hp, r)
		if !errors.Is(err, errInjected) || res == nil || !res.RolledBack {
			t.Fatalf("op %d (%s): want the injected failure and a rollback, got %v", k, failedOp, err)
		}
		if len(res.UndoErrors) > 0 {
			t.Errorf("op %d (%s): undo errors: %v", k, failedOp, res.UndoErrors)
		}
		if got := state(t, root); got != before {
			t.Fatalf("op %d (%s): host changed after the rollback:\n%s", k, failedOp, diffState(before, got))
		}
		if again, err := e.Plan(ctx, tr, req); err != nil || enginetest.Render(again) != plan0 {
			t.Fatalf("op %d (%s): the plan after the rollback differs:\n%s\nwas:\n%s (%v)", k, failedOp, enginetest.Render(again), plan0, err)
		}
	}
	t.Logf("%d positions failed and rolled back in %s", nops, time.Since(start).Round(time.Millisecond))
	res := enginetest.ApplyTwice(t, tr, c, builtin.Roles()...)
	_ = res
	if gens, err := engine.ReadGenerations(ctx, tr); err != nil || len(gens) != 1 {
		t.Fatalf("generations after the apply: %+v, %v", gens, err)
	}
}

// Real failures at three places of the plan: a package whose postinst exits 1 (packages, early), a
// user whose uid collides with an existing user's (users, middle) and a file in a read-only directory
// (files, last). Each leaves the host exactly as before.
func TestRealFailuresRollBack(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, faultPkgs...)
	tr := enginetest.Chroot(t, root)
	ctx := context.Background()
	e := &engine.Engine{Registry: builtin.Registry()}

	// A read-only bind mount inside the root.
	ro := filepath.Join(root, "srv/ro")
	if err := os.MkdirAll(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{{"mount", "--bind", ro, ro}, {"mount", "-o", "remount,bind,ro", ro}} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("umount", ro).Run() })

	cases := []struct {
		name, extra, want string
		between           func() // runs between the plan and the apply
	}{
		{"package postinst fails", strings.Replace(faultChobolo, "chaos-tiny-b]", "chaos-tiny-b, chaos-broken]", 1), "chaos-broken", nil},
		// A system user (never pruned) takes bob's uid after the plan: useradd -u 990 fails.
		{"user uid collides", "", "useradd", func() { testenv.Chroot(t, root, "useradd", "--system", "-u", "990", "svc") }},
		{"file in a read-only directory", faultChobolo + "  - path: /srv/ro/file\n    content: \"no\\n\"\n", "/srv/ro/file", nil},
	}
	cases[1].extra = strings.Replace(faultChobolo, "    sudo: true\n", "    sudo: true\n  - name: bob\n    uid: 990\n", 1)
	before := state(t, root)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := engine.Request{Chobolo: load(t, tc.extra), Assume: true}
			hp, err := e.Plan(ctx, tr, req)
			if err != nil {
				t.Fatal(err)
			}
			before := before
			if tc.between != nil {
				tc.between()
				before = state(t, root)
				defer testenv.Chroot(t, root, "userdel", "svc")
			}
			res, err := e.Apply(ctx, tr, hp, req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want a failure mentioning %q, got %v\n%s", tc.want, err, enginetest.Render(hp))
			}
			if !res.RolledBack {
				t.Fatalf("not rolled back: %+v", res)
			}
			t.Logf("failed as planned: %v; undo problems: %v", err, res.UndoErrors)
			if got := state(t, root); got != before {
				t.Fatalf("host changed after the rollback:\n%s", diffState(before, got))
			}
			if j, _ := engine.ReadJournal(ctx, tr); j != nil {
				t.Fatal("journal left behind")
			}
		})
	}
}

// noFlock hides the transport's flock, as an SSH transport would: the lock becomes a mkdir lease.
type noFlock struct{ transport.Transport }

// TestLeaseLock: without flock the lock is an atomic mkdir lease with the owner's pid; a second
// holder is refused, and a lease whose process is gone is broken.
func TestLeaseLock(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	tr := noFlock{enginetest.Chroot(t, root)}
	ctx := context.Background()
	release, err := engine.Lock(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	if !testenv.Exists(t, root, "/var/lib/chaos/lock.d/owner") || !strings.Contains(testenv.ReadFile(t, root, "/var/lib/chaos/lock.d/owner"), fmt.Sprintf(`"pid":%d`, os.Getpid())) {
		t.Fatal("no lease owner file")
	}
	release()
	if testenv.Exists(t, root, "/var/lib/chaos/lock.d") {
		t.Fatal("lease not released")
	}
	// Another live process's lease (pid 1 on this controller): refused.
	host, _ := os.Hostname()
	testenv.Chroot(t, root, "mkdir", "/var/lib/chaos/lock.d")
	testenv.WriteFile(t, root, "/var/lib/chaos/lock.d/owner", fmt.Sprintf(`{"controller":%q,"pid":1,"started":%q}`, host, time.Now().UTC().Format(time.RFC3339)))
	if _, err := engine.Lock(ctx, tr); err == nil || !strings.Contains(err.Error(), "another chaos (pid 1") {
		t.Fatalf("lease held by a live process: %v", err)
	}
	// A dead process's lease: broken.
	dead := exec.Command("true")
	_ = dead.Run()
	testenv.WriteFile(t, root, "/var/lib/chaos/lock.d/owner", fmt.Sprintf(`{"controller":%q,"pid":%d,"started":%q}`, host, dead.Process.Pid, time.Now().UTC().Format(time.RFC3339)))
	release, err = engine.Lock(ctx, tr)
	if err != nil {
		t.Fatalf("stale lease not broken: %v", err)
	}
	release()
}
