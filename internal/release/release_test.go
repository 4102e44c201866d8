package release_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ch-aos-ch/chaos/internal/minisign"
	"github.com/ch-aos-ch/chaos/internal/release"
	"github.com/ch-aos-ch/chaos/internal/selfupdate"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

const testVersion = "1.2.3-rc.1"

// The full release (amd64 and arm64, signed with a throwaway key) is built once per test process:
// cross-compiling arm64 on a small machine takes minutes, so every test reads the same artifacts.
var full struct {
	once  sync.Once
	dir   string
	a     *release.Artifacts
	key   minisign.PrivateKey
	stamp release.Stamp // the commit every build of this test process is stamped with
	err   error
}

func fullRelease(t *testing.T) (string, *release.Artifacts, minisign.PrivateKey) {
	t.Helper()
	repo := testenv.RepoRoot(t)
	testenv.RequireTool(t, "buildah", "buildah") // the Capitain image
	full.once.Do(func() {
		full.key, full.err = minisign.GenerateKey()
		if full.err != nil {
			return
		}
		// One stamp for every build: a commit made while the tests run must not make two builds differ.
		full.stamp, full.err = release.GitStamp(context.Background(), repo)
		if full.err != nil {
			return
		}
		full.dir, full.err = os.MkdirTemp("", "chaos-release-test-")
		if full.err != nil {
			return
		}
		full.a, full.err = release.Run(context.Background(), release.Options{Repo: repo, Out: filepath.Join(full.dir, "dist"),
			Version: testVersion, Stamp: full.stamp, Key: &full.key, Log: t.Logf})
	})
	if full.err != nil {
		t.Fatalf("release: %v", full.err)
	}
	return filepath.Join(full.dir, "dist"), full.a, full.key
}

func TestMain(m *testing.M) {
	code := m.Run()
	if full.dir != "" {
		os.RemoveAll(full.dir)
	}
	os.Exit(code)
}

// TestReproducible: a second build of the same commit, into another directory, writes the same
// bytes for every amd64 artifact (binary, tarball, .deb, .rpm, Arch package, Capitain image archive) and the
// same SHA256SUMS lines for them. The second build is amd64 only: arm64 goes through the same flags, and
// building it twice would double the test's minutes.
func TestReproducible(t *testing.T) {
	dist, a, _ := fullRelease(t)
	second := filepath.Join(t.TempDir(), "again")
	b, err := release.Run(context.Background(), release.Options{Repo: testenv.RepoRoot(t), Out: second, Version: testVersion,
		Arches: []string{"amd64"}, Stamp: full.stamp, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	pairs := [][2]string{{a.Binaries["amd64"], b.Binaries["amd64"]}, {a.Tarballs["amd64"], b.Tarballs["amd64"]},
		{a.Images["amd64"], b.Images["amd64"]}}
	for _, f := range release.Formats {
		pairs = append(pairs, [2]string{a.Packages[f]["amd64"], b.Packages[f]["amd64"]})
	}
	for _, p := range pairs {
		x, err1 := os.ReadFile(p[0])
		y, err2 := os.ReadFile(p[1])
		if err1 != nil || err2 != nil {
			t.Fatalf("read: %v %v", err1, err2)
		}
		if filepath.Base(p[0]) != filepath.Base(p[1]) || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two builds of one commit (%d vs %d bytes)", filepath.Base(p[0]), len(x), len(y))
		}
	}
	sums1, _ := os.ReadFile(filepath.Join(dist, selfupdate.SumsName))
	sums2, _ := os.ReadFile(b.Sums)
	for l := range strings.Lines(string(sums2)) {
		// The PKGBUILD lists the tarballs of the architectures built: only amd64's the second time.
		if strings.HasSuffix(l, "  PKGBUILD\n") {
			continue
		}
		if !strings.Contains(string(sums1), l) {
			t.Errorf("SHA256SUMS line %q of the second build is not in the first's", strings.TrimSpace(l))
		}
	}
	if b.Sig != "" {
		t.Error("an unsigned build wrote a signature")
	}
}

// TestArtifacts: each binary is a static Linux executable of its architecture, embeds the native
// worker for its architecture, and is stamped with the version and commit; the signature verifies
// with the real minisign and the checksums with sha256sum.
func TestArtifacts(t *testing.T) {
	dist, a, key := fullRelease(t)
	stamp := full.stamp
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, arch := range release.Arches {
		bin := a.Binaries[arch]
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatalf("%s: %v", bin, err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s has a program interpreter: not static", bin)
			}
		}
		if f.Machine != machines[arch] {
			t.Errorf("%s is for %v, want %v", bin, f.Machine, machines[arch])
		}
		f.Close()
		data, _ := os.ReadFile(bin)
		worker, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "internal/transport/workerbin/bin/chaos-worker-linux-"+arch))
		if err != nil || len(worker) < 1<<20 {
			t.Fatalf("worker for %s: %v", arch, err)
		}
		if !bytes.Contains(data, worker) {
			t.Errorf("%s does not embed chaos-worker-linux-%s", bin, arch)
		}
		// The commit and version are in the binary (the amd64 one also runs: TestPackages and below).
		if !bytes.Contains(data, []byte(stamp.Commit)) || !bytes.Contains(data, []byte(testVersion)) {
			t.Errorf("%s is not stamped with %s and %s", bin, testVersion, stamp.Commit)
		}
	}
	if out, err := exec.Command(a.Binaries["amd64"], "version").Output(); err != nil ||
		!strings.HasPrefix(string(out), "chaos "+testVersion+" (commit "+stamp.Commit) {
		t.Errorf("chaos version = %q, %v; want chaos %s (commit %s...", out, err, testVersion, stamp.Commit)
	}

	sha := testenv.RequireTool(t, "coreutils", "sha256sum")
	cmd := exec.Command(sha, "--strict", "-c", selfupdate.SumsName)
	cmd.Dir = dist
	if out, err := cmd.CombinedOutput(); err != nil || strings.Count(string(out), ": OK") != 2*(2+len(release.Formats))+len(release.ImageArches)+2 /* PKGBUILD, chaos.install */ {
		t.Errorf("sha256sum -c: %v\n%s", err, out)
	}
	ms := testenv.RequireTool(t, "minisign", "minisign")
	out, err := exec.Command(ms, "-V", "-P", key.Public().String(), "-m", filepath.Join(dist, selfupdate.SumsName)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Trusted comment: chaos "+testVersion) {
		t.Errorf("minisign -V: %v\n%s", err, out)
	}
}

// TestImage: the release's Capitain image archive loads with podman as localhost/capitain:VERSION,
// its labels carry the release's version and commit, and the chaos inside it is the release's own
// binary, reporting the release's version and commit.
func TestImage(t *testing.T) {
	testenv.RequirePodman(t)
	dist, a, _ := fullRelease(t)
	archive := a.Images["amd64"]
	if archive != filepath.Join(dist, release.ImageFile(testVersion, "amd64")) {
		t.Fatalf("image archive %q", archive)
	}
	sums, err := os.ReadFile(filepath.Join(dist, selfupdate.SumsName))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := release.FileSHA256(archive)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(sums), sum+"  "+filepath.Base(archive)+"\n") {
		t.Errorf("SHA256SUMS does not list %s with its hash %s", filepath.Base(archive), sum)
	}
	tag := "localhost/" + release.ImageName + ":" + testVersion
	out, err := exec.Command("podman", "load", "-i", archive).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Loaded image: "+tag) {
		t.Fatalf("podman load -i %s: %v\n%s", archive, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("podman", "rmi", "-f", tag).Run() })
	out, err = exec.Command("podman", "image", "inspect", "--format", "{{.Architecture}} {{json .Labels}}", tag).Output()
	if err != nil {
		t.Fatalf("podman image inspect: %v", err)
	}
	arch, labels, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	var l map[string]string
	if err := json.Unmarshal([]byte(labels), &l); err != nil {
		t.Fatalf("labels %s: %v", labels, err)
	}
	if l["org.opencontainers.image.version"] != testVersion || l["org.opencontainers.image.revision"] != full.stamp.Commit ||
		l["org.opencontainers.image.created"] != full.stamp.Time.Format(time.RFC3339) || arch != "amd64" {
		t.Errorf("image labels %v, architecture %s; want version %s, revision %s, created %s, amd64",
			l, arch, testVersion, full.stamp.Commit, full.stamp.Time.Format(time.RFC3339))
	}
	out, err = exec.Command("podman", "run", "--rm", "--runtime", "runc", "--network", "none",
		"--entrypoint", "/usr/local/bin/chaos", tag, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "chaos "+testVersion+" (commit "+full.stamp.Commit) {
		t.Errorf("chaos version in the image = %q, %v; want chaos %s (commit %s...", out, err, testVersion, full.stamp.Commit)
	}
	data, _ := os.ReadFile(a.Binaries["amd64"])
	out, err = exec.Command("podman", "run", "--rm", "--runtime", "runc", "--network", "none",
		"--entrypoint", "/bin/busybox", tag, "sha256sum", "/usr/local/bin/chaos").CombinedOutput()
	if bin := sha256.Sum256(data); err != nil || !strings.HasPrefix(string(out), hex.EncodeToString(bin[:])) {
		t.Errorf("the image's chaos is not the release's binary: %q, %v", out, err)
	}
}

// TestNoBuildah: without buildah a release stops before building anything, saying what is missing.
func TestNoBuildah(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // go, git, buildah: none
	out := filepath.Join(t.TempDir(), "dist")
	_, err := release.Run(context.Background(), release.Options{Repo: testenv.RepoRoot(t), Out: out, Version: testVersion,
		Stamp: release.Stamp{Commit: "0123456789abcdef0123456789abcdef01234567", Time: time.Unix(1700000000, 0)}})
	if !errors.Is(err, release.ErrNoBuildah) || !strings.Contains(err.Error(), "scripts/deps.sh") {
		t.Fatalf("release without buildah: %v, want %v", err, release.ErrNoBuildah)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed release created %s (%v)", out, err)
	}
}
