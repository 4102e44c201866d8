package gitsync

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

// TestLoadFromCheckout: the library loads a Ch-obolo from its read-only checkout, imports from a
// sibling directory included, and Checkout.ReadFile keeps every read inside the repository.
func TestLoadFromCheckout(t *testing.T) {
	base := t.TempDir()
	newUpstream(t, filepath.Join(base, "dots.git"), map[string]string{
		"hosts/web.yml":   "imports: [../common/base.yml]\nhostname: web\n",
		"common/base.yml": "users: [{name: ana}]\n",
		"hosts/leak.yml":  "imports: [/etc/hostname]\n",
		"hosts/climb.yml": "imports: [../../../../../../../../etc/hostname]\n",
	})
	url := gitDaemon(t, base) + "dots.git"
	cache := newCache(t)
	co := mustSync(t, cache, "web", Source{URL: url, Ref: "main", Path: "hosts/web.yml"})

	c, err := chaos.Load(co.Chobolo, chaos.LoadOptions{ReadFile: co.ReadFile})
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "web" || len(c.Users) != 1 || c.Users[0].Name != "ana" {
		t.Fatalf("loaded %+v", c)
	}
	for _, name := range []string{"leak.yml", "climb.yml"} {
		_, err := chaos.Load(filepath.Join(co.Dir, "hosts", name), chaos.LoadOptions{ReadFile: co.ReadFile})
		if err == nil || !strings.Contains(err.Error(), "outside the repository checkout") ||
			!strings.Contains(err.Error(), name+":1:") {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	if _, err := co.ReadFile("../../../etc/hostname"); !errors.Is(err, ErrOutsideCheckout) {
		t.Fatalf("relative climb: %v", err)
	}
	if b, err := co.ReadFile("common/base.yml"); err != nil || string(b) != "users: [{name: ana}]\n" {
		t.Fatalf("relative read: %q, %v", b, err)
	}
}
