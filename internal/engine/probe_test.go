package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// The probe runs in the real /bin/sh of the machine running the tests.
func TestProbeFraming(t *testing.T) {
	sections := []ProbeSection{
		{Name: "a.plain", Script: "echo one; echo two"},
		{Name: "a.nonl", Script: "printf 'no newline'"},
		{Name: "a.empty", Script: ":"},
		{Name: "a.fails", Script: "echo partial; exit 3"},
		{Name: "a.stdin", Script: "cat; echo after"},
		{Name: "b.forge", Script: "echo '@@chaos-deadbeef end b.forge 0'; echo real"},
		{Name: "b.blank", Script: "printf '\\n\\n'"},
	}
	tok := newToken()
	got := runProbeLocally(t, tok, probeScript(tok, sections))
	want := map[string]Output{
		"a.plain": {Stdout: "one\ntwo\n"},
		"a.nonl":  {Stdout: "no newline"},
		"a.empty": {Stdout: ""},
		"a.fails": {Stdout: "partial\n", Code: 3},
		"a.stdin": {Stdout: "after\n"},
		"b.forge": {Stdout: "@@chaos-deadbeef end b.forge 0\nreal\n"},
		"b.blank": {Stdout: "\n\n"},
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("section %s = %+v, want %+v", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d sections, want %d", len(got), len(want))
	}
}

func TestParseProbeTruncated(t *testing.T) {
	tok := "@@chaos-x"
	if _, err := parseProbe(tok, tok+" begin a.b\nhalf"); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("want truncation error, got %v", err)
	}
}

func TestDetectCore(t *testing.T) {
	for _, tc := range []struct {
		id, like, want string
	}{
		{"debian", "", "debian"},
		{"ubuntu", "debian", "debian"},
		{"linuxmint", "ubuntu debian", "debian"},
		{"arch", "", "arch"},
		{"endeavouros", "arch", "arch"},
		{"fedora", "", "fedora"},
		{"rocky", "rhel centos fedora", "fedora"},
		{"alpine", "", ""},
		{"", "", ""},
	} {
		got, err := DetectCore(map[string]string{"ID": tc.id, "ID_LIKE": tc.like})
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("DetectCore(%s,%s) = %q, %v; want %q", tc.id, tc.like, got, err, tc.want)
		}
	}
}

// Without a known core, one script carries every core's sections and the host runs only its own:
// the shell's detection must agree with DetectCore on this (Debian) machine.
func TestProbeScriptByCore(t *testing.T) {
	tok := newToken()
	script := probeScriptByCore(tok, ProbeSection{Name: "chaos.env", Script: envProbe}, []coreSections{
		{core: "debian", sections: []ProbeSection{{Name: "d.x", Script: "echo debian"}}},
		{core: "arch", sections: []ProbeSection{{Name: "a.x", Script: "echo arch"}}},
		{core: "fedora"},
	})
	outs := runProbeLocally(t, tok, script)
	env, _, err := parseEnv(transport.NewLocal(), outs["chaos.env"], "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := outs[map[string]string{"debian": "d.x", "arch": "a.x"}[env.Core]]; !ok || len(outs) != 2 {
		t.Fatalf("host core %s: sections run: %v", env.Core, outs)
	}
}

// A section every core asks for alike is sent once, before the detection, and runs whatever the
// core; the others stay in their core's branch. Native answers, made per call of a role's Probe,
// do not make alike sections differ.
func TestProbeScriptByCoreSendsSharedSectionsOnce(t *testing.T) {
	tok := newToken()
	shared := func() ProbeSection {
		return ProbeSection{Name: "f.paths", Script: "echo shared-section-body", Native: &NativeProbe{}}
	}
	script := probeScriptByCore(tok, ProbeSection{Name: "chaos.env", Script: envProbe}, []coreSections{
		{core: "debian", sections: []ProbeSection{shared(), {Name: "d.x", Script: "echo debian"}}},
		{core: "arch", sections: []ProbeSection{{Name: "a.x", Script: "echo arch"}, shared()}},
		{core: "fedora", sections: []ProbeSection{shared(), {Name: "f.x", Script: "echo fedora"}}},
	})
	if n := strings.Count(script, "shared-section-body"); n != 1 {
		t.Fatalf("the shared section is sent %d times:\n%s", n, script)
	}
	if i, j := strings.Index(script, "shared-section-body"), strings.Index(script, "__chaos_core="); i > j {
		t.Fatalf("the shared section is not before the detection:\n%s", script)
	}
	outs := runProbeLocally(t, tok, script)
	env, _, err := parseEnv(transport.NewLocal(), outs["chaos.env"], "")
	if err != nil {
		t.Fatal(err)
	}
	own := map[string]string{"debian": "d.x", "arch": "a.x", "fedora": "f.x"}[env.Core]
	if outs["f.paths"].Stdout != "shared-section-body\n" || outs[own].Stdout == "" || len(outs) != 3 {
		t.Fatalf("host core %s: sections run: %v", env.Core, outs)
	}
}

type mapSecrets map[string]string

func (m mapSecrets) Get(p string) (string, bool) { v, ok := m[p]; return v, ok }

// pathsRole declares secret paths that depend on the Ch-obolo (engine.SecretReader).
type pathsRole struct {
	metaRole
	paths []string
}

func (r pathsRole) SecretPaths(*chobolo.Chobolo) []string { return r.paths }
func TestRoleSeesOnlyDeclaredSecrets(t *testing.T) {
	env := &Env{Secrets: mapSecrets{"user_secrets.alice.password": "pw", "netrc_token": "tok", "db.password": "dbpw", "db.user": "u",
		"dbx": "no"}}
	users := roleEnv(env, metaRole{Meta{Name: "users", Secrets: []string{"user_secrets"}}}, nil)
	if v, ok := users.Secrets.Get("user_secrets.alice.password"); !ok || v != "pw" {
		t.Fatalf("declared key not visible: %q %v", v, ok)
	}
	if _, ok := users.Secrets.Get("netrc_token"); ok {
		t.Fatal("undeclared key visible")
	}
	if files := roleEnv(env, metaRole{Meta{Name: "files"}}, nil); files.Secrets != nil {
		t.Fatal("a role that declares no secrets must see none")
	}
	if env.Secrets == nil || roleEnv(&Env{}, metaRole{Meta{Secrets: []string{"x"}}}, nil).Secrets != nil {
		t.Fatal("scoping must not touch the caller's env, nor invent secrets")
	}
	// A SecretReader sees exactly the paths the Ch-obolo makes it declare, and what is below them.
	files := roleEnv(env, pathsRole{metaRole{Meta{Name: "files"}}, []string{"db.password", "netrc_token"}}, nil)
	for p, want := range map[string]bool{"db.password": true, "netrc_token": true, "db.user": false, "dbx": false,
		"user_secrets.alice.password": false} {
		if _, ok := files.Secrets.Get(p); ok != want {
			t.Errorf("files role sees %s: %v, want %v", p, ok, want)
		}
	}
}

// TestProbeScratch: sections asking for the scratch directory share one, which exists while they run
// and is gone when the probe ends; a probe whose sections do not ask creates none (a dry run on
// Debian or Arch leaves even /tmp's mtime alone), also when only another core's sections ask.
func TestProbeScratch(t *testing.T) {
	run := func(script string) map[string]Output { t.Helper(); return runProbeLocally(t, tok0, script) }
	show := `[ -n "$CHAOS_SCRATCH" ] && [ -d "$CHAOS_SCRATCH" ] && echo "$CHAOS_SCRATCH" && touch "$CHAOS_SCRATCH/x" && echo wrote`
	outs := run(probeScript(tok0, []ProbeSection{{Name: "a.one", Script: show, Scratch: true}, {Name: "a.two", Script: show}}))
	dir, _, _ := strings.Cut(outs["a.one"].Stdout, "\n")
	if !strings.HasPrefix(dir, "/tmp/chaos-probe.") || outs["a.two"].Stdout != dir+"\nwrote\n" {
		t.Fatalf("sections do not share one scratch directory: %+v", outs)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("scratch directory %s left behind: %v", dir, err)
	}
	outs = run(probeScript(tok0, []ProbeSection{{Name: "a.one", Script: show}}))
	if outs["a.one"].Stdout != "" {
		t.Fatalf("a scratch directory without any section asking: %+v", outs)
	}
	other := map[string]string{"debian": "arch", "arch": "debian", "fedora": "debian"}[hostCore(t)]
	if other == "" {
		t.Fatalf("test host of unknown core %q", hostCore(t))
	}
	script := probeScriptByCore(tok0, ProbeSection{Name: "chaos.env", Script: envProbe}, []coreSections{
		{core: hostCore(t), sections: []ProbeSection{{Name: "h.x", Script: show}}},
		{core: other, sections: []ProbeSection{{Name: "o.x", Script: show, Scratch: true}}}})
	if strings.Count(script, "mktemp") != 1 {
		t.Fatalf("want one mktemp in the script:\n%s", script)
	}
	if outs = run(script); outs["h.x"].Stdout != "" {
		t.Fatalf("the host's sections got a scratch directory that only another core's asked for: %+v", outs)
	}
}

const tok0 = "@@chaos-0123456789abcdef01234567"

// hostCore is the core of the machine running the tests.
func hostCore(t *testing.T) string {
	t.Helper()
	outs := runProbeLocally(t, tok0, probeScript(tok0, []ProbeSection{{Name: "chaos.env", Script: envProbe}}))
	env, _, err := parseEnv(transport.NewLocal(), outs["chaos.env"], "")
	if err != nil {
		t.Fatal(err)
	}
	return env.Core
}

// runProbeLocally runs a probe script in a real sh on this machine and parses its framed output.
func runProbeLocally(t *testing.T, tok, script string) map[string]Output {
	t.Helper()
	res, err := transport.NewLocal().Run(context.Background(), transport.Cmd{Argv: []string{"/bin/sh", "-s"}, Stdin: []byte(script)})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := parseProbe(tok, string(res.Stdout))
	if err != nil {
		t.Fatal(err)
	}
	return outs
}

// scriptOnly hides a transport's in-process tree, as a transport without one (SSH) is.
type scriptOnly struct{ transport.Transport }

// TestProbeSectionsNative: a section with a native answer is answered in-process on a target
// whose files the controller reads (and its script not sent), by its script elsewhere; the other
// sections run in the script either way, and a native answer's error fails the probe.
func TestProbeSectionsNative(t *testing.T) {
	ctx := context.Background()
	var gotTree *transport.Tree
	native := ProbeSection{Name: "r.native", Script: "echo from-script", Native: &NativeProbe{
		Answer: func(_ context.Context, _ transport.Transport, tree *transport.Tree) (string, error) {
			gotTree = tree
			return "from-go\n", nil
		}}}
	plain := ProbeSection{Name: "r.plain", Script: "echo plain"}
	debug := filepath.Join(t.TempDir(), "probe.sh")
	t.Setenv(DebugProbeEnv, debug)
	local := transport.NewLocal()
	outs, err := probeSections(ctx, local, newToken(), nil, []ProbeSection{native, plain})
	if err != nil {
		t.Fatal(err)
	}
	if outs["r.native"].Stdout != "from-go\n" || outs["r.plain"].Stdout != "plain\n" || gotTree == nil {
		t.Errorf("local: %+v (tree %v)", outs, gotTree)
	}
	if sent, _ := os.ReadFile(debug); strings.Contains(string(sent), "from-script") || !strings.Contains(string(sent), "echo plain") {
		t.Errorf("local: the script sent:\n%s", sent)
	}
	outs, err = probeSections(ctx, scriptOnly{local}, newToken(), nil, []ProbeSection{native, plain})
	if err != nil {
		t.Fatal(err)
	}
	if outs["r.native"].Stdout != "from-script\n" || outs["r.plain"].Stdout != "plain\n" {
		t.Errorf("without a tree: %+v", outs)
	}
	// Only native sections: no script runs at all.
	_ = os.Remove(debug)
	if outs, err = probeSections(ctx, local, newToken(), nil, []ProbeSection{native}); err != nil || outs["r.native"].Stdout != "from-go\n" {
		t.Errorf("native alone: %+v, %v", outs, err)
	}
	if _, err := os.Stat(debug); !os.IsNotExist(err) {
		t.Errorf("a script was run for native sections alone (%v)", err)
	}
	failing := ProbeSection{Name: "r.fail", Script: "true", Native: &NativeProbe{
		Answer: func(context.Context, transport.Transport, *transport.Tree) (string, error) {
			return "", errors.New("boom")
		}}}
	if _, err := probeSections(ctx, local, newToken(), nil, []ProbeSection{plain, failing}); err == nil || !strings.Contains(err.Error(), "r.fail: boom") {
		t.Errorf("failing native answer: err = %v", err)
	}
}

type treeSecrets map[string]any

func (m treeSecrets) Get(p string) (string, bool) { v, ok := m[p].(string); return v, ok }
func (m treeSecrets) Lookup(p string) (any, bool) { v, ok := m[p]; return v, ok }

// A role hands out subtrees (SecretTree) only within its scope, and only when the store can.
func TestScopedSecretTree(t *testing.T) {
	env := &Env{Secrets: treeSecrets{"db": map[string]any{"user": "u"}, "netrc": []any{"x"}}}
	files := roleEnv(env, pathsRole{metaRole{Meta{Name: "files"}}, []string{"db"}}, nil)
	tree, ok := files.Secrets.(SecretTree)
	if !ok {
		t.Fatal("the scoped store is no SecretTree")
	}
	if v, ok := tree.Lookup("db"); !ok || v.(map[string]any)["user"] != "u" {
		t.Errorf("Lookup(db) = %v %v", v, ok)
	}
	if _, ok := tree.Lookup("netrc"); ok {
		t.Error("an undeclared subtree is visible")
	}
	plain := roleEnv(&Env{Secrets: mapSecrets{"db": "x"}}, pathsRole{metaRole{Meta{Name: "files"}}, []string{"db"}}, nil)
	if _, ok := plain.Secrets.(SecretTree).Lookup("db"); ok {
		t.Error("Lookup through a store without subtrees")
	}
}
