package transport_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

func sshCfg(hs *testenv.SSHHosts, h *testenv.SSHHost) transport.SSHConfig {
	return transport.SSHConfig{Name: h.Name, Host: h.Addr, User: "root", KeyFiles: []string{hs.KeyFile},
		NoAgent: true, KnownHostsFiles: []string{hs.KnownHosts}, SSHConfigFile: "none", ConnectTimeout: 5 * time.Second}
}

// One host exercises the whole Transport contract over a real sshd.
func TestSSHTransport(t *testing.T) {
	hs := testenv.StartSSHHosts(t, 1)
	h := hs.Hosts[0]
	ctx := context.Background()
	start := time.Now()
	s, err := transport.DialSSH(ctx, sshCfg(hs, h))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Logf("dial+auth %s", time.Since(start))

	// argv with hostile values arrives intact; stdin streams; env applies; exit codes come back.
	weird := []string{"a b", "$(touch /pwned)", "'q'", `"dq"`, "`x`", "semi;colon", "new\nline", "*", ""}
	res, err := s.Run(ctx, transport.Cmd{Argv: append([]string{"sh", "-c", `for a; do printf '[%s]' "$a"; done; printf '%s' "$X"; cat; exit 7`, "sh"}, weird...),
		Env: []string{"X=v w"}, Stdin: []byte("STDIN")})
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, w := range weird {
		want += "[" + w + "]"
	}
	if got := string(res.Stdout); got != want+"v wSTDIN" || res.Code != 7 {
		t.Fatalf("Run = %q code %d, want %q", got, res.Code, want+"v wSTDIN")
	}
	if testenv.Exists(t, h.Root, "/pwned") {
		t.Fatal("an argument was interpreted by the remote shell")
	}
	res, _ = s.Run(ctx, transport.Cmd{Argv: []string{"sh", "-c", `echo "$CHAOS_SSH_USER $HOME $LC_ALL"; hostname`}})
	if got := string(res.Stdout); got != "root /root C.UTF-8\nh1\n" {
		t.Fatalf("env/hostname = %q", got)
	}

	// File operations.
	if err := s.Mkdir(ctx, "/srv/a/b", 0o750); err != nil {
		t.Fatal(err)
	}
	data := []byte("line1\nbinary\x00\xff\n")
	if err := s.WriteFile(ctx, "/srv/a/b/f", data, 0o640, 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	fi, err := s.Stat(ctx, "/srv/a/b/f")
	if err != nil || !fi.Exists || string(fi.Content) != string(data) || fi.Mode.Perm() != 0o640 || fi.UID != 0 {
		t.Fatalf("Stat = %+v, %v", fi, err)
	}
	if got, _ := os.ReadFile(filepath.Join(h.Root, "srv/a/b/f")); string(got) != string(data) {
		t.Fatalf("file on host = %q", got)
	}
	// A validator's rejection leaves the old file and no temp file.
	bad := errors.New("rejected")
	var seen string
	err = s.WriteFile(ctx, "/srv/a/b/f", []byte("new"), 0o644, -1, -1, func(tmp string) error {
		seen = tmp
		r, _ := s.Run(ctx, transport.Cmd{Argv: []string{"cat", tmp}})
		if string(r.Stdout) != "new" {
			t.Errorf("validator sees %q", r.Stdout)
		}
		return bad
	})
	if !errors.Is(err, bad) || !strings.HasPrefix(filepath.Base(seen), ".chaos-") {
		t.Fatalf("WriteFile with failing validator = %v (tmp %q)", err, seen)
	}
	entries, _ := os.ReadDir(filepath.Join(h.Root, "srv/a/b"))
	if len(entries) != 1 {
		t.Fatalf("temp file left: %v", entries)
	}
	if err := s.WriteFile(ctx, "/srv/a/b/f", []byte("ok"), 0o600, -1, -1, func(string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := testenv.ReadFile(t, h.Root, "/srv/a/b/f"); got != "ok" {
		t.Fatalf("validated write = %q", got)
	}
	if err := s.Symlink(ctx, "/srv/l", "/srv/a/b/f"); err != nil {
		t.Fatal(err)
	}
	if fi, _ := s.Stat(ctx, "/srv/l"); fi.Target != "/srv/a/b/f" || fi.Mode&os.ModeSymlink == 0 {
		t.Fatalf("symlink = %+v", fi)
	}
	if err := s.Chmod(ctx, "/srv/a", 0o755|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := s.Chown(ctx, "/srv/a", 1, 1); err != nil {
		t.Fatal(err)
	}
	if fi, _ := s.Stat(ctx, "/srv/a"); !fi.Mode.IsDir() || fi.Mode&os.ModeSticky == 0 || fi.UID != 1 || fi.GID != 1 {
		t.Fatalf("dir = %+v", fi)
	}
	if fi, err := s.Stat(ctx, "/no/such"); err != nil || fi.Exists {
		t.Fatalf("missing = %+v, %v", fi, err)
	}
	if err := s.Remove(ctx, "/srv/a", true); err != nil {
		t.Fatal(err)
	}
	if testenv.Exists(t, h.Root, "/srv/a") {
		t.Fatal("Remove left the tree")
	}
	if err := s.Remove(ctx, "/", true); err == nil {
		t.Fatal("Remove(/) must be refused")
	}

	// Many commands on the kept connection are cheap.
	start = time.Now()
	for i := 0; i < 50; i++ {
		if _, err := transport.Check(ctx, s, transport.Cmd{Argv: []string{"true"}}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("50 commands on one connection: %s", time.Since(start))

	// A cancelled context stops a running command.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := s.Run(cctx, transport.Cmd{Argv: []string{"sleep", "30"}}); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("cancelled Run = %v after %s", err, time.Since(start))
	}
}

func TestSSHHostKeys(t *testing.T) {
	hs := testenv.StartSSHHosts(t, 1)
	h := hs.Hosts[0]
	ctx := context.Background()
	kh := filepath.Join(t.TempDir(), "known_hosts")
	cfg := sshCfg(hs, h)
	cfg.KnownHostsFiles = []string{kh}

	// Strict by default: an unknown host is refused.
	_, err := transport.DialSSH(ctx, cfg)
	var hk *transport.HostKeyError
	var ur *transport.UnreachableError
	if !errors.As(err, &hk) || hk.Changed || !errors.As(err, &ur) {
		t.Fatalf("unknown host: %v", err)
	}
	// --accept-new-host-keys records it on first contact.
	cfg.AcceptNewHostKeys = true
	s, err := transport.DialSSH(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	data, _ := os.ReadFile(kh)
	if strings.TrimSpace(string(data)) != h.KnownHostsLine {
		t.Fatalf("known_hosts = %q, want %q", data, h.KnownHostsLine)
	}
	// Now strict works.
	cfg.AcceptNewHostKeys = false
	s, err = transport.DialSSH(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A changed key is refused, even with accept-new.
	other := testenv.StartSSHHosts(t, 1)
	wrong := strings.Replace(other.Hosts[0].KnownHostsLine, other.Hosts[0].Addr, h.Addr, 1)
	if err := os.WriteFile(kh, []byte(wrong+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.AcceptNewHostKeys = true
	_, err = transport.DialSSH(ctx, cfg)
	if !errors.As(err, &hk) || !hk.Changed {
		t.Fatalf("changed key: %v", err)
	}
	if data, _ := os.ReadFile(kh); string(data) != wrong+"\n" {
		t.Fatalf("known_hosts changed after a refused key: %q", data)
	}
}

func TestSSHSudoWithPassword(t *testing.T) {
	const pass = "s3cret pass"
	hs := testenv.StartSSHHosts(t, 1, func(h *testenv.SSHHost) {
		h.Exec(t, "useradd", "-m", "-s", "/bin/sh", "-G", "sudo", "deploy")
		h.Exec(t, "sh", "-c", "echo 'deploy:"+pass+"' | chpasswd")
		testenv.WriteFile(t, h.Root, "/home/deploy/.ssh/authorized_keys", "")
		h.Exec(t, "sh", "-c", "chown -R deploy:deploy /home/deploy/.ssh && chmod 700 /home/deploy/.ssh")
	})
	h := hs.Hosts[0]
	testenv.WriteFile(t, h.Root, "/home/deploy/.ssh/authorized_keys", hs.PublicKey+"\n")
	ctx := context.Background()
	cfg := sshCfg(hs, h)
	cfg.User = "deploy"

	// Without become: the login user.
	s, err := transport.DialSSH(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := s.Run(ctx, transport.Cmd{Argv: []string{"id", "-un"}})
	s.Close()
	if string(res.Stdout) != "deploy\n" {
		t.Fatalf("id = %q", res.Stdout)
	}
	// Become without a password: a clear error.
	cfg.Become = true
	if _, err := transport.DialSSH(ctx, cfg); err == nil || !strings.Contains(err.Error(), "password") {
		t.Fatalf("become without password: %v", err)
	}
	// Wrong password: refused up front.
	cfg.BecomePassword = []byte("wrong")
	if _, err := transport.DialSSH(ctx, cfg); err == nil {
		t.Fatal("wrong sudo password accepted")
	}
	cfg.BecomePassword = []byte(pass)
	s, err = transport.DialSSH(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Commands run as root; their own stdin is intact (the password line went to sudo only).
	res, err = s.Run(ctx, transport.Cmd{Argv: []string{"sh", "-c", `id -un; echo "$SUDO_USER $CHAOS_SSH_USER"; cat`}, Stdin: []byte("payload")})
	if err != nil || string(res.Stdout) != "root\ndeploy deploy\npayload" {
		t.Fatalf("sudo run = %q, %v (stderr %q)", res.Stdout, err, res.Stderr)
	}
	if err := s.WriteFile(ctx, "/etc/chaos-sudo-test", []byte("x"), 0o600, 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(h.Root, "etc/chaos-sudo-test")); fi == nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("root-owned write failed: %v", fi)
	}
}
