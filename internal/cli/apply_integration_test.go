package cli_test

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

const machineYML = `hostname: forge
users:
  - name: alice
    shell: bash
    groups: [adm]
    sudo: true
packages:
  - chaos-tiny-a
  - chaos-tiny-b
region:
  timezone: Europe/Berlin
files:
  - path: /etc/motd
    content: |
      managed by chaos
`

// TestApplyEndToEnd drives `chaos apply` in-process on a real Debian root: --dry (exit 2 and the
// plan), -y, the no-change --dry (exit 0), --json, and a removal refused without -y.
func TestApplyEndToEnd(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, tinyPkgs...)
	target := "@chroot" + root
	file := writeChobolo(t, machineYML)

	// 1. --dry with changes pending: exit 2, the plan on stdout, nothing changed.
	r := run(t, "", "apply", "-c", file, "--target", target, "--dry")
	if r.code != 2 {
		t.Fatalf("apply --dry: want exit 2 with pending changes\n%s", r)
	}
	for _, want := range []string{"hostname", "user alice", "package chaos-tiny-a", "package chaos-tiny-b",
		"Europe/Berlin", "/etc/motd"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("apply --dry: the plan does not mention %q\n%s", want, r)
		}
	}
	if strings.Contains(testenv.ReadFile(t, root, "/etc/passwd"), "alice:") {
		t.Fatal("apply --dry created user alice")
	}
	if testenv.Exists(t, root, "/usr/bin/chaos-tiny-b") {
		t.Fatal("apply --dry installed a package")
	}

	// 2. --json --dry: JSON lines with a plan object (and the probe event).
	r = run(t, "", "apply", "-c", file, "--target", target, "--dry", "--json")
	if r.code != 2 {
		t.Fatalf("apply --dry --json: want exit 2\n%s", r)
	}
	types := jsonLines(t, r.stdout)
	plan := types["plan"]
	if plan == nil {
		t.Fatalf("apply --dry --json: no plan line\n%s", r)
	}
	if n, _ := plan["changes"].(float64); n < 5 {
		t.Errorf("apply --dry --json: plan has %v changes, want >= 5", plan["changes"])
	}
	if hp, _ := plan["plan"].(map[string]any); hp == nil || hp["roles"] == nil || hp["target"] != target {
		t.Errorf("apply --dry --json: plan object lacks roles/target: %v", plan["plan"])
	}
	if types["probed"] == nil {
		t.Errorf("apply --dry --json: no probe event among %v", keys(types))
	}

	// 3. apply -y: applies, exit 0.
	r = run(t, "", "apply", "-c", file, "--target", target, "-y")
	if r.code != 0 {
		t.Fatalf("apply -y: want exit 0\n%s", r)
	}
	if !strings.Contains(r.stdout, "applied") {
		t.Errorf("apply -y: no summary line\n%s", r)
	}
	if got := strings.TrimSpace(testenv.ReadFile(t, root, "/etc/hostname")); got != "forge" {
		t.Errorf("/etc/hostname = %q, want forge", got)
	}
	if !strings.Contains(testenv.ReadFile(t, root, "/etc/passwd"), "alice:") {
		t.Error("user alice was not created")
	}
	if out := testenv.Chroot(t, root, "chaos-tiny-b"); strings.TrimSpace(out) != "tiny-b" {
		t.Errorf("chaos-tiny-b printed %q", out)
	}
	if got := testenv.ReadFile(t, root, "/etc/motd"); got != "managed by chaos\n" {
		t.Errorf("/etc/motd = %q", got)
	}

	// 4. the second --dry: nothing to do, exit 0, "no changes".
	r = run(t, "", "apply", "-c", file, "--target", target, "--dry")
	if r.code != 0 || !strings.Contains(r.stdout, "no changes") {
		t.Fatalf("second apply --dry: want exit 0 and \"no changes\"\n%s", r)
	}

	// 5. --json with events on a real apply: a plan line, op events and a result line.
	file2 := writeChobolo(t, strings.Replace(machineYML, "  - chaos-tiny-b\n", "  - chaos-tiny-b\n  - chaos-tiny-c\n", 1))
	r = run(t, "", "apply", "-c", file2, "--target", target, "-y", "--json")
	if r.code != 0 {
		t.Fatalf("apply -y --json: want exit 0\n%s", r)
	}
	types = jsonLines(t, r.stdout)
	for _, want := range []string{"probed", "plan", "op.start", "op.end", "host.done", "result"} {
		if types[want] == nil {
			t.Errorf("apply -y --json: no %q line among %v\n%s", want, keys(types), r)
		}
	}

	// 6. a removal without -y and with a non-terminal stdin is refused: exit 1, nothing changed.
	noAlice := strings.Replace(machineYML, `users:
  - name: alice
    shell: bash
    groups: [adm]
    sudo: true
`, "users: []\n", 1)
	if noAlice == machineYML {
		t.Fatal("test bug: could not drop alice")
	}
	file3 := writeChobolo(t, noAlice)
	before := testenv.ReadFile(t, root, "/etc/passwd")
	r = run(t, "y\n", "apply", "-c", file3, "--target", target)
	if r.code != 1 || !strings.Contains(r.stderr, "refusing without confirmation") {
		t.Fatalf("removal without -y: want exit 1 and a refusal\n%s", r)
	}
	if after := testenv.ReadFile(t, root, "/etc/passwd"); after != before {
		t.Error("a refused removal changed /etc/passwd")
	}
	if st := testenv.Chroot(t, root, "dpkg-query", "-W", "-f=${Status}", "chaos-tiny-c"); st != "install ok installed" {
		t.Errorf("a refused apply changed packages: chaos-tiny-c is %q", st)
	}
}

// jsonLines checks that every line of out is a JSON object with a "type" and returns the last
// object of each type.
func jsonLines(t *testing.T, out string) map[string]map[string]any {
	t.Helper()
	types := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("--json: line is not JSON (%v): %q", err, line)
		}
		typ, _ := m["type"].(string)
		if typ == "" {
			t.Fatalf("--json: line without a type: %q", line)
		}
		types[typ] = m
	}
	return types
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
