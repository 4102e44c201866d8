package styx

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Signatures are SSH signatures (OpenSSH's PROTOCOL.sshsig, the format of `ssh-keygen -Y sign` and
// of git's SSH-signed commits and tags) made with ed25519 keys. Publishers already have such keys,
// every machine has ssh-keygen to sign and check by hand, and Go's x/crypto/ssh reads the keys.
// The namespace keeps a signature made for one purpose from being replayed for another.
const (
	// NamespaceArtifact signs a published tarball.
	NamespaceArtifact = "chaos-styx-artifact"
	// NamespaceIndex signs an index's registry.yaml.
	NamespaceIndex = "chaos-styx-index"
)

const (
	sigMagic   = "SSHSIG"
	sigVersion = 1
	sigHash    = "sha512"
	sigPEMType = "SSH SIGNATURE"
)

// PublicKey is an ed25519 public key in authorized_keys form ("ssh-ed25519 AAAA... comment").
type PublicKey struct {
	ssh.PublicKey
}

// ParsePublicKey reads a key in authorized_keys form; only ed25519 keys are accepted.
func ParsePublicKey(text string) (PublicKey, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(text)))
	if err != nil {
		return PublicKey{}, fmt.Errorf("public key: %w", err)
	}
	if k.Type() != ssh.KeyAlgoED25519 {
		return PublicKey{}, fmt.Errorf("public key: %s: want an ed25519 key (ssh-keygen -t ed25519)", k.Type())
	}
	return PublicKey{k}, nil
}

// String is the key in authorized_keys form without a comment.
func (k PublicKey) String() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.PublicKey)))
}

// Fingerprint is the key's SHA256 fingerprint as ssh-keygen -l prints it.
func (k PublicKey) Fingerprint() string { return ssh.FingerprintSHA256(k.PublicKey) }

// Equal reports whether two keys are the same key.
func (k PublicKey) Equal(o PublicKey) bool {
	return k.PublicKey != nil && o.PublicKey != nil && bytes.Equal(k.Marshal(), o.Marshal())
}

// Signer signs with an ed25519 private key.
type Signer struct {
	signer ssh.Signer
}

// LoadSigner reads an unencrypted OpenSSH ed25519 private key (ssh-keygen -t ed25519 -N ”).
func LoadSigner(path string) (*Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	raw, err := ssh.ParseRawPrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("signing key %s is protected by a passphrase: sign with `ssh-keygen -Y sign -n %s -f %s FILE` instead (docs/styx.md)", path, NamespaceArtifact, path)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	var priv ed25519.PrivateKey
	switch k := raw.(type) {
	case *ed25519.PrivateKey:
		priv = *k
	case ed25519.PrivateKey:
		priv = k
	default:
		return nil, fmt.Errorf("signing key %s: %T: want an ed25519 key (ssh-keygen -t ed25519)", path, raw)
	}
	return NewSigner(priv)
}

// NewSigner signs with priv.
func NewSigner(priv ed25519.PrivateKey) (*Signer, error) {
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return &Signer{signer: s}, nil
}

// Public is the signer's public key.
func (s *Signer) Public() PublicKey { return PublicKey{s.signer.PublicKey()} }

// signedData is the blob that is actually signed: the message's hash in its namespace.
// hash is sha512 (what chaos and ssh-keygen write) or sha256 (ssh-keygen -O hashalg=sha256).
func signedData(namespace, hash string, message []byte) []byte {
	var digest []byte
	if hash == "sha256" {
		h := sha256.Sum256(message)
		digest = h[:]
	} else {
		h := sha512.Sum512(message)
		digest = h[:]
	}
	return append([]byte(sigMagic), ssh.Marshal(struct {
		Namespace, Reserved, Hash string
		Digest                    []byte
	}{namespace, "", hash, digest})...)
}

// sigBlob is an SSH signature after its magic preamble.
type sigBlob struct {
	Version   uint32
	PublicKey []byte
	Namespace string
	Reserved  string
	Hash      string
	Signature []byte
}

// Sign returns the armored SSH signature of message in namespace, as `ssh-keygen -Y sign` writes it.
func (s *Signer) Sign(namespace string, message []byte) (string, error) {
	sig, err := s.signer.Sign(rand.Reader, signedData(namespace, sigHash, message))
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	blob := append([]byte(sigMagic), ssh.Marshal(sigBlob{
		Version: sigVersion, PublicKey: s.signer.PublicKey().Marshal(), Namespace: namespace,
		Hash: sigHash, Signature: ssh.Marshal(sig),
	})...)
	b64 := base64.StdEncoding.EncodeToString(blob)
	var out strings.Builder
	out.WriteString("-----BEGIN SSH SIGNATURE-----\n")
	for len(b64) > 70 {
		out.WriteString(b64[:70] + "\n")
		b64 = b64[70:]
	}
	out.WriteString(b64 + "\n-----END SSH SIGNATURE-----\n")
	return out.String(), nil
}

// ErrBadSignature is a signature that does not verify.
var ErrBadSignature = errors.New("bad signature")

// Verify checks the armored signature of message in namespace and returns the key that made it.
// The caller decides whether it trusts that key.
func Verify(namespace string, message []byte, armored string) (PublicKey, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(armored)))
	if block == nil || block.Type != sigPEMType {
		return PublicKey{}, fmt.Errorf("%w: not an SSH signature (-----BEGIN SSH SIGNATURE-----)", ErrBadSignature)
	}
	if !bytes.HasPrefix(block.Bytes, []byte(sigMagic)) {
		return PublicKey{}, fmt.Errorf("%w: no SSHSIG preamble", ErrBadSignature)
	}
	var b sigBlob
	if err := ssh.Unmarshal(block.Bytes[len(sigMagic):], &b); err != nil {
		return PublicKey{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if b.Version != sigVersion {
		return PublicKey{}, fmt.Errorf("%w: version %d", ErrBadSignature, b.Version)
	}
	if b.Namespace != namespace {
		return PublicKey{}, fmt.Errorf("%w: made for %q, not %q", ErrBadSignature, b.Namespace, namespace)
	}
	if b.Hash != sigHash && b.Hash != "sha256" {
		return PublicKey{}, fmt.Errorf("%w: hash %q", ErrBadSignature, b.Hash)
	}
	pub, err := ssh.ParsePublicKey(b.PublicKey)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if pub.Type() != ssh.KeyAlgoED25519 {
		return PublicKey{}, fmt.Errorf("%w: %s key: want ed25519", ErrBadSignature, pub.Type())
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal(b.Signature, &sig); err != nil {
		return PublicKey{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if err := pub.Verify(signedData(namespace, b.Hash, message), &sig); err != nil {
		return PublicKey{}, fmt.Errorf("%w: it does not match the content (changed after signing?)", ErrBadSignature)
	}
	return PublicKey{pub}, nil
}

// VerifyBy checks that want made the signature.
func VerifyBy(want PublicKey, namespace string, message []byte, armored string) error {
	got, err := Verify(namespace, message, armored)
	if err != nil {
		return err
	}
	if !got.Equal(want) {
		return fmt.Errorf("%w: made by %s, not by the expected key %s", ErrBadSignature, got.Fingerprint(), want.Fingerprint())
	}
	return nil
}
