package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"filippo.io/age"
	"github.com/ProtonMail/go-crypto/openpgp"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/keyservice"
	"google.golang.org/grpc"

	"github.com/ch-aos-ch/chaos/internal/secrets/vault"
)

// KeysDir is the directory, under chaos's config directory, that holds chaos's own age keys.
const KeysDir = "keys"

// Keyring holds the age identities chaos found itself (its own key directory, keys fetched from a
// provider) and answers sops's key-service requests with them. Anything it cannot answer — PGP keys,
// age keys it does not hold — goes to sops's own local key service, which discovers keys exactly as
// the sops CLI does (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD,
// ~/.config/sops/age/keys.txt, ~/.ssh/id_ed25519, gpg). So a file sops can open, chaos can open.
type Keyring struct {
	ids     []age.Identity
	sources []string
	local   keyservice.KeyServiceClient
	// places are the chaos key locations looked at, with what was found, for noKeyError.
	places []string
	// providers are the configured secret providers' names; nil when the caller did not say.
	providers []string
	// pgp are PGP private keys a provider handed over, used in-process (AddKeyMaterial).
	pgp openpgp.EntityList
	// vault are Vault credentials a provider handed over, for hc_vault keys.
	vault *vault.Credentials
	// vaultErrs are why hc_vault keys failed, for noKeyError; Decrypt runs concurrently (ramble
	// find), hence mu.
	mu        sync.Mutex
	vaultErrs []string
}

// SetProviders records the configured secret providers, named when no key fits a file.
func (k *Keyring) SetProviders(names []string) {
	k.providers = append([]string{}, names...)
	slices.Sort(k.providers)
}

// searched describes chaos's own key locations and what each held.
func (k *Keyring) searched() []string {
	out := slices.Clone(k.places)
	for _, s := range k.sources {
		if strings.HasPrefix(s, "provider ") {
			out = append(out, s+": its key does not fit")
		}
	}
	if len(out) == 0 && len(k.ids) > 0 {
		out = append(out, fmt.Sprintf("%d chaos key(s) from %s: none fits", len(k.ids), strings.Join(k.sources, ", ")))
	}
	return out
}

var _ keyservice.KeyServiceClient = (*Keyring)(nil)

// NewKeyring returns an empty keyring that falls back to sops's own key discovery.
func NewKeyring() *Keyring {
	return &Keyring{local: keyservice.NewLocalClient()}
}

// AddAgeKeys parses age identities (the keys.txt format: comments, blank lines, one
// AGE-SECRET-KEY-1... per line) from text. source names where they came from, for messages; the
// text itself is never kept or shown. The caller owns text and should Wipe it afterwards.
func (k *Keyring) AddAgeKeys(source string, text []byte) (int, error) {
	ids, err := age.ParseIdentities(bytes.NewReader(text))
	if err != nil {
		// age's parse errors can quote the offending line; a secret key must never reach a message.
		return 0, fmt.Errorf("%s: not a valid age key file", source)
	}
	k.ids = append(k.ids, ids...)
	k.sources = append(k.sources, source)
	return len(ids), nil
}

// Len is the number of identities chaos holds itself (not counting sops's own discovery).
func (k *Keyring) Len() int { return len(k.ids) }

// Sources names where the identities came from (paths or provider names).
func (k *Keyring) Sources() []string { return slices.Clone(k.sources) }

// Recipients returns the public keys (age1...) of the X25519 identities held.
func (k *Keyring) Recipients() []string {
	var out []string
	for _, id := range k.ids {
		if x, ok := id.(*age.X25519Identity); ok {
			out = append(out, x.Recipient().String())
		}
	}
	return out
}

// LoadDir adds every key file in dir (chaos's keys directory). Files readable by group or others
// are refused, as ssh refuses a loose private key: it means the key may already have leaked. A
// missing directory is not an error.
func (k *Keyring) LoadDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("age keys: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || strings.HasSuffix(e.Name(), ".pub") {
			continue
		}
		if err := k.LoadFile(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// LoadFile adds the keys of one key file (age identities, and what `chaos secrets import` writes
// there: Vault credentials), refusing a file that others can read.
func (k *Keyring) LoadFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("age keys: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("age keys: %s is readable by group or others (mode %04o); run chmod 600 %s",
			path, fi.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("age keys: %w", err)
	}
	defer Wipe(data)
	_, err = k.AddKeyMaterial(path, data)
	return err
}

// DiscoverKeyring builds the keyring chaos uses by default: the key files in
// CONFIGDIR/keys/ and the original Ch-aOS's CONFIGDIR/keys.txt, on top of sops's own discovery.
func DiscoverKeyring(configDir string) (*Keyring, error) {
	k := NewKeyring()
	if configDir == "" {
		return k, nil
	}
	dir := filepath.Join(configDir, KeysDir)
	before := k.Len()
	if err := k.LoadDir(dir); err != nil {
		return nil, err
	}
	k.places = append(k.places, placeState(dir+"/ (chaos keys)", dir, k.Len()-before))
	legacy := filepath.Join(configDir, "keys.txt")
	before = k.Len()
	if _, err := os.Stat(legacy); err == nil {
		if err := k.LoadFile(legacy); err != nil {
			return nil, err
		}
	}
	k.places = append(k.places, placeState(legacy+" (chaos keys, old layout)", legacy, k.Len()-before))
	return k, nil
}

func placeState(label, path string, n int) string {
	if _, err := os.Stat(path); err != nil {
		return label + ": does not exist"
	}
	if n == 0 {
		return label + ": holds no age key"
	}
	return fmt.Sprintf("%s: %d key(s), none fits", label, n)
}

// Encrypt wraps a data key for a master key. Encryption needs only public keys, so sops's local
// service does it for age and PGP; hc_vault keys are wrapped by Vault's Transit engine.
func (k *Keyring) Encrypt(ctx context.Context, req *keyservice.EncryptRequest, opts ...grpc.CallOption) (*keyservice.EncryptResponse, error) {
	if vk := req.GetKey().GetVaultKey(); vk != nil {
		ct, err := k.vaultEncrypt(ctx, vk, req.GetPlaintext())
		if err != nil {
			return nil, err
		}
		return &keyservice.EncryptResponse{Ciphertext: ct}, nil
	}
	return k.local.Encrypt(ctx, req, opts...)
}

// Decrypt unwraps a data key: with chaos's own identities first for age keys, then through sops's
// discovery (which also covers PGP through gpg).
func (k *Keyring) Decrypt(ctx context.Context, req *keyservice.DecryptRequest, opts ...grpc.CallOption) (*keyservice.DecryptResponse, error) {
	if vk := req.GetKey().GetVaultKey(); vk != nil {
		pt, err := k.vaultDecrypt(ctx, vk, req.GetCiphertext())
		if err != nil {
			k.mu.Lock()
			if !slices.Contains(k.vaultErrs, err.Error()) {
				k.vaultErrs = append(k.vaultErrs, err.Error())
			}
			k.mu.Unlock()
			return nil, err
		}
		return &keyservice.DecryptResponse{Plaintext: pt}, nil
	}
	var ownErr error
	if req.GetKey().GetPgpKey() != nil && len(k.pgp) > 0 {
		pt, err := k.decryptPGP(req.GetCiphertext())
		if err == nil {
			return &keyservice.DecryptResponse{Plaintext: pt}, nil
		}
		ownErr = err
	}
	if ak := req.GetKey().GetAgeKey(); ak != nil && len(k.ids) > 0 {
		mk, err := sopsage.MasterKeyFromRecipient(ak.GetRecipient())
		if err == nil {
			mk.EncryptedKey = string(req.GetCiphertext())
			sopsage.ParsedIdentities(k.ids).ApplyToMasterKey(mk)
			pt, err := mk.Decrypt()
			if err == nil {
				return &keyservice.DecryptResponse{Plaintext: pt}, nil
			}
		}
		ownErr = fmt.Errorf("none of the %d chaos age key(s) from %s fits", len(k.ids), strings.Join(k.sources, ", "))
	}
	rsp, err := k.local.Decrypt(ctx, req, opts...)
	if err != nil && ownErr != nil {
		return nil, fmt.Errorf("%v, nor do sops's: %w", ownErr, err)
	}
	return rsp, err
}
