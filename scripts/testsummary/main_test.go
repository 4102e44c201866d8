package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The inputs are real `go test -json` runs (stdout and stderr together, as scripts/test.sh pipes
// them), recorded with the commands in testdata/README.
func TestSummary(t *testing.T) {
	data, err := os.ReadFile("../skips.allow")
	if err != nil {
		t.Fatal(err)
	}
	allow, err := parseAllow(string(data))
	if err != nil {
		t.Fatalf("scripts/skips.allow: %v", err)
	}
	const guix = "github.com/ch-aos-ch/chaos/internal/chimera/guix"
	for _, tc := range []struct {
		file string
		code int
		want []string // lines of the output, each a substring
		not  []string
	}{
		// Every tool there: guix's tests run, the bench is the one allowed skip.
		{"all-tools.json", 0, []string{
			"ok   " + guix, "skipped   0",
			"ok   github.com/ch-aos-ch/chaos/bench/fleet                       run    0  failed   0  skipped   1",
			"total: ", "tests run, 0 failed, 1 skipped in 2 packages (1 without tests)",
			"allowed skips (1):\n  github.com/ch-aos-ch/chaos/bench/fleet TestFleetVsAnsible (allowed: chaos vs Ansible",
		}, []string{"UNEXPECTED"}},
		// guile hidden from PATH: go test passes, but three guix tests skipped: exit 1, each named.
		{"guile-hidden.json", 1, []string{
			"--- SKIP: TestQuoteGuileRoundTrip",
			"skipped   3",
			"UNEXPECTED SKIPS (a missing tool? see docs/testing.md; expected ones go in the allow-list) (3):",
			guix + " TestQuoteGuileRoundTrip: escape_test.go:", "testenv: guile is not installed (scripts/deps.sh installs guile-3.0)",
			guix + " TestGolden: ", guix + " TestRandomChobolosGuile: ",
		}, []string{"failed packages"}},
		// The same under CHAOS_REQUIRE_ALL=1: the skips are failures.
		{"guile-hidden-require-all.json", 1, []string{
			"--- FAIL: TestQuoteGuileRoundTrip", "CHAOS_REQUIRE_ALL=1: a missing tool is a failure, not a skip",
			"FAIL " + guix, "failed   3  skipped   0",
			"failed packages (1):\n  " + guix,
			"failed tests (3):",
		}, []string{"UNEXPECTED"}},
		// A package that does not build and a failing subtest (a throwaway module).
		{"build-and-test-fail.json", 1, []string{
			"broken/b.go:3:23: cannot use \"x\"",
			"FAIL\texample.com/m/broken [build failed]",
			"    ok_test.go:9: wrong answer\n--- FAIL: TestSub/b",
			"FAIL example.com/m/ok                                            run    4  failed   2  skipped   0",
			"failed builds (1):\n  example.com/m/broken [example.com/m/broken.test]",
			"failed packages (2):\n  example.com/m/broken\n  example.com/m/ok",
			"failed tests (2):\n  example.com/m/ok TestSub/b\n  example.com/m/ok TestSub\n",
		}, []string{"ok_test.go:8: fine"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.Open("testdata/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var out strings.Builder
			code := run(f, &out, allow)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			// Column padding aside: runs of spaces count as one.
			got := spaces.ReplaceAllString(out.String(), " ")
			for _, w := range tc.want {
				if !strings.Contains(got, spaces.ReplaceAllString(w, " ")) {
					t.Errorf("output lacks %q", w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(got, w) {
					t.Errorf("output has %q", w)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", out.String())
			}
		})
	}
	var out strings.Builder
	if code := run(strings.NewReader("go: no such package\n"), &out, allow); code != 1 || !strings.Contains(out.String(), "no go test -json events") {
		t.Errorf("no events: exit %d\n%s", code, out.String())
	}
}

var spaces = regexp.MustCompile(` +`)

func TestParseAllow(t *testing.T) {
	if _, err := parseAllow("example.com/p TestX\n"); err == nil || !strings.Contains(err.Error(), "line 1: example.com/p TestX: an allowed skip needs a reason") {
		t.Errorf("no reason: %v", err)
	}
	if _, err := parseAllow("# c\n\nexample.com/p  # why\n"); err == nil || !strings.Contains(err.Error(), "line 3: want") {
		t.Errorf("no test name: %v", err)
	}
	a, err := parseAllow("example.com/p TestX  # slow\n")
	if err != nil {
		t.Fatal(err)
	}
	if why, ok := allowedSkip(a, "example.com/p", "TestX/sub/deeper"); !ok || why != "slow" {
		t.Errorf("subtest of an allowed test: %q %v", why, ok)
	}
	if _, ok := allowedSkip(a, "example.com/p", "TestXY"); ok {
		t.Error("TestXY allowed by TestX")
	}
}
