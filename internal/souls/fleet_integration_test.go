package souls_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// One Soul process per run serves a whole fleet of SSH hosts (each in its own network namespace),
// and the fleet's machinery works for a Soul role with no code of its own: per-host vars,
// restrictions, --limit, dry runs.
func TestSoulFleetOneProcess(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "python3", "python3")
	isolate(t)
	src := filepath.Join(t.TempDir(), "counter")
	if out, code := chaosRun(t, "soul", "new", "counter", "--lang", "python", "-o", src); code != 0 {
		t.Fatalf("soul new (exit %d):\n%s", code, out)
	}
	// the Soul notes each start of its process in its directory
	py := readText(t, filepath.Join(src, "soul.py"))
	py = strings.Replace(py, "import json\nimport sys\n", "import json\nimport os\nimport sys\n\nwith open(\"starts.log\", \"a\") as f:\n    f.write(\"%d\\n\" % os.getpid())\n", 1)
	writeFile(t, src, "soul.py", py)
	installed := installSoul(t, src, "", "")
	starts := func() int {
		b, err := os.ReadFile(filepath.Join(installed, "starts.log"))
		if err != nil {
			return 0
		}
		return strings.Count(string(b), "\n")
	}

	hs := testenv.StartSSHHosts(t, 3)
	var b strings.Builder
	fmt.Fprintf(&b, "counter:\n  text: hi\nfleet:\n  parallelism: 3\n  ssh: {known_hosts: %s, config: none, connect_timeout: 3s}\n  hosts:\n", hs.KnownHosts)
	for i, h := range hs.Hosts {
		fmt.Fprintf(&b, "    %s: {ssh_hostname: %s, ssh_user: root, ssh_key: %s", h.Name, h.Addr, hs.KeyFile)
		if i == 0 {
			b.WriteString(", vars: {counter: {text: special}}")
		}
		b.WriteString("}\n")
	}
	fmt.Fprintf(&b, "  restrictions:\n    black_list:\n      %s: {counter: true}\n", hs.Hosts[2].Name)
	file := writeFile(t, t.TempDir(), "fleet.yml", b.String())

	out, code := chaosRun(t, "apply", "-c", file, "--fleet", "-y")
	if code != 0 {
		t.Fatalf("apply --fleet (exit %d):\n%s", code, out)
	}
	if n := starts(); n != 1 {
		t.Fatalf("%d Soul processes for one run of 3 hosts, want 1", n)
	}
	for i, want := range []string{"special\n", "hi\n"} {
		if got := testenv.ReadFile(t, hs.Hosts[i].Root, "/etc/counter.conf"); got != want {
			t.Fatalf("%s: /etc/counter.conf %q, want %q", hs.Hosts[i].Name, got, want)
		}
	}
	if testenv.Exists(t, hs.Hosts[2].Root, "/etc/counter.conf") {
		t.Fatalf("%s is black-listed for the role, yet it ran", hs.Hosts[2].Name)
	}
	out, code = chaosRun(t, "apply", "-c", file, "--fleet", "--limit", hs.Hosts[1].Name, "--dry")
	if code != 0 || !strings.Contains(out, "1 host") {
		t.Fatalf("--limit --dry rerun (exit %d):\n%s", code, out)
	}
	if n := starts(); n != 2 {
		t.Fatalf("%d Soul processes after two runs, want 2", n)
	}
}
