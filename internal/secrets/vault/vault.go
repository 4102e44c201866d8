// Package vault speaks the two parts of HashiCorp Vault's HTTP API chaos uses: the KV version 2
// secrets engine (key material kept by the `vault` provider) and the Transit engine (sops's
// hc_vault keys, which wrap a file's data key). It is plain net/http on Vault's documented API:
// Vault's Go SDK, which sops links, brings dozens of modules for these four requests.
//
// The token travels only in the X-Vault-Token header, never in a URL or an error.
package vault

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Client talks to one Vault server with one token.
type Client struct {
	// Addr is the server's base URL (https://vault.example:8200).
	Addr string
	// Token is sent as X-Vault-Token.
	Token string
	// Namespace is sent as X-Vault-Namespace when set (Vault Enterprise, HCP).
	Namespace string
	HTTP      *http.Client
}

// TokenFromEnv finds a token the way the vault CLI and sops do: $VAULT_TOKEN, else the file
// ~/.vault-token that `vault login` writes.
func TokenFromEnv() (string, error) {
	if t := os.Getenv("VAULT_TOKEN"); t != "" {
		return t, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("no Vault token: VAULT_TOKEN is not set and the home directory is unknown")
	}
	data, err := os.ReadFile(filepath.Join(home, ".vault-token"))
	if err != nil {
		return "", fmt.Errorf("no Vault token: VAULT_TOKEN is not set and %s cannot be read (run vault login)", filepath.Join(home, ".vault-token"))
	}
	return strings.TrimSpace(string(data)), nil
}

// New returns a client for addr (else $VAULT_ADDR) with token (else TokenFromEnv), honouring
// $VAULT_NAMESPACE and $VAULT_CACERT as the vault CLI does.
func New(addr, token string) (*Client, error) {
	addr = strings.TrimRight(cmp.Or(addr, os.Getenv("VAULT_ADDR")), "/")
	if addr == "" {
		return nil, errors.New("no Vault address: set address in the provider, or VAULT_ADDR")
	}
	if token == "" {
		var err error
		if token, err = TokenFromEnv(); err != nil {
			return nil, err
		}
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	if ca := os.Getenv("VAULT_CACERT"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("VAULT_CACERT: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("VAULT_CACERT: %s holds no PEM certificate", ca)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	return &Client{Addr: addr, Token: token, Namespace: os.Getenv("VAULT_NAMESPACE"), HTTP: hc}, nil
}

// do sends one request; body and out are JSON. Vault's error list is returned as the error (it
// names paths and permissions, never secret values).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		defer clear(b)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Addr+"/v1/"+strings.TrimLeft(path, "/"), rd)
	if err != nil {
		return fmt.Errorf("vault %s: %w", c.Addr, err)
	}
	req.Header.Set("X-Vault-Token", c.Token)
	req.Header.Set("X-Vault-Request", "true")
	if c.Namespace != "" {
		req.Header.Set("X-Vault-Namespace", c.Namespace)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rsp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("vault %s: %w", c.Addr, err)
	}
	defer rsp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(rsp.Body, 4<<20))
	defer clear(data)
	if err != nil {
		return fmt.Errorf("vault %s %s: %w", method, path, err)
	}
	if rsp.StatusCode/100 != 2 {
		var e struct {
			Errors []string `json:"errors"`
		}
		_ = json.Unmarshal(data, &e)
		msg := strings.Join(e.Errors, "; ")
		return &Error{Method: method, Path: path, Status: rsp.StatusCode, Msg: cmp.Or(msg, http.StatusText(rsp.StatusCode))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("vault %s %s: unexpected answer: %w", method, path, err)
	}
	return nil
}

// Error is a Vault answer other than 2xx.
type Error struct {
	Method, Path string
	Status       int
	Msg          string
}

func (e *Error) Error() string {
	return fmt.Sprintf("vault %s /v1/%s: %d: %s", e.Method, strings.TrimLeft(e.Path, "/"), e.Status, e.Msg)
}

// NotFound reports whether err is Vault's 404.
func NotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// KVGet reads field of the newest version of the KV v2 secret mount/path.
func (c *Client) KVGet(ctx context.Context, mount, path, field string) ([]byte, error) {
	var rsp struct {
		Data struct {
			Data map[string]any `json:"data"`
		} `json:"data"`
	}
	if err := c.do(ctx, http.MethodGet, kvPath(mount, path), nil, &rsp); err != nil {
		return nil, err
	}
	v, ok := rsp.Data.Data[field]
	if !ok {
		return nil, fmt.Errorf("vault %s/%s has no field %q", mount, path, field)
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return nil, fmt.Errorf("vault %s/%s: field %q is not a non-empty string", mount, path, field)
	}
	return []byte(s), nil
}

// KVCreate writes field as the first version of mount/path: check-and-set 0, so an existing secret
// is never overwritten (Vault refuses the write).
func (c *Client) KVCreate(ctx context.Context, mount, path, field string, value []byte) error {
	body := map[string]any{"options": map[string]any{"cas": 0}, "data": map[string]string{field: string(value)}}
	return c.do(ctx, http.MethodPost, kvPath(mount, path), body, nil)
}

func kvPath(mount, path string) string {
	return strings.Trim(mount, "/") + "/data/" + strings.Trim(path, "/")
}

// TransitEncrypt wraps plaintext with the Transit key engine/key, as sops's hc_vault key does:
// the plaintext base64-encoded, the answer Vault's "vault:v1:..." ciphertext.
func (c *Client) TransitEncrypt(ctx context.Context, engine, key string, plaintext []byte) (string, error) {
	enc := base64.StdEncoding.EncodeToString(plaintext)
	var rsp struct {
		Data struct {
			Ciphertext string `json:"ciphertext"`
		} `json:"data"`
	}
	if err := c.do(ctx, http.MethodPost, strings.Trim(engine, "/")+"/encrypt/"+key, map[string]string{"plaintext": enc}, &rsp); err != nil {
		return "", err
	}
	if rsp.Data.Ciphertext == "" {
		return "", fmt.Errorf("vault transit %s/%s: empty ciphertext", engine, key)
	}
	return rsp.Data.Ciphertext, nil
}

// TransitDecrypt unwraps a ciphertext TransitEncrypt (or sops) made.
func (c *Client) TransitDecrypt(ctx context.Context, engine, key, ciphertext string) ([]byte, error) {
	var rsp struct {
		Data struct {
			Plaintext string `json:"plaintext"`
		} `json:"data"`
	}
	if err := c.do(ctx, http.MethodPost, strings.Trim(engine, "/")+"/decrypt/"+key, map[string]string{"ciphertext": ciphertext}, &rsp); err != nil {
		return nil, err
	}
	pt, err := base64.StdEncoding.DecodeString(rsp.Data.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("vault transit %s/%s: plaintext is not base64", engine, key)
	}
	return pt, nil
}

// Credentials are a Vault address and token kept in a provider, in the original Ch-aOS's item
// format:
//
//	# Vault Address:: https://vault.example:8200
//	Vault Key: hvs.XXXX
type Credentials struct{ Addr, Token string }

const (
	addrPrefix  = "# Vault Address::"
	tokenPrefix = "Vault Key:"
)

// ParseCredentials finds the credential lines in key material; ok is false when there are none.
func ParseCredentials(data []byte) (c Credentials, ok bool) {
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, addrPrefix):
			c.Addr = strings.TrimSpace(strings.TrimPrefix(line, addrPrefix))
		case strings.HasPrefix(line, tokenPrefix):
			c.Token = strings.TrimSpace(strings.TrimPrefix(line, tokenPrefix))
		}
	}
	return c, c.Token != ""
}

// Format is the item text ParseCredentials reads.
func (c Credentials) Format() []byte {
	return []byte(addrPrefix + " " + c.Addr + "\n" + tokenPrefix + " " + c.Token + "\n")
}
