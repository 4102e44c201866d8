package cli_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// /etc/hostname and /etc/hosts are bind mounts in a container: written in place (docs/fleet.md).
const containerA = `hostname: boxa
users:
  - name: alice
    shell: bash
files:
  - path: /etc/motd
    content: "managed by chaos\n"
`

// TestContainerApply applies a small Ch-obolo into a running podman container through @podman/NAME:
// plan, apply, a no-change rerun, a failing apply undone, a rollback, the same container through
// the docker CLI (podman's Docker API) as --target and as a fleet host, and a fleet with a
// container host and a missing one (unreachable).
func TestContainerApply(t *testing.T) {
	isolate(t)
	c := testenv.StartContainer(t)
	target := "@podman/" + c.Name
	fileA := writeChobolo(t, containerA)
	if r := run(t, "", "apply", "-c", fileA, "--target", target, "--dry"); r.code != 2 ||
		!strings.Contains(r.stdout, "alice") || !strings.Contains(r.stdout, "/etc/motd") {
		t.Fatalf("plan:\n%s", r)
	}
	if r := run(t, "", "apply", "-c", fileA, "--target", target, "-y"); r.code != 0 || !strings.Contains(r.stdout, "recorded generation 1") {
		t.Fatalf("apply:\n%s", r)
	}
	if got := c.Exec(t, "cat", "/etc/motd", "/etc/hostname"); got != "managed by chaos\nboxa\n" {
		t.Errorf("motd and hostname in the container: %q", got)
	}
	if got := c.Exec(t, "grep", "boxa", "/etc/hosts"); got != "127.0.1.1\tboxa\n" {
		t.Errorf("/etc/hosts in the container: %q", got)
	}
	if got := c.Exec(t, "getent", "passwd", "alice"); !strings.Contains(got, ":/home/alice:/bin/bash") {
		t.Errorf("alice: %q", got)
	}
	if r := run(t, "", "apply", "-c", fileA, "--target", target, "-y"); r.code != 0 || strings.Contains(r.stdout, "recorded generation") {
		t.Fatalf("no-change rerun:\n%s", r)
	}
	if r := run(t, "", "init", "chobolo", "--from", target); r.code != 0 || !strings.Contains(r.stdout, "name: alice") || !strings.Contains(r.stdout, "hostname: boxa") {
		t.Fatalf("init chobolo --from %s:\n%s", target, r)
	}

	// A failing op (a sudoers file visudo refuses) undoes what the apply did before it: the user
	// bob it added and the motd it changed.
	bad := writeChobolo(t, strings.Replace(strings.Replace(containerA, "managed by chaos", "changed", 1), "users:\n", "users:\n  - name: bob\n", 1)+
		"  - path: /etc/sudoers.d/zz-bad\n    content: \"this is not sudoers\\n\"\n    mode: \"0440\"\n")
	if r := run(t, "", "apply", "-c", bad, "--target", target, "-y"); r.code != 1 || !strings.Contains(r.stderr, "rolled back") {
		t.Fatalf("failing apply: want exit 1, rolled back:\n%s", r)
	}
	if got := c.Exec(t, "sh", "-c", "cat /etc/motd; ls /etc/sudoers.d; getent passwd bob || echo no bob"); got != "managed by chaos\nREADME\nno bob\n" {
		t.Errorf("after the failed apply: %q, want the motd of generation 1, no zz-bad, no bob", got)
	}

	fileC := writeChobolo(t, strings.Replace(strings.Replace(containerA, "managed by chaos", "third", 1), "boxa", "boxc", 1))
	if r := run(t, "", "apply", "-c", fileC, "--target", target, "-y"); r.code != 0 || !strings.Contains(r.stdout, "recorded generation 2") {
		t.Fatalf("apply C:\n%s", r)
	}
	if r := run(t, "", "generations", "--target", target); r.code != 0 || !strings.Contains(r.stdout, "GEN") {
		t.Fatalf("generations:\n%s", r)
	}
	if r := run(t, "", "rollback", "--target", target, "-y"); r.code != 0 || !strings.Contains(r.stdout, "recorded generation 3") {
		t.Fatalf("rollback:\n%s", r)
	}
	if got := c.Exec(t, "cat", "/etc/motd", "/etc/hostname"); got != "managed by chaos\nboxa\n" {
		t.Errorf("after the rollback: %q", got)
	}
	if r := run(t, "", "recover", "--target", target); r.code != 0 {
		t.Errorf("recover with no journal left:\n%s", r)
	}

	// The docker CLI against podman's Docker-compatible API: the same container, nothing to do.
	testenv.RequireTool(t, "docker.io", "docker")
	t.Setenv("DOCKER_HOST", testenv.PodmanService(t))
	if r := run(t, "", "apply", "-c", fileA, "--target", "@docker/"+c.Name, "--dry"); r.code != 0 {
		t.Fatalf("apply --dry through docker:\n%s", r)
	}
	dockerFleet := writeChobolo(t, containerA+fmt.Sprintf("fleet:\n  hosts:\n    %q: {}\n", "@docker/"+c.Name))
	if r := run(t, "", "apply", "-c", dockerFleet, "--fleet", "--dry"); r.code != 0 || !strings.Contains(r.stdout, "1 hosts: 1 unchanged") {
		t.Fatalf("@docker/NAME as a fleet host:\n%s", r)
	}

	// A fleet of a container host and a missing container: the missing one is unreachable.
	fleetFile := writeChobolo(t, containerA+fmt.Sprintf("fleet:\n  hosts:\n    box: {connector: %q}\n    \"@podman/chaos-nothere\": {}\n", target))
	r := run(t, "", "apply", "-c", fleetFile, "--fleet", "--dry")
	if r.code != 1 || !strings.Contains(r.stdout, "2 hosts: 1 unchanged, 1 unreachable") ||
		!strings.Contains(r.stdout, `no container "chaos-nothere"`) {
		t.Fatalf("fleet:\n%s", r)
	}
	c.Stop(t)
	if r := run(t, "", "apply", "-c", fileA, "--target", target, "--dry"); r.code != 1 ||
		!strings.Contains(r.stderr, target+": unreachable: container \""+c.Name+"\" is not running") {
		t.Fatalf("stopped container:\n%s", r)
	}
}

// TestDockerSSHApply applies through @dockerssh/HOST/NAME: a real SSH host (netns sshd) whose
// docker CLI (Debian's, copied into its root) talks to this machine's podman through the Docker
// API socket at the host's /srv/docker.sock, so `docker exec` on the SSH host reaches a real
// container. The SSH host cannot run containers itself (see docs/fleet.md); the SSH leg, the
// docker CLI there and the container are real.
func TestDockerSSHApply(t *testing.T) {
	isolate(t)
	docker := testenv.RequireTool(t, "docker.io", "docker")
	c := testenv.StartContainer(t)
	hs := testenv.StartSSHHosts(t, 1, func(h *testenv.SSHHost) {
		data, err := os.ReadFile(docker)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(h.Root, "usr/bin/docker"), data, 0o755); err != nil {
			t.Fatal(err)
		}
		// root's docker CLI uses the context "podman": the socket below (the host's /run is its own
		// tmpfs, so the default /run/docker.sock cannot be reached from here).
		sum := sha256.Sum256([]byte("podman"))
		testenv.WriteFile(t, h.Root, "/root/.docker/config.json", `{"currentContext": "podman"}`)
		testenv.WriteFile(t, h.Root, "/root/.docker/contexts/meta/"+hex.EncodeToString(sum[:])+"/meta.json",
			`{"Name": "podman", "Metadata": {}, "Endpoints": {"docker": {"Host": "unix:///srv/docker.sock"}}}`)
		// deploy runs docker through sudo, with a password (become).
		h.Exec(t, "useradd", "-m", "-s", "/bin/sh", "-G", "sudo", "deploy")
		h.Exec(t, "sh", "-c", "echo 'deploy:pw' | chpasswd")
	})
	h := hs.Hosts[0]
	testenv.WriteFile(t, h.Root, "/home/deploy/.ssh/authorized_keys", hs.PublicKey+"\n")
	h.Exec(t, "chown", "-R", "deploy:deploy", "/home/deploy/.ssh")
	testenv.PodmanServiceAt(t, filepath.Join(h.Root, "srv/docker.sock"))
	file := writeChobolo(t, containerA+fmt.Sprintf(`fleet:
  ssh: {known_hosts: %s, config: none}
  hosts:
    app: {connector: "@dockerssh/root@%s/%s", ssh_key: %s}
    gone: {connector: "@dockerssh/root@%s/chaos-nothere", ssh_key: %s}
    sudoapp: {connector: "@dockerssh/deploy@%s/%s", ssh_key: %s, become: true}
`, hs.KnownHosts, h.Addr, c.Name, hs.KeyFile, h.Addr, hs.KeyFile, h.Addr, c.Name, hs.KeyFile))
	if r := run(t, "", "apply", "-c", file, "--target", "app", "-y"); r.code != 0 || !strings.Contains(r.stdout, "recorded generation 1") {
		t.Fatalf("apply over @dockerssh:\n%s", r)
	}
	if got := c.Exec(t, "cat", "/etc/motd"); got != "managed by chaos\n" {
		t.Errorf("motd in the container: %q", got)
	}
	if testenv.Exists(t, h.Root, "/var/lib/chaos/generations") {
		t.Error("the generation was recorded on the SSH host, not in the container")
	}
	// As a user who runs docker through sudo: the password line goes to sudo, the rest of the
	// stream to docker exec and the worker in the container.
	if r := run(t, "pw\n", "apply", "-c", file, "--target", "sudoapp", "--ask-become-pass", "--dry"); r.code != 0 || !strings.Contains(r.stdout, "no changes") {
		t.Fatalf("apply over @dockerssh with sudo:\n%s", r)
	}
	r := run(t, "", "apply", "-c", file, "--limit", "app,gone", "-y")
	if r.code != 1 || !strings.Contains(r.stdout, "2 hosts: 1 unchanged, 1 unreachable") || !strings.Contains(r.stdout, `no container "chaos-nothere"`) {
		t.Fatalf("fleet over @dockerssh:\n%s", r)
	}
}

// toolStandIn writes an executable named name into dir that prints recorded output (testdata/connectors)
// with the test's addresses and key substituted: vagrant and terraform are not packaged here, so
// only their output is recorded; the SSH part runs against real SSH hosts.
func toolStandIn(t *testing.T, dir, name, script string, subst map[string]string) {
	t.Helper()
	data := "#!/bin/sh\nD=" + filepath.Join(testenv.RepoRoot(t), "internal/cli/testdata/connectors") + "\nsubst() { sed"
	for k, v := range subst {
		data += " -e 's|" + k + "|" + v + "|g'"
	}
	data += " \"$1\"; }\n" + script
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestVagrantTerraformTargets: @vagrant/BOX and @terraform/DIR:OUTPUT find real SSH hosts through
// stand-ins printing the tools' recorded output, as --target and as fleet hosts; a box that is not
// up and an output of the wrong shape are clear errors.
func TestVagrantTerraformTargets(t *testing.T) {
	isolate(t)
	hs := testenv.StartSSHHosts(t, 2)
	h1, h2 := hs.Hosts[0], hs.Hosts[1]
	file := writeChobolo(t, containerA+fmt.Sprintf(`fleet:
  ssh: {known_hosts: %s, config: none}
  hosts:
    vm: {connector: "@vagrant/default"}
    web: {connector: "@terraform/infra:web", ssh_key: %s}
`, hs.KnownHosts, hs.KeyFile))
	bin := t.TempDir()
	subst := map[string]string{"@ADDR@": h1.Addr, "@ADDR1@": h1.Addr, "@ADDR2@": h2.Addr, "@KEY@": hs.KeyFile}
	toolStandIn(t, bin, "vagrant", `[ "$1" = ssh-config ] || exit 2
case $2 in
default) subst "$D/vagrant-ssh-config.txt" ;;
*) cat "$D/vagrant-not-ready.txt" >&2; exit 1 ;;
esac
`, subst)
	// --target runs terraform in the working directory; fleet hosts next to the Ch-obolo.
	toolStandIn(t, bin, "terraform", `case $1 in -chdir=infra|-chdir=`+filepath.Dir(file)+`/infra) echo "$1" >>`+bin+`/chdirs ;; *) echo "bad $1" >&2; exit 2 ;; esac
[ "$2 $3 $4" = "output -no-color -json" ] || exit 2
[ -f "$D/terraform-output-$5.json" ] || { echo "Error: Output \"$5\" not found" >&2; exit 1; }
subst "$D/terraform-output-$5.json"
`, subst)
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	// The default key and known_hosts of --target hosts that no fleet entry describes (the terraform
	// addresses; commands without a Ch-obolo).
	home := t.TempDir()
	t.Setenv("HOME", home)
	key, err := os.ReadFile(hs.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, home, "/.ssh/id_ed25519", string(key))
	kh, err := os.ReadFile(hs.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, home, "/.ssh/known_hosts", string(kh))
	if err := os.Chmod(filepath.Join(home, ".ssh/id_ed25519"), 0o600); err != nil {
		t.Fatal(err)
	}

	if r := run(t, "", "apply", "-c", file, "--target", "@vagrant/default", "-y"); r.code != 0 || !strings.Contains(r.stdout, "recorded generation 1") {
		t.Fatalf("apply --target @vagrant/default:\n%s", r)
	}
	if got := testenv.ReadFile(t, h1.Root, "/etc/motd"); got != "managed by chaos\n" {
		t.Errorf("h1 motd: %q", got)
	}
	r := run(t, "", "apply", "-c", file, "--target", "@vagrant/down", "--dry")
	if r.code != 1 || !strings.Contains(r.stderr, "@vagrant/down: unreachable: vagrant box down is not up or not known: vagrant ssh-config: The provider for this Vagrant-managed machine is reporting that it\nis not yet ready for SSH") {
		t.Fatalf("a box that is not up:\n%s", r)
	}

	// --target @terraform/infra:web is both hosts of the output; in the fleet, web-a and web-b.
	r = run(t, "", "apply", "-c", file, "--target", "@terraform/infra:web", "--dry")
	if r.code != 2 || !strings.Contains(r.stdout, "root@"+h1.Addr+": no changes") || !strings.Contains(r.stdout, "root@"+h2.Addr+":22: 2 to add") {
		t.Fatalf("apply --target @terraform/infra:web --dry (h1 done, h2 pending):\n%s", r)
	}
	// vm and web-a are both h1: one at a time (its lock would refuse a second run beside the first).
	r = run(t, "", "apply", "-c", file, "--limit", "web*", "-y")
	if r.code != 0 || !strings.Contains(r.stdout, "2 hosts: 1 changed, 1 unchanged") {
		t.Fatalf("apply --limit web* (web-a is h1, web-b is h2):\n%s", r)
	}
	if r := run(t, "", "apply", "-c", file, "--limit", "vm", "--dry"); r.code != 0 || !strings.Contains(r.stdout, "1 hosts: 1 unchanged") {
		t.Fatalf("apply --limit vm:\n%s", r)
	}
	if r := run(t, "", "fleet", "list", "-c", file); r.code != 0 || !strings.Contains(r.stdout, "web-a") || !strings.Contains(r.stdout, "web-b") ||
		!strings.Contains(r.stdout, "@terraform/infra:web") || !strings.Contains(r.stdout, "@vagrant/default") {
		t.Fatalf("fleet list:\n%s", r)
	}
	if got := testenv.ReadFile(t, h2.Root, "/etc/motd"); got != "managed by chaos\n" {
		t.Errorf("h2 motd: %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(bin, "chdirs")); !strings.Contains(string(got), "-chdir=infra\n") ||
		!strings.Contains(string(got), "-chdir="+filepath.Dir(file)+"/infra\n") {
		t.Errorf("terraform ran in %q, want infra (--target) and the Ch-obolo's infra (fleet)", got)
	}
	if r := run(t, "", "generations", "--target", "@terraform/infra:one"); r.code != 0 || !strings.Contains(r.stdout, "GEN") {
		t.Fatalf("generations --target @terraform/infra:one:\n%s", r)
	}
	if r := run(t, "", "generations", "--target", "@terraform/infra:web"); r.code != 1 || !strings.Contains(r.stderr, "names 2 hosts") {
		t.Fatalf("generations --target a two-host output:\n%s", r)
	}
	for out, want := range map[string]string{
		"objects": "want a string, a list of strings or a map of strings",
		"nothere": `Output "nothere" not found`,
	} {
		if r := run(t, "", "apply", "-c", file, "--target", "@terraform/infra:"+out, "--dry"); r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("output %s:\n%s", out, r)
		}
	}
}

// TestContainerSIGKILL kills the chaos binary with SIGKILL in the middle of an apply into a
// container: the worker in the container sees its stream end, the lock is released, and `chaos
// recover --target @podman/NAME` rolls the journal back to the state before the apply.
func TestContainerSIGKILL(t *testing.T) {
	isolate(t)
	bin := testenv.ChaosBinary(t)
	c := testenv.StartContainer(t)
	root := c.Root(t)
	target := "@podman/" + c.Name
	file := writeChobolo(t, containerA+`  - path: /srv/a
    content: "a\n"
  - path: /srv/b
    content: "b\n"
  - path: /srv/c
    content: "c\n"
  - path: /srv/d
    content: "d\n"
`)
	state := func() string {
		return c.Exec(t, "sh", "-c", "cat /etc/hostname /etc/motd; ls /srv; getent passwd alice || :")
	}
	before := state()
	cmd := exec.Command(bin, "apply", "-c", file, "--target", target, "-y")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	killed := false
	for !killed {
		select {
		case <-exited:
			t.Fatal("the apply ended before its third op")
		default:
		}
		if journalEntries(root) >= 3 {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			killed = true
		}
		time.Sleep(500 * time.Microsecond)
	}
	if r := run(t, "", "recover", "--target", target); r.code != 0 || !strings.Contains(r.stdout, "rolled back") {
		t.Fatalf("recover:\n%s", r)
	}
	if got := state(); got != before {
		t.Fatalf("after recover:\n%s\nwant\n%s", got, before)
	}
	if r := run(t, "", "apply", "-c", file, "--target", target, "-y"); r.code != 0 || !strings.Contains(r.stdout, "recorded generation 1") {
		t.Fatalf("apply after the recovery:\n%s", r)
	}
}

// TestCompleteContainers: --target completes the connector forms, and the running containers after
// @podman/ (through `podman ps`).
func TestCompleteContainers(t *testing.T) {
	isolate(t)
	c := testenv.StartContainer(t)
	got := complete(t, "apply", "--target", "@")
	for _, want := range []string{"@podman/", "@docker/", "@dockerssh/", "@vagrant/", "@terraform/"} {
		if !slices.Contains(got, want) {
			t.Errorf("--target @<TAB> = %q, want %s", got, want)
		}
	}
	if got := complete(t, "apply", "--target", "@podman/"+c.Name[:len(c.Name)-1]); !slices.Contains(got, "@podman/"+c.Name) {
		t.Errorf("--target @podman/<TAB> = %q, want @podman/%s", got, c.Name)
	}
}
