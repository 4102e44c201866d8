package release

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

const cliPkg = "github.com/ch-aos-ch/chaos/internal/cli"

// goTool is the go command: the one on PATH, else the toolchain's usual place.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

func goarch() string { return runtime.GOARCH }

// BuildEnv is the environment of a release build for arch: static (no cgo), a fixed baseline
// instruction set, and no GOFLAGS from the caller's environment (each would change the bytes).
func BuildEnv(arch string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOFLAGS", "GOOS", "GOARCH", "CGO_ENABLED", "GOAMD64", "GOARM64", "GOEXPERIMENT":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOAMD64=v1", "GOARM64=v8.0", "GOFLAGS=-mod=readonly")
}

// LDFlags are the linker flags of a release build: stripped, and stamped with the version and the
// commit (internal/cli reads them for `chaos version`).
func LDFlags(version string, s Stamp) string {
	modified := ""
	if s.Modified {
		modified = "true"
	}
	return strings.Join([]string{"-s", "-w",
		"-X", cliPkg + ".Version=" + version,
		"-X", cliPkg + ".Commit=" + s.Commit,
		"-X", cliPkg + ".CommitTime=" + s.Time.UTC().Format(time.RFC3339),
		"-X", cliPkg + ".Modified=" + modified,
	}, " ")
}

// Build builds ./cmd/chaos for linux/arch into out: -trimpath (no build directory in the binary),
// -buildvcs=false (the commit comes from LDFlags, not from the toolchain's probe of the checkout).
// The native workers must have been generated (generateWorkers).
func Build(ctx context.Context, repo, out, arch, version string, s Stamp) error {
	cmd := exec.CommandContext(ctx, goTool(), "build", "-trimpath", "-buildvcs=false", "-ldflags", LDFlags(version, s),
		"-o", out, "./cmd/chaos")
	cmd.Dir = repo
	cmd.Env = BuildEnv(arch)
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("release: go build for %s: %w\n%s", arch, err, o)
	}
	return nil
}

// generateWorkers builds the native SSH workers chaos embeds (`make workers`).
func generateWorkers(ctx context.Context, repo string) error {
	cmd := exec.CommandContext(ctx, goTool(), "generate", "./internal/transport/workerbin")
	cmd.Dir = repo
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("release: go generate ./internal/transport/workerbin: %w\n%s", err, o)
	}
	return nil
}

// docs are the files generated from the commands, written under a staging directory: the
// completion scripts and the gzipped man pages.
type docs struct {
	bash, zsh, fish string
	man             []string // paths of chaos.1.gz, chaos-apply.1.gz, ...
}

// generateDocs runs bin (a chaos for this machine) for the completion scripts and the man pages
// (dated epoch), into dir.
func generateDocs(ctx context.Context, bin string, epoch time.Time, dir string) (*docs, error) {
	d := &docs{}
	comp := filepath.Join(dir, "completions")
	if err := os.MkdirAll(comp, 0o755); err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	for _, sh := range []struct {
		name, file string
		dst        *string
	}{{"bash", "chaos.bash", &d.bash}, {"zsh", "_chaos", &d.zsh}, {"fish", "chaos.fish", &d.fish}} {
		out, err := runChaos(ctx, bin, epoch, "completion", sh.name)
		if err != nil {
			return nil, err
		}
		*sh.dst = filepath.Join(comp, sh.file)
		if err := os.WriteFile(*sh.dst, out, 0o644); err != nil {
			return nil, fmt.Errorf("release: %w", err)
		}
	}
	raw, man := filepath.Join(dir, "man-raw"), filepath.Join(dir, "man")
	if _, err := runChaos(ctx, bin, epoch, "man", "-o", raw); err != nil {
		return nil, err
	}
	pages, err := os.ReadDir(raw)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	if err := os.MkdirAll(man, 0o755); err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	for _, p := range pages {
		data, err := os.ReadFile(filepath.Join(raw, p.Name()))
		if err != nil {
			return nil, fmt.Errorf("release: %w", err)
		}
		gz, err := gzipBytes(data)
		if err != nil {
			return nil, err
		}
		dst := filepath.Join(man, p.Name()+".gz")
		if err := os.WriteFile(dst, gz, 0o644); err != nil {
			return nil, fmt.Errorf("release: %w", err)
		}
		d.man = append(d.man, dst)
	}
	if len(d.man) == 0 {
		return nil, fmt.Errorf("release: chaos man wrote no page")
	}
	return d, nil
}

// runChaos runs bin with a clean configuration (no config.yml, Souls or colors of the releaser's).
func runChaos(ctx context.Context, bin string, epoch time.Time, args ...string) ([]byte, error) {
	home, err := os.MkdirTemp("", "chaos-release-home-")
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	defer os.RemoveAll(home)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin", "LC_ALL=C", "NO_COLOR=1",
		"SOURCE_DATE_EPOCH=" + strconv.FormatInt(epoch.Unix(), 10)}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("release: chaos %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// gzipBytes compresses data with no name and no time in the header (reproducible).
func gzipBytes(data []byte) ([]byte, error) {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
