package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/cli"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// result is one in-process run of the CLI.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s\n--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// run calls cli.Main in-process with a non-terminal stdin.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(args, strings.NewReader(stdin), &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// isolate points the CLI's config at an empty directory, so the developer's ~/.config/chaos never
// leaks into a test.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("CHAOS_CONFIG_DIR", dir)
	t.Setenv("CHAOS_LIMANI", filepath.Join(dir, "limani.db")) // the logbook, too
	return dir
}

// writeChobolo writes text to a fresh file and returns its path.
func writeChobolo(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "machine.yml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tinyPkgs are the local packages the integration tests install: no mirror needed.
var tinyPkgs = []testenv.DebPkg{
	{Name: "chaos-tiny-a", Version: "1.0", Files: map[string]string{"/usr/share/chaos-tiny-a/README": "a\n"}},
	{Name: "chaos-tiny-lib", Version: "1.0"},
	{Name: "chaos-tiny-b", Version: "1.0", Depends: []string{"chaos-tiny-lib"},
		Files: map[string]string{"/usr/bin/chaos-tiny-b": "#!/bin/sh\necho tiny-b\n"}},
	{Name: "chaos-tiny-c", Version: "1.0"},
}
