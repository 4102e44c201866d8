// Package minisign signs and verifies files in minisign's format (https://jedisct1.github.io/minisign/):
// Ed25519 over the file's BLAKE2b-512 hash ("ED", minisign's default since 0.10), plus a global
// signature over the trusted comment, so that `minisign -V` verifies what chaos signs and chaos
// verifies what minisign signs. The release's SHA256SUMS is signed with it; `chaos self-update`
// verifies it.
//
// Secret keys are read from minisign's own secret key files, unencrypted only (`minisign -G -W`):
// the release key is handed to `make release` as a file or an environment variable by whoever
// releases, and never lives in the repository.
package minisign

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/blake2b"
)

const (
	algPrehashed = "ED" // Ed25519 over BLAKE2b-512(file)
	algLegacy    = "Ed" // Ed25519 over the file itself (keys carry this one too)
	checksumAlg  = "B2"
	keyLen       = 2 + 8 + ed25519.PublicKeySize
	// sig_alg, kdf_alg, cksum_alg, salt, opslimit, memlimit, key id, secret key, checksum
	secretLen = 2 + 2 + 2 + 32 + 8 + 8 + 8 + ed25519.PrivateKeySize + 32
)

// PublicKey is a minisign public key: an 8-byte key id and an Ed25519 key.
type PublicKey struct {
	ID  [8]byte
	Key ed25519.PublicKey
}

// PrivateKey is a minisign secret key.
type PrivateKey struct {
	ID  [8]byte
	Key ed25519.PrivateKey
}

// IDString is the key id as minisign prints it (the id read as a little-endian number, in hex).
func IDString(id [8]byte) string {
	return fmt.Sprintf("%016X", binary.LittleEndian.Uint64(id[:]))
}

// Public returns the public half of k.
func (k PrivateKey) Public() PublicKey {
	return PublicKey{ID: k.ID, Key: k.Key.Public().(ed25519.PublicKey)}
}

// GenerateKey makes a new key pair (tests; releases use `minisign -G -W`, see docs/release.md).
func GenerateKey() (PrivateKey, error) {
	_, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("minisign: %w", err)
	}
	var k PrivateKey
	k.Key = sk
	if _, err := rand.Read(k.ID[:]); err != nil {
		return PrivateKey{}, fmt.Errorf("minisign: %w", err)
	}
	return k, nil
}

// String is the public key as one base64 line ("RW..."), as README pins it and `minisign -P` takes it.
func (p PublicKey) String() string {
	b := make([]byte, 0, keyLen)
	b = append(b, algLegacy...)
	b = append(b, p.ID[:]...)
	b = append(b, p.Key...)
	return base64.StdEncoding.EncodeToString(b)
}

// File is the public key file minisign writes (minisign.pub).
func (p PublicKey) File() []byte {
	return []byte("untrusted comment: minisign public key " + IDString(p.ID) + "\n" + p.String() + "\n")
}

// ParsePublicKey reads a public key: the base64 line alone or a minisign.pub file.
func ParsePublicKey(text string) (PublicKey, error) {
	line, err := payloadLine(text)
	if err != nil {
		return PublicKey{}, fmt.Errorf("minisign public key: %w", err)
	}
	b, err := base64.StdEncoding.DecodeString(line)
	if err != nil || len(b) != keyLen || string(b[:2]) != algLegacy {
		return PublicKey{}, errors.New("minisign public key: not an Ed25519 minisign key (want a line such as RWQ...)")
	}
	var p PublicKey
	copy(p.ID[:], b[2:10])
	p.Key = ed25519.PublicKey(bytes.Clone(b[10:]))
	return p, nil
}

// File is the secret key file of k, unencrypted, as `minisign -G -W` writes it.
func (k PrivateKey) File() []byte {
	b := make([]byte, 0, secretLen)
	b = append(b, algLegacy...)
	b = append(b, 0, 0) // no key derivation: unencrypted
	b = append(b, checksumAlg...)
	b = append(b, make([]byte, 32+8+8)...) // salt, opslimit, memlimit: unused
	b = append(b, k.ID[:]...)
	b = append(b, k.Key...)
	sum := k.checksum()
	b = append(b, sum[:]...)
	return []byte("untrusted comment: minisign encrypted secret key\n" + base64.StdEncoding.EncodeToString(b) + "\n")
}

func (k PrivateKey) checksum() [32]byte {
	return blake2b.Sum256(append(append([]byte(algLegacy), k.ID[:]...), k.Key...))
}

// ParsePrivateKey reads a minisign secret key file. Only unencrypted keys (`minisign -G -W`) are
// read: an encrypted one is refused with a message saying how to make an unencrypted copy.
func ParsePrivateKey(text string) (PrivateKey, error) {
	line, err := payloadLine(text)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("minisign secret key: %w", err)
	}
	b, err := base64.StdEncoding.DecodeString(line)
	if err != nil || len(b) != secretLen || string(b[:2]) != algLegacy || string(b[4:6]) != checksumAlg {
		return PrivateKey{}, errors.New("minisign secret key: not an Ed25519 minisign secret key file")
	}
	if b[2] != 0 || b[3] != 0 {
		return PrivateKey{}, errors.New("minisign secret key: the key is password-protected; chaos reads unencrypted keys only " +
			"(minisign -C -W makes an unencrypted copy; keep it on an encrypted medium)")
	}
	rest := b[2+2+2+32+8+8:]
	var k PrivateKey
	copy(k.ID[:], rest[:8])
	k.Key = ed25519.PrivateKey(bytes.Clone(rest[8 : 8+ed25519.PrivateKeySize]))
	// minisign 0.11 writes an all-zero checksum into unencrypted keys; the key's own consistency
	// (its public half is the one its seed derives) is checked either way.
	chk := rest[8+ed25519.PrivateKeySize:]
	sum := k.checksum()
	derived := ed25519.NewKeyFromSeed(k.Key.Seed())
	if (!bytes.Equal(chk, make([]byte, 32)) && !bytes.Equal(sum[:], chk)) || !bytes.Equal(derived, k.Key) {
		return PrivateKey{}, errors.New("minisign secret key: checksum mismatch (a damaged key file)")
	}
	return k, nil
}

// Sign signs message (prehashed, as minisign does by default) and returns the .minisig file's content.
// The trusted comment is signed too (one line: no newline in it).
func Sign(k PrivateKey, message []byte, untrusted, trusted string) ([]byte, error) {
	if strings.ContainsAny(untrusted+trusted, "\r\n") {
		return nil, errors.New("minisign: a comment must be one line")
	}
	h := blake2b.Sum512(message)
	sig := ed25519.Sign(k.Key, h[:])
	b := make([]byte, 0, 2+8+ed25519.SignatureSize)
	b = append(b, algPrehashed...)
	b = append(b, k.ID[:]...)
	b = append(b, sig...)
	global := ed25519.Sign(k.Key, append(bytes.Clone(sig), trusted...))
	return []byte("untrusted comment: " + untrusted + "\n" + base64.StdEncoding.EncodeToString(b) + "\n" +
		"trusted comment: " + trusted + "\n" + base64.StdEncoding.EncodeToString(global) + "\n"), nil
}

// Verify checks a .minisig file (sig) for message against key and returns the trusted comment, which
// is only returned when both the signature and the signature over the comment hold.
func Verify(key PublicKey, message, sig []byte) (trusted string, err error) {
	lines := strings.Split(strings.TrimRight(string(sig), "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "untrusted comment: ") || !strings.HasPrefix(lines[2], "trusted comment: ") {
		return "", errors.New("minisign signature: not a minisign signature file (want 4 lines)")
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(lines[1]))
	if err != nil || len(b) != 2+8+ed25519.SignatureSize {
		return "", errors.New("minisign signature: malformed signature line")
	}
	alg, id, s := string(b[:2]), b[2:10], b[10:]
	if !bytes.Equal(id, key.ID[:]) {
		var got [8]byte
		copy(got[:], id)
		return "", fmt.Errorf("minisign signature: made by key %s, not by the trusted key %s", IDString(got), IDString(key.ID))
	}
	msg := message
	switch alg {
	case algPrehashed:
		h := blake2b.Sum512(message)
		msg = h[:]
	case algLegacy:
	default:
		return "", fmt.Errorf("minisign signature: unknown algorithm %q", alg)
	}
	if !ed25519.Verify(key.Key, msg, s) {
		return "", errors.New("minisign signature: the signature does not match the file (tampered with, or not signed by this key)")
	}
	trusted = strings.TrimPrefix(strings.TrimRight(lines[2], "\r"), "trusted comment: ")
	global, err := base64.StdEncoding.DecodeString(strings.TrimSpace(lines[3]))
	if err != nil || !ed25519.Verify(key.Key, append(bytes.Clone(s), trusted...), global) {
		return "", errors.New("minisign signature: the trusted comment's signature does not match")
	}
	return trusted, nil
}

// payloadLine is the base64 line of a key file: the line after "untrusted comment:", or the text
// itself when it is one line.
func payloadLine(text string) (string, error) {
	var lines []string
	for l := range strings.SplitSeq(text, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "untrusted comment:") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		return "", errors.New("want one base64 line, optionally after an untrusted comment line")
	}
	return lines[0], nil
}
