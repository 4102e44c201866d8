package engine_test

import (
	"context"
	"errors"
	"fmt"
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
	{Name: "chaos-tiny-b", Version: "1.0", Depends: []string{"chaos-tiny-lib"}, Preinst: haltScript,
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

func load(t *testing.T, text string) *chobolo.Chobolo {
	t.Helper()
	c, err := chobolo.LoadBytes("faults.yml", []byte(text), chobolo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// debianFaults is the Debian core's fault matrix: hostname, packages (an apt transaction with a
// dependency), users with sudo, region, files with a new directory, an apt repository (keyring-less
// deb822 file and apt-get update) and services (one unit enabled, an undeclared one disabled).
var debianFaults = faultCase{
	Name: "debian",
	Root: func(t *testing.T) string {
		root := testenv.DebianRoot(t)
		testenv.AptRepo(t, root, faultPkgs...)
		testenv.Chroot(t, root, "cp", "-a", testenv.RepoDir, "/srv/chaos-repo2")
		for _, u := range []string{"chaos-fault-a", "chaos-fault-b"} {
			testenv.WriteFile(t, root, "/etc/systemd/system/"+u+".service",
				"[Unit]\nDescription="+u+"\n\n[Service]\nExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=multi-user.target\n")
		}
		testenv.Chroot(t, root, "systemctl", "enable", "chaos-fault-b.service")
		return root
	},
	Chobolo: faultChobolo + `repos:
  apt:
    - name: two
      uris: ["file:/srv/chaos-repo2"]
      suites: ["./"]
      trusted: true
services:
  - chaos-fault-a
`,
	State: state,
	Kills: []killAt{{Op: "300' install ", Arm: true,
		What: "apt's transaction with chaos-tiny-lib unpacked, stopped in chaos-tiny-b's preinst"}},
}

// debianUnpackFaults kills apt while dpkg unpacks a package: chaos-small is unpacked, and
// chaos-big's 64 MiB file is half-written under dpkg's temp name (PATH.dpkg-new). The kill strikes as
// soon as that file appears, which stays there as long as dpkg writes 64 MiB.
var debianUnpackFaults = faultCase{
	Name: "debian-unpack",
	Root: func(t *testing.T) string {
		root := testenv.DebianRoot(t)
		testenv.AptRepo(t, root, testenv.DebPkg{Name: "chaos-small", Version: "1.0", Files: map[string]string{"/usr/share/chaos-small/a": "a\n"}},
			testenv.DebPkg{Name: "chaos-big", Version: "1.0", Depends: []string{"chaos-small"},
				Files: map[string]string{"/usr/share/chaos-big/a": "a\n", "/usr/share/chaos-big/blob": strings.Repeat("0123456789abcdef", 4<<20)}})
		return root
	},
	Chobolo: "packages: [chaos-big]\n",
	State:   state,
	Kills: []killAt{{Op: "300' install ", What: "dpkg writing chaos-big's files (chaos-small unpacked)",
		Halfway: func(root string) bool {
			_, err := os.Stat(filepath.Join(root, "usr/share/chaos-big/blob.dpkg-new"))
			return err == nil
		}}},
}

// TestFaultsDebianUnpack runs debianUnpackFaults.
func TestFaultsDebianUnpack(t *testing.T) {
	testenv.RequireRoot(t)
	runFaultMatrix(t, debianUnpackFaults)
}

// TestFailAtEveryPosition runs the Debian fault matrix: a fault before each op, in the middle of
// each write and half-way through the apt transaction; after each the root is exactly as before
// (files, owners, modes, dpkg state) and the next plan is the same plan. Then the real apply
// succeeds and records generation 1.
func TestFailAtEveryPosition(t *testing.T) {
	testenv.RequireRoot(t)
	tr := runFaultMatrix(t, debianFaults)
	if gens, err := engine.ReadGenerations(context.Background(), tr); err != nil || len(gens) != 1 {
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
	lock, err := engine.LockHost(ctx, tr, engine.LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !testenv.Exists(t, root, "/var/lib/chaos/lock.d/owner") || !strings.Contains(testenv.ReadFile(t, root, "/var/lib/chaos/lock.d/owner"), fmt.Sprintf(`"pid":%d`, os.Getpid())) {
		t.Fatal("no lease owner file")
	}
	lock.Release()
	if testenv.Exists(t, root, "/var/lib/chaos/lock.d") {
		t.Fatal("lease not released")
	}
	// Another live process's lease (pid 1 on this controller): refused.
	host, _ := os.Hostname()
	testenv.Chroot(t, root, "mkdir", "/var/lib/chaos/lock.d")
	testenv.WriteFile(t, root, "/var/lib/chaos/lock.d/owner", fmt.Sprintf(`{"controller":%q,"pid":1,"started":%q}`, host, time.Now().UTC().Format(time.RFC3339)))
	if _, err := engine.LockHost(ctx, tr, engine.LockOptions{}); !errors.Is(err, engine.ErrHostBusy) || !strings.Contains(err.Error(), "another chaos (pid 1 on "+host) {
		t.Fatalf("lease held by a live process: %v", err)
	}
	// A dead process's lease: broken.
	dead := exec.Command("true")
	_ = dead.Run()
	testenv.WriteFile(t, root, "/var/lib/chaos/lock.d/owner", fmt.Sprintf(`{"controller":%q,"pid":%d,"started":%q}`, host, dead.Process.Pid, time.Now().UTC().Format(time.RFC3339)))
	lock, err = engine.LockHost(ctx, tr, engine.LockOptions{})
	if err != nil {
		t.Fatalf("stale lease not broken: %v", err)
	}
	lock.Release()
}
