package yumrepos

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/filedump"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/fedora"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/golden"
	"go.yaml.in/yaml/v3"
)

// chob builds a Ch-obolo whose repos.dnf is the YAML list src, as the loader keeps it (Repos.Extra).
func chob(t *testing.T, src string) *chobolo.Chobolo {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	c := &chobolo.Chobolo{File: "m.yml", Repos: chobolo.Repos{Extra: map[string]*yaml.Node{"dnf": doc.Content[0]}}}
	c.SetKey("repos", chobolo.Pos{File: "m.yml", Line: 1, Col: 1})
	return c
}

const sample = `
- name: internal
  description: Internal packages
  baseurl: [https://rpm.example.org/f$releasever/, https://mirror.example.org/f$releasever/]
  gpgkey: https://rpm.example.org/RPM-GPG-KEY
  priority: 10
  exclude: [kernel*]
- name: local
  baseurl: file:///srv/chaos-rpm-repo
  gpgcheck: false
  enabled: false
- copr: atim/starship
- copr: "@caddy/caddy"
- rpmfusion: free
- name: meta
  metalink: https://mirrors.fedoraproject.org/metalink?repo=fedora-$releasever&arch=$basearch
`

func TestGoldenPlan(t *testing.T) {
	c := chob(t, sample)
	want, notes, err := Desired(c)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]filedump.File{
		FilePath("local"):            {Content: "stale\n", Mode: 0o644},
		FilePath("old"):              {Content: "x", Mode: 0o644},
		FilePath("handmade"):         {Content: "y", Mode: 0o644},
		FilePath("copr-caddy-caddy"): {Mode: 0o600},
	}
	for _, w := range want {
		if w.Path == FilePath("copr-caddy-caddy") {
			files[w.Path] = filedump.File{Content: w.Content, Mode: 0o600}
		}
		if w.Path == FilePath("meta") {
			files[w.Path] = filedump.File{Content: w.Content, Mode: 0o644}
		}
	}
	rp := BuildPlan(want, files, []string{FilePath("old"), FilePath("local"), "/etc/passwd"}, fedora.Dnf4)
	rp.Notes = append(notes, rp.Notes...)
	var b strings.Builder
	for _, w := range want {
		b.WriteString("== " + w.Path + "\n" + w.Content)
	}
	b.WriteString("== plan\n")
	b.WriteString(enginetest.RenderRole(rp))
	// dnf5 (Fedora 41+): the same plan, makecache without dnf 4's --color.
	b.WriteString("== plan (dnf5)\n")
	b.WriteString(enginetest.RenderRole(BuildPlan(want, files, []string{FilePath("old"), FilePath("local"), "/etc/passwd"}, fedora.Tool{Cmd: "dnf", Major: 5})))
	golden.Check(t, "plan", b.String())
}

func TestInvalid(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"- name: x\n  baseurl: https://a/\n  metalink: https://b/\n", "exactly one of baseurl, metalink and mirrorlist"},
		{"- name: x\n", "give exactly one of"},
		{"- name: 'bad id'\n  baseurl: https://a/\n", "invalid repository id"},
		{"- name: x\n  baseurl: \"https://a/\\ngpgcheck=0\"\n", "line break"},
		{"- name: x\n  baseurl: javascript:alert(1)\n", "not an http(s)://"},
		{"- name: x\n  baseurl: https://a/\n  gpgkey: \"https://k\\n[evil]\"\n", "gpgkey"},
		{"- name: x\n  description: \"a\\nb=c\"\n  baseurl: https://a/\n", "line break"},
		{"- copr: notaproject\n", "invalid COPR project"},
		{"- copr: a/b\n  name: x\n", "takes no name"},
		{"- rpmfusion: tainted\n", "want free or nonfree"},
		{"- name: x\n  baseurl: https://a/\n  priority: 0\n", "priority 0"},
		{"- name: x\n  baseurl: https://a/\n  bogus: 1\n", "unknown key \"bogus\""},
		{"- name: x\n  baseurl: https://a/\n- name: x\n  baseurl: https://b/\n", "declared twice"},
		{"- name: x\n  baseurl: https://a/\n  exclude: [\"a b\"]\n", "invalid exclude"},
	} {
		_, _, err := Desired(chob(t, tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.src, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "m.yml:") && !strings.Contains(err.Error(), ":") {
			t.Errorf("%q: no position in %v", tc.src, err)
		}
	}
}

func TestNoChange(t *testing.T) {
	c := chob(t, "- name: local\n  baseurl: file:///srv/x\n  gpgcheck: false\n")
	want, _, err := Desired(c)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]filedump.File{want[0].Path: {Content: want[0].Content, Mode: 0o644}}
	if rp := BuildPlan(want, files, []string{want[0].Path}, fedora.Dnf4); len(rp.Steps) != 0 {
		t.Fatalf("steps: %s", enginetest.RenderRole(rp))
	}
}
