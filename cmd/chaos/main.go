// Command chaos declares Linux machines in YAML (Ch-obolos) and makes them so.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"

	"github.com/ch-aos-ch/chaos/internal/cli"
)

// cpuProfileEnv names a file that receives a CPU profile of the run (`go tool pprof`), for
// docs/performance.md's measurements.
const cpuProfileEnv = "CHAOS_CPUPROFILE"

// gcPercent replaces the runtime's default GOGC of 100 unless GOGC is set: a run's live heap is a
// few MB (4 MB planning 1,000 files), which the default goal of twice that collected three or four
// times per plan, each a few ms of a 40 ms run on a busy machine; 400 collects once at most, and
// still bounds the heap to five times what is live (a fleet's too).
const gcPercent = 400

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	if p := os.Getenv(cpuProfileEnv); p != "" {
		f, err := os.Create(p)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "chaos: %s: %v\n", cpuProfileEnv, err)
			os.Exit(1)
		}
		code := cli.Process(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		pprof.StopCPUProfile()
		_ = f.Close()
		os.Exit(code)
	}
	os.Exit(cli.Process(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
