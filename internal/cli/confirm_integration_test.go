package cli_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// ptyRun is the chaos binary running on a pseudo-terminal (stdin, stdout and stderr).
type ptyRun struct {
	cmd  *exec.Cmd
	ptmx *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func startPTY(t *testing.T, ctx context.Context, args ...string) *ptyRun {
	t.Helper()
	return startPTYEnv(t, ctx, []string{"TERM=dumb", "NO_COLOR=1"}, args...)
}

// startPTYEnv is startPTY with env (NAME=VALUE) added to the test's environment.
func startPTYEnv(t *testing.T, ctx context.Context, env []string, args ...string) *ptyRun {
	t.Helper()
	p := &ptyRun{cmd: exec.CommandContext(ctx, testenv.ChaosBinary(t), args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	var err error
	if p.ptmx, err = pty.StartWithSize(p.cmd, &pty.Winsize{Rows: 40, Cols: 200}); err != nil {
		t.Fatal(err)
	}
	go func() { // ends with EIO when the child closes the pty
		buf := make([]byte, 4096)
		for {
			n, err := p.ptmx.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				close(p.done)
				return
			}
		}
	}()
	return p
}

func (p *ptyRun) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until the output contains s (or the run ends, or a minute passes).
func (p *ptyRun) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(p.output(), s) {
		select {
		case <-p.done:
			t.Fatalf("chaos ended without printing %q:\n%s", s, p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within a minute:\n%s", s, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait returns the exit code.
func (p *ptyRun) wait(t *testing.T) int {
	t.Helper()
	err := p.cmd.Wait()
	<-p.done
	p.ptmx.Close()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("chaos on a pty: %v\n%s", err, p.output())
	return -1
}

const question = "Apply these changes? [y/N] "

// TestConfirmOnTerminal: on a terminal, `chaos apply` asks before applying any change (additions
// only here: the old rule asked only before removals), right under the plan's summary line.
// Answering n leaves the root exactly as it was; y applies; -y does not ask; rollback asks the same
// way. Without a terminal and without -y, additions apply without a question (the old rule, kept).
func TestConfirmOnTerminal(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	root := testenv.DebianRoot(t)
	target := "@chroot" + root
	file := writeChobolo(t, "hostname: asked\nfiles:\n  - path: /etc/chaos-asked\n    content: \"yes\\n\"\n")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	before := snapshot(t, root, true)
	p := startPTY(t, ctx, "apply", "-c", file, "--target", target)
	p.waitFor(t, question)
	out := p.output()
	summary := target + ": 2 to add, 1 to change, 0 to remove\r\n" + question
	if !strings.Contains(out, summary) {
		t.Errorf("the question does not follow the summary line %q:\n%s", summary, out)
	}
	if _, err := p.ptmx.Write([]byte("n\r")); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 1 || !strings.Contains(p.output(), target+": not applied") {
		t.Fatalf("answer n: want exit 1 and 'not applied', got exit %d:\n%s", code, p.output())
	}
	if !equalSnap(t, before, snapshot(t, root, true)) {
		t.Fatal("answer n changed the root (differences above)")
	}

	p = startPTY(t, ctx, "apply", "-c", file, "--target", target)
	p.waitFor(t, question)
	if _, err := p.ptmx.Write([]byte("y\r")); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 || !strings.Contains(p.output(), target+": applied 3 changes") {
		t.Fatalf("answer y: want exit 0 and applied, got exit %d:\n%s", code, p.output())
	}
	if got := testenv.ReadFile(t, root, "/etc/hostname"); got != "asked\n" {
		t.Fatalf("answer y: /etc/hostname = %q", got)
	}

	// -y on a terminal: no question.
	testenv.WriteFile(t, root, "/etc/chaos-asked", "drift\n")
	p = startPTY(t, ctx, "apply", "-c", file, "--target", target, "-y")
	if code := p.wait(t); code != 0 || strings.Contains(p.output(), question) {
		t.Fatalf("-y on a terminal: want exit 0 and no question, got exit %d:\n%s", code, p.output())
	}
	if got := testenv.ReadFile(t, root, "/etc/chaos-asked"); got != "yes\n" {
		t.Fatalf("-y: /etc/chaos-asked = %q", got)
	}

	// rollback asks the same way: n changes nothing, y goes back.
	if r := run(t, "", "apply", "-c", writeChobolo(t, "hostname: asked-again\n"), "--target", target, "-y"); r.code != 0 {
		t.Fatalf("apply -y of a second hostname\n%s", r)
	}
	before = snapshot(t, root, true)
	p = startPTY(t, ctx, "rollback", "--target", target)
	p.waitFor(t, question)
	if _, err := p.ptmx.Write([]byte("n\r")); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 1 || !strings.Contains(p.output(), target+": not applied") {
		t.Fatalf("rollback, answer n: want exit 1 and 'not applied', got exit %d:\n%s", code, p.output())
	}
	if !equalSnap(t, before, snapshot(t, root, true)) {
		t.Fatal("rollback, answer n changed the root (differences above)")
	}
	p = startPTY(t, ctx, "rollback", "--target", target)
	p.waitFor(t, question)
	if _, err := p.ptmx.Write([]byte("y\r")); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 || testenv.ReadFile(t, root, "/etc/hostname") != "asked\n" {
		t.Fatalf("rollback, answer y: want exit 0 and the hostname back, got exit %d:\n%s", code, p.output())
	}

	// No terminal, no -y, no removal: applied without a question, as before.
	testenv.WriteFile(t, root, "/etc/chaos-asked", "drift\n")
	cmd := exec.CommandContext(ctx, testenv.ChaosBinary(t), "apply", "-c", file, "--target", target)
	cmd.Stdin = strings.NewReader("")
	outb, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(outb), question) || testenv.ReadFile(t, root, "/etc/chaos-asked") != "yes\n" {
		t.Fatalf("without a terminal: %v\n%s", err, outb)
	}
}
