package selfupdate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ch-aos-ch/chaos/internal/minisign"
)

// Options says where to update from and what to replace.
type Options struct {
	URL     string             // the release directory: URL/SHA256SUMS, URL/SHA256SUMS.minisig, URL/chaos_V_linux_ARCH
	Key     minisign.PublicKey // the key SHA256SUMS must be signed with
	Current string             // this binary's version (x.y.z[-pre])
	Exe     string             // the binary to replace
	Arch    string             // GOARCH of the binary to fetch
	// CheckOnly stops after the signature, checksum-file and version checks: nothing is downloaded
	// beyond the checksum file and its signature, nothing is replaced.
	CheckOnly bool
	Client    *http.Client // nil: http.DefaultClient with a timeout
	Log       func(format string, args ...any)
}

// Result is what Update did.
type Result struct {
	From, To string
	Updated  bool // the binary was replaced
}

// Size limits: a checksum file is a few lines, a binary some tens of MiB.
const (
	maxIndex  = 1 << 20
	maxBinary = 512 << 20
)

// Update checks the release at o.URL and replaces o.Exe with its binary when it is newer.
//
// Order of checks: the URL is HTTPS (plain HTTP only to a loopback address); SHA256SUMS verifies
// against o.Key, and its signed trusted comment names the version; that version is newer than
// o.Current (equal: nothing to do; older: refused); the binary's SHA-256 is the one SHA256SUMS
// lists; the new binary, written beside o.Exe, runs `version --json` and reports that version.
// Only then is it renamed over o.Exe, the old binary kept as EXE.old until the installed one has
// run `version` too (restored if it does not).
func Update(ctx context.Context, o Options) (Result, error) {
	res := Result{From: o.Current}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 5 * time.Minute}
	}
	if err := CheckVersion(o.Current); err != nil {
		return res, fmt.Errorf("self-update: this chaos is not a release build (%w); install a release first (README.md, Install)", err)
	}
	base, err := checkURL(o.URL)
	if err != nil {
		return res, err
	}
	sums, err := fetch(ctx, o.Client, base, SumsName, maxIndex)
	if err != nil {
		return res, err
	}
	sig, err := fetch(ctx, o.Client, base, SigName, maxIndex)
	if err != nil {
		return res, err
	}
	trusted, err := minisign.Verify(o.Key, sums, sig)
	if err != nil {
		return res, fmt.Errorf("self-update: %s of %s: %w", SumsName, base, err)
	}
	version, ok := strings.CutPrefix(trusted, TrustedComment(""))
	if !ok || CheckVersion(version) != nil {
		return res, fmt.Errorf("self-update: the signed comment %q names no chaos version", trusted)
	}
	res.To = version
	list, err := ParseSums(sums)
	if err != nil {
		return res, fmt.Errorf("self-update: %w", err)
	}
	name := BinaryName(version, o.Arch)
	want, ok := list[name]
	if !ok {
		return res, fmt.Errorf("self-update: release %s has no %s (no build for %s)", version, name, o.Arch)
	}
	c, err := Compare(version, o.Current)
	if err != nil {
		return res, fmt.Errorf("self-update: %w", err)
	}
	switch {
	case c == 0:
		o.Log("chaos %s is the latest release", o.Current)
		return res, nil
	case c < 0:
		return res, fmt.Errorf("self-update: refusing to downgrade from %s to %s (the release at %s is older)", o.Current, version, base)
	}
	if o.CheckOnly {
		o.Log("chaos %s is available (this is %s)", version, o.Current)
		return res, nil
	}
	if err := checkReplaceable(o.Exe); err != nil {
		return res, err
	}
	bin, err := fetch(ctx, o.Client, base, name, maxBinary)
	if err != nil {
		return res, err
	}
	sum := sha256.Sum256(bin)
	if got := hex.EncodeToString(sum[:]); got != want {
		return res, fmt.Errorf("self-update: %s has SHA-256 %s, but the signed %s says %s: refusing it", name, got, SumsName, want)
	}
	if err := replace(ctx, o.Exe, bin, version); err != nil {
		return res, err
	}
	res.Updated = true
	o.Log("updated %s: chaos %s -> %s", o.Exe, o.Current, version)
	return res, nil
}

// checkURL parses the release directory's URL: https, or http to a loopback address only (a test
// server; the signature protects the content either way, HTTPS also hides what is fetched).
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("self-update: release URL %q: want https://HOST/PATH", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("self-update: release URL %q: plain http is allowed to a loopback address only; use https", raw)
		}
	default:
		return nil, fmt.Errorf("self-update: release URL %q: want https://HOST/PATH", raw)
	}
	return u, nil
}

func fetch(ctx context.Context, c *http.Client, base *url.URL, name string, limit int64) ([]byte, error) {
	u := base.JoinPath(name).String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("self-update: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("self-update: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("self-update: GET %s: %s", u, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("self-update: GET %s: %w", u, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("self-update: GET %s: larger than %d bytes", u, limit)
	}
	return data, nil
}

// checkReplaceable refuses a binary a package manager owns (it would be overwritten behind its back
// and put back by the next package upgrade).
func checkReplaceable(exe string) error {
	for _, dir := range []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin"} {
		if filepath.Dir(exe) == dir {
			return fmt.Errorf("self-update: %s is in %s, where the distribution's package installed it: update it with the package manager (apt, dnf, pacman)", exe, dir)
		}
	}
	return nil
}

// replace installs bin over exe: written beside it (same file system, so the rename is atomic),
// run once there, renamed over exe with the old binary kept as EXE.old, run again where it is,
// and only then the old one removed; if the installed one does not run, the old one goes back.
func replace(ctx context.Context, exe string, bin []byte, version string) error {
	dir := filepath.Dir(exe)
	tmp, err := os.CreateTemp(dir, ".chaos-update-*")
	if err != nil {
		return fmt.Errorf("self-update: write beside %s: %w", exe, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(bin); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o755)
	}
	if err != nil {
		return fmt.Errorf("self-update: %w", err)
	}
	if err := runsAs(ctx, tmp.Name(), version); err != nil {
		return err
	}
	old := exe + ".old"
	if err := os.Remove(old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("self-update: %w", err)
	}
	if err := os.Link(exe, old); err != nil {
		return fmt.Errorf("self-update: keep the old binary: %w", err)
	}
	if err := os.Rename(tmp.Name(), exe); err != nil {
		os.Remove(old)
		return fmt.Errorf("self-update: %w", err)
	}
	syncDir(dir)
	if err := runsAs(ctx, exe, version); err != nil {
		if rerr := os.Rename(old, exe); rerr != nil {
			return fmt.Errorf("%w; and restoring the old binary from %s failed: %v", err, old, rerr)
		}
		syncDir(dir)
		return fmt.Errorf("%w (the old binary is back)", err)
	}
	if err := os.Remove(old); err != nil {
		return fmt.Errorf("self-update: updated, but removing %s: %w", old, err)
	}
	syncDir(dir)
	return nil
}

// runsAs runs `bin version --json` and checks that it reports version: a binary that does not run
// here, or that is another version than the signed checksum file names, is not installed.
func runsAs(ctx context.Context, bin, version string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "version", "--json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("self-update: the new binary does not run (%s version --json: %v: %s)", bin, err, strings.TrimSpace(stderr.String()))
	}
	var v struct{ Version string }
	if err := json.Unmarshal(out, &v); err != nil || v.Version != version {
		return fmt.Errorf("self-update: the new binary reports version %q, but the signed release is %s", v.Version, version)
	}
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
