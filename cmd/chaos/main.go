// Command chaos declares Linux machines in YAML (Ch-obolos) and makes them so.
package main

import (
	"os"

	"github.com/ch-aos-ch/chaos/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
