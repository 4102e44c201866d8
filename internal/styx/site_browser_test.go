package styx

import (
	"context"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// The site's client-side search, in a real headless Chromium: typing filters the entries as
// chaos styx search does (the same entries), a search with no hit empties the list, and a hit's
// link opens its entry page.
func TestSiteSearchInChromium(t *testing.T) {
	chromium := testenv.RequireTool(t, "chromium", "chromium")
	ix := bigIndex(t, 40)
	h, err := NewSiteHandler(ix, "file:///srv/index")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	profile, err := os.MkdirTemp("", "chaos-styx-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Chromium's children may still write there for a moment after it stops.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(profile))...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	c, cancel := context.WithTimeout(browser, 3*time.Minute) // generous: the machine is shared
	t.Cleanup(cancel)

	const rows = `Array.from(document.querySelectorAll('#list tbody tr td:first-child')).map(function (td) { return td.textContent; })`
	shown := func(want int) []string {
		t.Helper()
		got, err := chromedp.Run(c, chromedp.Poll[[]string](`(function () { var r = `+rows+`; return r.length === `+strconv.Itoa(want)+` && r; })()`,
			chromedp.WithPollingTimeout(time.Minute)))
		if err != nil {
			now, _ := chromedp.Run(c, chromedp.Evaluate[[]string](rows))
			t.Fatalf("waiting for %d rows: %v; shown: %v", want, err, now)
		}
		return got
	}
	if err := chromedp.Do(c, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	shown(40)
	var want []string
	for _, e := range ix.Search("wiregrd", "") {
		want = append(want, e.Name)
	}
	if err := chromedp.Do(c, chromedp.SendKeys(chromedp.CSS("#q"), "wiregrd")); err != nil {
		t.Fatal(err)
	}
	got := shown(len(want))
	slices.Sort(got)
	slices.Sort(want)
	if len(want) != 4 || !slices.Equal(got, want) {
		t.Fatalf("the page shows %v, chaos styx search finds %v", got, want)
	}
	if err := chromedp.Do(c, chromedp.SendKeys(chromedp.CSS("#q"), "zzz")); err != nil {
		t.Fatal(err)
	}
	shown(0)
	if err := chromedp.Do(c, chromedp.Evaluate[chromedp.Void](`document.getElementById('q').value = ''`), chromedp.SendKeys(chromedp.CSS("#q"), "kiosk-7"),
		chromedp.WaitVisible(chromedp.CSS("#list tbody tr a")), chromedp.Click(chromedp.CSS("#list tbody tr a"))); err != nil {
		t.Fatal(err)
	}
	// The entry page has the README's <article>; the index page has none.
	if err := chromedp.Do(c, chromedp.WaitVisible(chromedp.CSS("article"))); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(c, chromedp.Location())
	if err != nil || loc != srv.URL+"/e/pub7.kiosk-7.html" {
		t.Fatalf("the hit's link opened %s %v", loc, err)
	}
	if h1, err := chromedp.Run(c, chromedp.Text(chromedp.CSS("h1"))); err != nil || h1 != "pub7/kiosk-7" {
		t.Fatalf("the hit's page: %q %v", h1, err)
	}
}
