package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ch-aos-ch/chaos/internal/capitain/server"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// deadFleet is a Ch-obolo of two hosts, a and b, that cannot be reached (no SSH key, port 1: a job on them ends at
// once, unreachable).
const deadFleet = "fleet:\n  ssh: {config: none, connect_timeout: 3s}\n  hosts:\n" +
	"    a: {ssh_hostname: 127.0.0.1, ssh_port: 1, ssh_user: root}\n    b: {ssh_hostname: 127.0.0.1, ssh_port: 1, ssh_user: root}\n"

// TestHostRunsPostgreSQL is a host's last runs and the jobs history filtered by host on
// PostgreSQL (TestEndToEnd runs them on SQLite): two hosts that cannot be reached, a plan of
// one of them, then of both; each host's page lists its own runs, the history its own jobs.
func TestHostRunsPostgreSQL(t *testing.T) {
	f := startDB(t, testenv.PostgreSQL(t), 2)
	f.user("alice", true)
	f.project("dead", map[string]string{"chobolo.yml": deadFleet}, "chobolo.yml")
	for _, limit := range []string{"a", ""} {
		var j server.Job
		f.api("POST", "/api/v1/jobs", server.JobRequest{Project: "dead", Kind: server.KindPlan, Limit: limit}, &j)
		f.waitJob(j.ID)
	}

	b := newBrowser(t)
	b.login(f.base, "alice")
	for host, want := range map[string]int{"a": 2, "b": 1} {
		b.do("host "+host, chromedp.Navigate(f.base+"/hosts/dead/"+host), chromedp.WaitVisible(chromedp.CSS("#runs")))
		if n, st := b.rows("runs"), eval[string](b, `document.querySelector("#runs tbody tr td:nth-child(3)").textContent`); n != want || st != "unreachable" {
			t.Fatalf("host %s: %d runs (want %d), the last %s", host, n, want, st)
		}
		b.do("jobs of "+host, chromedp.Click(chromedp.CSS("#all-runs")), chromedp.WaitVisible(chromedp.CSS("#jobs")))
		if n := b.rows("jobs"); n != want {
			t.Fatalf("jobs of host %s: %d, want %d", host, n, want)
		}
	}
	b.shot("host-runs-unreachable")
	b.noErrors()
}

// TestJobHostsPages: a job over 205 hosts (that cannot be reached) shows its hosts 100 a page,
// by name, with links to the next and the first page.
func TestJobHostsPages(t *testing.T) {
	f := start(t, 4)
	f.user("alice", true)
	var yml strings.Builder
	yml.WriteString("fleet:\n  ssh: {config: none, connect_timeout: 3s}\n  hosts:\n")
	for i := range 205 {
		fmt.Fprintf(&yml, "    h%03d: {ssh_hostname: 127.0.0.1, ssh_port: 1, ssh_user: root}\n", i)
	}
	f.project("many", map[string]string{"chobolo.yml": yml.String()}, "chobolo.yml")
	var j server.Job
	f.api("POST", "/api/v1/jobs", server.JobRequest{Project: "many", Kind: server.KindPlan}, &j)
	f.waitJob(j.ID)

	b := newBrowser(t)
	b.login(f.base, "alice")
	b.do("job", chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", f.base, j.ID)), chromedp.WaitVisible(chromedp.CSS("#hosts-next")))
	b.wait("the log's end", `document.getElementById("log-state").textContent.startsWith("Done")`)
	first := func() string { return eval[string](b, `document.querySelector("#job-hosts tbody tr td").textContent`) }
	if n, h := b.rows("job-hosts"), first(); n != 100 || h != "h000" {
		t.Fatalf("page 1: %d hosts from %s", n, h)
	}
	b.do("page 2", chromedp.Click(chromedp.CSS("#hosts-next")), chromedp.WaitVisible(chromedp.CSS("#hosts-first")))
	if n, h := b.rows("job-hosts"), first(); n != 100 || h != "h100" {
		t.Fatalf("page 2: %d hosts from %s", n, h)
	}
	b.do("page 3", chromedp.Click(chromedp.CSS("#hosts-next")), chromedp.WaitNotPresent(chromedp.CSS("#hosts-next")))
	if n, h := b.rows("job-hosts"), first(); n != 5 || h != "h200" {
		t.Fatalf("page 3: %d hosts from %s", n, h)
	}
	b.shot("job-hosts-page3")
	b.do("first page", chromedp.Click(chromedp.CSS("#hosts-first")), chromedp.WaitNotPresent(chromedp.CSS("#hosts-first")))
	if h := first(); h != "h000" {
		t.Fatalf("first page again from %s", h)
	}
	b.noErrors()
}
