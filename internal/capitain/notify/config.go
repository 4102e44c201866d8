package notify

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Config is the notifications section of Capitain's configuration file (YAML), documented in
// docs/capitain.md.
type Config struct {
	Channels []ChannelConfig `yaml:"channels" json:"channels"`
	Rules    []Rule          `yaml:"rules" json:"rules"`
	Delivery DeliveryConfig  `yaml:"delivery,omitempty" json:"delivery,omitempty"`
}

// ChannelConfig is one named channel. Type says which fields apply.
type ChannelConfig struct {
	Name string `yaml:"name" json:"name"`
	// Type is webhook, slack or email.
	Type string `yaml:"type" json:"type"`

	// webhook: the receiver's URL, the signing secret and, while rotating, the previous secret
	// (then two signatures are sent and a receiver with either secret accepts the request).
	URL            string `yaml:"url,omitempty" json:"url,omitempty"`
	Secret         Secret `yaml:"secret,omitempty" json:"secret,omitempty"`
	PreviousSecret Secret `yaml:"previous_secret,omitempty" json:"previous_secret,omitempty"`

	// slack: the incoming webhook's URL, a secret itself (it carries the token).
	URLSecret Secret `yaml:"url_secret,omitempty" json:"url_secret,omitempty"`

	// email
	SMTP SMTP     `yaml:"smtp,omitempty" json:"smtp,omitempty"`
	From string   `yaml:"from,omitempty" json:"from,omitempty"`
	To   []string `yaml:"to,omitempty" json:"to,omitempty"`
}

// DeliveryConfig bounds the work of delivering. Zero fields take the defaults given.
type DeliveryConfig struct {
	// Queue is how many deliveries may wait or be in flight at once (1024); past it, new ones go
	// straight to the dead letters instead of waiting.
	Queue int `yaml:"queue,omitempty" json:"queue,omitempty"`
	// Workers send in parallel (4).
	Workers int `yaml:"workers,omitempty" json:"workers,omitempty"`
	// Attempts per delivery before it is a dead letter (8).
	Attempts int `yaml:"attempts,omitempty" json:"attempts,omitempty"`
	// Timeout of one attempt (10s).
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Backoff is the wait before the first retry (2s), doubled at each retry up to MaxBackoff (5m),
	// with jitter (a wait is between half and all of that); a receiver's Retry-After is honoured.
	Backoff    time.Duration `yaml:"backoff,omitempty" json:"backoff,omitempty"`
	MaxBackoff time.Duration `yaml:"max_backoff,omitempty" json:"max_backoff,omitempty"`
}

func (c DeliveryConfig) withDefaults() (DeliveryConfig, error) {
	for _, v := range []struct {
		name string
		neg  bool
	}{{"queue", c.Queue < 0}, {"workers", c.Workers < 0}, {"attempts", c.Attempts < 0}, {"timeout", c.Timeout < 0}, {"backoff", c.Backoff < 0}, {"max_backoff", c.MaxBackoff < 0}} {
		if v.neg {
			return c, fmt.Errorf("delivery.%s is negative", v.name)
		}
	}
	c.Queue = orDefault(c.Queue, 1024)
	c.Workers = orDefault(c.Workers, 4)
	c.Attempts = orDefault(c.Attempts, 8)
	c.Timeout = time.Duration(orDefault(int(c.Timeout), int(10*time.Second)))
	c.Backoff = time.Duration(orDefault(int(c.Backoff), int(2*time.Second)))
	c.MaxBackoff = time.Duration(orDefault(int(c.MaxBackoff), int(5*time.Minute)))
	if c.MaxBackoff < c.Backoff {
		return c, errors.New("delivery.max_backoff is shorter than delivery.backoff")
	}
	return c, nil
}

// build makes the channels and checks the rules against them. Secrets are read here, once.
func (c Config) build() (map[string]sender, error) {
	chans := map[string]sender{}
	names := map[string]bool{}
	client := newHTTPClient()
	for i, ch := range c.Channels {
		if ch.Name == "" {
			return nil, fmt.Errorf("notifications: channel %d has no name", i+1)
		}
		if names[ch.Name] {
			return nil, fmt.Errorf("notifications: two channels named %q", ch.Name)
		}
		names[ch.Name] = true
		s, err := ch.build(client)
		if err != nil {
			return nil, fmt.Errorf("notifications: channel %q: %w", ch.Name, err)
		}
		chans[ch.Name] = s
	}
	for _, r := range c.Rules {
		if err := r.validate(names); err != nil {
			return nil, fmt.Errorf("notifications: %w", err)
		}
	}
	return chans, nil
}

func (ch ChannelConfig) build(client *http.Client) (sender, error) {
	switch ch.Type {
	case "webhook":
		if ch.URL == "" {
			return nil, errors.New("webhook: url is empty")
		}
		if err := checkURL(ch.URL); err != nil {
			return nil, fmt.Errorf("webhook: %w", err)
		}
		if ch.Secret.IsZero() {
			return nil, errors.New("webhook: a secret is required (receivers verify the signature)")
		}
		w := &webhook{url: ch.URL, client: client}
		for _, s := range []Secret{ch.Secret, ch.PreviousSecret} {
			if s.IsZero() {
				continue
			}
			v, err := s.read()
			if err != nil {
				return nil, fmt.Errorf("webhook: %w", err)
			}
			w.secrets = append(w.secrets, v)
		}
		return w, nil
	case "slack":
		if ch.URL != "" {
			return nil, errors.New("slack: the URL carries a token: give url_secret (file or env), not url")
		}
		u, err := ch.URLSecret.read()
		if err != nil {
			return nil, fmt.Errorf("slack: url_secret: %w", err)
		}
		if err := checkURL(string(u)); err != nil {
			return nil, fmt.Errorf("slack: url_secret: %w", err)
		}
		return &slack{url: u, client: client}, nil
	case "email":
		return newEmail(ch)
	}
	return nil, fmt.Errorf("type %q: want webhook, slack or email", ch.Type)
}

// checkURL refuses what is not an absolute http(s) URL. Its errors never repeat the URL.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("not an http:// or https:// URL")
	}
	return nil
}
