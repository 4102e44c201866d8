package transport

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// The nsenter transport against a plain child process (its namespaces are this machine's): commands
// run through nsenter, files go through /proc/PID/root, and a dead target is refused.
func TestNsenter(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "util-linux", "nsenter")
	child := exec.Command("sleep", "60")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	ctx := context.Background()
	spec := "@pid/" + strconv.Itoa(child.Process.Pid)
	tr, err := Open(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	h := tr.(*Host)
	if h.IsChroot() || h.PID() != child.Process.Pid || h.Name() != spec {
		t.Errorf("IsChroot %v PID %d Name %q", h.IsChroot(), h.PID(), h.Name())
	}
	res, err := Check(ctx, tr, Cmd{Argv: []string{"sh", "-c", `printf '%s|%s' "$1" "$(cat)"`, "sh", "a b'c"}, Stdin: []byte("in")})
	if err != nil || string(res.Stdout) != "a b'c|in" {
		t.Errorf("Run = %q, %v", res.Stdout, err)
	}
	if res, _ := tr.Run(ctx, Cmd{Argv: []string{"sh", "-c", "exit 7"}}); res.Code != 7 {
		t.Errorf("exit code %d", res.Code)
	}
	if _, err := tr.Run(ctx, Cmd{Argv: []string{"no-such-command-chaos"}}); err == nil || !strings.Contains(err.Error(), "command not found") {
		t.Errorf("missing command: %v", err)
	}
	dir := t.TempDir()
	if err := tr.WriteFile(ctx, dir+"/f", []byte("x"), 0o600, -1, -1, nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := tr.Stat(ctx, dir+"/f"); err != nil || string(fi.Content) != "x" {
		t.Errorf("Stat = %+v, %v", fi, err)
	}
	for _, bad := range []string{"@pid/x", "@pid/1", "@pid/0"} {
		if _, err := Open(ctx, bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	_ = child.Process.Kill()
	_ = child.Wait()
	if _, err := tr.Run(ctx, Cmd{Argv: []string{"true"}}); err == nil || !strings.Contains(err.Error(), "gone") {
		t.Errorf("Run on a dead target: %v", err)
	}
}
