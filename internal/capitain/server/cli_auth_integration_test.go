package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/capitain/auth"
	"github.com/ch-aos-ch/chaos/internal/capitain/server"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// The CLI's user and token commands against a server, with the chaos binary: login with the
// bootstrap token, a user added with a password and given a role, a project-restricted token
// created (shown once) and listed, a login as that user with the password, whoami, the token
// revoked and refused, the audit log naming who did it, logout ending the session, and recover
// issuing a working admin token from the stopped server's database.
func TestCLIAuth(t *testing.T) {
	url, _ := testenv.GitServer(t, "fleet", map[string]string{
		"chobolo.yml": "files:\n  - path: /etc/motd\n    content: x\nfleet:\n  hosts:\n    h1: {ssh_hostname: 192.0.2.1, ssh_user: root}\n",
	})
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var first bytes.Buffer
	srv, err := server.New(ctx, server.Config{Data: data, Workers: -1}, &first, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := tokenRE.FindStringSubmatch(first.String())
	if m == nil {
		t.Fatalf("no admin token printed: %q", first.String())
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, l) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	defer func() {
		if ctx.Err() == nil {
			stop()
		}
	}()
	base := "http://" + l.Addr().String()
	admin := newAPI(t, base, m[1])
	admin.must(201, "POST", "/api/v1/projects", map[string]any{"name": "web", "repo": url + "fleet.git", "path": "chobolo.yml"}, nil)

	cfg := t.TempDir()
	run := func(stdin string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(testenv.ChaosBinary(t), append([]string{"capitain"}, args...)...)
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+cfg, "NO_COLOR=1")
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	chaosCmd := func(stdin string, args ...string) string {
		t.Helper()
		out, err := run(stdin, args...)
		if err != nil {
			t.Fatalf("chaos capitain %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	if out := chaosCmd(m[1]+"\n", "login", base); !strings.Contains(out, "logged in to "+base+" as admin") {
		t.Fatalf("login with the token: %s", out)
	}
	const pw = "a long enough password"
	chaosCmd(pw+"\n", "users", "add", "alice", "--password")
	if out := chaosCmd("", "members", "web", "set", "alice", "operator"); !regexp.MustCompile(`alice\s+operator`).MatchString(out) {
		t.Fatalf("members set: %s", out)
	}
	tok := strings.TrimSpace(chaosCmd("", "tokens", "create", "ci", "--user", "alice", "--scope", "read,run", "--project", "web", "--expires", "48h", "--json"))
	var nt server.NewToken
	if err := json.Unmarshal([]byte(tok), &nt); err != nil || !strings.HasPrefix(nt.Token, auth.APITokenPrefix) || nt.Info.Project != "web" {
		t.Fatalf("tokens create: %v %s", err, tok)
	}
	ci := newAPI(t, base, nt.Token)
	ci.must(200, "GET", "/api/v1/projects/web", nil, nil)
	ci.must(403, "POST", "/api/v1/projects", map[string]any{"name": "other", "repo": url + "fleet.git", "path": "chobolo.yml"}, nil)
	if out := chaosCmd("", "tokens", "ls", "--user", "alice"); !regexp.MustCompile(nt.Info.ID + `\s+ci\s+\S+\s+read,run\s+web\s.*valid`).MatchString(out) {
		t.Fatalf("tokens ls:\n%s", out)
	}

	// alice logs in with her password: a session, her role shown.
	if out := chaosCmd(pw+"\n", "login", base, "--user", "alice"); !strings.Contains(out, "as alice") {
		t.Fatalf("login --user: %s", out)
	}
	if out := chaosCmd("", "whoami"); !strings.Contains(out, "alice on "+base+" (session") || !strings.Contains(out, "operator on web") {
		t.Fatalf("whoami: %s", out)
	}
	if out, err := run("", "users", "ls"); err == nil || !strings.Contains(out, "global admin") {
		t.Fatalf("users ls as alice: %v %s", err, out)
	}
	chaosCmd("", "tokens", "revoke", nt.Info.ID)
	ci.must(401, "GET", "/api/v1/projects/web", nil, nil)
	if out := chaosCmd("", "tokens", "ls"); !strings.Contains(out, "revoked") {
		t.Fatalf("tokens ls after revoke:\n%s", out)
	}
	var session struct{ Token string }
	saved, err := os.ReadFile(filepath.Join(cfg, "chaos", "capitain.json"))
	if err != nil || json.Unmarshal(saved, &session) != nil || !strings.HasPrefix(session.Token, auth.SessionTokenPrefix) {
		t.Fatalf("saved session: %v %s", err, saved)
	}
	chaosCmd("", "logout")
	newAPI(t, base, session.Token).must(401, "GET", "/api/v1/me", nil, nil)
	if _, err := os.Stat(filepath.Join(cfg, "chaos", "capitain.json")); !os.IsNotExist(err) {
		t.Fatalf("logout kept the saved login: %v", err)
	}

	chaosCmd(m[1]+"\n", "login", base)
	var entries []auth.Entry
	if err := json.Unmarshal([]byte(chaosCmd("", "audit", "--action", "token.", "--json")), &entries); err != nil {
		t.Fatal(err)
	}
	var revokedBy string
	for _, e := range entries {
		if e.Action == "token.revoke" && e.Target == "token:"+nt.Info.ID {
			revokedBy = e.Actor + "@" + e.Addr
		}
	}
	if revokedBy != "alice@127.0.0.1" {
		t.Fatalf("the audit log has the revocation by %q: %+v", revokedBy, entries)
	}
	if out := chaosCmd("", "audit", "--project", "web", "--since", "1h"); !regexp.MustCompile(`admin\s+127\.0\.0\.1\s+member\.set\s+web\s+user:alice`).MatchString(out) {
		t.Fatalf("audit --project web:\n%s", out)
	}

	// recover: the server stopped, a token from its database; the restarted server takes it.
	stop()
	out := chaosCmd("", "recover", "admin", "--data", data)
	rec := strings.TrimSpace(out)
	if !strings.HasPrefix(rec, auth.APITokenPrefix) {
		t.Fatalf("recover: %s", out)
	}
	if out, err := run("", "recover", "alice", "--data", data); err == nil || !strings.Contains(out, "not an enabled global admin") {
		t.Fatalf("recover alice: %v %s", err, out)
	}
	a := startConfigIn(t, server.Config{Workers: -1}, data, rec)
	var me auth.Principal
	a.must(200, "GET", "/api/v1/me", nil, &me)
	if me.User != "admin" || !me.Admin {
		t.Fatalf("recovered: %+v", me)
	}
}
