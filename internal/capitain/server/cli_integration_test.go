package server_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// The CLI client against a server: login (token on stdin, saved 0600), projects add, sync --dry,
// logs, sync, hosts and jobs as tables and JSON, a second commit synced, then a rollback of one
// host to the first commit's generation, and of the project to the first commit.
func TestCLIClient(t *testing.T) {
	hs := testenv.StartSSHHosts(t, 2)
	url, work := testenv.GitServer(t, "fleet", map[string]string{"chobolo.yml": fleetChobolo(hs, "first\n")})
	a := startServer(t, "", 4)
	cfg := t.TempDir()
	chaosCmd := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(testenv.ChaosBinary(t), args...)
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+cfg, "NO_COLOR=1")
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("chaos %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	jobID := regexp.MustCompile(`^job (\d+): `)
	if out := chaosCmd(a.token+"\n", "capitain", "login", a.base); !strings.Contains(out, "logged in to "+a.base) {
		t.Fatalf("login: %s", out)
	}
	if fi, err := os.Stat(filepath.Join(cfg, "chaos", "capitain.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved login: %v %v", fi, err)
	}
	chaosCmd("", "capitain", "projects", "add", "site", "--repo", url+"fleet.git", "--path", "chobolo.yml")
	out := chaosCmd("", "capitain", "sync", "site", "--dry")
	m := jobID.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "plan queued on site (2 hosts") {
		t.Fatalf("sync --dry: %s", out)
	}
	logs := chaosCmd("", "capitain", "logs", m[1], "-f")
	if !strings.Contains(logs, "one        plan") || !strings.Contains(logs, "run.done") {
		t.Fatalf("logs -f:\n%s", logs)
	}
	var hosts []struct{ Name, Status string }
	if err := json.Unmarshal([]byte(chaosCmd("", "capitain", "hosts", "--json")), &hosts); err != nil || len(hosts) != 2 || hosts[0].Status != "OutOfSync" {
		t.Fatalf("hosts --json: %+v %v", hosts, err)
	}
	apply := func() string {
		t.Helper()
		m := jobID.FindStringSubmatch(chaosCmd("", "capitain", "sync", "site"))
		if m == nil {
			t.Fatal("sync printed no job")
		}
		chaosCmd("", "capitain", "logs", m[1], "-f")
		return m[1]
	}
	id := apply()
	if out := chaosCmd("", "capitain", "jobs", "show", id); !strings.Contains(out, "apply succeeded") || !strings.Contains(out, "two   changed") {
		t.Fatalf("jobs show:\n%s", out)
	}
	if out := chaosCmd("", "capitain", "hosts"); !regexp.MustCompile(`site\s+one\s+Synced\s+1`).MatchString(out) {
		t.Fatalf("hosts:\n%s", out)
	}
	// A second commit, synced; then host two rolled back to generation 1.
	if err := os.WriteFile(filepath.Join(work, "chobolo.yml"), []byte(fleetChobolo(hs, "second\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, work, "commit", "-qam", "second")
	testenv.Git(t, work, "push", "-q", "origin", "main")
	apply()
	if got := testenv.ReadFile(t, hs.Hosts[1].Root, "/etc/motd"); got != "second\n" {
		t.Fatalf("second sync: %q", got)
	}
	m = jobID.FindStringSubmatch(chaosCmd("", "capitain", "rollback", "site", "--limit", "two", "--to", "1"))
	if m == nil {
		t.Fatal("rollback printed no job")
	}
	chaosCmd("", "capitain", "logs", m[1], "-f")
	if out := chaosCmd("", "capitain", "jobs", "show", m[1]); !strings.Contains(out, "rollback succeeded") {
		t.Fatalf("rollback:\n%s", out)
	}
	if got := testenv.ReadFile(t, hs.Hosts[1].Root, "/etc/motd"); got != "first\n" {
		t.Fatalf("after the rollback: %q", got)
	}
	if got := testenv.ReadFile(t, hs.Hosts[0].Root, "/etc/motd"); got != "second\n" {
		t.Fatalf("host one was rolled back too: %q", got)
	}
	var jobs []struct{ Kind, State string }
	if err := json.Unmarshal([]byte(chaosCmd("", "capitain", "jobs", "--json")), &jobs); err != nil || len(jobs) != 4 || jobs[0].Kind != "rollback" {
		t.Fatalf("jobs --json: %+v %v", jobs, err)
	}
	// The project back to the first commit in one command: both hosts have its file.
	first, err := exec.Command("git", "-C", work, "rev-parse", "HEAD~1").Output()
	if err != nil {
		t.Fatal(err)
	}
	m = jobID.FindStringSubmatch(chaosCmd("", "capitain", "rollback", "site", "--commit", strings.TrimSpace(string(first))))
	if m == nil {
		t.Fatal("rollback --commit printed no job")
	}
	chaosCmd("", "capitain", "logs", m[1], "-f")
	for i, h := range hs.Hosts {
		if got := testenv.ReadFile(t, h.Root, "/etc/motd"); got != "first\n" {
			t.Fatalf("host %d after rollback --commit: %q", i, got)
		}
	}
}
