package souls

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// The test binary is also the Soul: with CHAOS_TEST_SOUL set it serves the role below (or
// misbehaves as asked) instead of running the tests.
func TestMain(m *testing.M) {
	switch os.Getenv("CHAOS_TEST_SOUL") {
	case "":
		os.Exit(m.Run())
	case "garbage":
		fmt.Println("this is not JSON")
		time.Sleep(time.Minute)
	case "stuck": // reads nothing: a sink that stopped taking events
		time.Sleep(time.Minute)
	default:
		var in io.Reader = os.Stdin
		var out io.Writer = os.Stdout
		if dir, ok := strings.CutPrefix(os.Getenv("CHAOS_TEST_SOUL"), "record="); ok {
			// keep every line read and written, for the protocol's schemas (TestMessageSchemas)
			rin, err1 := os.Create(filepath.Join(dir, "in.jsonl"))
			rout, err2 := os.Create(filepath.Join(dir, "out.jsonl"))
			if err := errors.Join(err1, err2); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			in, out = io.TeeReader(os.Stdin, rin), io.MultiWriter(os.Stdout, rout)
		}
		s := soul.NewServer()
		s.Role("demo", demoRole{})
		if err := s.Serve(context.Background(), in, out); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(0)
}

type demoRole struct{}

func (demoRole) Probe(_ context.Context, p soul.ProbeParams) (soul.ProbeResult, error) {
	if strings.Contains(string(p.Keys["demo"]), `"probe":"crash"`) {
		fmt.Fprintln(os.Stderr, "panic: the demo Soul fell over while probing")
		os.Exit(4)
	}
	switch p.Env.Target {
	case "crash":
		fmt.Fprintln(os.Stderr, "panic: the demo Soul fell over")
		os.Exit(3)
	case "hang":
		time.Sleep(time.Minute)
	case "refuse":
		return soul.ProbeResult{}, soul.Invalid("demo[1].url", "url: not a git URL")
	}
	return soul.ProbeResult{Sections: []soul.Section{{Name: "x", Script: "echo " + p.Env.Target}}}, nil
}

// Plan misbehaves as the Ch-obolo's `demo: {plan: MODE}` asks; else it writes /etc/demo.conf.
func (demoRole) Plan(_ context.Context, p soul.PlanParams) (soul.PlanResult, error) {
	var k struct {
		Plan string `json:"plan"`
	}
	_ = json.Unmarshal(p.Keys["demo"], &k)
	text := "demo\n"
	op := soul.Op{Kind: "write", Path: "/etc/demo.conf", Content: &text, Mode: "0644"}
	switch k.Plan {
	case "crash":
		fmt.Fprintln(os.Stderr, "panic: the demo Soul fell over while planning")
		os.Exit(3)
	case "hang":
		time.Sleep(time.Minute)
	case "garbage": // a line that is not JSON-RPC before a good answer: the answer must not count
		fmt.Println("this is not JSON")
	case "refuse":
		return soul.PlanResult{}, soul.Invalid("demo.plan", "plan: not today")
	case "shell-string":
		op = soul.Op{Kind: "exec", Argv: []string{"rm -rf /tmp/x"}}
	case "relative":
		op.Path = "etc/demo.conf"
	case "forbidden":
		op.Path = "/proc/sys/kernel/hostname"
	case "remove-etc":
		op = soul.Op{Kind: "remove", Path: "/etc"}
	case "protected-user":
		op = soul.Op{Kind: "exec", Argv: []string{"userdel", "root"}}
	case "bad-mode":
		op.Mode = "rw-r--r--"
	case "undeclared-secret":
		op = soul.Op{Kind: "exec", Argv: []string{"chpasswd"}, Stdin: "root_password"}
	case "file-undo":
		op.Undo = &soul.Op{Kind: "remove", Path: "/etc/demo.conf"}
	case "other-ledger":
		return soul.PlanResult{Ledger: map[string][]string{"files": {"/etc/passwd"}}}, nil
	case "owned":
		op.Path = "/etc/hostname"
	case "secret": // the secret reaches the host on stdin only; the note says which secrets came
		op = soul.Op{Kind: "exec", Argv: []string{"tee", "/etc/demo.conf"}, Stdin: "demo_token", Undo: &soul.Op{Kind: "exec", Argv: []string{"rm", "/etc/demo.conf"}}}
		return soul.PlanResult{Notes: []string{fmt.Sprintf("secrets: %v", slices.Sorted(maps.Keys(p.Secrets)))},
			Steps: []soul.Step{{Changes: []soul.Change{{Kind: "+", Subject: "/etc/demo.conf"}}, Ops: []soul.Op{op}}}}, nil
	case "shell":
		op = soul.Op{Kind: "exec", Argv: []string{"sh", "-c", "echo hi > /etc/demo.conf"}, Undo: &soul.Op{Kind: "exec", Argv: []string{"rm", "-f", "/etc/demo.conf"}}}
	}
	return soul.PlanResult{Steps: []soul.Step{{Changes: []soul.Change{{Kind: "+", Subject: "/etc/demo.conf", Key: "demo.plan"}}, Ops: []soul.Op{op}}}}, nil
}

// testSoul installs the test binary as a Soul in a temporary directory.
func testSoul(t *testing.T, mode, timeout string) *Soul {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf("name: demo\nversion: 1.0.0\nprotocol: 1\nexec: [env, CHAOS_TEST_SOUL=%s, %s]\ntimeout: %s\nroles:\n  - name: demo\n    summary: a demo\n    keys: [demo]\n    secrets: [demo_token]\n", mode, exe, timeout)
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestProcess(t *testing.T) {
	p, err := testSoul(t, "serve", "2s").Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// One process serves many hosts at once.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var res soul.ProbeResult
			target := fmt.Sprintf("web%d", i)
			if err := p.Call(context.Background(), soul.MethodRoleProbe, soul.ProbeParams{Role: "demo", Env: soul.Env{Target: target}}, &res); err != nil {
				t.Error(err)
				return
			}
			if len(res.Sections) != 1 || res.Sections[0].Script != "echo "+target {
				t.Errorf("%s: %+v", target, res)
			}
		}()
	}
	wg.Wait()
	// A refusal names the Soul, the method and the Ch-obolo key.
	err = p.Call(context.Background(), soul.MethodRoleProbe, soul.ProbeParams{Role: "demo", Env: soul.Env{Target: "refuse"}}, nil)
	var se *soul.Error
	if !errors.As(err, &se) || se.Key != "demo[1].url" || !strings.Contains(err.Error(), "soul demo: role.probe: url: not a git URL") {
		t.Fatalf("refusal: %v", err)
	}
	// A request that takes longer than the manifest's timeout fails, naming the Soul.
	err = p.Call(context.Background(), soul.MethodRoleProbe, soul.ProbeParams{Role: "demo", Env: soul.Env{Target: "hang"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "soul demo: role.probe: no answer within 2s") {
		t.Fatalf("timeout: %v", err)
	}
	// A crash fails the request in flight and every later one, with the end of its stderr.
	err = p.Call(context.Background(), soul.MethodRoleProbe, soul.ProbeParams{Role: "demo", Env: soul.Env{Target: "crash"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "soul demo exited (exit status 3)") || !strings.Contains(err.Error(), "the demo Soul fell over") {
		t.Fatalf("crash: %v", err)
	}
	if err := p.Call(context.Background(), soul.MethodRoleProbe, soul.ProbeParams{Role: "demo"}, nil); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("after the crash: %v", err)
	}
}

func TestProcessMalformedOutput(t *testing.T) {
	p, err := testSoul(t, "garbage", "5s").Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	err = p.Call(context.Background(), soul.MethodRoleProbe, soul.ProbeParams{Role: "demo"}, nil)
	if err == nil || !strings.Contains(err.Error(), "soul demo: malformed output") || !strings.Contains(err.Error(), "this is not JSON") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bad")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(text string) error {
		if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir)
		return err
	}
	for _, c := range []struct{ text, want string }{
		{"name: Bad_Name\nversion: 1\nprotocol: 1\nexec: [x]\n", "soul.yaml:1:1: name \"Bad_Name\""},
		{"name: ok\nversion: 1\nprotocol: 7\nexec: [x]\n", "soul.yaml:3:1: protocol 7: this chaos speaks protocol 1"},
		{"name: ok\nversion: 1\nprotocol: 1\nexec: [x]\nroles:\n  - name: r\n    summary: s\n", "soul.yaml:6:5: role r: keys"},
		{"name: ok\nversion: 1\nprotocol: 1\nexec: [x]\nrolez: []\n", "field rolez not found"},
		{"name: ok\nversion: 1\nprotocol: 1\nexec: [x]\ntimeout: soon\n", "soul.yaml:5:1: timeout \"soon\""},
		{"name: ok\nversion: 1\nprotocol: 1\nexec: [x]\nboats:\n  - name: Cmdb\n", "soul.yaml:6:5: boats name \"Cmdb\""},
		{"name: ok\nversion: 1\nprotocol: 1\nexec: [x]\nlimanis:\n  - name: a\n  - name: a\n", "soul.yaml:7:5: limanis: \"a\" is declared twice"},
	} {
		if err := write(c.text); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.text, err, c.want)
		}
	}
}

// Discover reads every Soul under the paths; the first path wins for a name; a broken Soul is an
// error and the others still load.
func TestDiscover(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	mk := func(root, name, version string) {
		d := filepath.Join(root, name)
		_ = os.MkdirAll(d, 0o755)
		_ = os.WriteFile(filepath.Join(d, ManifestFile), []byte("name: "+name+"\nversion: "+version+"\nprotocol: 1\nexec: [x]\n"), 0o644)
	}
	mk(a, "one", "2.0")
	mk(b, "one", "1.0")
	mk(b, "two", "1.0")
	mk(b, "broken", "1.0")
	_ = os.WriteFile(filepath.Join(b, "broken", ManifestFile), []byte("name: [\n"), 0o644)
	got, errs := Discover([]string{a, b, filepath.Join(a, "missing")})
	if len(got) != 2 || got[0].Manifest.Version != "2.0" || got[1].Manifest.Name != "two" {
		t.Fatalf("souls: %+v", got)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "broken") {
		t.Fatalf("errors: %v", errs)
	}
}

// Paths is the discovery order of docs/souls.md: each directory of $CHAOS_SOUL_PATH, then the
// data directory's souls ($XDG_DATA_HOME, else ~/.local/share), then /usr/share/chaos/souls.
func TestPaths(t *testing.T) {
	for _, c := range []struct{ soulPath, xdg, want string }{
		{"", "", "/home/alice/.local/share/chaos/souls /usr/share/chaos/souls"},
		{"/a::/b", "", "/a /b /home/alice/.local/share/chaos/souls /usr/share/chaos/souls"},
		{"/a", "/xdg", "/a /xdg/chaos/souls /usr/share/chaos/souls"},
	} {
		t.Setenv("HOME", "/home/alice")
		t.Setenv("CHAOS_SOUL_PATH", c.soulPath)
		t.Setenv("XDG_DATA_HOME", c.xdg)
		if got := strings.Join(Paths(), " "); got != c.want {
			t.Errorf("CHAOS_SOUL_PATH=%q XDG_DATA_HOME=%q: %s, want %s", c.soulPath, c.xdg, got, c.want)
		}
	}
}

// A Runtime starts a Soul once for all its callers and ends it at Close.
func TestRuntime(t *testing.T) {
	s := testSoul(t, "serve", "5s")
	r := NewRuntime([]*Soul{s})
	var wg sync.WaitGroup
	procs := make([]*Process, 10)
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := r.Process(context.Background(), "demo")
			if err != nil {
				t.Error(err)
			}
			procs[i] = p
		}()
	}
	wg.Wait()
	for _, p := range procs[1:] {
		if p != procs[0] {
			t.Fatal("two processes for one Soul in one run")
		}
	}
	if _, err := r.Process(context.Background(), "other"); err == nil {
		t.Fatal("a Soul that is not installed")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-procs[0].exited:
	default:
		t.Fatal("Close did not end the process")
	}
	if _, err := r.Process(context.Background(), "demo"); err == nil {
		t.Fatal("a process after Close")
	}
}
