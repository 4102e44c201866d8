package pkgmap

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"go.yaml.in/yaml/v3"
)

// guixMissing are packages.yaml rows with no Guix package (docs/chimera.md says what to use).
var guixMissing = []string{"ufw"}

// The guix column covers every row of the core map and the common workstation and server names,
// and its file stays sorted so that reviews see one place per name.
func TestGuixColumn(t *testing.T) {
	core, err := parse(packagesYAML)
	if err != nil {
		t.Fatal(err)
	}
	for name := range core {
		_, known := Resolve(chobolo.Package{Name: name}, "guix")
		if known == slices.Contains(guixMissing, name) {
			t.Errorf("%s: guix entry known=%v (rows of packages.yaml need a guix entry unless listed in guixMissing)", name, known)
		}
	}
	known := Known("guix")
	if len(known) < 300 {
		t.Errorf("only %d guix names", len(known))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(guixYAML, &doc); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := 0; i < len(doc.Content[0].Content); i += 2 {
		keys = append(keys, doc.Content[0].Content[i].Value)
	}
	if !slices.IsSorted(keys) || len(slices.Compact(slices.Clone(keys))) != len(keys) {
		t.Error("data/guix.yaml is not sorted or has repeats")
	}
	for _, tc := range []struct{ name, want string }{
		{"openssh", "openssh"}, {"dig", "bind:utils"}, {"rust", "rust rust:cargo"}, {"gcc", "gcc-toolchain"},
		{"networkmanager", "network-manager"}, {"linux", ""}, {"g++", "gcc-toolchain"}, {"pip", "python-pip"},
	} {
		got, ok := Resolve(chobolo.Package{Name: tc.name}, "guix")
		if !ok || strings.Join(got, " ") != tc.want {
			t.Errorf("guix %s = %q, %v; want %q", tc.name, got, ok, tc.want)
		}
	}
	if !bytes.HasSuffix(guixYAML, []byte("\n")) {
		t.Error("data/guix.yaml does not end with a newline")
	}
}
