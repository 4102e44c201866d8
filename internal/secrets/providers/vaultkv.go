package providers

import (
	"context"
	"fmt"

	"github.com/ch-aos-ch/chaos/internal/secrets/vault"
)

// vaultKV keeps key material in a field of a HashiCorp Vault KV version 2 secret, over Vault's HTTP
// API: the address is address: or $VAULT_ADDR, the token $VAULT_TOKEN or ~/.vault-token (as the
// vault CLI); it travels in a header only. Store creates the secret with check-and-set 0, so an
// existing secret is never overwritten.
type vaultKV struct{ name, addr, mount, path, field string }

func (p vaultKV) Name() string { return p.name }

func (p vaultKV) client() (*vault.Client, error) {
	c, err := vault.New(p.addr, "")
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", p.name, err)
	}
	return c, nil
}

func (p vaultKV) Fetch(ctx context.Context) ([]byte, error) {
	c, err := p.client()
	if err != nil {
		return nil, err
	}
	data, err := c.KVGet(ctx, p.mount, p.path, p.field)
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", p.name, err)
	}
	return data, nil
}

func (p vaultKV) Store(ctx context.Context, data []byte) error {
	c, err := p.client()
	if err != nil {
		return err
	}
	if err := c.KVCreate(ctx, p.mount, p.path, p.field, data); err != nil {
		return fmt.Errorf("provider %s: %w (an existing secret is never overwritten)", p.name, err)
	}
	return nil
}
