package cli_test

import (
	"debug/buildinfo"
	"encoding/json"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestXVersion: `chaos version` and `chaos --version` print the module version and the commit that
// the binary's own build info records (read back from the file, as `go version -m` does), and say
// so honestly when the build recorded no commit.
func TestXVersion(t *testing.T) {
	bin := testenv.ChaosBinary(t)
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatalf("read build info of %s: %v", bin, err)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("chaos version: %v\n%s", err, out)
	}
	got := strings.TrimSpace(string(out))
	long, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(long)) != got {
		t.Errorf("chaos --version = %q (%v), want the same as chaos version: %q", long, err, got)
	}
	if !strings.HasPrefix(got, "chaos "+bi.Main.Version+" (") {
		t.Errorf("chaos version = %q, want the module version %q first", got, bi.Main.Version)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		if !strings.Contains(got, "commit "+rev) {
			t.Errorf("chaos version = %q, want the commit %s", got, rev)
		}
		if (settings["vcs.modified"] == "true") != strings.Contains(got, "modified") {
			t.Errorf("chaos version = %q, vcs.modified=%s", got, settings["vcs.modified"])
		}
	} else if !strings.Contains(got, "no commit recorded") || strings.Contains(got, "(commit ") {
		t.Errorf("chaos version = %q for a build without vcs info, want it to say no commit is recorded", got)
	}
	// --json says the same, field by field.
	js, err := exec.Command(bin, "version", "--json").Output()
	var v struct {
		Version, Commit string
		Modified        bool
		OS, Arch        string
	}
	if err != nil || json.Unmarshal(js, &v) != nil {
		t.Fatalf("chaos version --json: %v\n%s", err, js)
	}
	if v.Version != bi.Main.Version || v.Commit != settings["vcs.revision"] || v.Modified != (settings["vcs.modified"] == "true") ||
		v.OS != "linux" || v.Arch != runtime.GOARCH {
		t.Errorf("chaos version --json = %s, want version %s, commit %q", js, bi.Main.Version, settings["vcs.revision"])
	}
	t.Logf("%s", got)
}
