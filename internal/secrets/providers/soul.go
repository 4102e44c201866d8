package providers

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ch-aos-ch/chaos/internal/souls"
	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// soulProvider is a provider an installed Soul declares ({type: soul, soul: NAME, config: {...}}):
// chaos starts the Soul, asks it provider.key with the entry's config only, and ends it.
type soulProvider struct {
	name string
	s    *souls.Soul
	req  soul.KeyParams
}

func newSoulProvider(name string, c Config) (Provider, error) {
	s, _, err := souls.Find(souls.KindProvider, c.Soul)
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", name, err)
	}
	cfg, err := json.Marshal(c.Options)
	if err != nil {
		return nil, fmt.Errorf("provider %s: config: %w", name, err)
	}
	return soulProvider{name: name, s: s, req: soul.KeyParams{Provider: c.Soul, Config: cfg}}, nil
}

func (p soulProvider) Name() string { return p.name }

// Fetch returns the age identities the Soul hands over. Any failure (a refusal, a timeout, a
// crash, a malformed answer) leaves the key missing, and says so.
func (p soulProvider) Fetch(ctx context.Context) ([]byte, error) {
	var res soul.KeyResult
	if err := p.s.Once(ctx, soul.MethodProviderKey, p.req, &res); err != nil {
		return nil, fmt.Errorf("provider %s: %w; no key from it", p.name, err)
	}
	switch {
	case res.Kind != "age":
		return nil, fmt.Errorf("provider %s: soul %s handed a %q key; providers hand age identities (AGE-SECRET-KEY-1...); no key from it", p.name, p.s.Manifest.Name, res.Kind)
	case res.Key == "":
		return nil, fmt.Errorf("provider %s: soul %s handed an empty key; no key from it", p.name, p.s.Manifest.Name)
	}
	return []byte(res.Key), nil
}

func (p soulProvider) Store(context.Context, []byte) error {
	return fmt.Errorf("provider %s: a Soul's provider only hands keys out; it cannot store one", p.name)
}
