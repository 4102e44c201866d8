// Package secretstest gives tests the outside tools that secrets interop is checked against: the real
// sops CLI built from the module version chaos links, throwaway age keys and a throwaway GnuPG key.
package secretstest

import (
	"bytes"
	"cmp"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// sopsModule is the module whose CLI the tests build, at the version go.mod requires, so the CLI
// and the library are always the same release.
const sopsModule = "github.com/getsops/sops/v3"

// built are the sops CLIs built by this test process, by cache file name.
var built struct {
	sync.Mutex
	paths map[string]string
}

// SopsVersion returns the sops module version chaos requires (from the repository's go.mod; test
// binaries carry no module build info).
func SopsVersion(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(sopsModule) + `\s+(v\S+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("go.mod does not require %s", sopsModule)
	}
	return string(m[1])
}

// Sops returns the path of the upstream sops CLI of the same release as the sops module chaos
// links. chaos links a trimmed copy of that module (third_party/sops, through a replace in go.mod),
// so the CLI is built outside the repository from the Go module proxy, as SopsRelease does: the
// CLI under test stays the real upstream one. Cached like SopsRelease.
func Sops(t testing.TB) string {
	t.Helper()
	return SopsRelease(t, SopsVersion(t))
}

// OlderSopsReleases are the sops releases whose files chaos must keep reading and which must read
// chaos's files: the last of the 3.8 and 3.9 series, still common on operators' machines.
var OlderSopsReleases = []string{"v3.8.1", "v3.9.4"}

// SopsRelease returns the path of the sops CLI of an older release (`go install ...@version`, with
// that release's own dependencies), cached like Sops.
func SopsRelease(t testing.TB, version string) string {
	t.Helper()
	return goInstall(t, "sops-release-"+version, sopsModule+"/cmd/sops@"+version, "sops")
}

// LocalKMSBinary returns the path of local-kms, the AWS KMS emulator, built at a pinned version and
// cached like Sops.
func LocalKMSBinary(t testing.TB) string {
	t.Helper()
	return goInstall(t, "local-kms-"+strings.SplitN(localKMSModule, "@", 2)[1], localKMSModule, "local-kms")
}

// goInstall is cachedBuild of `go install PKG@VERSION`, outside this module (so with the
// program's own dependencies, never this repository's replace directives); command is the name
// go install gives the binary.
func goInstall(t testing.TB, name, pkgAtVersion, command string) string {
	t.Helper()
	return cachedBuild(t, name, func(out string) *exec.Cmd {
		gobin, err := os.MkdirTemp(filepath.Dir(out), "gobin")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", "-c", `"$1" install -trimpath "$2" && mv "$GOBIN/$4" "$3" && rmdir "$GOBIN"`,
			"sh", goTool(), pkgAtVersion, out, command)
		cmd.Dir = gobin
		cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=")
		return cmd
	})
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// cachedBuild returns cache/name, running build (which writes the binary to the path it is given)
// when it is not there yet.
func cachedBuild(t testing.TB, name string, build func(out string) *exec.Cmd) string {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if p, ok := built.paths[name]; ok {
		return p
	}
	cache := os.Getenv("CHAOS_TEST_CACHE")
	cache = cmp.Or(cache, testenv.DefaultCacheDir)
	if err := os.MkdirAll(cache, 0o755); err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, name)
	if _, err := os.Stat(bin); err != nil {
		// Test packages run in parallel processes: one builds, the others wait for it (the Vault
		// build also needs its fixed source directory to itself).
		lock, err := os.OpenFile(bin+".lock", os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			t.Fatalf("secretstest: %v", err)
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatalf("secretstest: %v", err)
		}
	}
	if _, err := os.Stat(bin); err != nil {
		tmp := fmt.Sprintf("%s.tmp%d", bin, os.Getpid())
		cmd := build(tmp)
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			_ = os.Remove(tmp)
			t.Fatalf("secretstest: building %s: %v\n%s", name, err, out)
		}
		// Rename is atomic: a concurrent test process sees either no binary or a complete one.
		if err := os.Rename(tmp, bin); err != nil {
			t.Fatalf("secretstest: %v", err)
		}
	}
	if built.paths == nil {
		built.paths = map[string]string{}
	}
	built.paths[name] = bin
	return bin
}

// AgeKey is a throwaway age key pair.
type AgeKey struct {
	Recipient string // age1...
	Secret    string // AGE-SECRET-KEY-1...
}

// NewAgeKey generates an age key pair.
func NewAgeKey(t testing.TB) AgeKey {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return AgeKey{Recipient: id.Recipient().String(), Secret: id.String()}
}

// KeyFile writes the key in keys.txt format (mode 0600) to dir/name and returns its path.
func (k AgeKey) KeyFile(t testing.TB, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	text := fmt.Sprintf("# created: test\n# public key: %s\n%s\n", k.Recipient, k.Secret)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// GPG is a throwaway GnuPG home with one secret key and no passphrase.
type GPG struct {
	Home        string
	Fingerprint string
}

var fprLine = regexp.MustCompile(`(?m)^fpr:+([0-9A-F]{40}):`)

// NewGPG makes a GnuPG home in a temp dir with a fresh ed25519/cv25519 key. It skips the test when
// gpg is not installed (scripts/deps.sh installs it).
func NewGPG(t testing.TB) GPG {
	t.Helper()
	gpg := testenv.RequireTool(t, "gnupg", "gpg")
	// gpg-agent's socket path must stay short: keep the home directly under /tmp.
	home, err := os.MkdirTemp("/tmp", "gpg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	run := func(args ...string) string {
		cmd := exec.Command(gpg, append([]string{"--homedir", home, "--batch"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.String()
	}
	run("--passphrase", "", "--quick-gen-key", "chaos test <test@example.invalid>", "future-default", "default", "never")
	m := fprLine.FindStringSubmatch(run("--with-colons", "--list-secret-keys"))
	if m == nil {
		t.Fatal("gpg: no fingerprint for the generated key")
	}
	return GPG{Home: home, Fingerprint: m[1]}
}

// localKMSModule is the AWS KMS emulator the cloud-key tests run the real sops CLI against (AWS KMS
// itself cannot be reached from the test machines), pinned to one version of the Go module proxy.
const localKMSModule = "github.com/nsmithuk/local-kms@v0.0.0-20260228092603-2a5e92d09ab6"

// LocalKMS is a running local-kms (an AWS KMS emulator) with one symmetric key.
type LocalKMS struct {
	Endpoint string // http://127.0.0.1:PORT
	Region   string
	KeyARN   string
}

// Env is the environment the AWS SDK in the sops CLI needs to talk to the emulator.
func (k LocalKMS) Env() []string {
	return []string{"AWS_ENDPOINT_URL_KMS=" + k.Endpoint, "AWS_REGION=" + k.Region,
		"AWS_ACCESS_KEY_ID=chaos-test", "AWS_SECRET_ACCESS_KEY=chaos-test", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
}

// StartLocalKMS builds (once, cached like SopsRelease) and starts local-kms on a free port with one
// seeded AES key, stopped when the test ends.
func StartLocalKMS(t testing.TB) LocalKMS {
	t.Helper()
	bin := LocalKMSBinary(t)
	dir := t.TempDir()
	const keyID = "bc436485-5092-42b8-92a3-0aa8b93536dc"
	seed := "Keys:\n  Symmetric:\n    Aes:\n      - Metadata:\n          KeyId: " + keyID + "\n" +
		"        BackingKeys:\n          - 5cdaead27fe7da2de47945d73cd6d79e36494e73802f3cd3869f1d2cb0b5d7a9\n"
	if err := os.WriteFile(filepath.Join(dir, "seed.yaml"), []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	const region = "eu-west-2"
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), "KMS_REGION="+region, "KMS_ACCOUNT_ID=111122223333",
		"KMS_SEED_PATH="+filepath.Join(dir, "seed.yaml"), "KMS_DATA_PATH="+filepath.Join(dir, "data"))
	var logBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			t.Fatalf("local-kms exited: %s", logBuf.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("local-kms did not listen on %s", addr)
		}
	}
	return LocalKMS{Endpoint: "http://" + addr, Region: region,
		KeyARN: "arn:aws:kms:" + region + ":111122223333:key/" + keyID}
}
