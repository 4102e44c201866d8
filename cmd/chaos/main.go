// Command chaos declares Linux machines in YAML (Ch-obolos) and makes them so.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/ch-aos-ch/chaos/internal/cli"
)

// cpuProfileEnv names a file that receives a CPU profile of the run (`go tool pprof`), for
// docs/performance.md's measurements.
const cpuProfileEnv = "CHAOS_CPUPROFILE"

func main() {
	if p := os.Getenv(cpuProfileEnv); p != "" {
		f, err := os.Create(p)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "chaos: %s: %v\n", cpuProfileEnv, err)
			os.Exit(1)
		}
		code := cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		pprof.StopCPUProfile()
		_ = f.Close()
		os.Exit(code)
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
