package files

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
)

// loadWith loads a Ch-obolo from memory: the file m.yml and its templates (tmpl/NAME, and the
// secrets.templates directory /tpl).
func loadWith(t *testing.T, src string, files map[string]string) (*chobolo.Chobolo, error) {
	t.Helper()
	read := func(p string) ([]byte, error) {
		if s, ok := files[filepath.ToSlash(p)]; ok {
			return []byte(s), nil
		}
		return nil, fmt.Errorf("open %s: %w", p, os.ErrNotExist)
	}
	return chobolo.LoadBytes("m.yml", []byte(src), chobolo.LoadOptions{ReadFile: read, TemplatesDir: "/tpl"})
}

// A template that names a secret its entry does not declare is an error at the template's
// FILE:LINE:COL, found without the secrets (chaos check chobolo), as is a non-literal path.
func TestSecretTemplateNamesOnlyDeclared(t *testing.T) {
	c, err := loadWith(t, `files:
  - path: /etc/app.conf
    template: tmpl/app.tmpl
    secrets: [db.password]
    escape: ini
`, map[string]string{"tmpl/app.tmpl": "[db]\npassword = {{ secret \"db.password\" }}\n  token = {{ secret \"api.token\" }}\n{{ $p := \"x\" }}{{ secret $p }}\n"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Validate(c, "debian")
	want := []string{`m.yml:3:15: error: tmpl/app.tmpl:3:13: secret "api.token" is not declared in the entry's secrets: (declared: db.password)`,
		`tmpl/app.tmpl:4:18: secret takes one quoted path`}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Fatalf("want %q in:\n%v", w, err)
		}
	}
}

// Without secrets (no -s) the plan refuses the entries that read them, each with its position,
// and says how to get them; with them it renders, escaped, 0600 by default, marked secret.
func TestSecretEntriesNeedSecrets(t *testing.T) {
	src := `users:
  - name: alice
files:
  - path: /etc/app.json
    template: tmpl/app.tmpl
    secrets: [db.password]
    escape: json
secrets:
  templates:
    - from: netrc.j2
      to: ./.netrc
      owner: alice
      mode: 0600
      escape: False
      vars: [netrc_token, db]
`
	tmpls := map[string]string{"tmpl/app.tmpl": "{\"pw\": {{ secret \"db.password\" }}}\n",
		"/tpl/netrc.j2": "machine example.org password {{ netrc_token }}{# a comment #}\nuser: {{- db.user -}} \n"}
	c, err := loadWith(t, src, tmpls)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Validate(c, "debian"); err != nil {
		t.Fatalf("static check: %v", err)
	}
	_, err = ValidateWith(c, "debian", nil)
	for _, w := range []string{"m.yml:6:14: error: /etc/app.json reads secrets (db.password): the secrets are not loaded: run chaos apply -s",
		"m.yml:15:13: error: /home/alice/.netrc reads secrets (netrc_token, db): the secrets are not loaded"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Fatalf("want %q in:\n%v", w, err)
		}
	}
	pw := `p"w` + "\n"
	d, err := ValidateWith(c, "debian", mapStore{"db.password": pw, "netrc_token": "t0k&n", "db.user": "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 2 || string(d[0].Content) != `{"pw": "p\"w\n"}`+"\n" || !d[0].Secret || d[0].Mode != 0o600 {
		t.Fatalf("files entry: %+v", d[0])
	}
	if d[1].Path != "/home/alice/.netrc" || string(d[1].Content) != "machine example.org password t0k&n\nuser:bob" ||
		!d[1].Secret || d[1].Mode != 0o600 || d[1].Owner != "alice" || d[1].Index != 1 {
		t.Fatalf("secrets.templates entry: %+v %q", d[1], d[1].Content)
	}
}

// The original's defaults and refusals for secrets.templates: escape defaults to html (Jinja2
// autoescape); a name not in vars is refused with its position, an undeclared owner too.
func TestSecretTemplatesOriginalShape(t *testing.T) {
	c, err := loadWith(t, `users: [{name: alice}]
secrets:
  templates:
    - {from: a.j2, to: a, owner: alice, mode: "0640", vars: [tok]}
`, map[string]string{"/tpl/a.j2": "t={{ tok }}\n"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := ValidateWith(c, "debian", mapStore{"tok": `<"&'>`})
	if err != nil || string(d[0].Content) != "t=&lt;&#34;&amp;&#39;&gt;" || d[0].Mode != 0o640 {
		t.Fatalf("%v %+v", err, d)
	}
	for tmpl, want := range map[string]string{
		"{% if tok %}x{% endfor %}": "/tpl/a.j2: Jinja2: ",
		"{{ other }}":               "/tpl/a.j2:1:1: other is not in this template's vars",
	} {
		c, err := loadWith(t, "users: [{name: alice}]\nsecrets: {templates: [{from: a.j2, to: a, owner: alice, mode: \"0600\", vars: [tok]}]}\n",
			map[string]string{"/tpl/a.j2": tmpl})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Validate(c, "debian"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want %q, got %v", tmpl, want, err)
		}
	}
	for src, want := range map[string]string{
		"secrets: {templates: [{from: ../a.j2, to: a, owner: root, mode: \"0600\", vars: []}]}":           `from: "../a.j2": want a path relative`,
		"secrets: {templates: [{from: a.j2, to: /etc/a, owner: root, mode: \"0600\", vars: []}]}":         `to "/etc/a": want a path relative`,
		"secrets: {templates: [{from: a.j2, to: a, owner: root, vars: []}]}":                              "mode is required",
		"secrets: {templates: [{from: a.j2, to: a, owner: root, mode: \"0600\", vars: [], escape: xml}]}": `escape: "xml"`,
	} {
		c, err := loadWith(t, src+"\n", map[string]string{"/tpl/a.j2": "x"})
		if err == nil {
			_, err = Validate(c, "debian")
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want %q, got %v", src, want, err)
		}
	}
}

// The removal of a file rendered from secrets is a secret op whose previous content stays in memory
// (never journaled or kept in a generation), even when its mode is public: the ledger remembers it.
// A private file's removal is secret (no generation backup) but journaled, for recovery.
func TestSecretFileRemovalIsSecret(t *testing.T) {
	pub := Stat{Known: true, Type: "file", Mode: 0o644, Parent: true}
	priv := Stat{Known: true, Type: "file", Mode: 0o600, Parent: true}
	f := &Facts{Declared: map[int]Stat{}, Ledger: map[string]Stat{"/etc/a": pub, "/etc/b": pub, "/etc/c": priv}}
	rp, err := BuildPlan(nil, f, map[string][]string{DomainCreated: {"/etc/a", "/etc/b", "/etc/c"}, DomainSecret: {"/etc/a"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range rp.Steps {
		for _, op := range s.Ops {
			got[op.Path] = fmt.Sprint(op.Secret, op.PrevInMemory)
		}
	}
	if len(got) != 3 || got["/etc/a"] != "true true" || got["/etc/b"] != "false false" || got["/etc/c"] != "true false" ||
		len(rp.Ledger[DomainSecret]) != 0 {
		t.Fatalf("removals secret: %v, ledger %v", got, rp.Ledger)
	}
}

// The loader refuses secrets without a template, escape without secrets, and a malformed path.
func TestSecretKeysShape(t *testing.T) {
	for src, want := range map[string]string{
		"files: [{path: /etc/a, content: x, secrets: [a.b]}]":               "m.yml:1:45: error: files[0].secrets: secrets are read by a template",
		"files: [{path: /etc/a, template: t, escape: json}]":                "m.yml:1:45: error: files[0].escape: escape applies to the secrets",
		"files: [{path: /etc/a, template: t, secrets: [a..b]}]":             `invalid secret path "a..b"`,
		"files: [{path: /etc/a, template: t, secrets: [a.b], escape: xml}]": `"xml"`,
	} {
		_, err := loadWith(t, src+"\n", map[string]string{"t": "x"})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want %q, got %v", src, want, err)
		}
	}
}

type treeStore map[string]any

func (m treeStore) Get(p string) (string, bool) { v, ok := m[p].(string); return v, ok }

func (m treeStore) Lookup(p string) (any, bool) { v, ok := m[p]; return v, ok }

// Templates with statements and filters (the original rendered them with Jinja2) render with the
// secrets named in vars, maps and lists included; every string in them is escaped for the file's
// format before rendering, numbers and booleans stay typed; an unknown filter is an error, and one
// that would quote a secret is withheld.
func TestSecretTemplatesJinjaStatements(t *testing.T) {
	store := treeStore{
		"netrc": []any{
			map[string]any{"machine": "git.example", "login": "alice", "password": `pa"ss word`},
			map[string]any{"machine": "ci.example", "login": "bot", "password": "t0k'en"},
		},
		"db":    map[string]any{"user": "app", "port": 5432, "tls": false},
		"token": "s3cr3t",
	}
	for _, c := range []struct{ tmpl, escape, vars, want string }{
		{"{% for m in netrc %}machine {{ m.machine }} login {{ m.login }} password {{ m.password }}\n{% endfor %}\n",
			"shell", "[netrc]", "machine git.example login alice password 'pa\"ss word'\nmachine ci.example login bot password 't0k'\\''en'\n"},
		{"user={{ db.user }}\nport={{ db.port + 1 }}\n{% if not db.tls %}sslmode=disable{% endif %}\n", "none", "[db]",
			"user=app\nport=5433\nsslmode=disable"},
		{"{%- set n = netrc | length -%}\n{{ n }} hosts: {{ netrc | map(attribute='machine') | join(', ') }} {{ token | upper }}", "none", "[netrc, token]",
			"2 hosts: git.example, ci.example S3CR3T"},
		{`{"user": {{ db.user }}, "pw": {{ netrc[0].password }}}`, "json", "[db, netrc]", `{"user": "app", "pw": "pa\"ss word"}`},
	} {
		c2, err := loadWith(t, "users: [{name: alice}]\nsecrets: {templates: [{from: a.j2, to: a, owner: alice, mode: \"0600\", escape: "+c.escape+", vars: "+c.vars+"}]}\n",
			map[string]string{"/tpl/a.j2": c.tmpl})
		if err != nil {
			t.Fatal(err)
		}
		d, err := ValidateWith(c2, "debian", store)
		if err != nil {
			t.Errorf("%q: %v", c.tmpl, err)
			continue
		}
		if string(d[0].Content) != c.want {
			t.Errorf("%q:\n got %q\nwant %q", c.tmpl, d[0].Content, c.want)
		}
	}
	// A missing var, and an engine error that would quote a secret.
	for tmpl, want := range map[string]string{
		"{% if x %}{% endif %}{{ nope }}": `secret "nope" is not in the secrets file`,
		"{{ token() }}":                   "Jinja2: (the engine's message is withheld",
		"{{ token | nosuchfilter }}":      "Jinja2: unknown filter",
	} {
		vars := "[nope]"
		if strings.Contains(tmpl, "token") {
			vars = "[token]"
		}
		c2, err := loadWith(t, "users: [{name: alice}]\nsecrets: {templates: [{from: a.j2, to: a, owner: alice, mode: \"0600\", vars: "+vars+"}]}\n",
			map[string]string{"/tpl/a.j2": tmpl})
		if err != nil {
			t.Fatal(err)
		}
		_, err = ValidateWith(c2, "debian", store)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%q: want %q, got %v", tmpl, want, err)
		}
	}
}

// A secrets.templates owner the Ch-obolo does not declare (a system account): Validate accepts it
// without a path; Plan takes the path from the probe's H line (the owner's home in the target's
// passwd), claims it for the engine's ownership check, and refuses, at the entry's position, an
// owner the target does not know, a home chaos does not manage, a path declared twice or below a
// path declared absent.
func TestSecretTemplateHomeFromTarget(t *testing.T) {
	const head = "users: [{name: alice}]\nfiles:\n  - {path: /etc/absent, state: absent}\n  - {path: /var/lib/pg/.pgpass, content: x}\nsecrets:\n  templates:\n"
	entry := func(owner, to string) string {
		return "    - {from: a.j2, to: " + to + ", owner: " + owner + ", mode: \"0600\", vars: [tok]}\n"
	}
	for _, tc := range []struct {
		name, templates string
		probe           string   // the paths section's output
		installing      []string // Env.Installing
		want            string   // error substring ("" = plan)
		path            string   // the file the plan writes
		claims          []string
	}{
		{name: "system account", templates: entry("postgres", ".pgpass2"), probe: "H\t2\t/var/lib/pg/.pgpass2\nR\t2\tnone\t1\n",
			path: "/var/lib/pg/.pgpass2", claims: []string{"/var/lib/pg/.pgpass2"}},
		{name: "subdirectory", templates: entry("postgres", "./conf/x"), probe: "H\t2\t/var/lib/pg/conf/x\nR\t2\tnone\t1\n",
			path: "/var/lib/pg/conf/x", claims: []string{"/var/lib/pg/conf/x"}},
		{name: "declared user: the Ch-obolo's home, no late claim", templates: entry("alice", ".netrc"), probe: "R\t2\tnone\t1\n",
			path: "/home/alice/.netrc"},
		{name: "unknown owner", templates: entry("postgres", ".pgpass2"), probe: "H\t2\n",
			want: "m.yml:7:41: error: user postgres is not in the target's user database, or has no home there"},
		{name: "unknown owner, packages installed", templates: entry("postgres", ".pgpass2"), probe: "H\t2\n", installing: []string{"postgresql"},
			want: "(a package this plan installs (postgresql) may create it: apply again once it exists)"},
		{name: "not probed", templates: entry("postgres", ".pgpass2"), probe: "",
			want: "m.yml:7:41: error: the probe did not read the home of postgres"},
		{name: "home under /proc", templates: entry("weird", "x"), probe: "H\t2\t/proc/x\n",
			want: "m.yml:7:24: error: refusing to manage /proc/x"},
		{name: "home not clean", templates: entry("weird", "x"), probe: "H\t2\t//x\n",
			want: `weird's home on the target gives the path "//x"`},
		{name: "declared twice", templates: entry("postgres", ".pgpass"), probe: "H\t2\t/var/lib/pg/.pgpass\n",
			want: "m.yml:7:24: error: /var/lib/pg/.pgpass (in postgres's home on the target) is declared twice (also files[1])"},
		{name: "below absent", templates: entry("etc", "absent/x"), probe: "H\t2\t/etc/absent/x\n",
			want: "m.yml:7:7: error: /etc/absent/x is declared below /etc/absent, which is declared absent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadWith(t, head+tc.templates, map[string]string{"/tpl/a.j2": "t={{ tok }}"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Validate(c, "debian"); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			probe := "R\t0\tnone\t1\nR\t1\tnone\t1\n" + tc.probe
			env := &engine.Env{Core: "debian", Secrets: mapStore{"tok": "s3"}, Installing: tc.installing}
			rp, err := Role{}.Plan(env, c, engine.Facts{secPaths: {Stdout: probe}})
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("want %q, got %v", tc.want, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, cl := range rp.Claims {
				got = append(got, cl.Path)
				if cl.Pos.Line != 7 {
					t.Errorf("claim %s at %s, want the entry's to", cl.Path, cl.Pos)
				}
			}
			if !slices.Equal(got, tc.claims) {
				t.Errorf("claims %v, want %v", got, tc.claims)
			}
			out := enginetest.RenderRole(rp)
			if !strings.Contains(out, tc.path) || strings.Contains(out, "s3") || !slices.Contains(rp.Ledger[DomainCreated], tc.path) {
				t.Errorf("plan does not write %s (or shows the secret):\n%s\nledger %v", tc.path, out, rp.Ledger)
			}
			var owns []string
			for _, cl := range (Role{}).Owns("debian", c) {
				owns = append(owns, cl.Path)
			}
			if slices.Contains(owns, tc.path) == (len(tc.claims) > 0) {
				t.Errorf("Owns %v: a path only the probe locates is claimed by the plan alone", owns)
			}
		})
	}
}

// {% include "NAME" %} in a secrets.templates template: NAME relative to the including template,
// nested, spliced with the including template's variables, without one trailing newline and with
// the tag's whitespace control, as Jinja2 renders it; kept by a recorded Ch-obolo (a generation's)
// and rendered the same from it. Refused at the entry's from, naming the tag's FILE:LINE:COL: a
// name that leaves the templates directory (.., absolute), a name that is not one quoted literal,
// a cycle, a missing file.
func TestSecretTemplatesInclude(t *testing.T) {
	src := "users: [{name: alice}]\nsecrets: {templates: [{from: app/main.j2, to: a, owner: alice, mode: \"0600\", escape: shell, vars: [db]}]}\n"
	tpl := map[string]string{
		"/tpl/app/main.j2":         "[main]\n{% include \"parts/db.j2\" %}\n{%- include 'parts/tail.j2' -%}\n\nend\n",
		"/tpl/app/parts/db.j2":     "user={{ db.user }}\n{% include \"pw.j2\" %}\n",
		"/tpl/app/parts/pw.j2":     "password={{ db.password }}\n",
		"/tpl/app/parts/tail.j2":   "  tail  \n",
		"/tpl/app/parts/unused.j2": "{{ nope }}",
	}
	store := treeStore{"db": map[string]any{"user": "app", "password": `p'w $(x)`}}
	want := "[main]\nuser=app\npassword='p'\\''w $(x)'  tail  end"
	c, err := loadWith(t, src, tpl)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(c.SecretTemplates[0].Includes)); !slices.Equal(got, []string{"app/parts/db.j2", "app/parts/pw.j2", "app/parts/tail.j2"}) {
		t.Fatalf("includes read: %v", got)
	}
	d, err := ValidateWith(c, "debian", store)
	if err != nil || string(d[0].Content) != want {
		t.Fatalf("%v:\n got %q\nwant %q", err, d[0].Content, want)
	}
	rec, err := chobolo.Recorded(c)
	if err != nil {
		t.Fatal(err)
	}
	again, err := chobolo.LoadRecorded("generation 1", rec)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := ValidateWith(again, "debian", store); err != nil || string(d[0].Content) != want {
		t.Fatalf("from the recorded Ch-obolo: %v %q", err, d[0].Content)
	}

	for main, want := range map[string]string{
		`{% include "../outside.j2" %}`:           `m.yml:2:30: error: secrets.templates[0].from: app/main.j2:1:1: include "../outside.j2": want a path relative to its directory, without ..`,
		"x\n  {% include \"/etc/passwd\" %}":      `app/main.j2:2:3: include "/etc/passwd": want a path relative`,
		`{% include "parts/../../x.j2" %}`:        `include "parts/../../x.j2": want a path relative`,
		`{% include name %}`:                      `app/main.j2:1:1: include takes one quoted file name ({% include "part.j2" %}), not "name"`,
		`{% include "a.j2" ignore missing %}`:     `include takes one quoted file name`,
		`{% include "loop.j2" %}`:                 `app/loop.j2:1:1: include "main.j2": app/main.j2 includes itself (app/main.j2 -> app/loop.j2 -> app/main.j2)`,
		`{% include "missing.j2" %}`:              `app/main.j2:1:1: include "missing.j2": cannot read /tpl/app/missing.j2`,
		`{# {% include "../x" %} #}{{ db.user }}`: "",
	} {
		files := maps.Clone(tpl)
		files["/tpl/app/main.j2"] = main
		files["/tpl/app/loop.j2"] = `{% include "main.j2" %}`
		_, err := loadWith(t, src, files)
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v", main, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\nwant %q\n got %v", main, want, err)
		}
	}
}
