package fleet

import (
	"cmp"
	"context"
	"fmt"
	"os"

	"github.com/ch-aos-ch/chaos/internal/transport"
	"github.com/ch-aos-ch/chaos/pkg/soul"
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
	var s transport.Spec
	if h.Target != "" {
		var err error
		if s, err = transport.ParseSpec(h.Target); err != nil {
			return nil, err
		}
	}
	switch h.Connector {
	case "podman", "docker":
		return openContainer(ctx, transport.ContainerConfig{Name: h.Name, Engine: h.Connector, Container: s.Container, ReadOnly: o.ReadOnly})
	case transport.KindSoul:
		return f.openSoul(ctx, h, s, o)
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
	switch h.Connector {
	case "dockerssh":
		sshLeg(&cfg, h, s)
		return openContainer(ctx, transport.ContainerConfig{Name: h.Name, Engine: "docker", Container: s.Container, Via: &cfg, ReadOnly: o.ReadOnly})
	case "vagrant":
		file, err := vagrantSSHConfig(ctx, f.toolDir(h), h.Name, s.Box, &cfg)
		if err != nil {
			return nil, err
		}
		defer os.Remove(file)
	case "terraform":
		hosts, err := TerraformHosts(ctx, f.toolDir(h), s.Path, s.Output)
		if err != nil {
			return nil, &transport.UnreachableError{Host: h.Name, Err: err}
		}
		if len(hosts) != 1 {
			return nil, fmt.Errorf("%s: the terraform output names %d hosts (%s); apply to them with --fleet (a fleet host with connector: %s becomes one host per address) or --target one of them",
				h.Name, len(hosts), terraformList(hosts), h.Target)
		}
		sshLeg(&cfg, h, hosts[0].Spec)
	}
	return transport.DialSSH(ctx, cfg)
}

// openSoul asks the Soul that provides the host's connector how to reach it (connector.open):
// an argv run here that gives the worker a stream into the target (as podman exec does), or an
// SSH address. What it answers is checked like any input: an argv, never a shell string.
func (f *Fleet) openSoul(ctx context.Context, h *Host, s transport.Spec, o ConnectOptions) (transport.Transport, error) {
	souls := f.Souls
	if souls == nil {
		souls = noSouls{}
	}
	if _, _, err := souls.Lookup(soul.KindConnector, s.Connector); err != nil {
		return nil, transport.UnknownConnector(s.String(), err.Error())
	}
	var res soul.ConnectResult
	params := soul.ConnectParams{Connector: s.Connector, Arg: s.Arg, Target: s.String(), ReadOnly: o.ReadOnly}
	if err := souls.Call(ctx, soul.KindConnector, s.Connector, soul.MethodConnectorOpen, params, &res); err != nil {
		return nil, &transport.UnreachableError{Host: h.Name, Err: err}
	}
	if err := res.Check(); err != nil {
		return nil, fmt.Errorf("%s: connector %s: malformed %s result: %w", h.Name, s.Connector, soul.MethodConnectorOpen, err)
	}
	if a := res.SSH; a != nil {
		if a.User != "" && !transport.ValidUser(a.User) {
			return nil, fmt.Errorf("%s: connector %s: malformed %s result: ssh: invalid user name %q", h.Name, s.Connector, soul.MethodConnectorOpen, a.User)
		}
		cfg := f.SSHConfig(h, o)
		cfg.Host, cfg.User, cfg.Port, cfg.Become = a.Host, a.User, a.Port, a.Become
		if a.Key != "" {
			cfg.KeyFiles = []string{a.Key}
		}
		return transport.DialSSH(ctx, cfg)
	}
	return openContainer(ctx, transport.ContainerConfig{Name: h.Name, Argv: res.Argv, ReadOnly: o.ReadOnly})
}

// openContainer is transport.OpenContainer as a Transport (a nil one on error).
func openContainer(ctx context.Context, cfg transport.ContainerConfig) (transport.Transport, error) {
	c, err := transport.OpenContainer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// sshLeg points cfg at the SSH host a connector names (s: [user@]host[:port]); the host's own
// ssh_hostname, ssh_user and ssh_port win.
func sshLeg(cfg *transport.SSHConfig, h *Host, s transport.Spec) {
	if h.Address == "" {
		cfg.Host = s.Host
	}
	if h.User == "" {
		cfg.User = s.User
	}
	if h.Port == 0 {
		cfg.Port = s.Port
	}
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
	case transport.KindPodman, transport.KindDocker, transport.KindDockerSSH, transport.KindVagrant, transport.KindTerraform, transport.KindSoul:
		h.Connector, h.Target = s.Kind, s.String()
	default:
		return nil, fmt.Errorf("target %q: %s targets are not fleet hosts", spec, s.Kind)
	}
	return h, nil
}
