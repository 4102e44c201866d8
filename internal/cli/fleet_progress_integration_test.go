package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/ch-aos-ch/chaos/internal/fleet/fleettest"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestFleetBecomeSecret: a non-root user whose sudo needs a password, the password in the secrets
// file named by the group's become_password; it reaches sudo on stdin and is never printed. A
// missing secret stops the run before any host is touched; a wrong one fails the host.
func TestFleetBecomeSecret(t *testing.T) {
	_, dir := isolateSecrets(t)
	const pass = "sudo pw from secrets"
	hs := testenv.StartSSHHosts(t, 1, func(h *testenv.SSHHost) {
		h.Exec(t, "useradd", "-m", "-s", "/bin/sh", "-G", "sudo", "deploy")
		h.Exec(t, "sh", "-c", "echo 'deploy:"+pass+"' | chpasswd")
	})
	h := hs.Hosts[0]
	testenv.WriteFile(t, h.Root, "/home/deploy/.ssh/authorized_keys", hs.PublicKey+"\n")
	h.Exec(t, "chown", "-R", "deploy:deploy", "/home/deploy/.ssh")
	secrets := filepath.Join(dir, "secrets.yaml")
	mustRun(t, "", "secrets", "init", "-sf", secrets)
	mustRun(t, pass+"\n", "secrets", "set", "-sf", secrets, "sudo.deploy")
	mustRun(t, "not it\n", "secrets", "set", "-sf", secrets, "sudo.wrong")
	chobolo := func(ref string, withFile bool) string {
		head := ""
		if withFile {
			head = "secrets: {file: " + secrets + "}\n"
		}
		return writeChobolo(t, head+fmt.Sprintf(`users:
  - name: alice
files:
  - path: /etc/sudo-secret-made
    content: "y\n"
    mode: "0600"
fleet:
  ssh: {known_hosts: %s, config: none}
  hosts:
    h1: {ssh_hostname: %s, ssh_user: deploy, ssh_key: %s, become: true, groups: [app]}
  groups:
    app: {become_password: {secret: %s}}
`, hs.KnownHosts, h.Addr, hs.KeyFile, ref))
	}
	file := chobolo("sudo.deploy", true)
	r := run(t, "", "apply", "-c", file, "-f", "-y")
	if r.code != 0 {
		t.Fatalf("become with the secret: %s", r)
	}
	if testenv.ReadFile(t, h.Root, "/etc/sudo-secret-made") != "y\n" || !strings.Contains(testenv.ReadFile(t, h.Root, "/etc/passwd"), "alice:") {
		t.Fatal("become did not apply as root")
	}
	if strings.Contains(r.stdout+r.stderr, pass) {
		t.Fatal("the sudo password was printed")
	}
	// With -s the roles get the secrets too (alice's password), from the same decryption; a second
	// run changes nothing.
	mustRun(t, "alice pw\n", "secrets", "set", "-sf", secrets, "user_secrets.alice.password")
	if r = run(t, "", "apply", "-c", chobolo("sudo.deploy", false), "-f", "-y", "-sf", secrets); r.code != 0 || !strings.Contains(r.stdout, "1 hosts: 1 changed") {
		t.Fatalf("with -s: %s", r)
	}
	if r = run(t, "", "apply", "-c", file, "-f", "-y", "-s"); r.code != 0 || !strings.Contains(r.stdout, "1 hosts: 1 unchanged") {
		t.Fatalf("second run: %s", r)
	}
	// A missing secret stops the run before connecting.
	r = run(t, "", "apply", "-c", chobolo("sudo.nobody", true), "-f", "-y", "-sf", secrets)
	if r.code != 1 || !strings.Contains(r.stderr, "h1: become_password: secret sudo.nobody is not in") || strings.Contains(r.stdout, "HOST") {
		t.Fatalf("missing secret: %s", r)
	}
	// A wrong password fails the host, without printing it.
	r = run(t, "", "apply", "-c", chobolo("sudo.wrong", true), "-f", "-y", "-sf", secrets)
	if r.code != 1 || !strings.Contains(r.stdout, "wrong password?") || strings.Contains(r.stdout+r.stderr, "not it") {
		t.Fatalf("wrong secret: %s", r)
	}
}

// TestFleetEC2Apply applies to SSH hosts the ec2 boat found (the EC2 emulation lists the real test
// hosts' addresses), merged with a static host; a stopped instance is left out.
func TestFleetEC2Apply(t *testing.T) {
	isolate(t)
	fleettest.IsolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDAPPLY")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "apply-secret")
	hs := testenv.StartSSHHosts(t, 3)
	emu := fleettest.StartEC2(t, "eu-test-1", "AKIDAPPLY", "apply-secret",
		fleettest.Instance{ID: "i-1", State: "running", PrivateIP: hs.Hosts[1].Addr, Tags: map[string]string{"Name": "app-1", "role": "app"}},
		fleettest.Instance{ID: "i-2", State: "running", PrivateIP: hs.Hosts[2].Addr, Tags: map[string]string{"Name": "app-2", "role": "app"}},
		fleettest.Instance{ID: "i-3", State: "stopped", PrivateIP: "10.255.255.1", Tags: map[string]string{"Name": "app-3", "role": "app"}},
	)
	file := writeChobolo(t, fmt.Sprintf(`files:
  - path: /etc/motd
    content: "from ec2 inventory\n"
fleet:
  ssh: {known_hosts: %s, config: none, connect_timeout: 3s}
  hosts:
    static: {ssh_hostname: %s, ssh_user: root, ssh_key: %s}
  groups:
    app:
      vars:
        files:
          - path: /etc/role
            content: "app\n"
  boats:
    - provider: ec2
      name: aws
      required: true
      config: {region: eu-test-1, endpoint: %s, group_by_tag: role, ssh_user: root, ssh_key: %s}
`, hs.KnownHosts, hs.Hosts[0].Addr, hs.KeyFile, emu.URL, hs.KeyFile))
	r := run(t, "", "apply", "-c", file, "-f", "-y")
	if r.code != 0 || !strings.Contains(r.stdout, "3 hosts: 3 changed") {
		t.Fatalf("apply: %s", r)
	}
	for i, h := range hs.Hosts {
		if testenv.ReadFile(t, h.Root, "/etc/motd") != "from ec2 inventory\n" {
			t.Errorf("%s: motd not applied", h.Name)
		}
		if got := testenv.Exists(t, h.Root, "/etc/role"); got != (i > 0) {
			t.Errorf("%s: /etc/role exists = %v (group vars from EC2 tags)", h.Name, got)
		}
	}
	if r = run(t, "", "apply", "-c", file, "--limit", "app", "--dry"); r.code != 0 || !strings.Contains(r.stdout, "2 hosts: 2 unchanged") {
		t.Fatalf("--limit app: %s", r)
	}
	// The EC2 API refuses the credentials: the boat is required, so nothing runs.
	emu.Fail("AuthFailure")
	r = run(t, "", "apply", "-c", file, "-f", "-y")
	if r.code != 1 || !strings.Contains(r.stderr, "boat aws (ec2): ec2: DescribeInstances in eu-test-1: AuthFailure") || strings.Contains(r.stdout, "HOST") {
		t.Fatalf("AuthFailure: %s", r)
	}
}

// TestFleetProgressTTY runs the chaos binary with stdout on a real pty: the live frame is drawn and
// erased in place (ANSI) and the summary follows; through a pipe the output has no escape codes;
// --json streams one JSON object per line, with phase events.
func TestFleetProgressTTY(t *testing.T) {
	isolate(t)
	hs := testenv.StartSSHHosts(t, 2)
	bin := testenv.ChaosBinary(t)
	var hosts strings.Builder
	for _, h := range hs.Hosts {
		fmt.Fprintf(&hosts, "    %s: {ssh_hostname: %s, ssh_user: root, ssh_key: %s}\n", h.Name, h.Addr, hs.KeyFile)
	}
	file := writeChobolo(t, fmt.Sprintf(`files:
  - path: /etc/progress-a
    content: "a\n"
  - path: /etc/progress-b
    content: "b\n"
fleet:
  ssh: {known_hosts: %s, config: none}
  hosts:
%s`, hs.KnownHosts, hosts.String()))
	// Bounded: a hang fails the test in minutes, not at the package timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "apply", "-c", file, "-f", "-y")
	cmd.Env = append(os.Environ(), "TERM=xterm")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(&out, ptmx); close(copied) }() // EIO at the end: the child closed the pty
	if err := cmd.Wait(); err != nil {
		t.Fatalf("apply on a pty: %v\n%q", err, out.String())
	}
	<-copied
	ptmx.Close()
	tty := out.String()
	t.Logf("pty output:\n%q", tty)
	if !strings.Contains(tty, "\x1b[J") || !strings.Contains(tty, "\x1b[1A") && !strings.Contains(tty, "\x1b[2A") {
		t.Error("no in-place redraw (cursor up + erase) on a terminal")
	}
	if !strings.Contains(tty, "] 0/2 hosts") || !strings.Contains(tty, "2/2 hosts, 2 changed") {
		t.Error("no progress bar on a terminal")
	}
	if !strings.Contains(tty, "2 hosts: 2 changed") {
		t.Error("no summary after the live frame")
	}
	// After the summary table, nothing is redrawn.
	if tail := tty[strings.LastIndex(tty, "HOST"):]; strings.Contains(tail, "\x1b[") {
		t.Errorf("escape codes after the summary: %q", tail)
	}

	// A pipe: plain lines, no escape codes, a line per finished host.
	testenv.WriteFile(t, hs.Hosts[0].Root, "/etc/progress-a", "drift\n")
	plain, err := exec.CommandContext(ctx, bin, "apply", "-c", file, "-f", "-y").Output()
	if err != nil {
		t.Fatalf("apply through a pipe: %v\n%s", err, plain)
	}
	if bytes.Contains(plain, []byte("\x1b")) || !bytes.Contains(plain, []byte("fleet: [2/2] ")) ||
		!bytes.Contains(plain, []byte("2 hosts: 1 changed, 1 unchanged")) {
		t.Fatalf("plain output:\n%s", plain)
	}

	// --json: every line is one JSON object; phases stream before the summary.
	testenv.WriteFile(t, hs.Hosts[1].Root, "/etc/progress-b", "drift\n")
	js, err := exec.CommandContext(ctx, bin, "apply", "-c", file, "-f", "-y", "--json").Output()
	if err != nil {
		t.Fatalf("--json: %v\n%s", err, js)
	}
	var types []string
	phases := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(js))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not a JSON line: %q (%v)", sc.Text(), err)
		}
		typ, _ := ev["type"].(string)
		types = append(types, typ)
		if typ == "host.phase" {
			target := ev["target"].(string)
			phases[target] = append(phases[target], ev["phase"].(string))
		}
	}
	if types[0] != "run.start" || types[len(types)-1] != "run.done" {
		t.Fatalf("event order: %v", types)
	}
	for _, h := range hs.Hosts {
		if got := strings.Join(phases[h.Name], ","); !strings.HasPrefix(got, "connecting,probing,planning") {
			t.Errorf("%s phases = %s", h.Name, got)
		}
	}
	if got := strings.Join(phases[hs.Hosts[1].Name], ","); got != "connecting,probing,planning,applying" {
		t.Errorf("the changed host's phases = %s", got)
	}
	for _, want := range []string{"op.end", "plan", "fleet.host", "probed"} {
		if !strings.Contains(strings.Join(types, " "), want) {
			t.Errorf("no %s event in %v", want, types)
		}
	}
}
