package engine

import (
	"context"
	"os/exec"
	"slices"
	"testing"
)

// TestNeedsSection runs the section the engine adds for the needs' commands in a real sh: it names
// exactly the commands found (names on PATH and absolute paths, quoted), and markPresent sets
// Present from its output.
func TestNeedsSection(t *testing.T) {
	needs := []Need{
		{Package: "coreutils", Command: "ls"},
		{Package: "sh", Command: "/bin/sh"},
		{Package: "nope", Command: "chaos-no-such-tool"},
		{Package: "quoted", Command: "a'b; touch /tmp/chaos-pwned"},
		{Package: "plain"},
		{Package: "again", Command: "ls"},
	}
	secs := needsSection(needs)
	if len(secs) != 1 || secs[0].Name != needsSectionName {
		t.Fatalf("sections = %+v", secs)
	}
	out, err := exec.CommandContext(context.Background(), "sh", "-c", secs[0].Script).Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, secs[0].Script)
	}
	if string(out) != "ls\n/bin/sh\n" {
		t.Errorf("output %q", out)
	}
	var present []string
	for _, n := range markPresent(needs, Output{Stdout: string(out)}) {
		if n.Present {
			present = append(present, n.Package)
		}
	}
	if !slices.Equal(present, []string{"coreutils", "sh", "again"}) {
		t.Errorf("present = %v", present)
	}
	if needsSection([]Need{{Package: "x"}}) != nil {
		t.Error("a section without commands")
	}
}
