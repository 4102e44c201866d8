package cli_test

import (
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestApplySecretTemplateSystemOwner: a secrets.templates entry owned by a system account the
// Ch-obolo does not declare (created in a real Debian root with useradd --system, home
// /var/lib/pgsim) lands under the home the target's passwd gives, through the chaos binary: an
// unknown owner is refused at its position; a path that the probe locates in another role's file
// (an account whose home is /etc, `to: hostname`, with hostname: declared) is an ownership
// conflict refused before anything is applied; the file is written 0600 and the account's; a
// rerun changes nothing; removing the entry removes the file, and only it; `templates: []` alone
// removes the last one.
func TestApplySecretTemplateSystemOwner(t *testing.T) {
	testenv.RequireRoot(t)
	pw := `pg-"q'uo$(x)` + rand.Text()[:10]
	s := newSecretEnv(t, "pg:\n  password: '"+strings.ReplaceAll(pw, "'", "''")+"'\n")
	root := testenv.DebianRoot(t)
	target := "@chroot" + root
	for _, argv := range [][]string{
		{"chroot", root, "useradd", "--system", "--home-dir", "/var/lib/pgsim", "--create-home", "--shell", "/usr/sbin/nologin", "pgsim"},
		{"chroot", root, "useradd", "--system", "--home-dir", "/etc", "--no-create-home", "etcsvc"},
	} {
		if out, err := exec.CommandContext(context.Background(), argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
	}
	if err := os.MkdirAll(filepath.Join(s.cfg, "templates"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.cfg, "templates", "pgpass.j2"), []byte("*:*:*:pgsim:{{ pg.password }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfile := filepath.Join(s.dir, "machine.yml")
	var all strings.Builder
	apply := func(src string, wantErr bool) string {
		t.Helper()
		if err := os.WriteFile(cfile, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := s.run(t, "", "apply", "-c", cfile, "--target", target, "-s", "-sf", s.file, "-y")
		all.WriteString(out)
		if (err != nil) != wantErr {
			t.Fatalf("apply: err %v, want error %v\n%s", err, wantErr, out)
		}
		return out
	}
	entry := func(owner, to string) string {
		return "secrets:\n  templates:\n    - {from: pgpass.j2, to: " + to + ", owner: " + owner + ", mode: \"0600\", escape: none, vars: [pg]}\n"
	}
	hostnameBefore := testenv.ReadFile(t, root, "/etc/hostname")

	// An owner the target does not know: refused at the entry's owner.
	out := apply(entry("ghost", ".pgpass"), true)
	if !strings.Contains(out, "machine.yml:3:45: error: user ghost is not in the target's user database") {
		t.Fatalf("unknown owner:\n%s", out)
	}
	// etcsvc's home is /etc: its hostname is the hostname role's file. Refused before any write.
	out = apply("hostname: chaos-owner-test\n"+entry("etcsvc", "hostname")+
		"    - {from: pgpass.j2, to: .pgpass, owner: pgsim, mode: \"0600\", escape: none, vars: [pg]}\n", true)
	if !strings.Contains(out, "both manage /etc/hostname") || !strings.Contains(out, "machine.yml:4:29") {
		t.Fatalf("ownership conflict not reported at the entry:\n%s", out)
	}
	if testenv.ReadFile(t, root, "/etc/hostname") != hostnameBefore || testenv.Exists(t, root, "/var/lib/pgsim/.pgpass") {
		t.Fatal("the conflicting plan changed the target")
	}

	apply(entry("pgsim", ".pgpass"), false)
	const p = "/var/lib/pgsim/.pgpass"
	if got := testenv.ReadFile(t, root, p); got != "*:*:*:pgsim:"+pw {
		t.Fatalf("%s: %q", p, got)
	}
	fi, err := os.Stat(filepath.Join(root, p))
	uid := strings.Split(passwdLine(t, root, "pgsim"), ":")[2]
	if err != nil || fi.Mode().Perm() != 0o600 || strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)) != uid {
		t.Fatalf("%s: %v %v (pgsim is uid %s)", p, fi, err, uid)
	}
	if out := apply(entry("pgsim", ".pgpass"), false); !strings.Contains(out, "no changes") {
		t.Fatalf("rerun:\n%s", out)
	}

	// Removing the entry removes the file, and only it (the other entry keeps the ledger in full
	// state, as it is with any entry or a files: key left).
	apply(entry("root", ".pgpass"), false)
	if testenv.Exists(t, root, p) || !testenv.Exists(t, root, "/var/lib/pgsim") || !testenv.Exists(t, root, "/root/.pgpass") {
		t.Fatalf("after the removal: %s exists %v, its home %v", p, testenv.Exists(t, root, p), testenv.Exists(t, root, "/var/lib/pgsim"))
	}
	// The last entry removed, `templates: []` alone declares the ledger full state: its file goes.
	apply("secrets:\n  templates: []\n", false)
	if testenv.Exists(t, root, "/root/.pgpass") {
		t.Error("/root/.pgpass left after the last entry was removed")
	}
	if strings.Contains(all.String(), pw) {
		t.Errorf("chaos's output shows the secret:\n%s", all.String())
	}
}
