package minisign_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/minisign"
	"github.com/ch-aos-ch/chaos/internal/testenv"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	k, err := minisign.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("abc  chaos_1.0.0_linux_amd64\n")
	sig, err := minisign.Sign(k, msg, "signature from chaos", "chaos 1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := minisign.ParsePublicKey(string(k.Public().File()))
	if err != nil {
		t.Fatal(err)
	}
	if tc, err := minisign.Verify(pub, msg, sig); err != nil || tc != "chaos 1.0.0" {
		t.Fatalf("Verify = %q, %v", tc, err)
	}
	k2, err := minisign.ParsePrivateKey(string(k.File()))
	if err != nil || !bytes.Equal(k2.Key, k.Key) || k2.ID != k.ID {
		t.Fatalf("secret key file round trip: %v", err)
	}

	// What must fail: another message, another key, a changed trusted comment, a broken key file.
	if _, err := minisign.Verify(pub, append(msg, 'x'), sig); err == nil {
		t.Error("a changed message verified")
	}
	other, _ := minisign.GenerateKey()
	if _, err := minisign.Verify(other.Public(), msg, sig); err == nil || !strings.Contains(err.Error(), "not by the trusted key") {
		t.Errorf("another key's verify = %v", err)
	}
	forged := bytes.Replace(sig, []byte("chaos 1.0.0"), []byte("chaos 9.0.0"), 1)
	if _, err := minisign.Verify(pub, msg, forged); err == nil {
		t.Error("a changed trusted comment verified")
	}
	broken := []byte(strings.Replace(string(k.File()), "RW", "RX", 1))
	if _, err := minisign.ParsePrivateKey(string(broken)); err == nil {
		t.Error("a damaged secret key parsed")
	}
}

// TestMinisignInterop: the real minisign CLI verifies what this package signs, signs what it
// verifies, and reads the key files it writes (and this package reads the ones minisign writes).
func TestMinisignInterop(t *testing.T) {
	bin := testenv.RequireTool(t, "minisign", "minisign")
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("minisign %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
	file := filepath.Join(dir, "SHA256SUMS")
	msg := []byte("0123  chaos_1.2.3_linux_amd64\n")
	if err := os.WriteFile(file, msg, 0o644); err != nil {
		t.Fatal(err)
	}

	// ours -> minisign: sign with a key file this package wrote, minisign -V with its public key.
	k, _ := minisign.GenerateKey()
	sig, err := minisign.Sign(k, msg, "chaos release", "chaos 1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(file+".minisig", sig, 0o644)
	os.WriteFile(filepath.Join(dir, "ours.pub"), k.Public().File(), 0o644)
	out := run("-V", "-p", filepath.Join(dir, "ours.pub"), "-m", file)
	if !strings.Contains(out, "Trusted comment: chaos 1.2.3") {
		t.Errorf("minisign -V output: %s", out)
	}
	run("-V", "-P", k.Public().String(), "-m", file) // the pinned one-line form
	// minisign signs with the secret key file this package wrote (as a releaser's key would be).
	os.WriteFile(filepath.Join(dir, "ours.key"), k.File(), 0o600)
	run("-S", "-W", "-s", filepath.Join(dir, "ours.key"), "-t", "by minisign", "-x", file+".m2", "-m", file)
	m2, _ := os.ReadFile(file + ".m2")
	if tc, err := minisign.Verify(k.Public(), msg, m2); err != nil || tc != "by minisign" {
		t.Errorf("verify minisign's signature with our key: %q, %v", tc, err)
	}

	// minisign's key pair -> ours.
	run("-G", "-W", "-p", filepath.Join(dir, "m.pub"), "-s", filepath.Join(dir, "m.key"))
	mkey, _ := os.ReadFile(filepath.Join(dir, "m.key"))
	mpub, _ := os.ReadFile(filepath.Join(dir, "m.pub"))
	sk, err := minisign.ParsePrivateKey(string(mkey))
	if err != nil {
		t.Fatalf("parse minisign's secret key: %v", err)
	}
	pk, err := minisign.ParsePublicKey(string(mpub))
	if err != nil || pk.String() != sk.Public().String() {
		t.Fatalf("parse minisign's public key: %v (%s vs %s)", err, pk, sk.Public())
	}
	sig, _ = minisign.Sign(sk, msg, "x", "chaos 1.2.3")
	os.WriteFile(file+".minisig", sig, 0o644)
	run("-V", "-p", filepath.Join(dir, "m.pub"), "-m", file)
	// legacy (non-prehashed) signatures from minisign -l verify too.
	run("-S", "-l", "-W", "-s", filepath.Join(dir, "m.key"), "-x", file+".legacy", "-m", file)
	legacy, _ := os.ReadFile(file + ".legacy")
	if _, err := minisign.Verify(pk, msg, legacy); err != nil {
		t.Errorf("legacy signature: %v", err)
	}
	// and a tampered file fails minisign too (the check above is not vacuous).
	os.WriteFile(file, append(msg, '\n'), 0o644)
	if out, err := exec.Command(bin, "-V", "-p", filepath.Join(dir, "m.pub"), "-m", file).CombinedOutput(); err == nil {
		t.Errorf("minisign verified a tampered file: %s", out)
	}
}
