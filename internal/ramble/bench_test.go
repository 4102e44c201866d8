package ramble_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/ramble"
	"github.com/ch-aos-ch/chaos/internal/secrets/secretstest"
)

const benchPages = 200

// benchNotebook is 200 encrypted pages in 10 journals, one of which mentions "needle".
func benchNotebook(b *testing.B) (ramble.Notebook, string) {
	b.Helper()
	n, _, keyFile := notebook(b)
	for i := range benchPages {
		what := fmt.Sprintf("page %d about hay", i)
		if i == benchPages/2 {
			what = "the needle"
		}
		if err := n.Create(ref(b, fmt.Sprintf("j%d.p%d", i%10, i)), page(fmt.Sprintf("P%d", i), what, "bench"), true, nil); err != nil {
			b.Fatal(err)
		}
	}
	return n, keyFile
}

func benchFind(b *testing.B, workers int) {
	n, _ := benchNotebook(b)
	b.ResetTimer()
	for b.Loop() {
		ms, err := n.Find(context.Background(), ramble.FindOptions{Term: "needle", Workers: workers})
		if err != nil || len(ms) != 1 {
			b.Fatalf("%d matches, %v", len(ms), err)
		}
	}
}

// BenchmarkFind200: chaos ramble find over 200 encrypted pages, decrypted in memory in parallel.
func BenchmarkFind200(b *testing.B) { benchFind(b, 0) }

// BenchmarkFind200Serial: the same, one page at a time.
func BenchmarkFind200Serial(b *testing.B) { benchFind(b, 1) }

// BenchmarkFind200SopsCLI: the original's way, one `sops decrypt` process per page, serially.
func BenchmarkFind200SopsCLI(b *testing.B) {
	n, keyFile := benchNotebook(b)
	bin := secretstest.Sops(b)
	refs, err := n.Pages("")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		found := 0
		for _, r := range refs {
			cmd := exec.Command(bin, "decrypt", filepath.Join(n.Dir, r.Journal, r.Page+ramble.Ext))
			cmd.Env = append(os.Environ(), "SOPS_AGE_KEY_FILE="+keyFile)
			out, err := cmd.Output()
			if err != nil {
				b.Fatal(err)
			}
			if strings.Contains(strings.ToLower(string(out)), "needle") {
				found++
			}
		}
		if found != 1 {
			b.Fatalf("%d matches", found)
		}
	}
}
