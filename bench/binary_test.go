// Package bench holds the benchmarks of the chaos binary itself (issue 16): its stripped size and the
// start-up of `chaos --help`, each printed with its target.
package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

const (
	targetSizeMiB   = 40
	targetStartupMs = 10
)

var release struct {
	once sync.Once
	path string
	err  error
}

// releaseBinary returns $CHAOS_BIN (make bench passes bin/chaos), else builds chaos the way the
// Makefile's release build does (-trimpath, stripped, no cgo) into a temporary directory.
func releaseBinary(b *testing.B) string {
	b.Helper()
	if p := os.Getenv("CHAOS_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			b.Fatal(err)
		}
		return abs
	}
	release.once.Do(func() {
		dir, err := os.MkdirTemp("", "chaos-bench-bin")
		if err != nil {
			release.err = err
			return
		}
		release.path = filepath.Join(dir, "chaos")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", release.path, "./cmd/chaos")
		cmd.Dir = testenv.RepoRoot(b)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			release.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if release.err != nil {
		b.Fatal(release.err)
	}
	return release.path
}

// strict fails the benchmark on a missed target when CHAOS_BENCH_STRICT=1 (as bench/noop-250.sh).
func strict(b *testing.B, missed bool, format string, args ...any) {
	b.Helper()
	if missed && os.Getenv("CHAOS_BENCH_STRICT") == "1" {
		b.Fatalf(format, args...)
	}
}

// BenchmarkBinarySize reports the stripped release binary's size against the <= 40 MiB target.
func BenchmarkBinarySize(b *testing.B) {
	bin := releaseBinary(b)
	st, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
	}
	mib := float64(st.Size()) / (1 << 20)
	b.ReportMetric(mib, "MiB")
	b.Logf("chaos binary (stripped): %.1f MiB, target <= %d MiB: ratio %.2f of the target", mib, targetSizeMiB, mib/targetSizeMiB)
	strict(b, mib > targetSizeMiB, "binary is %.1f MiB, target <= %d MiB", mib, targetSizeMiB)
}

// BenchmarkStartupHelp runs `chaos --help` b.N times (wall clock of fork+exec+init+exit, as a user
// sees it) and reports the median against the <= 10 ms target.
func BenchmarkStartupHelp(b *testing.B) {
	bin := releaseBinary(b)
	if out, err := exec.Command(bin, "--help").CombinedOutput(); err != nil {
		b.Fatalf("%s --help: %v\n%s", bin, err, out)
	}
	var runs []time.Duration
	for b.Loop() {
		start := time.Now()
		if err := exec.Command(bin, "--help").Run(); err != nil {
			b.Fatal(err)
		}
		runs = append(runs, time.Since(start))
	}
	slices.Sort(runs)
	med := float64(runs[len(runs)/2]) / float64(time.Millisecond)
	b.ReportMetric(med, "ms-median")
	b.Logf("chaos --help start-up: median %.1f ms of %d runs, target <= %d ms: ratio %.2f of the target", med, len(runs), targetStartupMs, med/targetStartupMs)
	strict(b, med > targetStartupMs, "start-up median %.1f ms, target <= %d ms", med, targetStartupMs)
}
