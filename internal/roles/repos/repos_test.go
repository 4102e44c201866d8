package repos

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/filedump"

	"github.com/ch-aos-ch/chaos/internal/golden"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
)

const testKey = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGQ=\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----"

func ch(repos ...chobolo.AptRepo) *chobolo.Chobolo {
	c := &chobolo.Chobolo{File: "m.yml", Repos: chobolo.Repos{Apt: repos}}
	c.SetKey("repos", chobolo.Pos{File: "m.yml", Line: 1, Col: 1})
	for i := range repos {
		c.SetPos("repos.apt["+string(rune('0'+i))+"]", chobolo.Pos{File: "m.yml", Line: 3 + 10*i, Col: 7})
	}
	return c
}

func off() *bool { f := false; return &f }

func TestRenderGolden(t *testing.T) {
	c := ch(
		chobolo.AptRepo{Name: "docker", URIs: []string{"https://download.docker.com/linux/debian"}, Suites: []string{"bookworm"},
			Components: []string{"stable"}, Architectures: []string{"amd64", "arm64"}, Key: testKey},
		chobolo.AptRepo{Name: "local.repo", Types: []string{"deb", "deb-src"}, URIs: []string{"file:/srv/repo"}, Suites: []string{"./"},
			Trusted: true, Enabled: off()},
	)
	want, err := Desired(c)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, w := range want {
		b.WriteString("==> " + w.Path + " (" + w.What + ", " + w.Pos.String() + ")\n" + w.Content)
	}
	golden.Check(t, "render", b.String())
}

func TestDesiredRefusesHostileValues(t *testing.T) {
	ok := chobolo.AptRepo{Name: "x", URIs: []string{"http://deb.example.org/debian"}, Suites: []string{"stable"}, Components: []string{"main"}}
	cases := map[string]func(r *chobolo.AptRepo){
		"name with slash":      func(r *chobolo.AptRepo) { r.Name = "../etc" },
		"name uppercase":       func(r *chobolo.AptRepo) { r.Name = "Docker" },
		"name command":         func(r *chobolo.AptRepo) { r.Name = "$(reboot)" },
		"uri newline":          func(r *chobolo.AptRepo) { r.URIs = []string{"http://a\nSigned-By: /tmp/evil"} },
		"uri space":            func(r *chobolo.AptRepo) { r.URIs = []string{"http://a b"} },
		"uri no scheme":        func(r *chobolo.AptRepo) { r.URIs = []string{"deb.example.org"} },
		"no uris":              func(r *chobolo.AptRepo) { r.URIs = nil },
		"suite newline":        func(r *chobolo.AptRepo) { r.Suites = []string{"stable\nTrusted: yes"} },
		"suite dash":           func(r *chobolo.AptRepo) { r.Suites = []string{"-x"} },
		"component tab":        func(r *chobolo.AptRepo) { r.Components = []string{"main\tcontrib"} },
		"component comment":    func(r *chobolo.AptRepo) { r.Components = []string{"main#x"} },
		"no components":        func(r *chobolo.AptRepo) { r.Components = nil },
		"flat with components": func(r *chobolo.AptRepo) { r.Suites = []string{"./"} },
		"bad type":             func(r *chobolo.AptRepo) { r.Types = []string{"rpm"} },
		"bad arch":             func(r *chobolo.AptRepo) { r.Architectures = []string{"amd64;x"} },
		"bad key":              func(r *chobolo.AptRepo) { r.Key = "not a key" },
		"unread key_file":      func(r *chobolo.AptRepo) { r.KeyFile = "keys/x.asc" },
	}
	for name, mut := range cases {
		r := ok
		mut(&r)
		c := ch(r)
		if _, err := Desired(c); err == nil || !strings.Contains(err.Error(), "m.yml:3:7") {
			t.Errorf("%s: err = %v, want a refusal at m.yml:3:7", name, err)
		}
	}
	dup := ch(ok, ok)
	if _, err := Desired(dup); err == nil || !strings.Contains(err.Error(), "declared twice") {
		t.Errorf("duplicate: %v", err)
	}
	r := ok
	r.KeyFile, r.KeyText = "keys/x.asc", testKey
	if w, err := Desired(ch(r)); err != nil || len(w) != 2 || !strings.HasSuffix(w[0].Content, "-----\n") {
		t.Errorf("key_file: %v %+v", err, w)
	}
}

func TestBuildPlan(t *testing.T) {
	repo := chobolo.AptRepo{Name: "a", URIs: []string{"file:/srv/r"}, Suites: []string{"./"}, Trusted: true}
	want, err := Desired(ch(repo))
	if err != nil {
		t.Fatal(err)
	}
	src := SourcesPath("a")
	good := map[string]filedump.File{src: {Content: want[0].Content, Mode: 0o644}}
	kinds := func(rp *engine.RolePlan) string {
		var s []string
		for _, st := range rp.Steps {
			for _, c := range st.Changes {
				s = append(s, string(c.Kind)+c.Subject)
			}
		}
		return strings.Join(s, ",")
	}
	updates := func(rp *engine.RolePlan) int {
		n := 0
		for _, st := range rp.Steps {
			for _, op := range st.Ops {
				if op.Kind == engine.OpExec && op.Argv[len(op.Argv)-1] == "update" {
					n++
				}
			}
		}
		return n
	}
	// Unchanged: nothing to do, no update, the ledger keeps the file.
	rp := BuildPlan(want, good, []string{src})
	if !rp.Empty() || updates(rp) != 0 || strings.Join(rp.Ledger[LedgerDomain], ",") != src {
		t.Fatalf("no-change plan: %+v", rp)
	}
	// Absent: written, then one update at the end; the first op carries the update's undo.
	rp = BuildPlan(want, map[string]filedump.File{}, nil)
	if kinds(rp) != "+repo a" || updates(rp) != 1 || rp.Steps[0].Ops[0].Undo == nil {
		t.Fatalf("add plan: %s %d", kinds(rp), updates(rp))
	}
	// Changed content and wrong mode.
	rp = BuildPlan(want, map[string]filedump.File{src: {Content: "old", Mode: 0o644}}, []string{src})
	if kinds(rp) != "~repo a" || updates(rp) != 1 {
		t.Fatalf("change plan: %s", kinds(rp))
	}
	rp = BuildPlan(want, map[string]filedump.File{src: {Content: want[0].Content, Mode: 0o666}}, []string{src})
	if kinds(rp) != "~repo a" {
		t.Fatalf("mode plan: %s", kinds(rp))
	}
	// Removal: only ledger files; foreign chaos-* files get a note; bogus ledger entries are ignored.
	files := map[string]filedump.File{
		src:                    {Content: want[0].Content, Mode: 0o644},
		SourcesPath("old"):     {Content: "x"},
		KeyringPath("old"):     {Content: "k"},
		SourcesPath("foreign"): {Content: "y"},
		"/etc/passwd":          {Content: "root"},
	}
	rp = BuildPlan(want, files, []string{src, SourcesPath("old"), KeyringPath("old"), "/etc/passwd", SourcesPath("gone")})
	if kinds(rp) != "-repo old,-repo old" || updates(rp) != 1 {
		t.Fatalf("prune plan: %s", kinds(rp))
	}
	if len(rp.Notes) != 1 || !strings.Contains(rp.Notes[0], "chaos-foreign.sources was not created by chaos") {
		t.Fatalf("notes: %q", rp.Notes)
	}
	for _, st := range rp.Steps {
		for _, op := range st.Ops {
			if op.Kind == engine.OpRemove && (op.Path == "/etc/passwd" || strings.Contains(op.Path, "foreign")) {
				t.Fatalf("removes %s", op.Path)
			}
		}
	}
	// Nothing declared: everything of the ledger goes, and the ledger domain empties.
	rp = BuildPlan(nil, files, []string{src})
	if kinds(rp) != "-repo a" || len(rp.Ledger[LedgerDomain]) != 0 {
		t.Fatalf("empty: %s %v", kinds(rp), rp.Ledger)
	}
}

func TestUndeclaredSectionDoesNothing(t *testing.T) {
	rp, err := New().Plan(&engine.Env{Ledger: map[string][]string{LedgerDomain: {SourcesPath("a")}}}, &chobolo.Chobolo{},
		engine.Facts{"files": {Stdout: "@file 1 644 0 0 " + SourcesPath("a") + "\nx\n"}})
	if err != nil || !rp.Empty() || rp.Ledger != nil {
		t.Fatalf("%v %+v", err, rp)
	}
}
