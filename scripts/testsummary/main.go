// Command testsummary reads `go test -json` on stdin, prints what plain `go test` would (package
// results, the output of failed tests) plus the reasons of skipped tests, then a summary: tests run,
// failed and skipped per package. It exits 1 when a package or test failed, a build failed, or a test
// skipped without an entry in the allow-list (-allow FILE); scripts/test.sh runs it, so CI fails on
// a group of tests that quietly did not run.
//
// Allow-list lines are `IMPORT/PATH TestName  # why`; the reason is required. A subtest is allowed
// when its test is. Lines of the input that are not JSON (go vet or the linker on stderr) are
// printed as they are.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

func main() {
	allowFile := flag.String("allow", "", "allow-list of expected skips (IMPORT/PATH TestName  # why)")
	flag.Parse()
	var allow map[string]string
	if *allowFile != "" {
		data, err := os.ReadFile(*allowFile)
		if err == nil {
			allow, err = parseAllow(string(data))
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "testsummary: %s: %v\n", *allowFile, err)
			os.Exit(2)
		}
	}
	os.Exit(run(os.Stdin, os.Stdout, allow))
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	Elapsed    float64
	ImportPath string // build-output, build-fail
}

// parseAllow reads the allow-list: "PACKAGE TEST  # reason" per line, # comment lines, blank lines.
func parseAllow(text string) (map[string]string, error) {
	allow := map[string]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entry, why, ok := strings.Cut(line, "#")
		f := strings.Fields(entry)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want `IMPORT/PATH TestName  # why`, got %q", i+1, line)
		}
		if !ok || strings.TrimSpace(why) == "" {
			return nil, fmt.Errorf("line %d: %s %s: an allowed skip needs a reason (# why)", i+1, f[0], f[1])
		}
		allow[f[0]+" "+f[1]] = strings.TrimSpace(why)
	}
	return allow, nil
}

type pkgStats struct {
	result                string // pass, fail, skip (no test files), or "" (no result: build failed, killed)
	elapsed               float64
	passed, failed, skips int
}

type testKey struct{ pkg, test string }

func run(in io.Reader, out io.Writer, allow map[string]string) int {
	pkgs := map[string]*pkgStats{}
	stats := func(p string) *pkgStats {
		if pkgs[p] == nil {
			pkgs[p] = &pkgStats{}
		}
		return pkgs[p]
	}
	buf := map[testKey]*strings.Builder{}
	var failedTests, unexpected, allowed, buildFailed []string
	events := 0
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil || ev.Action == "" {
			fmt.Fprintf(out, "%s\n", line)
			continue
		}
		events++
		switch ev.Action {
		case "build-output":
			fmt.Fprint(out, ev.Output)
			continue
		case "build-fail":
			buildFailed = append(buildFailed, ev.ImportPath)
			continue
		}
		if ev.Test == "" {
			st := stats(ev.Package)
			switch ev.Action {
			case "output":
				if ev.Output != "PASS\n" {
					fmt.Fprint(out, ev.Output)
				}
			case "pass", "fail", "skip":
				st.result, st.elapsed = ev.Action, ev.Elapsed
				// A test still running when its binary ended (a panic, the -timeout): show its output.
				for k, b := range buf {
					if k.pkg == ev.Package {
						fmt.Fprintf(out, "(output of %s %s, which did not finish)\n%s", k.pkg, k.test, b.String())
						delete(buf, k)
					}
				}
			}
			continue
		}
		k := testKey{ev.Package, ev.Test}
		switch ev.Action {
		case "output":
			if buf[k] == nil {
				buf[k] = &strings.Builder{}
			}
			buf[k].WriteString(ev.Output)
		case "pass":
			stats(ev.Package).passed++
			delete(buf, k)
		case "fail":
			stats(ev.Package).failed++
			failedTests = append(failedTests, ev.Package+" "+ev.Test)
			fmt.Fprint(out, text(buf[k]))
			delete(buf, k)
		case "skip":
			stats(ev.Package).skips++
			b := text(buf[k])
			fmt.Fprint(out, b)
			delete(buf, k)
			if why, ok := allowedSkip(allow, ev.Package, ev.Test); ok {
				allowed = append(allowed, fmt.Sprintf("%s %s (allowed: %s)", ev.Package, ev.Test, why))
			} else {
				unexpected = append(unexpected, fmt.Sprintf("%s %s: %s", ev.Package, ev.Test, skipReason(b)))
			}
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(out, "testsummary: reading the go test output: %v\n", err)
		return 1
	}

	names := make([]string, 0, len(pkgs))
	for p := range pkgs {
		names = append(names, p)
	}
	sort.Strings(names)
	var failedPkgs []string
	noTests, run, skipped, failed := 0, 0, 0, 0
	fmt.Fprintf(out, "\n== tests per package (run = passed + failed; subtests count)\n")
	for _, p := range names {
		st := pkgs[p]
		if st.result == "skip" && st.passed+st.failed+st.skips == 0 {
			noTests++
			continue
		}
		status := "ok"
		if st.result != "pass" {
			status = "FAIL"
			failedPkgs = append(failedPkgs, p)
		}
		fmt.Fprintf(out, "%-4s %-60s run %4d  failed %3d  skipped %3d  %s\n", status, p,
			st.passed+st.failed, st.failed, st.skips, time.Duration(st.elapsed*float64(time.Second)).Round(10*time.Millisecond))
		run += st.passed + st.failed
		failed += st.failed
		skipped += st.skips
	}
	fmt.Fprintf(out, "total: %d tests run, %d failed, %d skipped in %d packages (%d without tests)\n",
		run, failed, skipped, len(names)-noTests, noTests)
	list := func(title string, items []string) {
		if len(items) > 0 {
			fmt.Fprintf(out, "%s (%d):\n  %s\n", title, len(items), strings.Join(items, "\n  "))
		}
	}
	list("allowed skips", allowed)
	list("UNEXPECTED SKIPS (a missing tool? see docs/testing.md; expected ones go in the allow-list)", unexpected)
	list("failed builds", buildFailed)
	list("failed packages", failedPkgs)
	list("failed tests", failedTests)
	switch {
	case events == 0:
		fmt.Fprintln(out, "testsummary: no go test -json events on stdin")
		return 1
	case len(unexpected)+len(buildFailed)+len(failedPkgs)+len(failedTests) > 0:
		return 1
	}
	return 0
}

func text(b *strings.Builder) string {
	if b == nil {
		return ""
	}
	return b.String()
}

// allowedSkip looks the test, or the test it is a subtest of, up in the allow-list.
func allowedSkip(allow map[string]string, pkg, test string) (string, bool) {
	for name := test; ; {
		if why, ok := allow[pkg+" "+name]; ok {
			return why, true
		}
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			return "", false
		}
		name = name[:i]
	}
}

// skipReason is what the test logged before its "--- SKIP" line (the t.Skip message), on one line.
func skipReason(output string) string {
	var parts []string
	for _, l := range strings.Split(output, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- ") {
			continue
		}
		parts = append(parts, l)
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	return strings.Join(parts, " | ")
}
