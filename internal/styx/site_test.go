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
