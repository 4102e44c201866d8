/*
Package hckms contains an implementation of the github.com/getsops/sops/v3/keys.MasterKey
interface that encrypts and decrypts the data key using HuaweiCloud KMS with the SDK
for Go V3.
*/
package hckms // import "github.com/getsops/sops/v3/hckms"

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/getsops/sops/v3/logging"
)

const (
	// KeyTypeIdentifier is the string used to identify a HuaweiCloud KMS MasterKey.
	KeyTypeIdentifier = "hckms"
	// hckmsTTL is the duration after which a MasterKey requires rotation.
	hckmsTTL = time.Hour * 24 * 30 * 6
)

var (
	// log is the global logger for any HuaweiCloud KMS MasterKey.
	log *logrus.Logger
)

// errNotBuilt is what this key type's Encrypt and Decrypt return: chaos's copy
// of sops keeps the key as data (it is read and written with the file) but
// does not link the cloud SDK that would use it.
var errNotBuilt = errors.New("HuaweiCloud KMS is not built into this program (a trimmed copy of sops); use the sops CLI")

func init() {
	log = logging.NewLogger("HCKMS")
}

// MasterKey is a HuaweiCloud KMS key used to encrypt and decrypt SOPS' data key.
type MasterKey struct {
	// KeyID is the full key identifier in format "region:key-uuid"
	KeyID string
	// Region is the HuaweiCloud region (e.g., "tr-west-1")
	Region string
	// KeyUUID is the UUID of the KMS key
	KeyUUID string
	// EncryptedKey stores the data key in its encrypted form.
	EncryptedKey string
	// CreationDate is when this MasterKey was created.
	CreationDate time.Time
}

// NewMasterKey creates a new MasterKey from a region:key-id string, setting
// the creation date to the current date.
func NewMasterKey(keyID string) (*MasterKey, error) {
	region, keyUUID, err := parseKeyID(keyID)
	if err != nil {
		return nil, err
	}
	return &MasterKey{
		KeyID:        keyID,
		Region:       region,
		KeyUUID:      keyUUID,
		CreationDate: time.Now().UTC(),
	}, nil
}

// NewMasterKeyFromKeyIDString takes a comma separated list of HuaweiCloud KMS
// key IDs in format "region:key-uuid", and returns a slice of new MasterKeys.
func NewMasterKeyFromKeyIDString(keyID string) ([]*MasterKey, error) {
	var keys []*MasterKey
	if keyID == "" {
		return keys, nil
	}
	for _, s := range strings.Split(keyID, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		k, err := NewMasterKey(s)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// parseKeyID parses a key ID in format "region:key-uuid" and returns the region and UUID.
func parseKeyID(keyID string) (string, string, error) {
	keyID = strings.TrimSpace(keyID)
	parts := strings.SplitN(keyID, ":", 2)
	if len(parts) != 2 {
		return "", "", fmt.Errorf("invalid key ID format: expected 'region:key-uuid', got %q", keyID)
	}
	region := strings.TrimSpace(parts[0])
	keyUUID := strings.TrimSpace(parts[1])
	if region == "" {
		return "", "", fmt.Errorf("region cannot be empty in key ID: %q", keyID)
	}
	if keyUUID == "" {
		return "", "", fmt.Errorf("key UUID cannot be empty in key ID: %q", keyID)
	}
	return region, keyUUID, nil
}

// Encrypt takes a SOPS data key, encrypts it with HuaweiCloud KMS and stores the result
// in the EncryptedKey field.
//
// Consider using EncryptContext instead.
func (key *MasterKey) Encrypt(dataKey []byte) error {
	return key.EncryptContext(context.Background(), dataKey)
}

// EncryptContext takes a SOPS data key, encrypts it with HuaweiCloud KMS and stores the result
// in the EncryptedKey field.
func (key *MasterKey) EncryptContext(ctx context.Context, dataKey []byte) error {
	return errNotBuilt

}

// EncryptIfNeeded encrypts the provided SOPS data key, if it has not been
// encrypted yet.
func (key *MasterKey) EncryptIfNeeded(dataKey []byte) error {
	if key.EncryptedKey == "" {
		return key.Encrypt(dataKey)
	}
	return nil
}

// EncryptedDataKey returns the encrypted data key this master key holds.
func (key *MasterKey) EncryptedDataKey() []byte {
	return []byte(key.EncryptedKey)
}

// SetEncryptedDataKey sets the encrypted data key for this master key.
func (key *MasterKey) SetEncryptedDataKey(enc []byte) {
	key.EncryptedKey = string(enc)
}

// Decrypt decrypts the EncryptedKey with HuaweiCloud KMS and returns the result.
//
// Consider using DecryptContext instead.
func (key *MasterKey) Decrypt() ([]byte, error) {
	return key.DecryptContext(context.Background())
}

// DecryptContext decrypts the EncryptedKey with HuaweiCloud KMS and returns the result.
func (key *MasterKey) DecryptContext(ctx context.Context) ([]byte, error) {
	return nil, errNotBuilt

}

// NeedsRotation returns whether the data key needs to be rotated or not.
func (key *MasterKey) NeedsRotation() bool {
	return time.Since(key.CreationDate) > hckmsTTL
}

// ToString converts the key to a string representation.
func (key *MasterKey) ToString() string {
	return key.KeyID
}

// ToMap converts the MasterKey to a map for serialization purposes.
func (key MasterKey) ToMap() map[string]interface{} {
	out := make(map[string]interface{})
	out["key_id"] = key.KeyID
	out["created_at"] = key.CreationDate.UTC().Format(time.RFC3339)
	out["enc"] = key.EncryptedKey
	return out
}

// TypeToIdentifier returns the string identifier for the MasterKey type.
func (key *MasterKey) TypeToIdentifier() string {
	return KeyTypeIdentifier
}
