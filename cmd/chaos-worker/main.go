// Command chaos-worker is the native worker chaos sends to SSH hosts (internal/hostworker). It is
// started by chaos's sh worker over SSH, never by hand.
package main

import (
	"os"

	"github.com/ch-aos-ch/chaos/internal/hostworker"
)

func main() { os.Exit(hostworker.Main(os.Args[1:])) }
