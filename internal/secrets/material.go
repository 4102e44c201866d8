package secrets

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/getsops/sops/v3/keyservice"

	"github.com/ch-aos-ch/chaos/internal/secrets/vault"
)

// Material counts what AddKeyMaterial found in a provider's item.
type Material struct {
	Age, PGP int
	// Vault is set when the item held Vault credentials (address and token).
	Vault bool
}

func (m Material) String() string {
	var parts []string
	if m.Age > 0 {
		parts = append(parts, fmt.Sprintf("%d age key(s)", m.Age))
	}
	if m.PGP > 0 {
		parts = append(parts, fmt.Sprintf("%d PGP key(s)", m.PGP))
	}
	if m.Vault {
		parts = append(parts, "Vault credentials")
	}
	return strings.Join(parts, ", ")
}

const (
	pgpBegin = "-----BEGIN PGP PRIVATE KEY BLOCK-----"
	pgpEnd   = "-----END PGP PRIVATE KEY BLOCK-----"
)

// SplitMaterial separates key material into its ASCII-armored PGP private key blocks and the rest
// (age identities, Vault credential lines, comments). Both are new buffers the caller wipes.
func SplitMaterial(data []byte) (pgpBlocks [][]byte, rest []byte) {
	for {
		i := bytes.Index(data, []byte(pgpBegin))
		if i < 0 {
			break
		}
		j := bytes.Index(data[i:], []byte(pgpEnd))
		if j < 0 {
			break
		}
		end := i + j + len(pgpEnd)
		rest = append(rest, data[:i]...)
		pgpBlocks = append(pgpBlocks, bytes.Clone(data[i:end]))
		data = data[end:]
	}
	return pgpBlocks, append(rest, data...)
}

// AddKeyMaterial adds what a provider handed over, in any mix: age identities, ASCII-armored PGP
// private keys (`gpg --export-secret-keys --armor`, without a passphrase) and Vault credentials
// (the original Ch-aOS's "# Vault Address:: ADDR" / "Vault Key: TOKEN" lines, used for hc_vault
// keys). All of it stays in memory; PGP keys are used in-process, never imported into a GnuPG home.
func (k *Keyring) AddKeyMaterial(source string, data []byte) (Material, error) {
	var m Material
	blocks, rest := SplitMaterial(data)
	defer func() {
		for _, b := range blocks {
			Wipe(b)
		}
		Wipe(rest)
	}()
	for _, b := range blocks {
		n, err := k.addPGP(source, b)
		if err != nil {
			return m, err
		}
		m.PGP += n
	}
	if c, ok := vault.ParseCredentials(rest); ok {
		k.vault = &c
		m.Vault = true
	}
	var ageLines []byte
	for _, line := range bytes.Split(rest, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && !bytes.HasPrefix(t, []byte("#")) && !bytes.HasPrefix(t, []byte("Vault Key:")) {
			ageLines = append(append(ageLines, t...), '\n')
		}
	}
	defer Wipe(ageLines)
	if len(ageLines) > 0 {
		n, err := k.AddAgeKeys(source, ageLines)
		if err != nil {
			return m, err
		}
		m.Age = n
	} else if m.PGP > 0 || m.Vault {
		k.sources = append(k.sources, source)
	}
	if m == (Material{}) {
		return m, fmt.Errorf("%s: holds no key (an age key, an armored PGP private key or Vault credentials)", source)
	}
	return m, nil
}

// addPGP parses one armored private key block. A key protected by a passphrase is refused: a
// provider's key is used unattended, and chaos does not ask for passphrases.
func (k *Keyring) addPGP(source string, block []byte) (int, error) {
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(block))
	if err != nil {
		// go-crypto's parse errors do not quote key bytes, but say no more than needed.
		return 0, fmt.Errorf("%s: not a valid armored PGP private key", source)
	}
	n := 0
	for _, e := range el {
		if e.PrivateKey == nil {
			continue
		}
		if e.PrivateKey.Encrypted {
			return 0, fmt.Errorf("%s: the PGP key %X is protected by a passphrase; store it without one "+
				"(the provider protects it) or keep it in GnuPG", source, e.PrimaryKey.Fingerprint)
		}
		k.pgp = append(k.pgp, e)
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("%s: the PGP block holds no private key", source)
	}
	return n, nil
}

// PGPFingerprints lists the fingerprints of the PGP keys held in memory.
func (k *Keyring) PGPFingerprints() []string {
	var out []string
	for _, e := range k.pgp {
		out = append(out, fmt.Sprintf("%X", e.PrimaryKey.Fingerprint))
	}
	return out
}

// decryptPGP unwraps a data key with the in-memory PGP keys, as sops's PGP key source does with
// a keyring (an armored OpenPGP message holding the raw data key).
func (k *Keyring) decryptPGP(ciphertext []byte) ([]byte, error) {
	block, err := armor.Decode(bytes.NewReader(ciphertext))
	if err != nil {
		return nil, fmt.Errorf("pgp data key: %w", err)
	}
	md, err := openpgp.ReadMessage(block.Body, k.pgp, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("none of the %d PGP key(s) from %s fits (%v)", len(k.pgp), strings.Join(k.sources, ", "), err)
	}
	return io.ReadAll(md.UnverifiedBody)
}

// vaultClient is the Vault client for an hc_vault key at addr: with the provider's credentials when
// it handed some for that address (or for none), else with VAULT_TOKEN / ~/.vault-token, as sops.
func (k *Keyring) vaultClient(addr string) (*vault.Client, error) {
	token := ""
	if k.vault != nil && (k.vault.Addr == "" || strings.TrimRight(k.vault.Addr, "/") == strings.TrimRight(addr, "/")) {
		token = k.vault.Token
	}
	return vault.New(addr, token)
}

// vaultDecrypt and vaultEncrypt do for an hc_vault key what sops's hcvault key source does, over
// Vault's Transit HTTP API.
func (k *Keyring) vaultDecrypt(ctx context.Context, vk *keyservice.VaultKey, ciphertext []byte) ([]byte, error) {
	c, err := k.vaultClient(vk.GetVaultAddress())
	if err != nil {
		return nil, fmt.Errorf("hc_vault key %s: %w", vaultKeyName(vk), err)
	}
	pt, err := c.TransitDecrypt(ctx, vk.GetEnginePath(), vk.GetKeyName(), string(ciphertext))
	if err != nil {
		return nil, fmt.Errorf("hc_vault key %s: %w", vaultKeyName(vk), err)
	}
	return pt, nil
}

func (k *Keyring) vaultEncrypt(ctx context.Context, vk *keyservice.VaultKey, plaintext []byte) ([]byte, error) {
	c, err := k.vaultClient(vk.GetVaultAddress())
	if err != nil {
		return nil, fmt.Errorf("hc_vault key %s: %w", vaultKeyName(vk), err)
	}
	ct, err := c.TransitEncrypt(ctx, vk.GetEnginePath(), vk.GetKeyName(), plaintext)
	if err != nil {
		return nil, fmt.Errorf("hc_vault key %s: %w", vaultKeyName(vk), err)
	}
	return []byte(ct), nil
}

func vaultKeyName(vk *keyservice.VaultKey) string {
	return vk.GetVaultAddress() + "/v1/" + vk.GetEnginePath() + "/keys/" + vk.GetKeyName()
}

// gpgBinary is the gpg sops runs: $SOPS_GPG_EXEC, else gpg.
func gpgBinary() string {
	return cmp.Or(os.Getenv("SOPS_GPG_EXEC"), "gpg")
}

// ExportPGP returns the armored secret keys of fingerprints from GnuPG (`gpg --export-secret-keys
// --armor`, on its stdout), checked to be usable by AddKeyMaterial (no passphrase). The caller wipes
// the result.
func ExportPGP(ctx context.Context, fingerprints []string) ([]byte, error) {
	if len(fingerprints) == 0 {
		return nil, errors.New("export pgp: no fingerprints given (--fingerprints)")
	}
	fprs := make([]string, len(fingerprints))
	for i, f := range fingerprints {
		if _, err := MasterKey("pgp", f); err != nil {
			return nil, fmt.Errorf("export pgp: %w", err)
		}
		fprs[i] = strings.ToUpper(strings.ReplaceAll(f, " ", ""))
	}
	cmd := exec.CommandContext(ctx, gpgBinary(), append([]string{"--batch", "--armor", "--export-secret-keys", "--"}, fprs...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		Wipe(out.Bytes())
		return nil, fmt.Errorf("export pgp: gpg --export-secret-keys: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	data := out.Bytes()
	k := NewKeyring()
	m, err := k.AddKeyMaterial("gpg --export-secret-keys", data)
	if err != nil {
		Wipe(data)
		return nil, fmt.Errorf("export pgp: %w", err)
	}
	if m.PGP < len(fingerprints) {
		Wipe(data)
		return nil, fmt.Errorf("export pgp: gpg exported %d secret key(s) for %d fingerprint(s); is each secret key in %s?", m.PGP, len(fingerprints), gnupgHome())
	}
	return data, nil
}

// ImportPGP hands the armored PGP private keys in data to GnuPG (`gpg --batch --import`, the keys on
// its stdin), as the original Ch-aOS's import did; it returns how many blocks it imported.
func ImportPGP(ctx context.Context, data []byte) (int, error) {
	blocks, rest := SplitMaterial(data)
	Wipe(rest)
	defer func() {
		for _, b := range blocks {
			Wipe(b)
		}
	}()
	for _, b := range blocks {
		cmd := exec.CommandContext(ctx, gpgBinary(), "--batch", "--import")
		cmd.Stdin = bytes.NewReader(b)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("gpg --import: %v: %s", err, strings.TrimSpace(errb.String()))
		}
	}
	return len(blocks), nil
}
