package cli_test

import (
	"strings"
	"testing"
)

// TestCheckChoboloReportsEveryStaticError: `check chobolo` runs the checks the plan runs and that need
// no host (the files role's reserved paths and system directories, the users role's uid rules, the
// fleet's connectors), and reports all of them with their positions, not the first; apply refuses
// the same Ch-obolo, with the same list, before any target is contacted.
func TestCheckChoboloReportsEveryStaticError(t *testing.T) {
	isolate(t)
	file := writeChobolo(t, "files:\n"+
		"  - {path: /proc/sys/kernel/x, content: \"1\\n\"}\n"+
		"  - {path: /etc, state: absent}\n"+
		"  - {path: /var/lib/chaos/ledger, content: \"x\"}\n"+
		"users:\n"+
		"  - {name: alice, uid: 0}\n"+
		"fleet:\n"+
		"  hosts:\n"+
		"    \"@lxc/web\": {}\n")
	want := []string{
		file + ":2:12: error: refusing to manage /proc/sys/kernel/x",
		file + ":3:12: error: refusing to remove /etc: it is a system path",
		file + ":4:12: error: refusing to manage /var/lib/chaos/ledger",
		file + ":6:24: error: user alice: uid 0 would make alice a second root",
		file + ":9:5: error: fleet.hosts: host target \"@lxc/web\": unknown connector",
	}
	r := run(t, "", "check", "chobolo", "-c", file)
	if r.code != 1 {
		t.Fatalf("check chobolo: want exit 1\n%s", r)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("check chobolo: stderr lacks %q\n%s", w, r)
		}
	}
	for _, args := range [][]string{
		{"apply", "-c", file, "--dry", "--target", "@chroot/nonexistent-chaos-root", "--core", "debian"},
		{"apply", "-c", file, "--dry", "--fleet"},
	} {
		r := run(t, "", args...)
		if r.code != 1 || strings.Contains(r.stderr, "nonexistent-chaos-root") {
			t.Errorf("%v: want exit 1 before any target\n%s", args, r)
		}
		for _, w := range want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%v: stderr lacks %q\n%s", args, w, r)
			}
		}
	}
}

// TestCheckChoboloFleetConnector: a fleet host chaos cannot connect to (`apply --fleet` refuses it)
// makes the Ch-obolo invalid for `check chobolo` too.
func TestCheckChoboloFleetConnector(t *testing.T) {
	isolate(t)
	file := writeChobolo(t, "hostname: web\nfleet:\n  hosts:\n    - \"@lxc/x\"\n    - web: {connector: \"@podman/\"}\n    - db.example.org\n")
	r := run(t, "", "check", "chobolo", "-c", file)
	if r.code != 1 || !strings.Contains(r.stderr, file+":4:7: error: fleet.hosts: host target \"@lxc/x\": unknown connector") ||
		!strings.Contains(r.stderr, file+":5:24: error: fleet.hosts.web.connector: target \"@podman/\": @podman/NAME needs a container name") {
		t.Errorf("check chobolo: want exit 1 naming the lxc host and the bad connector with positions\n%s", r)
	}
	// Every connector spelling is a valid fleet host.
	file = writeChobolo(t, "hostname: web\nfleet:\n  hosts:\n    - \"@podman/x\"\n    - \"@docker/y\"\n"+
		"    - web: {connector: \"@dockerssh/build1/app\"}\n    - \"@vagrant/default\"\n    - \"@terraform/infra:web\"\n")
	if r := run(t, "", "check", "chobolo", "-c", file); r.code != 0 {
		t.Errorf("check chobolo of connector hosts: want exit 0\n%s", r)
	}
}
