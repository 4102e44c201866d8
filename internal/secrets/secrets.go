// Package secrets reads and writes sops-encrypted YAML and JSON files in-process, with the sops Go
// module itself, so the files are interchangeable with the `sops` CLI byte for byte: same stores,
// same MAC, same key groups and Shamir splitting, same `.sops.yaml` creation rules.
//
// A decrypted file becomes a Values tree that roles read by dotted path (engine.SecretStore). Nothing
// in this package logs or formats a secret value; errors name paths and keys, never values.
//
// What `chaos` does around a file is here too, for any caller: Resolve picks the file and its sops
// configuration (flags, then the caller's defaults, then the Ch-obolo's secrets section),
// LoadKeyring gathers the keys (chaos's own, a provider's), OpenFile and LoadValues decrypt, and
// Rotate, SetShamir and ChangeKeys re-key a file, refusing a change that would lock the caller out.
package secrets

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/config"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
)

// Format is a file format sops stores support and chaos handles.
type Format string

const (
	YAML Format = "yaml"
	JSON Format = "json"
)

// FormatFor picks the format from the file name as sops does: .json is JSON, .yaml/.yml YAML.
// Other formats sops knows (dotenv, ini, binary) have no tree a role could address, so chaos refuses
// them rather than guessing.
func FormatFor(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return JSON, nil
	case ".yaml", ".yml":
		return YAML, nil
	}
	return "", fmt.Errorf("%s: unsupported secrets format (use .yaml, .yml or .json)", path)
}

// storeFor returns the sops store for a format, with the stores settings of .sops.yaml (indent).
func storeFor(f Format, sc *config.StoresConfig) sops.Store {
	if sc == nil {
		sc = config.NewStoresConfig()
	}
	if f == JSON {
		return sopsjson.NewStore(&sc.JSON)
	}
	return sopsyaml.NewStore(&sc.YAML)
}

// Wipe overwrites a buffer that held plaintext or key material. Go may have copied the bytes
// elsewhere (strings, the GC); wiping the buffers chaos owns still shortens their life in memory.
func Wipe(b []byte) {
	clear(b)
}
