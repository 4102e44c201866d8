package styx

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bigIndex is an index of n synthetic entries (unsigned: search and the site never install).
func bigIndex(t testing.TB, n int) *Index {
	t.Helper()
	var b strings.Builder
	b.WriteString("styx:\n")
	words := []string{"dotfiles", "nginx", "postgres", "desktop", "secrets", "backup", "docker", "kiosk", "ssh", "wireguard"}
	for i := range n {
		w := words[i%len(words)]
		fmt.Fprintf(&b, "  pub%d/%s-%d:\n    kind: %s\n    about: manages %s the chaotic way, entry %d\n    tags: [%s, t%d]\n",
			i%37, w, i, []string{"soul", "chobolo"}[i%2], w, i, w, i%11)
		fmt.Fprintf(&b, "    readme: |\n      # %s %d\n\n      Use it *well*: `chaos apply`.\n\n      - one\n      - two\n", w, i)
		b.WriteString("    versions:\n")
		for v := range 3 {
			fmt.Fprintf(&b, "      - {version: 1.%d.0, url: https://example.org/%d-%d.tar.gz, sha256: %064x}\n", v, i, v, i*3+v)
		}
	}
	ix, err := ParseIndex("registry.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestSearch(t *testing.T) {
	data, _ := os.ReadFile("testdata/original-registry.yaml")
	ix, err := ParseIndex("registry.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	names := func(es []*Entry) string {
		var out []string
		for _, e := range es {
			out = append(out, e.Name)
		}
		return strings.Join(out, " ")
	}
	for text, want := range map[string]string{
		"dots":    "chaos-dots",
		"secrets": "chaos-secrets",
		"arch":    "ch-aronte chaos-secrets", // "arch linux" in about, then a-r-c-h scattered in "a ch-aotic secrets"
		"dotfle":  "chaos-dots",              // fuzzy: the letters in order
		"":        "ch-aronte chaos-dots chaos-secrets",
		"zzz":     "",
	} {
		if got := names(ix.Search(text, "")); got != want {
			t.Errorf("search %q = %q, want %q", text, got, want)
		}
	}
	big := bigIndex(t, 100)
	got := big.Search("wireguard", KindChobolo)
	if len(got) == 0 || !strings.Contains(got[0].Name, "wireguard") || got[0].Kind != KindChobolo {
		t.Fatalf("search wireguard chobolo: %v", names(got))
	}
	for _, e := range got {
		if e.Kind != KindChobolo {
			t.Fatalf("kind filter let %s through", e.Name)
		}
	}
}

func TestSite(t *testing.T) {
	ix := bigIndex(t, 20)
	ix.Entries["pub0/dotfiles-0"].Readme = "# hi\n\n<script>alert(1)</script>\n\n**bold**\n"
	dir := t.TempDir()
	if err := BuildSite(ix, "file:///srv/index", dir); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "e", "pub0.dotfiles-0.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<h1>pub0/dotfiles-0</h1>", "<strong>bold</strong>", "chaos styx invoke pub0/dotfiles-0@1.2.0", "1.0.0"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("entry page lacks %q", want)
		}
	}
	if strings.Contains(string(page), "<script>alert") {
		t.Error("raw HTML from a README reached the page")
	}
	bundle, _ := os.ReadFile(filepath.Join(dir, "e", "pub1.nginx-1.html"))
	if !strings.Contains(string(bundle), "imports: [{styx: pub1/nginx-1@1.2.0}]") {
		t.Error("a bundle's page lacks its import line")
	}
	var idx []SiteEntry
	data, _ := os.ReadFile(filepath.Join(dir, "search.json"))
	if err := json.Unmarshal(data, &idx); err != nil || len(idx) != 20 || idx[0].Page == "" {
		t.Fatalf("search.json: %v %d", err, len(idx))
	}
	home, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	if strings.Count(string(home), `href="e/`) != 20 || !strings.Contains(string(home), "fetch('search.json')") {
		t.Fatal("index.html does not list every entry or lacks the search")
	}
}

// graphIndex is n entries of three versions each that require one another: 1.2.0 of e-I requires
// e-(I+1) ~1.1 and e-(I+2) <1.2, 1.1.0 and 1.0.0 require e-(I+1) >=1.0. So the newest version of
// half the entries does not fit, and names sort in another order than the chain (e-10 before
// e-2): the resolver meets ranges on entries it has already chosen and must go back.
func graphIndex(t testing.TB, n int) *Index {
	t.Helper()
	var b strings.Builder
	b.WriteString("styx:\n")
	for i := range n {
		fmt.Fprintf(&b, "  pub/e-%d:\n    kind: soul\n    versions:\n", i)
		for v := range 3 {
			fmt.Fprintf(&b, "      - version: 1.%d.0\n        url: https://example.org/%d-%d.tar.gz\n        sha256: %064x\n", v, i, v, i*3+v)
			var reqs []string
			if i+1 < n {
				reqs = append(reqs, fmt.Sprintf("pub/e-%d: %q", i+1, map[bool]string{true: "~1.1", false: ">=1.0"}[v == 2]))
			}
			if i+2 < n && v == 2 {
				reqs = append(reqs, fmt.Sprintf("pub/e-%d: \"<1.2\"", i+2))
			}
			if len(reqs) > 0 {
				fmt.Fprintf(&b, "        requires: {%s}\n", strings.Join(reqs, ", "))
			}
		}
	}
	ix, err := ParseIndex("registry.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

// Resolving every entry of the 100-entry graph (BenchmarkResolve100Requires) chooses one version
// of each that satisfies every range on it, and the newest such for the first of the chain.
func TestResolveGraph(t *testing.T) {
	ix := graphIndex(t, 100)
	var reqs []Request
	for _, n := range ix.Names() {
		reqs = append(reqs, Request{Name: n})
	}
	picks, err := Resolve(ix, reqs, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	chosen := map[string]*Version{}
	for _, p := range picks {
		chosen[p.Entry.Name] = p.Version
	}
	if len(chosen) != 100 {
		t.Fatalf("%d chosen", len(chosen))
	}
	for name, v := range chosen {
		for dep, rng := range v.requires {
			if !rng.Check(chosen[dep].sem) {
				t.Errorf("%s@%s requires %s %s, chosen %s", name, v.Version, dep, v.Requires[dep], chosen[dep].Version)
			}
		}
	}
	if v := chosen["pub/e-0"].Version; v != "1.2.0" {
		t.Errorf("pub/e-0 at %s, want the newest, 1.2.0", v)
	}
	// An unsatisfiable request is explained, not searched for ever.
	_, err = Resolve(ix, append(reqs, Request{Name: "pub/e-0", Range: "1.2.0"}, Request{Name: "pub/e-1", Range: "1.2.0"}), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "pub/e-1: no version satisfies * (from you) and 1.2.0 (from you) and ~1.1 (from pub/e-0@1.2.0)") {
		t.Fatalf("conflict: %v", err)
	}
}
