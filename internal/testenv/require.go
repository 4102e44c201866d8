package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// RequireAllEnv, set to 1 (scripts/test.sh does, so `make test` and CI do), turns every skip for
// something missing on this machine (a tool, root) into a failure: a suite that passed while a
// group of tests did not run proves nothing about them.
const RequireAllEnv = "CHAOS_REQUIRE_ALL"

// Missing stops the test because something it needs is not on this machine: a skip, or a failure
// under CHAOS_REQUIRE_ALL=1. Every such skip in the repository goes through here.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireAllEnv) == "1" {
		t.Fatalf("%s (%s=1: a missing tool is a failure, not a skip)", msg, RequireAllEnv)
	}
	t.Skip(msg)
}

// RequireTools looks each tool up in PATH and calls Missing for the first one not found; pkg is the
// Debian package that provides them (scripts/deps.sh installs it). It returns the tools' paths.
func RequireTools(t testing.TB, pkg string, tools ...string) []string {
	t.Helper()
	paths := make([]string, len(tools))
	for i, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			Missing(t, "testenv: %s is not installed (scripts/deps.sh installs %s)", tool, pkg)
		}
		paths[i] = p
	}
	return paths
}

// RequireTool is RequireTools for one tool; it returns its path.
func RequireTool(t testing.TB, pkg, tool string) string {
	t.Helper()
	return RequireTools(t, pkg, tool)[0]
}
