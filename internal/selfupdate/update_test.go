package selfupdate_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/minisign"
	"github.com/ch-aos-ch/chaos/internal/release"
	"github.com/ch-aos-ch/chaos/internal/selfupdate"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// publish writes a release directory named dir under root: bin as chaos_VERSION_linux_amd64 and a
// SHA256SUMS listing hash for it (the binary's own when hash is ""), signed by key for version.
func publish(t *testing.T, root, dir, version string, bin []byte, hash string, key minisign.PrivateKey) {
	t.Helper()
	d := filepath.Join(root, dir)
	os.MkdirAll(d, 0o755)
	name := selfupdate.BinaryName(version, "amd64")
	if err := os.WriteFile(filepath.Join(d, name), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if hash == "" {
		s := sha256.Sum256(bin)
		hash = hex.EncodeToString(s[:])
	}
	sums := filepath.Join(d, selfupdate.SumsName)
	os.WriteFile(sums, fmt.Appendf(nil, "%s  %s\n", hash, name), 0o644)
	if _, err := release.SignSums(sums, key, version); err != nil {
		t.Fatal(err)
	}
}

// TestSelfUpdate drives the real chaos binary (a release build, 1.0.0) against a loopback HTTPS
// server serving real release artifacts: a 1.1.0 release made by release.Run, and doctored copies.
// Every refusal leaves the installed binary as it was; the good update replaces it atomically and
// leaves nothing behind.
func TestSelfUpdate(t *testing.T) {
	repo := testenv.RepoRoot(t)
	ctx := context.Background()
	key, _ := minisign.GenerateKey()
	stranger, _ := minisign.GenerateKey()
	serve := t.TempDir()

	// The new release, as make release builds it (amd64), then the installed 1.0.0 beside it.
	newDir := filepath.Join(t.TempDir(), "dist")
	a, err := release.Run(ctx, release.Options{Repo: repo, Out: newDir, Version: "1.1.0", Arches: []string{"amd64"}, Key: &key, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	os.Rename(newDir, filepath.Join(serve, "good"))
	stamp, err := release.GitStamp(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	install := t.TempDir()
	exe := filepath.Join(install, "chaos")
	if err := release.Build(ctx, repo, exe, "amd64", "1.0.0", stamp); err != nil {
		t.Fatal(err)
	}
	oldBin, _ := os.ReadFile(exe)
	newBin, err := os.ReadFile(filepath.Join(serve, "good", filepath.Base(a.Binaries["amd64"])))
	if err != nil {
		t.Fatal(err)
	}

	publish(t, serve, "badsig", "1.1.0", newBin, "", stranger)                     // signed by another key
	publish(t, serve, "badhash", "1.1.0", append(bytes.Clone(newBin), 0), "", key) // the binary changed after hashing...
	os.WriteFile(filepath.Join(serve, "badhash", selfupdate.BinaryName("1.1.0", "amd64")), newBin[:len(newBin)-1], 0o755)
	publish(t, serve, "old", "0.9.0", newBin, "", key)  // a validly signed older release: a downgrade
	publish(t, serve, "liar", "1.2.0", oldBin, "", key) // signed and hashed, but the binary is 1.0.0
	// A replayed signature over another checksum file: the 1.1.0 signature with the "old" sums.
	os.MkdirAll(filepath.Join(serve, "replay"), 0o755)
	for _, f := range []string{selfupdate.SumsName, selfupdate.BinaryName("0.9.0", "amd64")} {
		data, _ := os.ReadFile(filepath.Join(serve, "old", f))
		os.WriteFile(filepath.Join(serve, "replay", f), data, 0o644)
	}
	sig, _ := os.ReadFile(filepath.Join(serve, "good", selfupdate.SigName))
	os.WriteFile(filepath.Join(serve, "replay", selfupdate.SigName), sig, 0o644)

	srv := httptest.NewTLSServer(http.FileServer(http.Dir(serve)))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	cfgDir := t.TempDir()
	run := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(exe, append([]string{"self-update"}, args...)...)
		cmd.Env = []string{"HOME=" + t.TempDir(), "CHAOS_CONFIG_DIR=" + cfgDir, "SSL_CERT_FILE=" + ca, "PATH=/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	pub := key.Public().String()
	unchanged := func(what string) {
		t.Helper()
		if got, _ := os.ReadFile(exe); !bytes.Equal(got, oldBin) {
			t.Fatalf("%s: the installed binary changed", what)
		}
		if entries, _ := os.ReadDir(install); len(entries) != 1 {
			t.Errorf("%s: left files beside the binary: %v", what, entries)
		}
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"off by default", []string{"--url", srv.URL + "/good", "--public-key", pub}, "self-update is off"},
		{"the official key", []string{"--enable", "--url", srv.URL + "/good"}, "not by the trusted key " + minisign.IDString(mustKey(t, selfupdate.ReleasePublicKey).ID)},
		{"bad signature", []string{"--enable", "--url", srv.URL + "/badsig", "--public-key", pub}, "not by the trusted key"},
		{"replayed signature", []string{"--enable", "--url", srv.URL + "/replay", "--public-key", pub}, "does not match the file"},
		{"wrong hash", []string{"--enable", "--url", srv.URL + "/badhash", "--public-key", pub}, "refusing it"},
		{"downgrade", []string{"--enable", "--url", srv.URL + "/old", "--public-key", pub}, "refusing to downgrade from 1.0.0 to 0.9.0"},
		{"binary of another version", []string{"--enable", "--url", srv.URL + "/liar", "--public-key", pub}, `reports version "1.0.0", but the signed release is 1.2.0`},
		{"plain http", []string{"--enable", "--url", "http://example.com/chaos", "--public-key", pub}, "loopback address only"},
		{"untrusted TLS", []string{"--enable", "--url", strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/good", "--public-key", pub}, "certificate"},
	} {
		out, code := run(tc.args...)
		if code != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, output %q; want exit 1 and %q", tc.name, code, out, tc.want)
		}
		unchanged(tc.name)
	}
	if out, code := run("--enable", "--check", "--url", srv.URL+"/good", "--public-key", pub); code != 2 || !strings.Contains(out, "chaos 1.1.0 is available") {
		t.Errorf("--check: exit %d, %q; want exit 2", code, out)
	}
	unchanged("--check")

	// Enabled in config.yml (with the URL and key), no flags: the update.
	os.WriteFile(filepath.Join(cfgDir, "config.yml"), fmt.Appendf(nil, "self_update:\n  enabled: true\n  url: %s/good\n  public_key: %s\n", srv.URL, pub), 0o600)
	out, code := run()
	if code != 0 || !strings.Contains(out, "chaos 1.0.0 -> 1.1.0") {
		t.Fatalf("update: exit %d, %q", code, out)
	}
	if got, _ := os.ReadFile(exe); !bytes.Equal(got, newBin) {
		t.Error("the installed binary is not the release's")
	}
	if entries, _ := os.ReadDir(install); len(entries) != 1 {
		t.Errorf("left files beside the binary: %v", entries)
	}
	if v, err := exec.Command(exe, "version").Output(); err != nil || !strings.HasPrefix(string(v), "chaos 1.1.0 (") {
		t.Errorf("after the update, chaos version = %q, %v", v, err)
	}
	if out, code := run(); code != 0 || !strings.Contains(out, "chaos 1.1.0 is the latest release") {
		t.Errorf("second run: exit %d, %q", code, out)
	}
}

func mustKey(t *testing.T, s string) minisign.PublicKey {
	k, err := minisign.ParsePublicKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
