package transport

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Container is a running container reached through its engine's CLI: podman or docker on this
// machine (@podman/NAME, @docker/NAME; docker talks to whatever DOCKER_HOST names), or docker on an
// SSH host (@dockerssh/HOST/NAME). It is the SSH transport's worker carried by ONE `ENGINE exec -i
// -u 0 NAME` instead of an SSH session: the sh worker starts in the container, the native worker
// (internal/hostworker) is copied in through the same stream once (NativeWorkerDir inside the
// container, named by its hash) and takes over, so a run costs one exec whatever it does. Locking,
// the journal, undo and generations therefore work exactly as on SSH hosts, inside the container.
// A container without sh cannot be managed at all (every role's probe is sh), so there is no
// per-command exec fallback: such a container is refused with the engine's error.
//
// It is a distinct type (not *SSH) on purpose: access confirmation is for SSH logins, and an apply
// inside a container cannot lock anyone out of the host.
type Container struct{ *SSH }

var _ Transport = Container{}

// ContainerConfig says which container to open.
type ContainerConfig struct {
	// Name is how the target is shown (its spec).
	Name string
	// Engine is the CLI: "podman" or "docker" (for @dockerssh, "docker" on the SSH host).
	Engine string
	// Container is the container's name or ID.
	Container string
	// Via is the SSH host running the container (@dockerssh), nil for this machine. Become on it
	// runs the engine through sudo.
	Via *SSHConfig
	// ReadOnly: see SSHConfig.ReadOnly.
	ReadOnly bool
	// Argv, when set, replaces `ENGINE exec -i -u 0 CONTAINER` (Engine and Container unused): a
	// Soul connector's command, run on this machine, that gives the worker's stdin and stdout
	// inside the target as root.
	Argv []string
}

// OpenContainer starts the worker in a running container. A missing engine binary, a missing or
// stopped container, or an unreachable SSH host is an *UnreachableError naming the target.
func OpenContainer(ctx context.Context, cfg ContainerConfig) (Container, error) {
	prefix := []string{cfg.Engine, "exec", "-i", "-u", "0", cfg.Container}
	container := cfg.Container
	if len(cfg.Argv) > 0 {
		prefix, container, cfg.Engine = cfg.Argv, cfg.Name, cfg.Argv[0]
	}
	setup := func(s *SSH) {
		s.name, s.prefix, s.container, s.root = cfg.Name, prefix, container, true
	}
	if cfg.Via != nil {
		via := *cfg.Via
		via.Name, via.ReadOnly = cfg.Name, cfg.ReadOnly
		s, err := dialSSH(ctx, via, setup)
		return Container{s}, err
	}
	if _, err := exec.LookPath(cfg.Engine); err != nil {
		return Container{}, &UnreachableError{Host: cfg.Name, Err: fmt.Errorf("%s is not installed on this machine (no %s on PATH)", cfg.Engine, cfg.Engine)}
	}
	s := &SSH{user: "root", done: make(chan struct{}), connDone: make(chan struct{}), readOnly: cfg.ReadOnly}
	setup(s)
	w, err := s.startWorker(ctx)
	if err != nil {
		_ = s.Close()
		if len(cfg.Argv) > 0 { // no engine to ask why
			return Container{}, &UnreachableError{Host: cfg.Name, Err: err}
		}
		return Container{}, s.containerError(ctx, err)
	}
	s.w = w
	return Container{s}, nil
}

// Engine is the exec argv prefix's program ("podman" or "docker").
func (c Container) Engine() string { return c.prefix[0] }

// containerError explains why the worker did not start in the container, asking the engine about
// it (only on this failure path: a run that starts costs no inspect). What the engine reports (not
// installed, no such container, not running) is an *UnreachableError naming the target.
func (s *SSH) containerError(ctx context.Context, err error) error {
	var ue *UnreachableError
	if errors.As(err, &ue) || ctx.Err() != nil {
		return err
	}
	engine := s.prefix[0]
	where := "this machine"
	if s.client != nil {
		where = s.name + "'s SSH host"
	}
	unreachable := func(format string, args ...any) error {
		return &UnreachableError{Host: s.name, Err: fmt.Errorf(format, args...)}
	}
	res, rerr := s.runRaw(ctx, append(append([]string{}, s.sudo...), engine, "inspect", "--type", "container",
		"--format", "{{.State.Status}}", s.container), s.passLine(nil))
	msg := strings.TrimSpace(string(res.Stderr))
	switch {
	case rerr != nil:
		return unreachable("%s inspect: %v (worker: %v)", engine, rerr, err)
	case res.Code == 127:
		return unreachable("%s is not installed on %s", engine, where)
	case res.Code != 0 && strings.Contains(strings.ToLower(msg), "no such"):
		return unreachable("no container %q on %s (%s)", s.container, where, engine)
	case res.Code != 0:
		return unreachable("%s inspect %s: %s", engine, s.container, msg)
	}
	if st := strings.TrimSpace(string(res.Stdout)); st != "running" {
		return unreachable("container %q is not running (%s: %s)", s.container, engine, st)
	}
	return fmt.Errorf("%s: %w", s.name, err)
}
