package fleet

import (
	"context"
	"fmt"

	"github.com/ch-aos-ch/chaos/internal/transport"
)

// ConnectOptions are command-line connection settings that apply to every host.
type ConnectOptions struct {
	AcceptNewHostKeys bool
	// BecomePassword is sudo's password for hosts with become and no become_password secret (from
	// --ask-become-pass).
	BecomePassword []byte
	// Secret resolves become_password: {secret: PATH}; nil when the run has no secrets.
	Secret func(path string) (string, error)
}

// SSHConfig is the transport configuration of an SSH host: its own settings, then fleet.ssh.
func (f *Fleet) SSHConfig(h *Host, o ConnectOptions) transport.SSHConfig {
	addr := h.Address
	if addr == "" {
		addr = h.Name
	}
	cfg := transport.SSHConfig{Name: h.Name, Host: addr, Port: h.Port, User: h.User, ProxyJump: h.ProxyJump,
		Become: h.Become, KnownHostsFiles: f.SSH.KnownHosts, SSHConfigFile: f.SSH.Config,
		ConnectTimeout: f.SSH.ConnectTimeout, KeepAlive: f.SSH.KeepAlive,
		AcceptNewHostKeys: o.AcceptNewHostKeys || f.SSH.AcceptNew}
	if h.Key != "" {
		cfg.KeyFiles = []string{h.Key}
	}
	if h.Become {
		cfg.BecomePassword = o.BecomePassword
	}
	return cfg
}

// Open connects to a host with its connector. A host whose sudo password is a secret gets it from
// o.Secret (the secret overrides --ask-become-pass: it is the more specific setting).
func (f *Fleet) Open(ctx context.Context, h *Host, o ConnectOptions) (transport.Transport, error) {
	if spec := h.Spec(); spec != "" {
		return transport.Open(ctx, spec)
	}
	cfg := f.SSHConfig(h, o)
	if p := f.BecomeSecret(h); p != "" && h.Become {
		pass, err := f.BecomePassword(h, o)
		if err != nil {
			return nil, err
		}
		cfg.BecomePassword = pass
		defer clear(pass)
	}
	return transport.DialSSH(ctx, cfg)
}

// BecomePassword resolves a host's become_password secret (nil when it names none). Runs call it for
// every host before connecting anywhere, so that a missing secret stops the run before it starts.
func (f *Fleet) BecomePassword(h *Host, o ConnectOptions) ([]byte, error) {
	p := f.BecomeSecret(h)
	if p == "" || !h.Become {
		return nil, nil
	}
	if o.Secret == nil {
		return nil, fmt.Errorf("%s: become_password names the secret %s, but no secrets file is available (-sf FILE, secrets_file in config.yml or secrets.file in the Ch-obolo)", h.Name, p)
	}
	v, err := o.Secret(p)
	if err != nil {
		return nil, fmt.Errorf("%s: become_password: %w", h.Name, err)
	}
	return []byte(v), nil
}

// ParseTarget turns a --target spec that is not a connector ("[user@]host[:port]") into a host.
func ParseTarget(spec string) (*Host, error) {
	h := &Host{Name: spec, Source: "--target"}
	if err := parseConnector(h); err != nil && h.Name[0] == '@' {
		return nil, err
	}
	if h.Connector != "ssh" && h.Connector != "" {
		return h, nil
	}
	h.Connector = "ssh"
	rest := spec
	if u, r, ok := cut(rest, "@"); ok {
		if !validUser(u) {
			return nil, &Error{Msg: "--target " + spec + ": invalid user name"}
		}
		h.User, rest = u, r
	}
	h.Address = rest
	if host, port, ok := splitPort(rest); ok {
		h.Address, h.Port = host, port
	}
	return h, nil
}
