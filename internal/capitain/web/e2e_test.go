package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/ch-aos-ch/chaos/internal/capitain/server"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestEndToEnd is an operator's morning in Chromium against real SSH hosts (network namespaces)
// and a real git daemon: sign in, see the hosts, open one, plan it from its page and watch the
// live log (SSE) reach the end, see the pending plan as a coloured diff, sync it and watch
// again, find both jobs in the history (filtered), export the report as JSON and CSV, and roll
// back; then the projects page (a broken Ch-obolo's problems with file:line:col, the sync
// button) and the dashboard (hosts by status as a chart and a table, recent jobs). A viewer of
// the project gets no buttons, and the server refuses the forms they forge.
func TestEndToEnd(t *testing.T) {
	hs := testenv.StartSSHHosts(t, 2)
	var yml strings.Builder
	fmt.Fprintf(&yml, "files:\n  - path: /etc/motd\n    content: \"managed by capitain\\n\"\nfleet:\n  ssh: {known_hosts: %s, config: none, connect_timeout: 3s}\n  hosts:\n", hs.KnownHosts)
	for i, h := range hs.Hosts {
		fmt.Fprintf(&yml, "    %s: {ssh_hostname: %s, ssh_user: root, ssh_key: %s, groups: [%s]}\n", []string{"one", "two"}[i], h.Addr, hs.KeyFile, []string{"web", "db"}[i])
	}
	f := start(t, 4)
	f.user("alice", true)
	f.user("victor", false)
	_, work := f.project("site", map[string]string{"site/chobolo.yml": yml.String()}, "site/chobolo.yml")
	f.api("PUT", "/api/v1/projects/site/members/victor", map[string]string{"role": "viewer"}, nil)

	b := newBrowser(t)
	b.login(f.base, "alice")
	b.do("hosts", chromedp.Navigate(f.base+"/hosts"), chromedp.WaitVisible(chromedp.CSS("#hosts")))
	if n := b.rows("hosts"); n != 2 {
		t.Fatalf("%d hosts", n)
	}
	b.do("host one", chromedp.Click(chromedp.CSS(`#hosts a[href="/hosts/site/one"]`)), chromedp.WaitVisible(chromedp.CSS("#do-plan")))
	b.shot("host-unknown")

	// runJob presses a button of the host page and watches the job page's live log to the end.
	runJob := func(button, want string) string {
		t.Helper()
		b.do(button, chromedp.Click(chromedp.CSS("#"+button)), chromedp.WaitVisible(chromedp.CSS("#log-state")))
		b.wait("the live log's end", `document.getElementById("log-state").textContent.startsWith("Done")`)
		if st := eval[string](b, `document.getElementById("log-state").textContent`); st != "Done: "+want+"." {
			t.Fatalf("%s: %s", button, st)
		}
		b.wait("the results' refresh", `!!document.querySelector("#job-hosts .h-`+map[string]string{"do-plan": "pending", "do-apply": "changed", "do-rollback": "changed"}[button]+`")`)
		logText := eval[string](b, `document.querySelector('#log pre[data-host="one"]').textContent`)
		if !strings.Contains(logText, "run.done") || eval[int](b, `document.querySelectorAll("#log pre").length`) != 1 {
			t.Fatalf("%s: the log of host one: %s", button, logText)
		}
		if took := eval[string](b, `document.querySelector(".facts").textContent`); strings.Contains(took, "not finished") {
			t.Fatalf("%s: the finished job's facts were not refreshed: %s", button, took)
		}
		return b.location()
	}
	planJob := runJob("do-plan", "succeeded")
	b.shot("job-plan")

	// The hosts page's filters on what the plan learnt (host one probed and OutOfSync, two never run).
	for q, want := range map[string]int{"status=OutOfSync": 1, "status=Unknown": 1, "status=Synced": 0, "core=debian": 1, "core=arch": 0,
		"label=db": 1, "name=tw": 1, "name=o*": 1} {
		b.do("hosts?"+q, chromedp.Navigate(f.base+"/hosts?"+q), chromedp.WaitVisible(chromedp.CSS("#hosts")))
		if n := b.rows("hosts"); n != want {
			t.Fatalf("hosts?%s: %d rows, want %d", q, n, want)
		}
	}
	b.do("host one", chromedp.Navigate(f.base+"/hosts/site/one"), chromedp.WaitVisible(chromedp.CSS("#plan")))
	if st := eval[string](b, `document.getElementById("status").textContent`); st != "OutOfSync" {
		t.Fatalf("after the plan: %s", st)
	}
	plan := eval[string](b, `document.getElementById("plan").textContent`)
	if coloured := eval[int](b, `document.querySelectorAll("#plan span[class^=term-fg]").length`); !strings.Contains(plan, "/etc/motd") || coloured == 0 {
		t.Fatalf("plan (%d coloured spans): %s", coloured, plan)
	}
	// The file's diff in red and green: the old motd's lines removed, the new one added.
	if del, add := eval[string](b, `[...document.querySelectorAll("#plan .diff-del")].map(e => e.textContent).join("\n")`),
		eval[string](b, `[...document.querySelectorAll("#plan .diff-add")].map(e => e.textContent).join("\n")`); !strings.Contains(add, "+managed by capitain") || !strings.Contains(del, "-") {
		t.Fatalf("plan diff: removed %q, added %q", del, add)
	}
	if facts := eval[string](b, `document.querySelector(".facts").textContent`); !strings.Contains(facts, "debian") {
		t.Fatalf("facts: %s", facts)
	}
	b.shot("host-plan")

	applyJob := runJob("do-apply", "succeeded")
	b.shot("job-apply")
	if l := eval[[]string](b, lowContrast); len(l) > 0 {
		t.Fatalf("job page, low contrast: %v", l)
	}

	// The history: both jobs, newest first; filtered by kind.
	b.do("jobs", chromedp.Navigate(f.base+"/jobs"), chromedp.WaitVisible(chromedp.CSS("#jobs")))
	if n := b.rows("jobs"); n != 2 {
		t.Fatalf("history: %d jobs", n)
	}
	b.shot("jobs")
	b.do("jobs kind=apply", chromedp.Navigate(f.base+"/jobs?kind=apply"), chromedp.WaitVisible(chromedp.CSS("#jobs")))
	if n, href := b.rows("jobs"), eval[string](b, `document.querySelector("#jobs tbody a").href`); n != 1 || href != applyJob {
		t.Fatalf("apply jobs: %d, first %s (want %s; the plan was %s)", n, href, applyJob, planJob)
	}

	for q, want := range map[string]int{"trigger=user": 2, "trigger=schedule": 0, "state=failed": 0, "project=site&kind=plan": 1} {
		b.do("jobs "+q, chromedp.Navigate(f.base+"/jobs?"+q), chromedp.WaitVisible(chromedp.CSS("#jobs")))
		if n := b.rows("jobs"); n != want {
			t.Fatalf("jobs?%s: %d, want %d", q, n, want)
		}
	}

	// The report, fetched by the page as the links download it.
	b.do("job", chromedp.Navigate(applyJob), chromedp.WaitVisible(chromedp.CSS("#export-json")))
	var rep struct {
		Job   server.Job
		Hosts []server.JobHost
	}
	js := eval[string](b, `fetch(document.getElementById("export-json").href).then(r => r.text())`)
	if err := json.Unmarshal([]byte(js), &rep); err != nil || rep.Job.Kind != "apply" || len(rep.Hosts) != 1 || rep.Hosts[0].State != "changed" || rep.Hosts[0].Generation != 1 {
		t.Fatalf("JSON report: %v %s", err, js)
	}
	csv := eval[string](b, `fetch(document.getElementById("export-csv").href).then(r => r.text())`)
	if lines := strings.Split(strings.TrimSpace(csv), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "job,project,kind,commit,host,state") ||
		!strings.Contains(lines[1], ",one,changed,") {
		t.Fatalf("CSV report:\n%s", csv)
	}

	// The printable report: the job page printed shows the job without navigation or buttons.
	b.do("print", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	}))
	if top, facts := eval[string](b, `getComputedStyle(document.querySelector(".top")).display`),
		eval[string](b, `getComputedStyle(document.querySelector("#job-hosts")).display`); top != "none" || facts == "none" {
		t.Fatalf("printed job page: navigation %s, results %s", top, facts)
	}
	b.shot("job-print")
	b.do("screen", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
		return err
	}))

	b.do("host one", chromedp.Navigate(f.base+"/hosts/site/one"), chromedp.WaitVisible(chromedp.CSS("#do-apply")))
	if st := eval[string](b, `document.getElementById("status").textContent`); st != "Synced" {
		t.Fatalf("after the sync: %s", st)
	}
	// Generation 1 has nothing before it to roll back to: no rollback button yet.
	if n := eval[int](b, `document.querySelectorAll("#do-rollback").length`); n != 0 {
		t.Fatal("a rollback button at generation 1")
	}
	// A second commit, synced (generation 2), then rolled back from the host's page.
	motd := hs.Hosts[0].Root + "/etc/motd"
	writeFile(t, filepath.Join(work, "site/chobolo.yml"), []byte(strings.Replace(yml.String(), "managed by capitain", "second commit", 1)), 0o644)
	testenv.Git(t, work, "commit", "-qam", "second")
	testenv.Git(t, work, "push", "-q", "origin", "main")
	f.api("POST", "/api/v1/projects/site/refresh", nil, nil)
	b.do("host one", chromedp.Navigate(f.base+"/hosts/site/one"), chromedp.WaitVisible(chromedp.CSS("#do-apply")))
	runJob("do-apply", "succeeded")
	if got, _ := os.ReadFile(motd); string(got) != "second commit\n" {
		t.Fatalf("motd after the second sync: %q", got)
	}
	b.do("host one", chromedp.Navigate(f.base+"/hosts/site/one"), chromedp.WaitVisible(chromedp.CSS("#do-rollback")))
	runJob("do-rollback", "succeeded")
	b.shot("job-rollback")
	if got, _ := os.ReadFile(motd); string(got) != "managed by capitain\n" {
		t.Fatalf("motd after the rollback: %q", got)
	}
	b.do("host one", chromedp.Navigate(f.base+"/hosts/site/one"), chromedp.WaitVisible(chromedp.CSS("#status")))
	// Back at the first commit's generation: no longer what the project's commit says.
	if st := eval[string](b, `document.getElementById("status").textContent`); st != "OutOfSync" {
		t.Fatalf("after the rollback: %s", st)
	}
	// The host's last runs, newest first, each linking its job; and the history filtered by host.
	if kinds := eval[string](b, `[...document.querySelectorAll("#runs tbody tr")].map(r => r.cells[1].textContent + ":" + r.cells[2].textContent + ":" + r.cells[4].textContent).join(" ")`); kinds != "rollback:changed:3 apply:changed:2 apply:changed:1 plan:pending:0" {
		t.Fatalf("host one's runs: %s", kinds)
	}
	if href := eval[string](b, `document.querySelector("#runs tbody tr:last-child a").href`); href != planJob {
		t.Fatalf("host one's first run links %s, want %s", href, planJob)
	}
	b.shot("host-runs")
	b.do("every job of host one", chromedp.Click(chromedp.CSS("#all-runs")), chromedp.WaitVisible(chromedp.CSS("#jobs")))
	if n, host := b.rows("jobs"), eval[string](b, `document.getElementById("f-host").value`); n != 4 || host != "one" {
		t.Fatalf("jobs of host one: %d (filter %q)", n, host)
	}
	for q, want := range map[string]int{"host=two": 0, "host=one&kind=apply": 2, "host=one&state=failed": 0} {
		b.do("jobs "+q, chromedp.Navigate(f.base+"/jobs?"+q), chromedp.WaitVisible(chromedp.CSS("#jobs")))
		if n := b.rows("jobs"); n != want {
			t.Fatalf("jobs?%s: %d, want %d", q, n, want)
		}
	}
	b.do("host two", chromedp.Navigate(f.base+"/hosts/site/two"), chromedp.WaitVisible(chromedp.CSS("#runs")))
	if n := b.rows("runs"); n != 0 {
		t.Fatalf("host two: %d runs, want none", n)
	}

	// Generations, read from host one: 1 and 2 (the two commits) and 3 (the rollback to 1);
	// compare 1 with 2, then roll back to 2 (the second commit's motd again).
	b.do("generations", chromedp.Navigate(f.base+"/hosts/site/one"), chromedp.WaitVisible(chromedp.CSS("#generations-link")),
		chromedp.Click(chromedp.CSS("#generations-link")), chromedp.WaitVisible(chromedp.CSS("#generations")))
	if gens := eval[string](b, `[...document.querySelectorAll("#generations tbody tr")].map(r => r.cells[0].textContent + ":" + r.cells[1].textContent).join(" ")`); gens != "3:rollback to 1 2:apply 1:apply" {
		t.Fatalf("generations: %s", gens)
	}
	b.do("compare 1 2", chromedp.Click(chromedp.CSS("#from-1")), chromedp.Click(chromedp.CSS("#to-2")), chromedp.Click(chromedp.CSS("#do-compare")),
		chromedp.WaitVisible(chromedp.CSS("#diff")))
	if del, add := eval[string](b, `[...document.querySelectorAll("#diff .diff-del")].map(e => e.textContent).join("\n")`),
		eval[string](b, `[...document.querySelectorAll("#diff .diff-add")].map(e => e.textContent).join("\n")`); !strings.Contains(del, "managed by capitain") || !strings.Contains(add, "second commit") {
		t.Fatalf("diff 1 2: removed %q, added %q", del, add)
	}
	if files := eval[string](b, `document.getElementById("diff-files").textContent`); !strings.Contains(files, "/etc/motd") {
		t.Fatalf("diff 1 2, files: %s", files)
	}
	b.shot("generations-diff")
	b.do("roll back to 2", chromedp.Click(chromedp.CSS("#rollback-2")), chromedp.WaitVisible(chromedp.CSS("#log-state")))
	b.wait("the rollback to 2", `document.getElementById("log-state").textContent === "Done: succeeded."`)
	if got, _ := os.ReadFile(motd); string(got) != "second commit\n" {
		t.Fatalf("motd after the rollback to 2: %q", got)
	}
	if to := eval[string](b, `document.querySelector("h1").textContent`); !strings.Contains(to, "rollback") {
		t.Fatalf("the rollback job: %s", to)
	}

	// A project whose Ch-obolo is wrong: its problems with file:line:col on the projects page.
	badURL, _ := testenv.GitServer(t, "bad", map[string]string{"bad.yml": "files:\n  - path: /etc/motd\n    contnet: x\n"})
	f.api("POST", "/api/v1/projects", map[string]any{"name": "bad", "repo": badURL + "bad.git", "path": "bad.yml"}, nil)
	f.api("POST", "/api/v1/projects/bad/refresh", nil, nil)
	b.do("projects", chromedp.Navigate(f.base+"/projects"), chromedp.WaitVisible(chromedp.CSS("#sync-site")))
	if probs := eval[string](b, `document.querySelector("#p-bad .problems").textContent`); !strings.Contains(probs, "bad.yml:3:") {
		t.Fatalf("bad project's problems: %s", probs)
	}
	b.shot("projects")
	// Sync the whole project from its page: both hosts applied.
	b.do("sync", chromedp.Click(chromedp.CSS("#sync-site")), chromedp.WaitVisible(chromedp.CSS("#log-state")))
	b.wait("the sync's end", `document.getElementById("log-state").textContent === "Done: succeeded."`)
	// Host two changed; host one is already at the second commit (rolled back to generation 2).
	b.wait("the sync's results", `document.querySelectorAll("#job-hosts .h-changed").length === 1 && document.querySelectorAll("#job-hosts .h-unchanged").length === 1 &&
		document.querySelector("#job-hosts .h-changed").closest("tr").cells[0].textContent === "two"`)

	// Bulk: both hosts selected on the hosts page, planned in one job (nothing pending after the sync).
	b.do("bulk plan", chromedp.Navigate(f.base+"/hosts"), chromedp.WaitVisible(chromedp.CSS("#bulk-plan")),
		chromedp.Click(chromedp.CSS("#sel-site-one")), chromedp.Click(chromedp.CSS("#sel-site-two")))
	b.shot("hosts-bulk")
	b.do("bulk plan", chromedp.Click(chromedp.CSS("#bulk-plan")), chromedp.WaitVisible(chromedp.CSS("#log-state")))
	b.wait("the bulk plan's end", `document.getElementById("log-state").textContent === "Done: succeeded."`)
	b.wait("the bulk plan's results", `document.querySelectorAll("#job-hosts .h-unchanged").length === 2`)

	// The dashboard: hosts by status (chart and table), recent jobs, projects.
	b.do("dashboard", chromedp.Navigate(f.base+"/"), chromedp.WaitVisible(chromedp.CSS("#status-chart canvas")))
	if total, synced := eval[string](b, `document.getElementById("total").textContent`),
		eval[string](b, `document.querySelector("#status-counts tbody tr td:nth-child(2)").textContent`); total != "2" || synced != "2" {
		t.Fatalf("dashboard: %s hosts, %s Synced", total, synced)
	}
	if n := b.rows("recent-jobs"); n != 7 {
		t.Fatalf("dashboard: %d recent jobs, want 7", n)
	}
	if l := eval[[]string](b, lowContrast); len(l) > 0 {
		t.Fatalf("dashboard, low contrast: %v", l)
	}
	b.shot("dashboard")
	b.noErrors()

	// A viewer: no buttons, and a forged form is refused by the server.
	c := f.signIn("victor")
	resp, err := c.Get(f.base + "/hosts/site/one")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(page), `id="do-`) {
		t.Fatalf("viewer's host page: %d, buttons: %v", resp.StatusCode, strings.Contains(string(page), `id="do-`))
	}
	resp, err = c.Get(f.base + "/projects")
	if err != nil {
		t.Fatal(err)
	}
	projects, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp, err = c.Get(f.base + "/hosts")
	if err != nil {
		t.Fatal(err)
	}
	list, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(list), `href="/hosts/site/one"`) || strings.Contains(string(list), `id="bulk-`) {
		t.Fatalf("viewer's hosts page (the hosts, no bulk buttons):\n%s", list)
	}
	if !strings.Contains(string(projects), `id="p-site"`) || strings.Contains(string(projects), `id="sync-`) || strings.Contains(string(projects), `id="p-bad"`) {
		t.Fatalf("viewer's projects page (site only, no sync button):\n%s", projects)
	}
	csrf := csrfRE.FindStringSubmatch(string(page))[1]
	if resp, _ := f.postForm(c, "/projects/site/sync", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer's forged sync: %d", resp.StatusCode)
	}
	if resp, _ := f.postForm(c, "/hosts/jobs", url.Values{"csrf": {csrf}, "kind": {"plan"}, "host": {"site/one"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer's forged bulk plan: %d", resp.StatusCode)
	}
	if resp, body := f.postForm(c, "/hosts/site/one/jobs", url.Values{"kind": {"apply"}, "csrf": {csrf}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer's forged apply: %d %s", resp.StatusCode, body)
	}
}
