package styx

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

func testSigner(t testing.TB, name string) *Signer {
	t.Helper()
	s, err := LoadSigner(filepath.Join("testdata", name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignVerify(t *testing.T) {
	alice, mallory := testSigner(t, "alice"), testSigner(t, "mallory")
	msg := []byte("a tarball's bytes")
	sig, err := alice.Sign(NamespaceArtifact, msg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(NamespaceArtifact, msg, sig)
	if err != nil || !got.Equal(alice.Public()) {
		t.Fatalf("Verify = %v, %v", got, err)
	}
	for name, check := range map[string]error{
		"tampered":        VerifyBy(alice.Public(), NamespaceArtifact, []byte("a tarball's bytez"), sig),
		"other namespace": VerifyBy(alice.Public(), NamespaceIndex, msg, sig),
		"other key":       VerifyBy(mallory.Public(), NamespaceArtifact, msg, sig),
		"garbage":         VerifyBy(alice.Public(), NamespaceArtifact, msg, "hello"),
	} {
		if !errors.Is(check, ErrBadSignature) {
			t.Errorf("%s: got %v, want a bad signature", name, check)
		}
	}
	pub, _ := os.ReadFile("testdata/alice.key.pub")
	k, err := ParsePublicKey(string(pub))
	if err != nil || !k.Equal(alice.Public()) {
		t.Fatalf("ParsePublicKey = %v, %v", k, err)
	}
	if _, err := ParsePublicKey("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7"); err == nil {
		t.Error("an RSA key was accepted")
	}
}

// Interop with the real OpenSSH: what chaos signs, ssh-keygen -Y verify accepts, and what ssh-keygen
// -Y sign writes (with either hash), chaos accepts.
func TestSignaturesInteropWithSSHKeygen(t *testing.T) {
	testenv.RequireTool(t, "openssh-client", "ssh-keygen")
	dir := t.TempDir()
	msg := filepath.Join(dir, "artifact.tar.gz")
	if err := os.WriteFile(msg, []byte("artifact bytes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	alice := testSigner(t, "alice")
	sig, err := alice.Sign(NamespaceArtifact, []byte("artifact bytes\n"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(msg+".sig", []byte(sig), 0o644)
	signers := filepath.Join(dir, "allowed_signers")
	os.WriteFile(signers, []byte("alice "+alice.Public().String()+"\n"), 0o644)
	verify := func() (string, error) {
		cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", signers, "-I", "alice", "-n", NamespaceArtifact, "-s", msg+".sig")
		in, _ := os.Open(msg)
		defer in.Close()
		cmd.Stdin = in
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(); err != nil || !strings.Contains(out, "Good") {
		t.Fatalf("ssh-keygen -Y verify of chaos's signature: %v\n%s", err, out)
	}
	// ssh-keygen reads the key file with modes it accepts only when private.
	key := filepath.Join(dir, "key")
	data, _ := os.ReadFile("testdata/alice.key")
	os.WriteFile(key, data, 0o600)
	for _, hash := range []string{"sha512", "sha256"} {
		os.Remove(msg + ".sig")
		if out, err := exec.Command("ssh-keygen", "-Y", "sign", "-O", "hashalg="+hash, "-f", key, "-n", NamespaceArtifact, msg).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
		}
		theirs, _ := os.ReadFile(msg + ".sig")
		if err := VerifyBy(alice.Public(), NamespaceArtifact, []byte("artifact bytes\n"), string(theirs)); err != nil {
			t.Errorf("chaos refuses ssh-keygen's %s signature: %v", hash, err)
		}
		if err := VerifyBy(alice.Public(), NamespaceArtifact, []byte("artifact bytes!\n"), string(theirs)); err == nil {
			t.Errorf("chaos accepts ssh-keygen's %s signature of other content", hash)
		}
	}
}

// The shipped maintainers' key is the one docs/styx.md pins, and no test key.
func TestMaintainersKey(t *testing.T) {
	k := MaintainersKey()
	if got := k.Fingerprint(); got != "SHA256:W5SGm9TMZwT5E1NJiAuQeIRgWymG7SPVrqG0Y7+bBcg" {
		t.Fatalf("the embedded maintainers' key is %s: update docs/styx.md with it", got)
	}
	docs, err := os.ReadFile("../../docs/styx.md")
	if err != nil || !strings.Contains(string(docs), "`"+k.Fingerprint()+"`") {
		t.Fatalf("docs/styx.md does not pin %s (%v)", k.Fingerprint(), err)
	}
	for _, name := range []string{"alice", "mallory", "index"} {
		if k.Equal(testSigner(t, name).Public()) {
			t.Fatalf("the embedded maintainers' key is the test key %s", name)
		}
	}
}
