package transport_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/testenv"
	"github.com/ch-aos-ch/chaos/internal/transport"
)

// A podman container and the same container through the docker CLI (against podman's
// Docker-compatible API): one exec carries the native worker, which runs commands, writes and
// stats files, and holds the host lock inside the container.
func TestContainerWorker(t *testing.T) {
	c := testenv.StartContainer(t)
	t.Run("podman", func(t *testing.T) { testContainerWorker(t, c, "@podman/"+c.Name) })
	t.Run("docker", func(t *testing.T) {
		testenv.RequireTool(t, "docker.io", "docker")
		t.Setenv("DOCKER_HOST", testenv.PodmanService(t))
		testContainerWorker(t, c, "@docker/"+c.Name)
	})
}

func testContainerWorker(t *testing.T, c *testenv.Container, spec string) {
	ctx := context.Background()
	tr, err := transport.Open(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ct, ok := tr.(transport.Container)
	if !ok {
		t.Fatalf("%s opened as %T", spec, tr)
	}
	if tr.Name() != spec {
		t.Errorf("name %q, want %q", tr.Name(), spec)
	}
	if w := ct.Worker(); w != "native" {
		t.Errorf("worker %q, want native", w)
	}
	res, err := transport.Check(ctx, tr, transport.Cmd{Argv: []string{"sh", "-c", "id -u; cat /etc/debian_version; cat"}, Stdin: []byte("in\n")})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res.Stdout); !strings.HasPrefix(got, "0\n12.") || !strings.HasSuffix(got, "in\n") {
		t.Errorf("stdout %q", got)
	}
	p := "/srv/" + strings.NewReplacer("@", "", "/", "-").Replace(spec)
	if err := tr.WriteFile(ctx, p, []byte("data\n"), 0o640, 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	fi, err := tr.Stat(ctx, p)
	if err != nil || string(fi.Content) != "data\n" || fi.Mode.Perm() != 0o640 {
		t.Fatalf("stat %s: %+v %v", p, fi, err)
	}
	if got := c.Exec(t, "cat", p); got != "data\n" {
		t.Errorf("in the container: %q", got)
	}
	release, err := ct.Flock("/var/lib/chaos/lock")
	if err != nil {
		t.Fatal(err)
	}
	// The lock is the container's own flock: a second connection is refused while it is held.
	tr2, err := transport.Open(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Close()
	if _, err := tr2.(transport.Container).Flock("/var/lib/chaos/lock"); !errors.Is(err, transport.ErrLocked) {
		t.Errorf("second lock: %v, want ErrLocked", err)
	}
	_ = release()
	if st := ct.Stats(); st.Sessions != 1 {
		t.Errorf("%d execs, want 1 (the worker)", st.Sessions)
	}
}

// A missing container, a stopped one and a missing engine binary are unreachable, naming the target.
func TestContainerErrors(t *testing.T) {
	c := testenv.StartContainer(t)
	c.Stop(t)
	ctx := context.Background()
	for spec, want := range map[string]string{
		"@podman/" + c.Name:     "is not running",
		"@podman/chaos-nothere": `no container "chaos-nothere"`,
	} {
		_, err := transport.Open(ctx, spec)
		var ue *transport.UnreachableError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), spec+": unreachable") {
			t.Errorf("%s: %v, want unreachable: ...%s", spec, err, want)
		}
	}
	t.Setenv("PATH", t.TempDir())
	_, err := transport.Open(ctx, "@docker/x")
	if err == nil || !strings.Contains(err.Error(), "@docker/x: unreachable: docker is not installed on this machine") {
		t.Errorf("no docker: %v", err)
	}
}

// /etc/hostname is a bind mount in a container (the engine's): rename(2) over it fails with EBUSY,
// so both workers write it in place, with the requested owner and mode.
func TestContainerBindMountedFile(t *testing.T) {
	c := testenv.StartContainer(t)
	if !strings.Contains(c.Exec(t, "cat", "/proc/self/mountinfo"), " /etc/hostname ") {
		t.Fatal("/etc/hostname is not a mount point in the container")
	}
	for _, worker := range []string{"native", "sh"} {
		t.Run(worker, func(t *testing.T) {
			if worker == "sh" {
				t.Setenv(transport.WorkerEnv, "sh")
			}
			ctx := context.Background()
			tr, err := transport.Open(ctx, "@podman/"+c.Name)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			if w := tr.(transport.Container).Worker(); w != worker {
				t.Fatalf("worker %s, want %s", w, worker)
			}
			if err := tr.WriteFile(ctx, "/etc/hostname", []byte(worker+"-box\n"), 0o640, 0, 0, nil); err != nil {
				t.Fatal(err)
			}
			if got := c.Exec(t, "stat", "-c", "%a %u", "/etc/hostname"); got != "640 0\n" {
				t.Errorf("mode and owner: %q", got)
			}
			if got := c.Exec(t, "sh", "-c", "cat /etc/hostname; ls -a /etc | grep -c '^.chaos-' || :"); got != worker+"-box\n0\n" {
				t.Errorf("hostname and temp files left: %q", got)
			}
			// A symlink is never written through a mount point in place.
			if err := tr.Symlink(ctx, "/etc/hostname", "/tmp/x"); err == nil {
				t.Error("symlink over the bind-mounted /etc/hostname succeeded")
			}
		})
	}
}

// A cancelled request kills the command and what it started in the container (one more exec, the
// kill), and the same worker serves the next request.
func TestContainerCancel(t *testing.T) {
	c := testenv.StartContainer(t)
	tr, err := transport.Open(context.Background(), "@podman/"+c.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err = tr.Run(ctx, transport.Cmd{Argv: []string{"sh", "-c", `echo $$ > /tmp/parent; sleep 60 & echo $! > /tmp/child; wait`}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled Run = %v", err)
	}
	// The container's PID 1 (sleep) reaps no orphans: a killed child stays a zombie, which is dead.
	res, err := tr.Run(context.Background(), transport.Cmd{Argv: []string{"sh", "-c",
		`for f in parent child; do s=$(cut -d' ' -f3 "/proc/$(cat /tmp/$f)/stat" 2>/dev/null); [ -z "$s" ] || [ "$s" = Z ] || echo "$f alive"; done`}})
	if err != nil || res.Code != 0 || len(res.Stdout) != 0 {
		t.Fatalf("after cancel: %q %v", res.Stdout, err)
	}
	if st := tr.(transport.Container).Stats(); st.Sessions != 2 {
		t.Fatalf("stats %+v, want 2 execs (the worker, the kill)", st)
	}
}
