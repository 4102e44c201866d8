package fleet

import (
	"context"

	"github.com/ch-aos-ch/chaos/internal/transport"
)

// ConnectOptions are command-line connection settings that apply to every host.
type ConnectOptions struct {
	AcceptNewHostKeys bool
	// BecomePassword is sudo's password for hosts with become (from --ask-become-pass).
	BecomePassword []byte
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

// Open connects to a host with its connector.
func (f *Fleet) Open(ctx context.Context, h *Host, o ConnectOptions) (transport.Transport, error) {
	if spec := h.Spec(); spec != "" {
		return transport.Open(ctx, spec)
	}
	return transport.DialSSH(ctx, f.SSHConfig(h, o))
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
