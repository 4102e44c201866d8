package files_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/files"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// applyFails plans and applies c, which must fail at apply time, and returns the error.
func applyFails(t *testing.T, tr transport.Transport, c *chobolo.Chobolo) error {
	t.Helper()
	e := &engine.Engine{Registry: engine.NewRegistry(files.New())}
	req := engine.Request{Chobolo: c, Assume: true}
	hp, err := e.Plan(context.Background(), tr, req)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if _, err = e.Apply(context.Background(), tr, hp, req); err == nil {
		t.Fatalf("the apply succeeded; plan was:\n%s", enginetest.Render(hp))
	}
	return err
}

// dirList is the names in a directory of the root (temp files left behind would show here).
func dirList(t *testing.T, root, dir string) string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(root, dir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

func oneFile(f chobolo.File) *chobolo.Chobolo {
	c := &chobolo.Chobolo{Files: []chobolo.File{f}}
	c.SetKey("files", chobolo.Pos{File: "c.yml", Line: 1, Col: 1})
	c.SetPos("files[0].path", chobolo.Pos{File: "c.yml", Line: 2, Col: 11})
	c.SetPos("files[0].validate", chobolo.Pos{File: "c.yml", Line: 3, Col: 15})
	return c
}

// TestSudoersThroughFiles: a sudoers file written by the files role is checked with visudo before it
// lands, like the users role's: an invalid line is refused and leaves the root as it was (sudo still
// works), a valid one lands.
func TestSudoersThroughFiles(t *testing.T) {
	root := testenv.DebianRoot(t)
	tr := enginetest.Chroot(t, root)
	before := dirList(t, root, "/etc/sudoers.d")
	sudoers := testenv.ReadFile(t, root, "/etc/sudoers")

	bad := "alice ALL=(ALL) NOPASSWD ALL\n" // no colon after NOPASSWD: a syntax error that breaks sudo
	err := applyFails(t, tr, oneFile(chobolo.File{Path: "/etc/sudoers.d/ops", Content: bad, Mode: "0440"}))
	if !strings.Contains(err.Error(), "validation failed") {
		t.Errorf("err = %v, want a validation failure", err)
	}
	if got := dirList(t, root, "/etc/sudoers.d"); got != before {
		t.Errorf("/etc/sudoers.d changed: %q, was %q", got, before)
	}
	err = applyFails(t, tr, oneFile(chobolo.File{Path: "/etc/sudoers", Content: sudoers + bad}))
	if got := testenv.ReadFile(t, root, "/etc/sudoers"); got != sudoers {
		t.Errorf("/etc/sudoers changed after a refused write (%v):\n%s", err, got)
	}
	if out, err := exec.Command("chroot", root, "visudo", "-c").CombinedOutput(); err != nil {
		t.Errorf("sudo's configuration is broken: %v\n%s", err, out)
	}

	good := "alice ALL=(ALL) NOPASSWD: ALL\n"
	hp := enginetest.ApplyTwice(t, tr, oneFile(chobolo.File{Path: "/etc/sudoers.d/ops", Content: good, Mode: "0440"}), files.New())
	if !strings.Contains(enginetest.Render(hp), "validated by visudo -c -f %s") {
		t.Errorf("the plan does not say how the file is checked:\n%s", enginetest.Render(hp))
	}
	if got := testenv.ReadFile(t, root, "/etc/sudoers.d/ops"); got != good {
		t.Errorf("ops = %q", got)
	}
	// An invalid change to the file now in place keeps the valid one.
	applyFails(t, tr, oneFile(chobolo.File{Path: "/etc/sudoers.d/ops", Content: bad, Mode: "0440"}))
	if got := testenv.ReadFile(t, root, "/etc/sudoers.d/ops"); got != good {
		t.Errorf("ops after a refused change = %q, want the old content", got)
	}
	if out, err := exec.Command("chroot", root, "visudo", "-c").CombinedOutput(); err != nil {
		t.Errorf("sudo's configuration is broken: %v\n%s", err, out)
	}
}

// TestSSHDConfigThroughFiles: sshd's configuration and its drop-ins are checked with sshd -t, in a
// root that has neither host keys nor /run/sshd (as a chroot or a fresh image): an invalid keyword is
// refused, a valid file lands.
func TestSSHDConfigThroughFiles(t *testing.T) {
	root := testenv.DebianRoot(t)
	tr := enginetest.Chroot(t, root)
	if keys, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*_key")); len(keys) > 0 {
		t.Fatalf("the fixture root has host keys %v: this test is about a root without them", keys)
	}
	before := dirList(t, root, "/etc/ssh/sshd_config.d")
	err := applyFails(t, tr, oneFile(chobolo.File{Path: "/etc/ssh/sshd_config.d/chaos.conf", Content: "PasswordAuthentication maybe\n"}))
	if !strings.Contains(err.Error(), "unsupported option") {
		t.Errorf("err = %v, want sshd's complaint", err)
	}
	if got := dirList(t, root, "/etc/ssh/sshd_config.d"); got != before {
		t.Errorf("sshd_config.d changed: %q, was %q", got, before)
	}
	main := testenv.ReadFile(t, root, "/etc/ssh/sshd_config")
	applyFails(t, tr, oneFile(chobolo.File{Path: "/etc/ssh/sshd_config", Content: main + "Bogus yes\n"}))
	if got := testenv.ReadFile(t, root, "/etc/ssh/sshd_config"); got != main {
		t.Errorf("sshd_config changed after a refused write")
	}

	hp := enginetest.ApplyTwice(t, tr, oneFile(chobolo.File{Path: "/etc/ssh/sshd_config.d/chaos.conf", Content: "PasswordAuthentication no\n"}), files.New())
	if !strings.Contains(enginetest.Render(hp), "validated by sshd -t -f %s") {
		t.Errorf("the plan does not say how the file is checked:\n%s", enginetest.Render(hp))
	}
	if got := testenv.ReadFile(t, root, "/etc/ssh/sshd_config.d/chaos.conf"); got != "PasswordAuthentication no\n" {
		t.Errorf("drop-in = %q", got)
	}
	if keys, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*")); len(keys) > 0 {
		t.Errorf("the check left host keys behind: %v", keys)
	}
	if left, _ := filepath.Glob(filepath.Join(root, "tmp/tmp.*")); len(left) > 0 {
		t.Errorf("the check left its throwaway key behind: %v", left)
	}

	// With the host's own key (a live host), the same checks: a bad value is refused, a good one lands.
	if out, err := exec.Command("chroot", root, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "/etc/ssh/ssh_host_ed25519_key").CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	applyFails(t, tr, oneFile(chobolo.File{Path: "/etc/ssh/sshd_config.d/chaos.conf", Content: "PermitRootLogin sometimes\n"}))
	if got := testenv.ReadFile(t, root, "/etc/ssh/sshd_config.d/chaos.conf"); got != "PasswordAuthentication no\n" {
		t.Errorf("drop-in after a refused change = %q, want the old content", got)
	}
	enginetest.ApplyTwice(t, tr, oneFile(chobolo.File{Path: "/etc/ssh/sshd_config.d/chaos.conf", Content: "PermitRootLogin prohibit-password\n"}), files.New())
	if out, err := exec.Command("chroot", root, "sshd", "-t").CombinedOutput(); err != nil {
		t.Errorf("sshd -t of the whole configuration: %v\n%s", err, out)
	}
}

// TestCustomValidate: `validate:` runs before the file lands; a failing check keeps the old file; a
// program missing on the target is refused at plan time with its position.
func TestCustomValidate(t *testing.T) {
	root := testenv.DebianRoot(t)
	tr := enginetest.Chroot(t, root)
	check := []string{"grep", "-q", "^ok", "%s"}
	enginetest.ApplyTwice(t, tr, oneFile(chobolo.File{Path: "/etc/chaos-v.conf", Content: "ok 1\n", Validate: check}), files.New())
	if got := testenv.ReadFile(t, root, "/etc/chaos-v.conf"); got != "ok 1\n" {
		t.Fatalf("content = %q", got)
	}
	before := dirList(t, root, "/etc")
	err := applyFails(t, tr, oneFile(chobolo.File{Path: "/etc/chaos-v.conf", Content: "broken\n", Validate: check}))
	if !strings.Contains(err.Error(), "validated by grep -q '^ok' %s") || !strings.Contains(err.Error(), "validation failed") {
		t.Errorf("err = %v, want the failed check named", err)
	}
	if got := testenv.ReadFile(t, root, "/etc/chaos-v.conf"); got != "ok 1\n" {
		t.Errorf("content after a failed check = %q, want the old content", got)
	}
	if got := dirList(t, root, "/etc"); got != before {
		t.Errorf("/etc changed (a temp file left?)")
	}

	e := &engine.Engine{Registry: engine.NewRegistry(files.New())}
	_, err = e.Plan(context.Background(), tr, engine.Request{Chobolo: oneFile(chobolo.File{Path: "/etc/chaos-w.conf",
		Content: "x\n", Validate: []string{"chaos-no-such-checker", "%s"}})})
	if err == nil || !strings.Contains(err.Error(), "c.yml:3:15: /etc/chaos-w.conf must be checked with chaos-no-such-checker %s before it lands, and chaos-no-such-checker is not installed on the target") {
		t.Errorf("plan with a missing checker: err = %v", err)
	}
	// visudo missing: the built-in check cannot run, so the sudoers file is refused at plan time.
	if err := os.Rename(filepath.Join(root, "usr/sbin/visudo"), filepath.Join(root, "usr/sbin/visudo.off")); err != nil {
		t.Fatal(err)
	}
	_, err = e.Plan(context.Background(), tr, engine.Request{Chobolo: oneFile(chobolo.File{Path: "/etc/sudoers.d/ops",
		Content: "alice ALL=(ALL) NOPASSWD: ALL\n"})})
	if err == nil || !strings.Contains(err.Error(), "c.yml:2:11: /etc/sudoers.d/ops must be checked with visudo -c -f %s before it lands, and visudo is not installed") {
		t.Errorf("plan without visudo: err = %v", err)
	}
}
