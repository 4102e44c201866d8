// Command gen builds cmd/chaos-worker for every architecture chaos sends it to, into ../bin
// (run by `go generate ./internal/transport/workerbin`). Static, stripped, reproducible.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

func main() {
	for _, arch := range []string{"amd64", "arm64"} {
		out, err := filepath.Abs(filepath.Join("bin", "chaos-worker-linux-"+arch))
		if err != nil {
			fail(err)
		}
		// Built beside the target and renamed over it: builds running side by side (test packages)
		// never embed a half-written binary.
		tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", tmp,
			"github.com/ch-aos-ch/chaos/cmd/chaos-worker")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			_ = os.Remove(tmp)
			fail(fmt.Errorf("build chaos-worker for %s: %w", arch, err))
		}
		data, err := os.ReadFile(tmp)
		if err != nil {
			fail(err)
		}
		sum := sha256.Sum256(data)
		if err := os.WriteFile(tmp+".sha256", []byte(hex.EncodeToString(sum[:])+"\n"), 0o644); err != nil {
			fail(err)
		}
		// Identical sources build identical bytes (-trimpath, no VCS stamp): builds running side
		// by side embed a matching pair whichever rename they see.
		if err := os.Rename(tmp+".sha256", out+".sha256"); err != nil {
			fail(err)
		}
		if err := os.Rename(tmp, out); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "workerbin/gen:", err)
	os.Exit(1)
}
