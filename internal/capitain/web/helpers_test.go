package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
	"github.com/ch-aos-ch/chaos/internal/capitain/server"
	"github.com/ch-aos-ch/chaos/internal/capitain/web"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// password is every test user's password.
const password = "correct horse battery staple"

// fixture is a real Capitain (SQLite, River, the UI registered as chaos capitain serve does) on
// a loopback port.
type fixture struct {
	t     *testing.T
	srv   *server.Server
	base  string
	token string // the first start's admin token
}

var tokenRE = regexp.MustCompile(`(chaos_pat_\S+)`)

func start(t *testing.T, workers int) *fixture {
	t.Helper()
	return startConfig(t, server.Config{Workers: workers})
}

// startDB is start on the database dsn (a PostgreSQL DSN; "": SQLite in the data directory).
func startDB(t *testing.T, dsn string, workers int) *fixture {
	t.Helper()
	return startConfig(t, server.Config{DB: dsn, Workers: workers})
}

// startConfig is start with the configuration cfg (its data directory set here).
func startConfig(t *testing.T, cfg server.Config) *fixture {
	t.Helper()
	cfg.Data = t.TempDir()
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	lg := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(ctx, cfg, &out, lg)
	if err != nil {
		t.Fatal(err)
	}
	ui, err := web.New(srv, lg)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetUI(ui)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	f := &fixture{t: t, srv: srv, base: "http://" + l.Addr().String(), token: tokenRE.FindString(out.String())}
	if f.token == "" {
		t.Fatalf("no admin token in %q", out.String())
	}
	return f
}

// user creates a user with the test password.
func (f *fixture) user(name string, admin bool) {
	f.t.Helper()
	if _, err := f.srv.Auth().CreateUser(context.Background(), auth.System(), auth.NewUser{Name: name, Password: password, Admin: admin}); err != nil {
		f.t.Fatal(err)
	}
}

// api calls the JSON API as the admin; out receives the body of a 2xx.
func (f *fixture) api(method, path string, body, out any) {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		js, _ := json.Marshal(body)
		rd = bytes.NewReader(js)
	}
	req, _ := http.NewRequest(method, f.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		f.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatal(err)
		}
	}
}

// project adds a project from files served by git daemon and refreshes it; it returns the
// work tree to push more commits from.
func (f *fixture) project(name string, files map[string]string, path string) (server.Project, string) {
	f.t.Helper()
	u, work := testenv.GitServer(f.t, name, files)
	f.api("POST", "/api/v1/projects", map[string]any{"name": name, "repo": u + name + ".git", "path": path}, nil)
	var p server.Project
	f.api("POST", "/api/v1/projects/"+name+"/refresh", nil, &p)
	if len(p.Problems) > 0 {
		f.t.Fatalf("project %s: %+v", name, p.Problems)
	}
	return p, work
}

// client is a browser-less client with its own cookies (for what a browser cannot be made to
// send: a forged form, a replayed cookie).
func (f *fixture) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// formCSRF GETs path with c and returns the page's CSRF token.
func (f *fixture) formCSRF(c *http.Client, path string) string {
	f.t.Helper()
	resp, err := c.Get(f.base + path)
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRE.FindSubmatch(b)
	if m == nil {
		f.t.Fatalf("GET %s: %d, no CSRF token in %s", path, resp.StatusCode, b)
	}
	return string(m[1])
}

// signIn is a browser-less client signed in as user through the login form.
func (f *fixture) signIn(user string) *http.Client {
	f.t.Helper()
	c := f.client()
	csrf := f.formCSRF(c, "/login")
	if resp, body := f.postForm(c, "/login", url.Values{"user": {user}, "password": {password}, "csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("%s's login: %d %s", user, resp.StatusCode, body)
	}
	return c
}

func (f *fixture) postForm(c *http.Client, path string, form url.Values) (*http.Response, string) {
	f.t.Helper()
	resp, err := c.PostForm(f.base+path, form)
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// browser is a real headless Chromium (Debian's) with the page's errors collected: uncaught
// exceptions, console.error, and the browser's own error log (failed loads, CSP violations).
type browser struct {
	t    *testing.T
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := testenv.RequireTool(t, "chromium", "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// Generous: the machine is shared and loaded; the waits end as soon as the page is there.
	ctx, tcancel := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { tcancel(); cancel(); acancel() })
	b := &browser{t: t, ctx: ctx}
	exc := chromedp.Events(ctx, runtime.ExceptionThrown)
	con := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	lg := chromedp.Events(ctx, log.EntryAdded)
	go func() {
		for ev, err := range exc {
			if err != nil {
				return
			}
			b.addErr((&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error())
		}
	}()
	go func() {
		for ev, err := range con {
			if err != nil {
				return
			}
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				b.addErr(fmt.Sprintf("console.error %v", ev.Args))
			}
		}
	}()
	go func() {
		for ev, err := range lg {
			if err != nil {
				return
			}
			if ev.Entry.Level == log.EntryLevelError {
				b.addErr(fmt.Sprintf("%s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	}()
	return b
}

func (b *browser) addErr(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errs = append(b.errs, s)
}

// noErrors fails the test when the pages logged errors so far, but those containing one of
// expected (a status the test caused on purpose), and forgets them.
func (b *browser) noErrors(expected ...string) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var bad []string
	for _, e := range b.errs {
		if !slices.ContainsFunc(expected, func(x string) bool { return strings.Contains(e, x) }) {
			bad = append(bad, e)
		}
	}
	b.errs = nil
	if len(bad) > 0 {
		b.t.Fatalf("the browser logged errors:\n%s", strings.Join(bad, "\n"))
	}
}

// do runs actions, failing the test on an error.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	// Each step is bounded on its own, so that a missing element fails in a minute, not at the
	// test's deadline.
	ctx, cancel := context.WithTimeout(b.ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page (awaiting it when it is a promise).
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: %v", js, err)
	}
	return v
}

func (b *browser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

// shotDir is where the tests write their screenshots (CHAOS_SCREENSHOTS, else a folder in the
// temporary directory that outlives the test, to be looked at).
func shotDir() string {
	if d := os.Getenv("CHAOS_SCREENSHOTS"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "capitain-web-screenshots")
}

// shot writes a PNG screenshot of the page as NAME.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	// The whole page, not the window: a section below the fold is looked at too (100: PNG).
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.MkdirAll(shotDir(), 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shotDir(), name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// login signs in through the login page as user.
func (b *browser) login(base, user string) {
	b.t.Helper()
	b.do("login", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS("#user")),
		chromedp.SendKeys(chromedp.CSS("#user"), user), chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#logout")))
}

// wait polls a JavaScript expression in the page until it is true (a live part updated).
func (b *browser) wait(what, js string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(time.Minute))); err != nil {
		b.mu.Lock()
		errs := strings.Join(b.errs, "\n")
		b.mu.Unlock()
		b.shot("failed")
		b.t.Fatalf("waiting for %s (%s): %v\nat %s; browser errors:\n%s", what, js, err, b.location(), errs)
	}
}

// rows is the number of rows of the table #id.
func (b *browser) rows(id string) int {
	b.t.Helper()
	return eval[int](b, `document.querySelectorAll("#`+id+` tbody tr:not(:has(.empty))").length`)
}

// waitJob polls the API until job id has finished, and returns it.
func (f *fixture) waitJob(id int64) *server.Job {
	f.t.Helper()
	for range 1500 {
		var j server.Job
		f.api("GET", fmt.Sprintf("/api/v1/jobs/%d", id), nil, &j)
		if j.Finished != nil {
			return &j
		}
		time.Sleep(200 * time.Millisecond)
	}
	f.t.Fatalf("job %d did not finish in 5 minutes", id)
	return nil
}

func writeFile(t *testing.T, path string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
}
