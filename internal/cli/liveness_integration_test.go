package cli_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestStillRunningOnTerminal: on a terminal, a package install that takes a few seconds (its
// postinst sleeps) shows "still running packages: ..." while it runs, erased before its "ok" line;
// the same apply with stdout redirected prints no such line.
func TestStillRunningOnTerminal(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	root := testenv.DebianRoot(t)
	testenv.AptRepo(t, root, testenv.DebPkg{Name: "chaos-tiny-slow", Version: "1.0", Postinst: "sleep 3\n"},
		testenv.DebPkg{Name: "chaos-tiny-slow2", Version: "1.0", Postinst: "sleep 3\n"})
	target := "@chroot" + root
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	p := startPTYEnv(t, ctx, []string{"TERM=xterm", "NO_COLOR=1"}, "apply", "-c", writeChobolo(t, "packages: [chaos-tiny-slow]\n"),
		"--target", target, "-y")
	if code := p.wait(t); code != 0 {
		t.Fatalf("apply on a terminal: exit %d\n%s", code, p.output())
	}
	out := p.output()
	i := strings.Index(out, "still running packages: ")
	if i < 0 {
		t.Fatalf("no liveness line while the install ran:\n%q", out)
	}
	if line, _, _ := strings.Cut(out[i:], "\r"); !strings.Contains(line, "chaos-tiny-slow") {
		t.Errorf("the liveness line does not name the package: %q", line)
	}
	// Erased (carriage return, clear to the end of the line) before the op's own line.
	if !strings.Contains(out[i:], "\r\x1b[K  ok packages: ") {
		t.Errorf("the liveness line is not erased before the op's line:\n%q", out[i:])
	}

	cmd := exec.CommandContext(ctx, testenv.ChaosBinary(t), "apply", "-c", writeChobolo(t, "packages: [chaos-tiny-slow2]\n"),
		"--target", target, "-y")
	cmd.Env = append(cmd.Environ(), "TERM=xterm")
	outb, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(outb), "ok packages: ") || strings.Contains(string(outb), "still running") ||
		strings.Contains(string(outb), "\x1b[K") {
		t.Fatalf("redirected stdout: want the op lines and no liveness line: %v\n%q", err, outb)
	}
}
