package souls_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// installSoul copies the Soul directory src into a fresh $CHAOS_SOUL_PATH (set for the test) and
// returns the copy; pkg, when set, is the Go package built into it as exe (the go build cache
// keeps that cheap: it rebuilds only when the source changed).
func installSoul(t *testing.T, src, pkg, exe string) string {
	t.Helper()
	path := t.TempDir()
	t.Setenv("CHAOS_SOUL_PATH", path)
	dst := filepath.Join(path, filepath.Base(src))
	if out, err := exec.Command("cp", "-r", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	if pkg != "" {
		goBuild(t, testenv.RepoRoot(t), filepath.Join(dst, exe), pkg)
	}
	return dst
}

func goBuild(t *testing.T, dir, out, pkg string) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	cmd := exec.Command(goTool, "build", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// isolate points chaos's config and logbook at a fresh directory.
func isolate(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("CHAOS_CONFIG_DIR", dir)
	t.Setenv("CHAOS_LIMANI", filepath.Join(dir, "limani.db"))
}

// chaosRun runs the real chaos binary.
func chaosRun(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(testenv.ChaosBinary(t), args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// gitServer serves a bare repository dots.git holding files with `git daemon` on 127.0.0.1
// (reachable from a chroot, which shares this machine's network) and returns its base URL,
// git://127.0.0.1:PORT/, and the work tree, to push more commits from.
func gitServer(t *testing.T, files map[string]string) (string, string) {
	t.Helper()
	return testenv.GitServer(t, "dots", files)
}
