package fleet

import (
	"cmp"
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
	// ReadOnly connects for a run that writes nothing to the hosts (transport.SSHConfig.ReadOnly).
	ReadOnly bool
}

// SSHConfig is the transport configuration of an SSH host: its own settings, then fleet.ssh.
func (f *Fleet) SSHConfig(h *Host, o ConnectOptions) transport.SSHConfig {
	addr := h.Address
	addr = cmp.Or(addr, h.Name)
	cfg := transport.SSHConfig{Name: h.Name, Host: addr, Port: h.Port, User: h.User, ProxyJump: h.ProxyJump,
		Become: h.Become, KnownHostsFiles: f.SSH.KnownHosts, SSHConfigFile: f.SSH.Config,
		ConnectTimeout: f.SSH.ConnectTimeout, KeepAlive: f.SSH.KeepAlive,
		AcceptNewHostKeys: o.AcceptNewHostKeys || f.SSH.AcceptNew, ReadOnly: o.ReadOnly}
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

// ParseTarget turns a --target spec that is not a fleet host's name into a host (transport.ParseSpec).
func ParseTarget(spec string) (*Host, error) {
	s, err := transport.ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	h := &Host{Name: spec, Source: "--target"}
	switch s.Kind {
	case transport.KindLocal:
		h.Connector = "local"
	case transport.KindChroot:
		h.Connector, h.Path = "chroot", s.Path
	case transport.KindSSH:
		h.Connector, h.User, h.Address, h.Port = "ssh", s.User, s.Host, s.Port
	default:
		return nil, fmt.Errorf("target %q: %s targets are not fleet hosts", spec, s.Kind)
	}
	return h, nil
}
