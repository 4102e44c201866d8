package secretstest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestToolsBuild builds every outside tool the interop tests run (the upstream sops CLI of the
// linked release and of the older ones, local-kms, HashiCorp Vault, the Doppler CLI) and checks each is the program it should be.
// `make fixture` runs it beside the root builds, so a fresh machine pays for the builds up front and
// not inside the test run.
func TestToolsBuild(t *testing.T) {
	for _, v := range append([]string{SopsVersion(t)}, OlderSopsReleases...) {
		out, err := exec.Command(SopsRelease(t, v), "--version", "--check-for-updates=false").CombinedOutput()
		if !strings.Contains(string(out), "sops "+strings.TrimPrefix(v, "v")) {
			// releases before 3.9 have no --check-for-updates: ask again without it
			out, err = exec.Command(SopsRelease(t, v), "--version").CombinedOutput()
		}
		if !strings.Contains(string(out), "sops "+strings.TrimPrefix(v, "v")) {
			t.Errorf("sops %s --version: %v\n%s", v, err, out)
		}
	}
	if fi, err := os.Stat(LocalKMSBinary(t)); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("local-kms: %v %v", fi, err)
	}
	if out, err := exec.Command(DopplerCLI(t), "--help").CombinedOutput(); !strings.Contains(string(out), "The official Doppler CLI") {
		t.Errorf("doppler --help: %v\n%s", err, out)
	}
	if out, err := exec.Command(VaultBinary(t), "version").CombinedOutput(); !strings.Contains(string(out), "Vault "+vaultVersion) {
		t.Errorf("vault version: %v\n%s", err, out)
	}
	// A build that links may still panic at its first request (sdk v0.9.2 and v1.14.0's paths did):
	// the dev server must start and mount transit.
	StartVault(t)
}
