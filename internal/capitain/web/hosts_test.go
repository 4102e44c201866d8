package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// bigFleet is a Ch-obolo of n hosts nobody answers on (only listed, never run), h00000... in
// ten groups g0..g9.
func bigFleet(n int) string {
	var b strings.Builder
	b.WriteString("files:\n  - path: /etc/motd\n    content: \"x\\n\"\nfleet:\n  ssh: {config: none}\n  hosts:\n")
	for i := range n {
		fmt.Fprintf(&b, "    h%05d: {ssh_hostname: 10.%d.%d.%d, groups: [g%d]}\n", i, 100+i/65536, i/256%256, i%256, i%10)
	}
	return b.String()
}

// TestHostsPage10000 loads the hosts page of a 10,000-host project in Chromium: it renders 100
// rows without a browser error; the next page, a reversed sort, the label filter, and the name
// search typed in (htmx replaces the table as one types) each show the right rows. The server
// time of the page at this size is measured by BenchmarkCapitainWebHosts (bench/).
func TestHostsPage10000(t *testing.T) {
	f := start(t, -1)
	f.user("alice", false)
	p, _ := f.project("big", map[string]string{"chobolo.yml": bigFleet(10000)}, "chobolo.yml")
	if p.Hosts != 10000 {
		t.Fatalf("project: %d hosts", p.Hosts)
	}
	f.api("PUT", "/api/v1/projects/big/members/alice", map[string]string{"role": "viewer"}, nil)
	b := newBrowser(t)
	b.login(f.base, "alice")

	b.do("hosts", chromedp.Navigate(f.base+"/hosts"), chromedp.WaitVisible(chromedp.CSS("#hosts")))
	first := func() string { return eval[string](b, `document.querySelector("#hosts tbody td a").textContent`) }
	if n, h := b.rows("hosts"), first(); n != 100 || h != "h00000" {
		t.Fatalf("first page: %d rows from %s", n, h)
	}
	b.shot("hosts-10000")
	b.do("next page", chromedp.Click(chromedp.CSS("#next")), chromedp.WaitVisible(chromedp.CSS("#first")))
	if n, h := b.rows("hosts"), first(); n != 100 || h != "h00100" {
		t.Fatalf("second page: %d rows from %s", n, h)
	}
	b.do("sort by name, reversed", chromedp.Navigate(f.base+"/hosts?sort=name&order=desc"), chromedp.WaitVisible(chromedp.CSS("#hosts")))
	if h := first(); h != "h09999" {
		t.Fatalf("reversed: first %s", h)
	}
	b.do("label g3", chromedp.Navigate(f.base+"/hosts?label=g3"), chromedp.WaitVisible(chromedp.CSS("#hosts")))
	if n, h := b.rows("hosts"), first(); n != 100 || h != "h00003" {
		t.Fatalf("label g3: %d rows from %s", n, h)
	}
	// Typed search: the table follows the box without a page load (the form works without
	// JavaScript too: it is a GET).
	b.do("search", chromedp.Navigate(f.base+"/hosts"), chromedp.WaitVisible(chromedp.CSS("#f-name")),
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`), chromedp.SendKeys(chromedp.CSS("#f-name"), "0999"))
	b.wait("the search's rows (h00999, h09990..h09999)", `document.querySelectorAll("#hosts tbody tr").length === 11`)
	if h, kept := first(), eval[bool](b, `window.notReloaded === true`); h != "h00999" || !kept {
		t.Fatalf("search 0999: first %s, same page %v", h, kept)
	}
	if loc := b.location(); !strings.Contains(loc, "name=0999") {
		t.Fatalf("the search is not in the address bar: %s", loc)
	}
	b.shot("hosts-search")
	b.do("status Synced", chromedp.Navigate(f.base+"/hosts?status=Synced"), chromedp.WaitVisible(chromedp.CSS("#hosts")))
	if n := b.rows("hosts"); n != 0 {
		t.Fatalf("status Synced: %d rows of never-run hosts", n)
	}
	b.noErrors()

	// A bad filter is a 400 page saying which field, not a 500.
	c := f.client()
	resp, err := c.Get(f.base + "/hosts?status=Bogus")
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("not signed in: %v %v", resp, err)
	}
	req, _ := http.NewRequest("GET", f.base+"/hosts?status=Bogus", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad status filter: %v %v", resp, err)
	}
	resp.Body.Close()
}
