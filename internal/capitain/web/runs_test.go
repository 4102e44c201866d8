package web_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ch-aos-ch/chaos/internal/capitain/server"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// deadFleet is a Ch-obolo of two hosts, a and b, that refuse connections (a job on them ends at
// once, unreachable).
const deadFleet = "fleet:\n  ssh: {config: none, connect_timeout: 3s}\n  hosts:\n" +
	"    a: {ssh_hostname: 127.0.0.1, ssh_port: 1, ssh_user: root}\n    b: {ssh_hostname: 127.0.0.1, ssh_port: 1, ssh_user: root}\n"

// TestHostRunsPostgreSQL is a host's last runs and the jobs history filtered by host on
// PostgreSQL (TestEndToEnd runs them on SQLite): two hosts that refuse connections, a plan of
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
