package styx

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/ch-aos-ch/chaos/internal/secrets"
)

// DefaultRegistry is the official index: a git repository.
const DefaultRegistry = "https://gitlab.com/Ch-aOS/styx.git"

// RegistryEnv is the original's variable for the index URL.
const RegistryEnv = "CHAOS_STYX_REGISTRY"

// maintainersKey is the public key of the official index's maintainers, shipped in the binary, so
// that a hostile mirror of the index is refused before any publisher key is trusted. Its private
// half never enters the repository (docs/styx.md says how it is kept).
//
//go:embed maintainers.pub
var maintainersKey string

// MaintainersKey is the key that signs the official index.
func MaintainersKey() PublicKey {
	k, err := ParsePublicKey(maintainersKey)
	if err != nil {
		panic("styx: the embedded maintainers' key does not parse: " + err.Error()) // a build mistake
	}
	return k
}

// fetchIndex gets registry.yaml and its signature from url: a git repository (any URL go-git
// fetches: https://, ssh://, file://), or, for the original's $CHAOS_STYX_REGISTRY that named the
// raw file, an http(s):// or file:// URL ending in .yaml whose signature is URL.sig.
func fetchIndex(ctx context.Context, client *http.Client, url string) (data, sig []byte, rev string, err error) {
	if strings.HasSuffix(url, ".yaml") || strings.HasSuffix(url, ".yml") {
		if data, err = getURL(ctx, client, url, maxIndexSize); err != nil {
			return nil, nil, "", err
		}
		if sig, err = getURL(ctx, client, url+".sig", 64<<10); err != nil {
			return nil, nil, "", fmt.Errorf("the index's signature: %w", err)
		}
		return data, sig, "", nil
	}
	repo, err := git.CloneContext(ctx, memory.NewStorage(), nil, &git.CloneOptions{URL: url, Depth: depthFor(url), Tags: git.NoTags})
	if err != nil {
		return nil, nil, "", fmt.Errorf("index %s: %w", url, err)
	}
	head, err := repo.Head()
	if err != nil {
		return nil, nil, "", fmt.Errorf("index %s: %w", url, err)
	}
	commit, err := repo.CommitObject(head.Hash())
	if err != nil {
		return nil, nil, "", fmt.Errorf("index %s: %w", url, err)
	}
	read := func(name string, limit int64) ([]byte, error) {
		f, err := commit.File(name)
		if errors.Is(err, object.ErrFileNotFound) {
			return nil, fmt.Errorf("index %s: no %s in commit %s", url, name, head.Hash().String()[:12])
		}
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", url, err)
		}
		if f.Size > limit {
			return nil, fmt.Errorf("index %s: %s is larger than %d bytes", url, name, limit)
		}
		r, err := f.Reader()
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", url, err)
		}
		defer r.Close()
		return io.ReadAll(r)
	}
	if data, err = read(IndexFile, maxIndexSize); err != nil {
		return nil, nil, "", err
	}
	if sig, err = read(IndexSigFile, 64<<10); err != nil {
		return nil, nil, "", fmt.Errorf("%w (the index must be signed: chaos styx sign-index)", err)
	}
	return data, sig, head.Hash().String(), nil
}

// depthFor is a shallow clone where the transport supports it; go-git's in-process file://
// transport does not.
func depthFor(url string) int {
	if strings.HasPrefix(url, "file://") || filepath.IsAbs(url) {
		return 0
	}
	return 1
}

// getURL reads an http(s):// or file:// URL, at most limit bytes.
func getURL(ctx context.Context, client *http.Client, url string, limit int64) ([]byte, error) {
	var body io.ReadCloser
	if path, ok := strings.CutPrefix(url, "file://"); ok {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		body = f
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		if client == nil {
			client = http.DefaultClient
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		body = resp.Body
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, limit)
	}
	return data, nil
}

// verifyIndex checks that one of the trusted keys signed data.
func verifyIndex(data, sig []byte, trusted []PublicKey) error {
	got, err := Verify(NamespaceIndex, data, string(sig))
	if err != nil {
		return fmt.Errorf("the index's signature: %w (a hostile mirror, or an index changed after signing)", err)
	}
	for _, k := range trusted {
		if got.Equal(k) {
			return nil
		}
	}
	return fmt.Errorf("the index is signed by %s, which is not a trusted index key (the maintainers' key %s, or styx.index_keys in config.yml)",
		got.Fingerprint(), MaintainersKey().Fingerprint())
}

// writeCache stores a verified index for offline use.
func writeCache(dir string, data, sig []byte, source string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("styx cache: %w", err)
	}
	for name, content := range map[string][]byte{IndexFile: data, IndexSigFile: sig, "source": []byte(source + "\n")} {
		if err := secrets.WriteFileAtomic(filepath.Join(dir, name), content, 0o644); err != nil {
			return fmt.Errorf("styx cache: %w", err)
		}
	}
	return nil
}
