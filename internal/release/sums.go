package release

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/minisign"
	"github.com/ch-aos-ch/chaos/internal/selfupdate"
)

// writeSums writes dir/SHA256SUMS: "HASH  NAME" for every file in dir, sorted by name, as
// `sha256sum` prints them and `sha256sum -c` reads them.
func writeSums(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("release: %w", err)
	}
	var b strings.Builder
	for _, e := range entries { // ReadDir sorts by name
		if !e.Type().IsRegular() || e.Name() == selfupdate.SumsName || e.Name() == selfupdate.SigName {
			continue
		}
		sum, err := FileSHA256(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, e.Name())
	}
	out := filepath.Join(dir, selfupdate.SumsName)
	return out, os.WriteFile(out, []byte(b.String()), 0o644)
}

// FileSHA256 is the hex SHA-256 of the file at p.
func FileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("release: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("release: %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// SignSums writes SHA256SUMS.minisig beside sums.
func SignSums(sums string, key minisign.PrivateKey, version string) (string, error) {
	data, err := os.ReadFile(sums)
	if err != nil {
		return "", fmt.Errorf("release: %w", err)
	}
	sig, err := minisign.Sign(key, data, "signature of chaos "+version+" by key "+minisign.IDString(key.ID), selfupdate.TrustedComment(version))
	if err != nil {
		return "", err
	}
	out := filepath.Join(filepath.Dir(sums), selfupdate.SigName)
	return out, os.WriteFile(out, sig, 0o644)
}
