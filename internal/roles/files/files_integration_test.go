package files_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/files"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

func stat(t *testing.T, root, p string) (os.FileInfo, *syscall.Stat_t) {
	t.Helper()
	fi, err := os.Lstat(filepath.Join(root, p))
	if err != nil {
		t.Fatal(err)
	}
	return fi, fi.Sys().(*syscall.Stat_t)
}

func ledger(t *testing.T, root string) map[string][]string {
	t.Helper()
	l, err := engine.ParseLedger([]byte(testenv.ReadFile(t, root, engine.LedgerPath)))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestFilesChroot(t *testing.T) {
	root := testenv.DebianRoot(t)
	tr := enginetest.Chroot(t, root)
	testenv.WriteFile(t, root, "/etc/chaos-pre.conf", "pre-existing\n")
	testenv.WriteFile(t, root, "/etc/chaos-gone.conf", "to be removed\n")

	c := &chobolo.Chobolo{Hostname: "forge", Users: []chobolo.User{{Name: "alice"}}, Files: []chobolo.File{
		{Path: "/etc/chaos", State: "directory", Mode: "0750", Group: "adm"},
		{Path: "/etc/chaos/a.conf", Content: "a=1\n"},
		{Path: "/etc/chaos/t.conf", Template: "t.tmpl", TemplateText: "host={{.Hostname}}{{range .Users}} user={{.Name}}{{end}}\n"},
		{Path: "/etc/chaos/secret", Content: "s3cret\n", Mode: "0600", Owner: "nobody", Group: "nogroup"},
		{Path: "/etc/chaos/link", State: "link", Target: "a.conf"},
		{Path: "/etc/chaos-pre.conf", Content: "managed now\n"},
		{Path: "/etc/chaos-gone.conf", State: "absent"},
	}}
	c.SetKey("files", chobolo.Pos{})
	hp := enginetest.ApplyTwice(t, tr, c, files.New())
	t.Logf("first plan:\n%s", enginetest.Render(hp))

	fi, st := stat(t, root, "/etc/chaos")
	if !fi.IsDir() || fi.Mode().Perm() != 0o750 || st.Gid != 4 {
		t.Errorf("/etc/chaos: %v gid %d", fi.Mode(), st.Gid)
	}
	if got := testenv.ReadFile(t, root, "/etc/chaos/t.conf"); got != "host=forge user=alice\n" {
		t.Errorf("template rendered %q", got)
	}
	fi, st = stat(t, root, "/etc/chaos/secret")
	if fi.Mode().Perm() != 0o600 || st.Uid != 65534 || st.Gid != 65534 {
		t.Errorf("secret: %v %d:%d", fi.Mode(), st.Uid, st.Gid)
	}
	if l, _ := os.Readlink(filepath.Join(root, "etc/chaos/link")); l != "a.conf" {
		t.Errorf("link -> %q", l)
	}
	if testenv.Exists(t, root, "/etc/chaos-gone.conf") {
		t.Error("absent file still there")
	}
	if strings.Contains(enginetest.Render(hp), "s3cret") {
		t.Error("secret content shown in the plan")
	}
	l := ledger(t, root)
	if strings.Join(l[files.DomainCreated], " ") != "/etc/chaos /etc/chaos/a.conf /etc/chaos/link /etc/chaos/secret /etc/chaos/t.conf" {
		t.Errorf("ledger: %v", l)
	}
	if strings.Join(l[files.DomainAdopted], " ") != "/etc/chaos-pre.conf" {
		t.Errorf("adopted: %v", l)
	}

	// modify: content, mode only, owner only; and drop a.conf, the link and the pre-existing file
	c.Files = []chobolo.File{
		{Path: "/etc/chaos", State: "directory", Mode: "0755", Group: "adm"},
		{Path: "/etc/chaos/t.conf", Template: "t.tmpl", TemplateText: "host={{.Hostname}}\n", Mode: "0640"},
		{Path: "/etc/chaos/secret", Content: "s3cret\n", Mode: "0600", Owner: "root", Group: "root"},
	}
	hp = enginetest.ApplyTwice(t, tr, c, files.New())
	t.Logf("second plan:\n%s", enginetest.Render(hp))
	if testenv.Exists(t, root, "/etc/chaos/a.conf") || testenv.Exists(t, root, "/etc/chaos/link") {
		t.Error("files chaos created and that left the Ch-obolo are still there")
	}
	if got := testenv.ReadFile(t, root, "/etc/chaos-pre.conf"); got != "managed now\n" {
		t.Errorf("pre-existing file: %q (must never be deleted)", got)
	}
	if fi, _ := stat(t, root, "/etc/chaos/t.conf"); fi.Mode().Perm() != 0o640 {
		t.Errorf("t.conf mode %v", fi.Mode())
	}
	if _, st := stat(t, root, "/etc/chaos/secret"); st.Uid != 0 {
		t.Errorf("secret owner %d", st.Uid)
	}
	if !strings.Contains(enginetest.Render(hp), "-host=forge user=alice") {
		t.Errorf("plan has no content diff:\n%s", enginetest.Render(hp))
	}

	// everything leaves: the directory and its files go, the pre-existing file stays
	c.Files = nil
	enginetest.ApplyTwice(t, tr, c, files.New())
	if testenv.Exists(t, root, "/etc/chaos") {
		t.Error("/etc/chaos still there")
	}
	if !testenv.Exists(t, root, "/etc/chaos-pre.conf") {
		t.Error("pre-existing file deleted")
	}
}
