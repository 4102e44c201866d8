package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A tool missing from PATH is a skip, and a failure under CHAOS_REQUIRE_ALL=1. The test runs itself
// as a child process (PATH an empty directory) so that the child's verdict can be read.
func TestMissingToolFailsUnderRequireAll(t *testing.T) {
	if os.Getenv("CHAOS_TESTENV_CHILD") == "1" {
		RequireTool(t, "guile-3.0", "guile")
		t.Fatal("RequireTool returned although guile is not in PATH")
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, RequireAllEnv+"=") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	env = append(env, "PATH="+t.TempDir(), "CHAOS_TESTENV_CHILD=1")
	for _, tc := range []struct {
		env  []string
		fail bool
		want string
	}{
		{nil, false, "--- SKIP: TestMissingToolFailsUnderRequireAll"},
		{[]string{RequireAllEnv + "=1"}, true, "--- FAIL: TestMissingToolFailsUnderRequireAll"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingToolFailsUnderRequireAll$", "-test.v", "-test.count=1")
		cmd.Env = append(append([]string(nil), env...), tc.env...)
		out, err := cmd.CombinedOutput()
		if _, exited := err.(*exec.ExitError); (err != nil) != tc.fail || (err != nil && !exited) ||
			!strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "guile is not installed (scripts/deps.sh installs guile-3.0)") {
			t.Errorf("%v: err %v, want failure %v and %q in:\n%s", tc.env, err, tc.fail, tc.want, out)
		}
	}
}
