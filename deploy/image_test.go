// Package deploy holds the tests of Capitain's container image (Dockerfile, image.sh); the Helm
// chart's tests are the separate module deploy/helmtest, so that Helm and the Kubernetes API types
// stay out of this module.
package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/capitain/server"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// imageBudget is the size target for the image (bytes, as podman counts them).
const imageBudget = 60_000_000

var tokenRE = regexp.MustCompile(`admin token .*\(shown once[^)]*\): (chaos_pat_\S+)`)

// imageConfig is the part of `podman image inspect` the test checks.
type imageConfig struct {
	Size        int64
	Healthcheck struct{ Test []string }
	Config      struct {
		User         string
		Env          []string
		Entrypoint   []string
		Volumes      map[string]struct{}
		ExposedPorts map[string]struct{}
		Labels       map[string]string
	}
}

// TestImage builds the image with deploy/image.sh (buildah bud), checks its configuration and size,
// then runs it with podman and runc twice: on podman's bridge network with the port published (its
// default configuration: /readyz, the health check, the API with the printed token), and on the host
// network, where a plan runs over SSH against a real test host, from a git daemon's repository.
func TestImage(t *testing.T) {
	testenv.RequirePodman(t)
	testenv.RequireTool(t, "buildah", "buildah")
	testenv.RequireTools(t, "apt", "apt-get")
	testenv.RequireTools(t, "dpkg", "dpkg-deb")
	repo := testenv.RepoRoot(t)
	version := fmt.Sprintf("0.0.0-test%d", os.Getpid())
	tag := "localhost/capitain-test:" + version

	start := time.Now()
	cmd := exec.Command(filepath.Join(repo, "deploy", "image.sh"), tag)
	cmd.Env = append(os.Environ(), "VERSION="+version)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("deploy/image.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("podman", "rmi", "-f", tag).Run() })
	t.Logf("image built in %s: %s", time.Since(start).Round(time.Second), strings.TrimSpace(string(out)))

	img := inspectImage(t, tag)
	t.Logf("image size %d bytes (%.1f MB), budget %d", img.Size, float64(img.Size)/1e6, imageBudget)
	if img.Size <= 0 || img.Size >= imageBudget {
		t.Errorf("image size %d bytes, want < %d", img.Size, imageBudget)
	}
	c := img.Config
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (non-root)", c.User)
	}
	if _, ok := c.Volumes["/data"]; !ok {
		t.Errorf("volumes %v: no /data", c.Volumes)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("exposed ports %v: no 8080/tcp", c.ExposedPorts)
	}
	if got := strings.Join(c.Entrypoint, " "); got != "/usr/local/bin/chaos capitain serve --config /etc/capitain/capitain.yml" {
		t.Errorf("entry point %q", got)
	}
	if got := strings.Join(img.Healthcheck.Test, " "); !strings.HasSuffix(got, "http://127.0.0.1:8080/readyz") {
		t.Errorf("health check %q does not probe /readyz", got)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.title":    "Capitain",
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.revision": strings.TrimSpace(gitOut(t, repo, "rev-parse", "HEAD")),
		"org.opencontainers.image.source":   "https://github.com/ch-aos-ch/chaos",
	} {
		if c.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], want)
		}
	}
	if _, err := time.Parse(time.RFC3339, c.Labels["org.opencontainers.image.created"]); err != nil {
		t.Errorf("label created: %v", err)
	}

	t.Run("bridge", func(t *testing.T) {
		addr := freeAddr(t)
		// --read-only as the Helm chart runs it: only /data and /tmp are writable. A named volume
		// as in the README: podman copies the image's /data (owner 65532) into it.
		vol := fmt.Sprintf("chaos-capitain-t%d", os.Getpid())
		t.Cleanup(func() { _ = exec.Command("podman", "volume", "rm", "-f", vol).Run() })
		ctr := run(t, tag, []string{"--read-only", "-p", addr + ":8080", "-v", vol + ":/data"})
		token := waitReady(t, ctr, "http://"+addr)
		var me struct {
			User  string
			Admin bool
		}
		call(t, "http://"+addr, token, "GET", "/api/v1/me", nil, 200, &me)
		if me.User != "admin" || !me.Admin {
			t.Errorf("GET /me: %+v", me)
		}
		if out, err := exec.Command("podman", "healthcheck", "run", ctr.Name).CombinedOutput(); err != nil {
			t.Errorf("podman healthcheck run: %v\n%s", err, out)
		}
		// The server runs as the image's user and keeps its SQLite database in /data.
		if got := ctr.Exec(t, "/bin/busybox", "stat", "-c", "%u %n", "/data/capitain.db"); got != "65532 /data/capitain.db\n" {
			t.Errorf("database file: %q", got)
		}
		if got := ctr.Exec(t, "/usr/local/bin/chaos", "version"); !strings.Contains(got, version) {
			t.Errorf("chaos version in the image: %q, want %s", got, version)
		}
	})

	t.Run("plan over SSH", func(t *testing.T) {
		hs := testenv.StartSSHHosts(t, 1)
		// The key and known_hosts, readable by the image's user, mounted read-only where the
		// Ch-obolo names them (docs/capitain.md "Deploy": an operator mounts a secret the same way).
		ssh := t.TempDir()
		for _, f := range []struct{ from, to string }{{hs.KeyFile, "id_ed25519"}, {hs.KnownHosts, "known_hosts"}} {
			data, err := os.ReadFile(f.from)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(ssh, f.to)
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(p, 65532, 65532); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(ssh, 0o755); err != nil {
			t.Fatal(err)
		}
		chobolo := fmt.Sprintf("files:\n  - path: /etc/motd\n    content: \"from the image\\n\"\nfleet:\n"+
			"  ssh: {known_hosts: /etc/capitain/ssh/known_hosts, config: none, connect_timeout: 10s}\n  hosts:\n"+
			"    one: {ssh_hostname: %s, ssh_user: root, ssh_key: /etc/capitain/ssh/id_ed25519}\n", hs.Hosts[0].Addr)
		url, _ := testenv.GitServer(t, "fleet", map[string]string{"chobolo.yml": chobolo})
		before := testenv.ReadFile(t, hs.Hosts[0].Root, "/etc/motd")

		addr := freeAddr(t)
		ctr := run(t, tag, []string{"--read-only", "--network", "host", "-v", ssh + ":/etc/capitain/ssh:ro"}, "--listen", addr)
		base := "http://" + addr
		token := waitReady(t, ctr, base)
		call(t, base, token, "POST", "/api/v1/projects", map[string]any{"name": "site", "repo": url + "fleet.git", "path": "chobolo.yml"}, 201, nil)
		var p server.Project
		call(t, base, token, "POST", "/api/v1/projects/site/refresh", nil, 200, &p)
		if p.Hosts != 1 || len(p.Problems) != 0 {
			t.Fatalf("refreshed project: %+v", p)
		}
		var j server.Job
		call(t, base, token, "POST", "/api/v1/jobs", server.JobRequest{Project: "site", Kind: server.KindPlan}, 201, &j)
		deadline := time.Now().Add(3 * time.Minute)
		for j.Finished == nil {
			if time.Now().After(deadline) {
				t.Fatalf("the plan did not finish: %+v\n%s", j, logs(ctr))
			}
			time.Sleep(200 * time.Millisecond)
			call(t, base, token, "GET", fmt.Sprintf("/api/v1/jobs/%d", j.ID), nil, 200, &j)
		}
		if j.State != server.StateSucceeded || j.Counts["pending"] != 1 {
			t.Fatalf("plan job: %+v\n%s", j, logs(ctr))
		}
		var h server.Host
		call(t, base, token, "GET", "/api/v1/hosts/site/one", nil, 200, &h)
		if h.Status != server.StatusOutOfSync || !strings.Contains(string(h.PendingPlan), "/etc/motd") || h.Core != "debian" {
			t.Fatalf("host after the plan: %+v", h)
		}
		if got := testenv.ReadFile(t, hs.Hosts[0].Root, "/etc/motd"); got != before {
			t.Errorf("a plan changed /etc/motd: %q", got)
		}
	})
}

func inspectImage(t *testing.T, tag string) imageConfig {
	t.Helper()
	out, err := exec.Command("podman", "image", "inspect", tag).Output()
	if err != nil {
		t.Fatalf("podman image inspect: %v", err)
	}
	var imgs []imageConfig
	if err := json.Unmarshal(out, &imgs); err != nil || len(imgs) != 1 {
		t.Fatalf("podman image inspect: %v\n%s", err, out)
	}
	return imgs[0]
}

// run starts a container of tag with runc (podman flags opts, then args appended to the entry
// point) and removes it, its anonymous /data volume and its conmon processes at cleanup.
func run(t *testing.T, tag string, opts []string, args ...string) *testenv.Container {
	t.Helper()
	name := fmt.Sprintf("chaos-capitain-t%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	argv := append([]string{"run", "-d", "--runtime", "runc", "--name", name}, opts...)
	argv = append(append(argv, tag), args...)
	out, err := exec.Command("podman", argv...).CombinedOutput()
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	c := &testenv.Container{Name: name, ID: strings.TrimSpace(string(out))}
	t.Cleanup(c.Remove)
	return c
}

// waitReady waits until the container's /readyz answers 200 at base and returns the admin token
// its first start printed.
func waitReady(t *testing.T, c *testenv.Container, base string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz at %s: not ready after 2 minutes (%v)\n%s", base, err, logs(c))
		}
		time.Sleep(100 * time.Millisecond)
	}
	m := tokenRE.FindStringSubmatch(logs(c))
	if m == nil {
		t.Fatalf("no admin token in the container's output:\n%s", logs(c))
	}
	return m[1]
}

func logs(c *testenv.Container) string {
	out, _ := exec.Command("podman", "logs", c.Name).CombinedOutput()
	return string(out)
}

// call sends an API request with the token and decodes the JSON answer into out (when not nil).
func call(t *testing.T, base, token, method, path string, body any, want int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		js, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, data)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return string(out)
}

// The Helm SDK and the Kubernetes API types are the chart tests' alone (deploy/helmtest, a module
// of its own): the chaos binary links none of them.
func TestChaosBinaryHasNoHelm(t *testing.T) {
	bin := testenv.ChaosBinary(t)
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	out, err := exec.Command(goTool, "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	if !strings.Contains(string(out), "github.com/ch-aos-ch/chaos") {
		t.Fatalf("go version -m lists no module:\n%s", out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "dep" &&
			(strings.HasPrefix(f[1], "helm.sh/") || strings.HasPrefix(f[1], "k8s.io/") || strings.HasPrefix(f[1], "sigs.k8s.io/")) {
			t.Errorf("the chaos binary links %s", f[1])
		}
	}
}
