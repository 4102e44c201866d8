// Package workerbin holds the native worker binaries (cmd/chaos-worker) that chaos sends to SSH
// hosts, one per architecture. They are built into bin/ by `go generate` (make build and make test
// do it); without them chaos still works, with the POSIX sh worker on every host.
package workerbin

//go:generate go run ./gen

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
)

//go:embed bin
var files embed.FS

// Arches maps `uname -m` to the architectures built.
var Arches = map[string]string{"x86_64": "amd64", "aarch64": "arm64"}

// For returns the worker binary for a host whose `uname -m` is machine, and a name for it that
// changes with its content (chaos-worker-HASH); ok is false when none was built for it.
func For(machine string) (bin []byte, name string, ok bool) {
	arch, known := Arches[machine]
	if !known {
		return nil, "", false
	}
	bin, err := files.ReadFile("bin/chaos-worker-linux-" + arch)
	if err != nil || len(bin) == 0 {
		return nil, "", false
	}
	sum := sha256.Sum256(bin)
	return bin, "chaos-worker-" + hex.EncodeToString(sum[:8]), true
}
