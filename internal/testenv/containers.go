package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// containersConf is podman's configuration this machine kind needs (test-targets §10): its default
// ulimits exceed the hard limits here ("error setting rlimit type 7"); a --ulimit flag would
// replace the whole list and fail again.
const containersConf = "/etc/containers/containers.conf"

const containersConfText = "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n"

var (
	imageMu   sync.Mutex
	imageName string
	ctrSeq    atomic.Int64
)

// PodmanImage returns a local podman image of the cached Debian base root (BaseRoot), so the
// container has sh, coreutils and util-linux. It is imported once per machine and recipe (the tag
// is the base root's cache key; no registry is involved), under a lock in the cache directory that
// parallel test packages share (RequirePodman first).
func PodmanImage(t testing.TB) string {
	t.Helper()
	RequirePodman(t)
	base := BaseRoot(t)
	imageMu.Lock()
	defer imageMu.Unlock()
	if imageName != "" {
		return imageName
	}
	name := "localhost/chaos-test-" + filepath.Base(base) + ":1"
	lock, err := os.OpenFile(base+".podman.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if exec.Command("podman", "image", "exists", name).Run() != nil {
		t.Logf("testenv: importing %s into podman as %s (one-time)...", base, name)
		cmd := exec.Command("sh", "-c", `tar -C "$1" --numeric-owner -cf - . | podman import - "$2"`, "sh", base, name)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("testenv: podman import: %v\n%s", err, tail(string(out), 4000))
		}
	}
	imageName = name
	return name
}

// RequirePodman needs root, podman and runc, and writes containersConf when it is missing.
func RequirePodman(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	RequireTool(t, "podman", "podman")
	RequireTool(t, "runc", "runc")
	if _, err := os.Stat(containersConf); os.IsNotExist(err) {
		if err := os.MkdirAll(filepath.Dir(containersConf), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(containersConf, []byte(containersConfText), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Container is a running podman container of PodmanImage.
type Container struct {
	// Name is the container's name.
	Name string
	// ID is its full ID.
	ID string
}

// StartContainer runs a container of PodmanImage (runc, sleeping) and removes it when the test ends,
// with the conmon processes its exec sessions leave behind for 300 s.
func StartContainer(t testing.TB) *Container {
	t.Helper()
	img := PodmanImage(t)
	name := fmt.Sprintf("chaos-t%d-%d", os.Getpid(), ctrSeq.Add(1))
	out, err := exec.Command("podman", "run", "-d", "--runtime", "runc", "--name", name, "--network", "none",
		img, "sleep", "infinity").CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: podman run: %v\n%s", err, out)
	}
	c := &Container{Name: name, ID: strings.TrimSpace(string(out))}
	t.Cleanup(func() { c.Remove() })
	return c
}

// Remove removes the container and kills its conmon processes.
func (c *Container) Remove() {
	_ = exec.Command("podman", "rm", "-f", "-v", "-t", "0", c.Name).Run() // -v: its anonymous volumes
	killConmon(c.ID)
}

// Root is the container's root file system as seen from this machine (podman mount), for
// assertions that read it directly.
func (c *Container) Root(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("podman", "mount", c.Name).Output()
	if err != nil {
		t.Fatalf("testenv: podman mount %s: %v", c.Name, err)
	}
	return strings.TrimSpace(string(out))
}

// Stop stops the container (it stays, not running).
func (c *Container) Stop(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("podman", "stop", "-t", "0", c.Name).CombinedOutput(); err != nil {
		t.Fatalf("testenv: podman stop: %v\n%s", err, out)
	}
}

// Exec runs argv in the container and returns its stdout, failing the test on a non-zero exit.
func (c *Container) Exec(t testing.TB, argv ...string) string {
	t.Helper()
	out, err := exec.Command("podman", append([]string{"exec", c.Name}, argv...)...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("podman exec %s %v: %v\n%s", c.Name, argv, err, stderr)
	}
	return string(out)
}

// killConmon kills the conmon processes of container id (exec sessions keep theirs for 300 s).
func killConmon(id string) {
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		args := strings.Split(string(data), "\x00")
		if filepath.Base(args[0]) != "conmon" || !strings.Contains(string(data), id) {
			continue
		}
		if pid, err := strconv.Atoi(strings.Split(f, "/")[2]); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// PodmanService starts podman's Docker-compatible API on a private socket and returns the
// DOCKER_HOST value for the docker CLI; the service stops when the test ends.
func PodmanService(t testing.TB) string {
	t.Helper()
	return PodmanServiceAt(t, filepath.Join(t.TempDir(), "podman.sock"))
}

// PodmanServiceAt is PodmanService on the socket path sock (e.g. /run/docker.sock inside an SSH
// test host's root, where the docker CLI looks by default).
func PodmanServiceAt(t testing.TB, sock string) string {
	t.Helper()
	PodmanImage(t)
	cmd := exec.Command("podman", "system", "service", "--time=0", "unix://"+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: podman system service: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(sock); err == nil {
			return "unix://" + sock
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("testenv: podman system service: no socket %s after 10s", sock)
	return ""
}
