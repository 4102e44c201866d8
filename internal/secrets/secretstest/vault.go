package secretstest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vaultVersion is the HashiCorp Vault release the Vault tests run as a real dev server: the last
// series under the MPL (later ones are under the BSL). Its go.mod replaces its api and sdk modules
// with its own subdirectories, which a module download does not carry, so `go install` refuses it:
// VaultBinary builds it from the module cache with the api its go.mod requires and sdk v0.9.2, the
// tagged sdk release that compiles with v1.14.0's tree (the pseudo-version its go.mod names does
// not; v1.14.10 matches no served sdk at all), with one patch for a runtime check of that sdk.
const vaultVersion = "v1.14.0"

// vaultBuild is the build, in sh: $1 the go command, $2 the output path.
const vaultBuild = `set -e
dir=$("$1" mod download -json github.com/hashicorp/vault@` + vaultVersion + ` | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
# A fixed source path, so that a rebuild finds its packages in Go's build cache.
src=$(dirname "$2")/vault-src
rm -rf "$src" && mkdir -p "$src"
trap 'rm -rf "$src"' EXIT
cp -r "$dir/." "$src" && chmod -R u+w "$src" && cd "$src"
sed -i '/^replace github.com\/hashicorp\/vault\/\(api\|sdk\)/d' go.mod
echo 'replace github.com/hashicorp/vault/sdk => github.com/hashicorp/vault/sdk v0.9.2' >> go.mod
# sdk v0.9.2 panics when a backend that has a path declaring a create operation without an
# existence check gets its first request. v1.14.0 has such paths in the two backends the tests
# use: the enterprise-only managed-keys stubs of sys/, which only answer "enterprise only", lose
# their create operation; transit's cache-config gets an existence check saying "does not exist",
# so that a create stays a create.
grep -q '"managed-keys/".*logical.CreateOperation' vault/logical_system_helpers.go
sed -i '/"managed-keys\//s/logical\.CreateOperation, //' vault/logical_system_helpers.go
f=builtin/logical/transit/path_cache_config.go
grep -q '^[[:space:]]*Pattern: "cache-config",$' "$f"
sed -i 's/^\([[:space:]]*\)Pattern: "cache-config",$/&\n\1ExistenceCheck: func(context.Context, *logical.Request, *framework.FieldData) (bool, error) { return false, nil },/' "$f"
GOFLAGS=-mod=mod "$1" build -o "$2" .
`

// VaultBinary returns the path of the vault CLI and server, built once and cached like Sops (the
// first build takes minutes: `make fixture` runs it through TestToolsBuild).
func VaultBinary(t testing.TB) string {
	t.Helper()
	// The recipe's hash is in the name, so that a changed recipe is rebuilt.
	sum := sha256.Sum256([]byte(vaultBuild))
	return cachedBuild(t, "vault-"+vaultVersion+"-"+hex.EncodeToString(sum[:4]), func(out string) *exec.Cmd {
		cmd := exec.Command("sh", "-c", vaultBuild, "sh", goTool(), out)
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=")
		return cmd
	})
}

// Vault is a running Vault dev server (in memory, unsealed) with the transit engine mounted at
// transit/ and one key, TransitKey, and the KV v2 engine at secret/ (the dev server's default).
type Vault struct {
	Addr, Token string
	TransitKey  string // the key's URI as sops's hc_vault_transit_uri takes it
}

// StartVault starts a dev server on a free loopback port, stopped when the test ends. Its token
// file goes to a temporary HOME, never to the user's ~/.vault-token.
func StartVault(t testing.TB) Vault {
	t.Helper()
	bin := VaultBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	token := "chaos-test-root"
	cmd := exec.Command(bin, "server", "-dev", "-dev-root-token-id="+token, "-dev-listen-address="+addr, "-dev-no-store-token")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "VAULT_ADDR=", "VAULT_TOKEN=", "SKIP_SETCAP=1", "VAULT_DISABLE_MLOCK=true")
	var logBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	v := Vault{Addr: "http://" + addr, Token: token}
	for deadline := time.Now().Add(60 * time.Second); ; {
		rsp, err := http.Get(v.Addr + "/v1/sys/health")
		if err == nil {
			rsp.Body.Close()
			if rsp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-done:
			t.Fatalf("vault dev server exited:\n%s", logBuf.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("vault dev server did not answer on %s:\n%s", addr, logBuf.String())
		}
	}
	v.Do(t, "POST", "sys/mounts/transit", map[string]any{"type": "transit"})
	v.Do(t, "POST", "transit/keys/chaos", map[string]any{})
	v.TransitKey = v.Addr + "/v1/transit/keys/chaos"
	return v
}

// Do sends one request to the Vault API as root and returns the decoded answer (nil for 204).
func (v Vault) Do(t testing.TB, method, path string, body any) map[string]any {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, v.Addr+"/v1/"+strings.TrimLeft(path, "/"), rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", v.Token)
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(rsp.Body).Decode(&out)
	if rsp.StatusCode/100 != 2 {
		t.Fatalf("vault %s %s: %d %v", method, path, rsp.StatusCode, out)
	}
	return out
}

// Env is what the vault CLI and the sops CLI need to reach the server as root.
func (v Vault) Env() []string {
	return []string{"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.Token}
}

// CLI runs the vault CLI against the server and returns its stdout.
func (v Vault) CLI(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(VaultBinary(t), args...)
	cmd.Env = append(os.Environ(), append(v.Env(), "HOME="+filepath.Join(os.TempDir(), "nonexistent-home"))...)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("vault %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return string(out)
}
