package cli_test

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestApplySecretFiles is the secret file templates flow on a real Debian root, with a real
// sops+age secrets file: a files entry reading a declared secret (escape: json) and the original's
// secrets.templates entry (Jinja2 {{ var }}, to under root's home). Refused without -s; written
// 0600; a rerun changes nothing; a changed secret re-renders (found by hash, shown as "secret
// content changed"); a failing later op undoes the file to its old content from memory; removing
// the entries removes the files. No plaintext in the output, the journal, the generations, the
// logbook or the temp and config directories.
func TestApplySecretFiles(t *testing.T) {
	testenv.RequireRoot(t)
	// Made at run time: a literal would be in this test's binary, which a concurrent build writes
	// under /tmp, where the leak check looks.
	rnd := func(p string) string { return p + `-q"uo\te$(x)#]=` + rand.Text()[:10] }
	pw1, pw2, pw3, tok := rnd("first"), rnd("second"), rnd("third"), rnd("token")
	testStart := time.Now().Add(-time.Second)
	s := newSecretEnv(t, "db:\n  password: '"+pw1+"'\nnetrc_token: '"+tok+"'\n")
	root := testenv.DebianRoot(t)
	target := "@chroot" + root
	if err := os.MkdirAll(filepath.Join(s.cfg, "templates"), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(p, data string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(s.cfg, "templates", "netrc.j2"), "machine example.org password {{ netrc_token }}\n")
	write(filepath.Join(s.dir, "app.tmpl"), "{\"password\": {{ secret \"db.password\" }}}\n")
	cfile := filepath.Join(s.dir, "machine.yml")
	filesPart := `users:
  - name: alice
    password: locked
files:
  - path: /etc/chaos-app.json
    template: app.tmpl
    secrets: [db.password]
    escape: json
`
	secretsPart := `secrets:
  templates:
    - from: netrc.j2
      to: .netrc
      owner: root
      mode: 0600
      escape: false
      vars: [netrc_token]
    - {from: netrc.j2, to: ./.netrc, owner: alice, mode: "0640", escape: none, vars: [netrc_token]}
`
	write(cfile, filesPart+secretsPart)
	var all strings.Builder
	apply := func(wantErr bool, args ...string) string {
		t.Helper()
		out, err := s.run(t, "", append([]string{"apply", "-c", cfile, "--target", target}, args...)...)
		all.WriteString(out)
		if (err != nil) != wantErr {
			t.Fatalf("apply %v: err %v, want error %v\n%s", args, err, wantErr, out)
		}
		return out
	}
	readJSON := func() string { return testenv.ReadFile(t, root, "/etc/chaos-app.json") }
	jsonOf := func(pw string) string {
		return `{"password": "` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(pw) + `"}` + "\n"
	}

	// Without -s: refused with the positions and the way out, nothing written.
	out := apply(true, "-y")
	if !strings.Contains(out, "machine.yml:7:14") || !strings.Contains(out, "run chaos apply -s") || testenv.Exists(t, root, "/etc/chaos-app.json") {
		t.Fatalf("without -s:\n%s", out)
	}

	out = apply(false, "-s", "-sf", s.file, "-y")
	if got := readJSON(); got != jsonOf(pw1) {
		t.Fatalf("rendered %q", got)
	}
	if got := testenv.ReadFile(t, root, "/root/.netrc"); got != "machine example.org password "+tok {
		t.Fatalf(".netrc %q", got)
	}
	for _, p := range []string{"/etc/chaos-app.json", "/root/.netrc"} {
		if fi, err := os.Stat(filepath.Join(root, p)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", p, fi, err)
		}
	}
	// alice is created by the same apply, her home with her: the file lands in it, hers, 0640.
	fi, err := os.Stat(filepath.Join(root, "home/alice/.netrc"))
	if err != nil || fi.Mode().Perm() != 0o640 || strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)) != strings.Fields(
		strings.ReplaceAll(passwdLine(t, root, "alice"), ":", " "))[2] {
		t.Errorf("/home/alice/.netrc: %v %v", fi, err)
	}
	if got := testenv.ReadFile(t, root, "/home/alice/.netrc"); got != "machine example.org password "+tok {
		t.Errorf("alice's .netrc %q", got)
	}
	if !strings.Contains(out, "undo keeps the previous content in memory only") {
		t.Errorf("the plan does not say the undo is in memory only:\n%s", out)
	}
	if out := apply(false, "-s", "-sf", s.file, "-y"); !strings.Contains(out, "no changes") {
		t.Fatalf("rerun:\n%s", out)
	}

	// A changed secret re-renders the file; the plan says so without the value.
	if out, err := s.run(t, pw2+"\n", "secrets", "set", "-sf", s.file, "db.password"); err != nil {
		t.Fatalf("secrets set: %v\n%s", err, out)
	}
	for _, extra := range []string{"--dry", "--json"} {
		out, _ := s.run(t, "", "apply", "-c", cfile, "--target", target, "-s", "-sf", s.file, "--dry", extra)
		all.WriteString(out)
		if !strings.Contains(out, "secret content changed") {
			t.Errorf("%s: no change shown:\n%s", extra, out)
		}
	}
	apply(false, "-s", "-sf", s.file, "-y")
	if got := readJSON(); got != jsonOf(pw2) {
		t.Fatalf("after the change: %q", got)
	}

	// A later op fails: the secret file is put back from memory.
	if out, err := s.run(t, pw3+"\n", "secrets", "set", "-sf", s.file, "db.password"); err != nil {
		t.Fatalf("secrets set: %v\n%s", err, out)
	}
	write(cfile, filesPart+`  - path: /etc/zz-chaos-fails.conf
    content: "x\n"
    validate: [/bin/false, "%s"]
`+secretsPart)
	out = apply(true, "-s", "-sf", s.file, "-y")
	if !strings.Contains(out, "ok files: write /etc/chaos-app.json") || !strings.Contains(out, "undo files: write /etc/chaos-app.json") {
		t.Fatalf("the secret write did not run and get undone:\n%s", out)
	}
	if got := readJSON(); got != jsonOf(pw2) {
		t.Fatalf("after the failed apply the file holds %q, want the old content", got)
	}
	if testenv.Exists(t, root, "/var/lib/chaos/journal") {
		t.Error("journal left after the undo")
	}

	// Removing the entries removes the files (full state, ledger).
	write(cfile, "users: [{name: alice, password: locked}]\nfiles: []\nsecrets:\n  templates: []\n")
	apply(false, "-s", "-sf", s.file, "-y")
	for _, p := range []string{"/etc/chaos-app.json", "/root/.netrc", "/home/alice/.netrc"} {
		if testenv.Exists(t, root, p) {
			t.Errorf("%s left after its entry was removed", p)
		}
	}

	home := strings.TrimPrefix(s.env[1], "HOME=")
	tmpdir := strings.TrimPrefix(s.env[3], "TMPDIR=")
	for _, v := range []string{pw1, pw2, pw3, tok} {
		if strings.Contains(all.String(), v) {
			t.Errorf("chaos's output shows a secret:\n%s", all.String())
		}
		for _, d := range []string{filepath.Join(root, "var/lib/chaos"), home, s.cfg, s.dir, tmpdir, "/tmp", "/dev/shm"} {
			if hits := grepTree(d, v, testStart, root); len(hits) > 0 {
				t.Errorf("plaintext secret in %v", hits)
			}
		}
	}
	if !testenv.Exists(t, root, "/var/lib/chaos/generations") {
		t.Error("no generations recorded: the leak check of them proved nothing")
	}
	if hits, _ := filepath.Glob(filepath.Join(home, ".local/share/chaos/limani.db*")); len(hits) == 0 {
		t.Error("no logbook recorded: the leak check of it proved nothing")
	}
}

// passwdLine is user's line in root's /etc/passwd.
func passwdLine(t *testing.T, root, user string) string {
	t.Helper()
	for _, l := range strings.Split(testenv.ReadFile(t, root, "/etc/passwd"), "\n") {
		if strings.HasPrefix(l, user+":") {
			return l
		}
	}
	t.Fatalf("no %s in /etc/passwd", user)
	return ""
}
