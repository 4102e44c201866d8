package notify

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestDocsConfigExample decodes the configuration example of docs/capitain.md strictly and builds
// a dispatcher from it, its secrets pointed at files and variables of the test.
func TestDocsConfigExample(t *testing.T) {
	var file struct {
		Notifications Config `yaml:"notifications"`
	}
	dec := yaml.NewDecoder(strings.NewReader(docBlock(t, "config: notifications")))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("the documented configuration does not decode: %v", err)
	}
	cfg := file.Notifications
	if len(cfg.Channels) != 3 || len(cfg.Rules) != 2 || cfg.Delivery.MaxBackoff != 5*time.Minute || cfg.Delivery.Timeout != 10*time.Second {
		t.Fatalf("decoded %+v", cfg)
	}
	if cfg.Rules[0].Labels["env"] != "prod" || !cfg.Rules[0].OnlyFailures || cfg.Channels[2].SMTP.Password.File != "/run/secrets/smtp-password" {
		t.Errorf("decoded rules/channels wrong: %+v", cfg)
	}
	// The documented defaults are the defaults.
	def, err := DeliveryConfig{}.withDefaults()
	if err != nil || def != cfg.Delivery {
		t.Errorf("documented delivery %+v != defaults %+v (%v)", cfg.Delivery, def, err)
	}
	cfg.Channels[0].Secret = writeSecret(t, hookSecret)
	t.Setenv("CHAOS_SLACK_WEBHOOK_URL", "https://hooks.slack.example/services/T/B/X")
	cfg.Channels[2].SMTP.Password = writeSecret(t, smtpPassword)
	d, err := New(cfg, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	closeDispatcher(t, d)
}

func TestConfigErrors(t *testing.T) {
	secret := writeSecret(t, "k")
	hook := ChannelConfig{Name: "h", Type: "webhook", URL: "https://example.com/hook", Secret: secret}
	mailCh := ChannelConfig{Name: "m", Type: "email", SMTP: SMTP{Host: "smtp.example.com"}, From: "a@example.com", To: []string{"b@example.com"}}
	with := func(c ChannelConfig, f func(*ChannelConfig)) ChannelConfig { f(&c); return c }
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"fine", Config{Channels: []ChannelConfig{hook, mailCh}, Rules: []Rule{{Name: "r", Channels: []string{"h", "m"}}}}, ""},
		{"unsigned webhook", Config{Channels: []ChannelConfig{with(hook, func(c *ChannelConfig) { c.Secret = Secret{} })}}, "a secret is required"},
		{"webhook to a file", Config{Channels: []ChannelConfig{with(hook, func(c *ChannelConfig) { c.URL = "file:///etc/passwd" })}}, "not an http:// or https:// URL"},
		{"slack with a plain url", Config{Channels: []ChannelConfig{{Name: "s", Type: "slack", URL: "https://hooks.slack.com/services/T/B/X"}}}, "give url_secret"},
		{"slack without url", Config{Channels: []ChannelConfig{{Name: "s", Type: "slack"}}}, "url_secret: secret: set file or env"},
		{"password in clear", Config{Channels: []ChannelConfig{with(mailCh, func(c *ChannelConfig) { c.SMTP.TLS, c.SMTP.Password = "none", secret })}}, "would send it in clear"},
		{"unknown tls", Config{Channels: []ChannelConfig{with(mailCh, func(c *ChannelConfig) { c.SMTP.TLS = "ssl" })}}, `smtp.tls "ssl"`},
		{"bad address", Config{Channels: []ChannelConfig{with(mailCh, func(c *ChannelConfig) { c.To = []string{"not an address"} })}}, `address "not an address"`},
		{"no recipients", Config{Channels: []ChannelConfig{with(mailCh, func(c *ChannelConfig) { c.To = nil })}}, "needs from and to"},
		{"unknown type", Config{Channels: []ChannelConfig{{Name: "x", Type: "pager"}}}, `type "pager"`},
		{"no name", Config{Channels: []ChannelConfig{{Type: "webhook"}}}, "channel 1 has no name"},
		{"two names", Config{Channels: []ChannelConfig{hook, hook}}, `two channels named "h"`},
		{"rule to nowhere", Config{Channels: []ChannelConfig{hook}, Rules: []Rule{{Name: "r", Channels: []string{"m"}}}}, `no channel named "m"`},
		{"negative queue", Config{Delivery: DeliveryConfig{Queue: -1}}, "delivery.queue is negative"},
		{"max below backoff", Config{Delivery: DeliveryConfig{Backoff: time.Minute, MaxBackoff: time.Second}}, "max_backoff is shorter"},
	} {
		d, err := New(tc.cfg, Hooks{})
		if d != nil {
			closeDispatcher(t, d)
		}
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s")
	if err := os.WriteFile(file, []byte("from-file\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CHAOS_TEST_SECRET", "from-env")
	for _, tc := range []struct {
		s    Secret
		want string
		err  string
	}{
		{Secret{File: file}, "from-file", ""},
		{Secret{Env: "CHAOS_TEST_SECRET"}, "from-env", ""},
		{Secret{Env: "CHAOS_TEST_UNSET_SECRET"}, "", "CHAOS_TEST_UNSET_SECRET is not set"},
		{Secret{File: filepath.Join(dir, "missing")}, "", "no such file"},
		{Secret{File: empty}, "", "is empty"},
		{Secret{File: file, Env: "CHAOS_TEST_SECRET"}, "", "not both"},
		{Secret{}, "", "set file or env"},
	} {
		v, err := tc.s.read()
		if string(v) != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%v: %q, %v; want %q, %q", tc.s, v, err, tc.want, tc.err)
		}
	}
	// However a value is printed, the secret is not.
	v := secretValue("hunter2")
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v %s %q %x %+v %#v", v, v, v, v, struct{ P secretValue }{v}, v)
	y, _ := yaml.Marshal(struct{ P secretValue }{v})
	if out := buf.String() + string(y); strings.Contains(out, "hunter2") || strings.Contains(out, "68756e74657232") {
		t.Errorf("a secret was printed: %s", out)
	}
}
