package styx

import (
	"os"
	"strings"
	"testing"
)

// The original's registry.yaml (Ch-aOS-Ch/styx) loads unchanged: its entries are Python wheels.
func TestOriginalRegistryLoads(t *testing.T) {
	data, err := os.ReadFile("testdata/original-registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ix, err := ParseIndex("registry.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ix.Names(), " "); got != "ch-aronte chaos-dots chaos-secrets" {
		t.Fatalf("names = %s", got)
	}
	e := ix.Entries["chaos-dots"]
	if e.Kind != KindWheel || e.Repo != "https://github.com/Ch-aOS-Ch/chaos-dots" || len(e.Versions) != 1 ||
		e.Versions[0].Version != "v0.1.2" || !strings.HasPrefix(e.About, "A Ch-aotic dotfile manager") {
		t.Fatalf("chaos-dots = %+v %+v", e, e.Versions)
	}
	if _, v, err := ix.Lookup("chaos-secrets", "0.1.0"); err != nil || v.Version != "v0.1.0" {
		t.Fatalf("Lookup = %v %v", v, err)
	}
}

const aliceKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILUjeq2sTKRfiT1xtEy6kerEhftoOa5Z+uQUDpZb4elN"

func TestIndexExtendedFormat(t *testing.T) {
	src := `styx:
  chaos-dots: {name: chaos-dots, repo: https://example.org/dots, about: old, version: v0.1.2,
    hash: ` + strings.Repeat("a", 64) + `}
  alice/dotfiles:
    kind: soul
    about: dotfiles as a Soul
    license: MIT
    tags: [dotfiles, home]
    key: ` + aliceKey + `
    versions:
      - {version: 1.0.0, url: https://example.org/a-1.0.0.tar.gz, sha256: ` + strings.Repeat("b", 64) + `, sig: S}
      - {version: 1.2.0, url: https://example.org/a-1.2.0.tar.gz, sha256: ` + strings.Repeat("c", 64) + `, sig: S,
         chaos: ">=0.1.0", requires: {base: ^1.0}, yanked: "breaks links"}
      - {version: 1.1.0, url: https://example.org/a-1.1.0.tar.gz, sha256: ` + strings.Repeat("d", 64) + `, sig: S, yanked: false}
  base:
    kind: chobolo
    key: ` + aliceKey + `
    versions: [{version: 1.0.3, url: file:///x.tar.gz, sha256: ` + strings.Repeat("e", 64) + `, sig: S}]
`
	ix, err := ParseIndex("registry.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	e := ix.Entries["alice/dotfiles"]
	var vs []string
	for _, v := range e.Versions {
		vs = append(vs, v.Version+"/"+v.Yanked)
	}
	if strings.Join(vs, " ") != "1.2.0/breaks links 1.1.0/ 1.0.0/" || e.Latest().Version != "1.1.0" {
		t.Fatalf("versions = %v, latest %v", vs, e.Latest())
	}
	if e.Kind != KindSoul || e.License != "MIT" || len(e.Tags) != 2 || ix.Entries["base"].Kind != KindChobolo {
		t.Fatalf("entry = %+v", e)
	}
	if ix.Entries["chaos-dots"].Versions[0].SHA256 != strings.Repeat("a", 64) {
		t.Fatal("the original's hash is the sha256")
	}
}

// Every problem at once, each at its FILE:LINE:COL.
func TestIndexErrorsArePositioned(t *testing.T) {
	src := `styx:
  Bad_Name: {version: 1.0.0}
  ok:
    kind: plugin
    key: ` + aliceKey + `
    homepage: x
    versions:
      - {version: one, url: u, sig: s}
      - {version: 1.0.0, url: u, sig: s, sha256: xyz, requires: {ghost: ^1}, chaos: ">>1"}
  nourl:
    kind: soul
    versions: [{version: 2.0.0}]
`
	_, err := ParseIndex("registry.yaml", []byte(src))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`registry.yaml:2:3: name "Bad_Name"`,
		`registry.yaml:4:11: ok: kind "plugin": want soul or chobolo`,
		`registry.yaml:6:5: ok: unknown key "homepage"`,
		`registry.yaml:8:19: ok: version "one"`,
		`registry.yaml:9:50: ok: 1.0.0: sha256 "xyz"`,
		`registry.yaml:9:9: ok@1.0.0 requires ghost, which the index does not have`,
		`registry.yaml:9:85: ok: 1.0.0: chaos ">>1"`,
		`registry.yaml:12:16: nourl: 2.0.0: url: missing`,
	} {
		if !strings.Contains(err.Error(), "\n"+want) && !strings.HasPrefix(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if !strings.HasPrefix(err.Error(), "registry.yaml:2:3:") {
		t.Errorf("not in the file's order:\n%v", err)
	}
	if _, err := ParseIndex("registry.yaml", []byte("styx: [\n")); err == nil || !strings.HasPrefix(err.Error(), "registry.yaml:") {
		t.Errorf("syntax error = %v", err)
	}
}
