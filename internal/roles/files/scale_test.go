package files

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/shell"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// BenchmarkProbe1000 runs the real probe fragment over 1,000 existing files, each also in the
// ledger (as after the apply that created them; a temporary ledger stands in for the host's): its
// cost must stay a handful of processes, not a few per path.
func BenchmarkProbe1000(b *testing.B) {
	for _, n := range []int{10, 1000} {
		dir := b.TempDir()
		paths, want := make([]string, n), make([]string, n)
		for i := range n {
			paths[i] = filepath.Join(dir, fmt.Sprintf("f%04d", i))
			if err := os.WriteFile(paths[i], []byte("x\n"), 0o644); err != nil {
				b.Fatal(err)
			}
			want[i] = fmt.Sprintf("%x", sha256.Sum256([]byte("x\n"))) // unchanged: no content comes back
		}
		var ledger strings.Builder
		for _, p := range paths {
			ledger.WriteString(DomainCreated + "\t" + p + "\n")
		}
		ledgerFile := filepath.Join(dir, "ledger.tsv")
		if err := os.WriteFile(ledgerFile, []byte(ledger.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		script := strings.ReplaceAll(probeScript(paths, want, nil), shell.Quote(engine.LedgerPath), shell.Quote(ledgerFile))
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command("/bin/sh", "-s")
				cmd.Stdin = strings.NewReader(script)
				out, err := cmd.CombinedOutput()
				if err != nil || len(out) == 0 {
					b.Fatalf("%v: %.300s", err, out)
				}
			}
		})
	}
}

// BenchmarkNativeProbe1000 is BenchmarkProbe1000's in-process answer (native.go) on the local
// machine, every file read (no verified checksums: the machine's own record, read as on any local
// target, names none of the temporary paths).
func BenchmarkNativeProbe1000(b *testing.B) {
	for _, n := range []int{10, 1000} {
		dir := b.TempDir()
		paths, want := make([]string, n), make([]string, n)
		for i := range n {
			paths[i] = filepath.Join(dir, fmt.Sprintf("f%04d", i))
			if err := os.WriteFile(paths[i], []byte("x\n"), 0o644); err != nil {
				b.Fatal(err)
			}
			want[i] = fmt.Sprintf("%x", sha256.Sum256([]byte("x\n")))
		}
		h := transport.NewLocal()
		tree, ok := h.Tree()
		if !ok {
			b.Fatal("no tree")
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				if _, err := nativeAnswer(context.Background(), h, tree, paths, want, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
