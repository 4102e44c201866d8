package cli_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// everyRoleYML touches every role of the Debian core, with additions, modifications and (after the
// first apply below) removals pending.
const everyRoleYML = `hostname: dry-forge
repos:
  apt:
    - name: extra
      uris: [http://deb.example.org/debian]
      suites: [bookworm]
      components: [main]
packages:
  - chaos-tiny-a
  - chaos-tiny-b
users:
  - name: alice
    shell: bash
    groups: [adm]
    sudo: true
region:
  timezone: Europe/Berlin
  locale: [en_US.UTF-8]
  keymap: de
services:
  - name: ssh
    on_boot: false
files:
  - path: /etc/motd
    content: |
      managed by chaos
  - path: /srv/dry
    state: directory
`

// firstYML is applied for real first, so that the dry runs below find chaos's own state on the
// root (ledger, generations, the services cache) and plan removals too.
const firstYML = `hostname: first
packages:
  - chaos-tiny-c
users:
  - name: bob
files:
  - path: /etc/chaos-first
    content: first
`

// TestDryWritesNothing: `chaos apply --dry` (plain and --json), `rollback --dry` and `generations`
// leave the target exactly as they found it: every path, mode, size, mtime and content of the whole
// root, on a fresh root and on one chaos has applied to whose unit files changed since (which makes
// the services probe's unit-file cache stale).
func TestDryWritesNothing(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, tinyPkgs...)
	target := "@chroot" + root
	file := writeChobolo(t, everyRoleYML)

	dryRuns := func(step string, wantRollback int) {
		t.Helper()
		before := snapshot(t, root, true)
		r := run(t, "", "apply", "-c", file, "--target", target, "--dry")
		if r.code != 2 {
			t.Fatalf("%s: apply --dry: want exit 2\n%s", step, r)
		}
		// Every role planned something, so every role's probe ran.
		for _, want := range []string{"dry-forge", "chaos-extra.sources", "package chaos-tiny-b", "user alice",
			"Europe/Berlin", "ssh.service", "/etc/motd"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%s: the plan does not mention %q\n%s", step, want, r)
			}
		}
		if r := run(t, "", "apply", "-c", file, "--target", target, "--dry", "--json"); r.code != 2 {
			t.Fatalf("%s: apply --dry --json: want exit 2\n%s", step, r)
		}
		if r := run(t, "", "rollback", "--target", target, "--dry", "--to", "1"); r.code != wantRollback {
			t.Fatalf("%s: rollback --dry: want exit %d\n%s", step, wantRollback, r)
		}
		if r := run(t, "", "generations", "--target", target); r.code != 0 {
			t.Fatalf("%s: generations: want exit 0\n%s", step, r)
		}
		if !equalSnap(t, before, snapshot(t, root, true)) {
			t.Fatalf("%s: a dry run wrote to the target (differences above)", step)
		}
	}
	dryRuns("fresh root", 1) // no generation to roll back to yet

	if r := run(t, "", "apply", "-c", writeChobolo(t, firstYML), "--target", target, "-y"); r.code != 0 {
		t.Fatalf("first apply -y\n%s", r)
	}
	if r := run(t, "", "apply", "-c", writeChobolo(t, firstYML), "--target", target, "-y"); r.code != 0 {
		t.Fatalf("second apply -y\n%s", r)
	}
	// A unit file added by hand: the cache of the unit-file listing is now stale.
	testenv.WriteFile(t, root, "/etc/systemd/system/chaos-dry.service", "[Service]\nExecStart=/bin/true\n")
	dryRuns("after an apply", 0)
}

// TestDryOverSSHWritesNothing: a dry run over SSH (as root, where chaos would otherwise send its
// native worker to /var/lib/chaos/worker) and `generations` leave the host's root as they found it.
func TestDryOverSSHWritesNothing(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	hs := testenv.StartSSHHosts(t, 1)
	h := hs.Hosts[0]
	file := writeChobolo(t, fmt.Sprintf(`hostname: dry-box
users:
  - name: alice
files:
  - path: /etc/motd
    content: "x\n"
fleet:
  ssh: {known_hosts: %s, config: none}
  hosts:
    box: {ssh_hostname: %s, ssh_user: root, ssh_key: %s}
`, hs.KnownHosts, h.Addr, hs.KeyFile))
	// The one trace a connection leaves: the sh worker's scratch files (its commands' stdout and
	// stderr), created in /tmp and removed when it ends, change the mtime of /tmp itself. Everything
	// under /tmp is still compared.
	snap := func() map[string]string {
		m := snapshot(t, h.Root, true)
		delete(m, "/tmp")
		return m
	}
	before := snap()
	r := run(t, "", "apply", "-c", file, "--target", "box", "--dry")
	if r.code != 2 || !strings.Contains(r.stdout, "user alice") {
		t.Fatalf("apply --dry over SSH: want exit 2 and the plan\n%s", r)
	}
	if r := run(t, "", "apply", "-c", file, "--limit", "box", "--dry"); r.code != 2 {
		t.Fatalf("apply --limit --dry over SSH: want exit 2\n%s", r)
	}
	if !equalSnap(t, before, snap()) {
		t.Fatal("a dry run over SSH wrote to the host (differences above)")
	}
	// A real apply sends the native worker; a dry run afterwards uses it and still writes nothing.
	if r := run(t, "", "apply", "-c", file, "--target", "box", "-y"); r.code != 0 {
		t.Fatalf("apply -y over SSH\n%s", r)
	}
	if !testenv.Exists(t, h.Root, transport.NativeWorkerDir) {
		t.Fatal("apply -y did not install the native worker: the dry run above proved nothing about it")
	}
	testenv.WriteFile(t, h.Root, "/etc/motd", "changed by hand\n")
	before = snap()
	if r := run(t, "", "apply", "-c", file, "--target", "box", "--dry"); r.code != 2 {
		t.Fatalf("second apply --dry over SSH: want exit 2\n%s", r)
	}
	if !equalSnap(t, before, snap()) {
		t.Fatal("a dry run over SSH with the native worker wrote to the host (differences above)")
	}
}
