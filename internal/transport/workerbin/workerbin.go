// Package workerbin holds the native worker binaries (cmd/chaos-worker) that chaos sends to SSH
// hosts, one per architecture. They are built into bin/ by `go generate` (make build and make test
// do it); without them chaos still works, with the POSIX sh worker on every host.
package workerbin

//go:generate go run ./gen

import "embed"

//go:embed bin
var files embed.FS

// Arches maps `uname -m` to the architectures built.
var Arches = map[string]string{"x86_64": "amd64", "aarch64": "arm64"}

// Name returns the name of the worker binary for a host whose `uname -m` is machine, which changes
// with its content (chaos-worker-HASH, from the hash file gen writes beside it, so that no binary is
// read or hashed for a host that has it already); ok is false when none was built for it.
func Name(machine string) (name string, ok bool) {
	arch, known := Arches[machine]
	if !known {
		return "", false
	}
	sum, err := files.ReadFile("bin/chaos-worker-linux-" + arch + ".sha256")
	if err != nil || len(sum) < 16 {
		return "", false
	}
	return "chaos-worker-" + string(sum[:16]), true
}

// Binary returns the worker binary for machine (a copy, megabytes: only to send it).
func Binary(machine string) ([]byte, bool) {
	data, err := files.ReadFile("bin/chaos-worker-linux-" + Arches[machine])
	return data, err == nil && len(data) > 0
}
