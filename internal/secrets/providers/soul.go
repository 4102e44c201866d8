package providers

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// soulProvider is a provider an installed Soul declares ({type: soul, soul: NAME, config: {...}}):
// chaos asks the Soul (its one process of the run) provider.key with the entry's config only.
type soulProvider struct {
	name  string
	soul  string // the Soul's name
	souls soul.Kinds
	req   soul.KeyParams
}

func newSoulProvider(name string, c Config, souls soul.Kinds) (Provider, error) {
	if souls == nil {
		return nil, fmt.Errorf("provider %s: no Souls are loaded to provide %q", name, c.Soul)
	}
	s, _, err := souls.Lookup(soul.KindProvider, c.Soul)
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", name, err)
	}
	cfg, err := json.Marshal(c.Options)
	if err != nil {
		return nil, fmt.Errorf("provider %s: config: %w", name, err)
	}
	return soulProvider{name: name, soul: s, souls: souls, req: soul.KeyParams{Provider: c.Soul, Config: cfg}}, nil
}

func (p soulProvider) Name() string { return p.name }

// Fetch returns the age identities the Soul hands over. Any failure (a refusal, a timeout, a
// crash, a malformed answer) leaves the key missing, and says so.
func (p soulProvider) Fetch(ctx context.Context) ([]byte, error) {
	var res soul.KeyResult
	if err := p.souls.Call(ctx, soul.KindProvider, p.req.Provider, soul.MethodProviderKey, p.req, &res); err != nil {
		return nil, fmt.Errorf("provider %s: %w; no key from it", p.name, err)
	}
	switch {
	case res.Kind != "age":
		return nil, fmt.Errorf("provider %s: soul %s handed a %q key; providers hand age identities (AGE-SECRET-KEY-1...); no key from it", p.name, p.soul, res.Kind)
	case res.Key == "":
		return nil, fmt.Errorf("provider %s: soul %s handed an empty key; no key from it", p.name, p.soul)
	}
	return []byte(res.Key), nil
}

func (p soulProvider) Store(context.Context, []byte) error {
	return fmt.Errorf("provider %s: a Soul's provider only hands keys out; it cannot store one", p.name)
}
