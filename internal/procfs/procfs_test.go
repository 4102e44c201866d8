package procfs

import (
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
)

func TestStartAndGroups(t *testing.T) {
	st, err := Start(os.Getpid())
	if err != nil || st == "" || st == "0" {
		t.Fatalf("Start(self) = %q, %v", st, err)
	}
	if again, _ := Start(os.Getpid()); again != st {
		t.Fatalf("start time changed: %s then %s", st, again)
	}
	if _, err := Start(1 << 30); err == nil {
		t.Fatal("Start of a pid that cannot exist must fail")
	}

	// A command in a group of its own: a member while it runs, gone (and the group dead) after.
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pg := cmd.Process.Pid
	if got := GroupMembers(pg); !slices.Equal(got, []int{pg}) || !GroupAlive(pg) {
		t.Fatalf("GroupMembers(%d) = %v, alive %v", pg, got, GroupAlive(pg))
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if GroupAlive(pg) {
		t.Fatalf("group %d alive after its only member was reaped", pg)
	}
}
