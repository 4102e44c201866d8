package users

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// TestUndoBreaksStaleLocks: a useradd killed mid-way (a lost host, a SIGKILL) leaves shadow-utils'
// locks (/etc/group.lock, a hard link of /etc/group.PID holding the dead pid) and no account. The
// undo recovery runs for that op removes them, so the host is exactly as before; a lock of a
// process that still runs is left alone. (Before, the undo was a bare `userdel -r`, which fails on
// the missing account before it locks anything, and the lock files stayed.)
func TestUndoBreaksStaleLocks(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.DebianRoot(t)
	before := testenv.HostState(t, root)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(dead.Process.Pid)
	for _, db := range []string{"/etc/group", "/etc/gshadow"} {
		testenv.WriteFile(t, root, db+"."+pid, pid+"\x00")
		testenv.Chroot(t, root, "ln", db+"."+pid, db+".lock")
	}
	// A live holder's lock on /etc/passwd (this test process) stays.
	self := strconv.Itoa(os.Getpid())
	testenv.WriteFile(t, root, "/etc/passwd.lock", self+"\x00")

	p := BuildPlan(&Delta{Creates: []Create{{Want: Want{Name: "alice", Home: "/home/alice"}, ShellPath: "/bin/bash"}}})
	undo := p.Steps[0].Ops[0].Undo
	if undo == nil {
		t.Fatal("useradd has no undo")
	}
	tr := enginetest.Chroot(t, root)
	res, err := tr.Run(context.Background(), transport.Cmd{Argv: undo.Argv})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("undo exited %d: %s", res.Code, res.Stderr)
	if !testenv.Exists(t, root, "/etc/passwd.lock") {
		t.Error("the live holder's lock was removed")
	}
	testenv.Chroot(t, root, "rm", "/etc/passwd.lock")
	if got := testenv.HostState(t, root); got != before {
		t.Errorf("after the undo the root differs from before:\n%s", testenv.StateDiff(before, got))
	}
}
