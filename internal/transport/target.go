package transport

import (
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// Connector kinds of a target spec.
const (
	KindLocal  = "local"
	KindChroot = "chroot"
	KindPID    = "pid"
	KindSSH    = "ssh"
	// Containers on this machine, through their engine's CLI (container.go).
	KindPodman = "podman"
	KindDocker = "docker"
	// A docker container on an SSH host: SSH to the host, then docker exec there.
	KindDockerSSH = "dockerssh"
	// SSH hosts found by a tool: `vagrant ssh-config BOX`, `terraform output -json` in a directory.
	KindVagrant   = "vagrant"
	KindTerraform = "terraform"
	// A connector an installed Soul provides: @NAME/ARG (Spec.Connector, Spec.Arg). Parsing
	// accepts any such NAME; whether a Soul provides it is known where the Souls are.
	KindSoul = "soul"
)

// Spec is a parsed target spec: what --target (apply, generations, rollback, recover), init --from
// and the names of fleet.hosts say. Parsing is pure syntax; opening checks the target itself.
type Spec struct {
	// Kind is one of the Kind constants.
	Kind string
	// Path is a chroot's directory: absolute, clean, never "/"; for @terraform, the directory to run
	// terraform in, as written (relative to the working directory unless it starts with "/").
	Path string
	// Output is the terraform output that lists the hosts ("" for the default, DefaultTerraformOutput).
	Output string
	// Container is the container of @podman, @docker and @dockerssh (name or ID).
	Container string
	// Box is the Vagrant machine of @vagrant.
	Box string
	// Connector and Arg are a Soul connector's name and what follows it (@NAME/ARG).
	Connector string
	Arg       string
	// PID is the process of an @pid/N target.
	PID int
	// User, Host and Port are an SSH target's [user@]host[:port] (User and Port may be empty); for
	// @dockerssh, the SSH host's.
	User string
	Host string
	Port int
}

// String is the canonical spelling of the spec (SSH targets: the host as given).
func (s Spec) String() string {
	switch s.Kind {
	case KindLocal:
		return "@local"
	case KindChroot:
		return "@chroot" + s.Path
	case KindPID:
		return "@pid/" + strconv.Itoa(s.PID)
	case KindPodman, KindDocker:
		return "@" + s.Kind + "/" + s.Container
	case KindDockerSSH:
		return "@dockerssh/" + s.sshAddr() + "/" + s.Container
	case KindVagrant:
		return "@vagrant/" + s.Box
	case KindSoul:
		return "@" + s.Connector + "/" + s.Arg
	case KindTerraform:
		if s.Output != "" {
			return "@terraform/" + s.Path + ":" + s.Output
		}
		return "@terraform/" + s.Path
	}
	return s.Host
}

// sshAddr is the [user@]host[:port] of an SSH leg.
func (s Spec) sshAddr() string {
	h := s.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if s.Port != 0 {
		h += ":" + strconv.Itoa(s.Port)
	}
	if s.User != "" {
		h = s.User + "@" + h
	}
	return h
}

// SSHAddr is the [user@]host[:port] of an SSH target or of @dockerssh's host.
func (s Spec) SSHAddr() string { return s.sshAddr() }

// DefaultTerraformOutput is the output @terraform/DIR reads when no :OUTPUT is given.
const DefaultTerraformOutput = "chaos_hosts"

const connectors = "@local, @chroot/PATH, @pid/N, @podman/NAME, @docker/NAME, @dockerssh/HOST/NAME, @vagrant/BOX, @terraform/DIR[:OUTPUT], or [user@]host[:port] for SSH"

// Connectors are the target prefixes, for completion and messages.
var Connectors = []string{"@local", "@chroot/", "@pid/", "@podman/", "@docker/", "@dockerssh/", "@vagrant/", "@terraform/"}

// UnknownConnector is the error for @NAME/... when no Soul provides NAME; why says what the Souls
// offer.
func UnknownConnector(spec, why string) error {
	return fmt.Errorf("target %q: unknown connector (known: %s); %s", spec, connectors, why)
}

// BuiltinConnector reports whether name is a built-in connector's (no Soul may provide it).
func BuiltinConnector(name string) bool {
	switch name {
	case KindLocal, KindChroot, KindPID, KindSSH, KindPodman, KindDocker, KindDockerSSH, KindVagrant, KindTerraform, KindSoul:
		return true
	}
	return false
}

// connectorName is a Soul connector's name: what soul.yaml accepts for any kind.
func connectorName(n string) bool {
	if n == "" || n[0] == '-' {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// validArg reports whether a is a Soul connector's argument: letters, digits and "_.:@/-", not
// starting with "-" (it reaches the Soul as JSON, never a shell, but it names things in argv).
func validArg(a string) bool {
	if a == "" || len(a) > 1024 || a[0] == '-' {
		return false
	}
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.:@/-", r)) {
			return false
		}
	}
	return true
}

// validName reports whether n is a plausible container, Vagrant machine or terraform output
// name: letters, digits and "_.-", not starting with "-" or ".".
func validName(n string) bool {
	if n == "" || len(n) > 253 || n[0] == '-' || n[0] == '.' {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// ParseSpec parses a target spec. The machine chaos runs on is only ever spelled "@local": a chroot
// spec whose directory comes out as "/" ("@chroot/", "@chroot//", "@chroot/..", "@chroot/$UNSET")
// is an error, not a quiet way to manage this machine, and so is a bare path (which would
// otherwise be taken for an SSH host).
func ParseSpec(spec string) (Spec, error) {
	bad := func(format string, args ...any) (Spec, error) {
		return Spec{}, fmt.Errorf("target %q: "+format, append([]any{spec}, args...)...)
	}
	switch {
	case spec == "":
		return Spec{}, fmt.Errorf("empty target (known: %s)", connectors)
	case spec == "@local":
		return Spec{Kind: KindLocal}, nil
	case spec == "@chroot":
		return bad("@chroot needs a directory: @chroot/PATH")
	case strings.HasPrefix(spec, "@chroot/"):
		rest := strings.TrimPrefix(spec, "@chroot/")
		if rest == "" {
			return bad("no directory after @chroot/ (an empty variable?); the machine chaos runs on is @local")
		}
		dir := path.Clean("/" + rest)
		if dir == "/" {
			return bad("the directory is /, the machine chaos runs on; a chroot must be another directory (say @local to mean this machine)")
		}
		return Spec{Kind: KindChroot, Path: dir}, nil
	case strings.HasPrefix(spec, "@pid/"):
		pid, err := strconv.Atoi(strings.TrimPrefix(spec, "@pid/"))
		if err != nil || pid <= 1 {
			return bad("@pid/N needs a process id above 1")
		}
		return Spec{Kind: KindPID, PID: pid}, nil
	case strings.HasPrefix(spec, "@podman/"), strings.HasPrefix(spec, "@docker/"):
		kind, name, _ := strings.Cut(spec[1:], "/")
		if !validName(name) {
			return bad("@%s/NAME needs a container name or ID (letters, digits, '_', '.', '-')", kind)
		}
		return Spec{Kind: kind, Container: name}, nil
	case strings.HasPrefix(spec, "@dockerssh/"):
		rest := strings.TrimPrefix(spec, "@dockerssh/")
		i := strings.LastIndex(rest, "/")
		if i < 0 || !validName(rest[i+1:]) {
			return bad("@dockerssh/HOST/NAME needs an SSH host and a container name")
		}
		h, err := ParseSpec(rest[:i])
		if err != nil || h.Kind != KindSSH {
			return bad("@dockerssh/HOST/NAME: %q is not an SSH host ([user@]host[:port])", rest[:i])
		}
		h.Kind, h.Container = KindDockerSSH, rest[i+1:]
		return h, nil
	case strings.HasPrefix(spec, "@vagrant/"):
		box := strings.TrimPrefix(spec, "@vagrant/")
		if !validName(box) {
			return bad("@vagrant/BOX needs a Vagrant machine name (letters, digits, '_', '.', '-')")
		}
		return Spec{Kind: KindVagrant, Box: box}, nil
	case strings.HasPrefix(spec, "@terraform/"):
		dir := strings.TrimPrefix(spec, "@terraform/")
		out := ""
		if i := strings.LastIndex(dir, ":"); i > strings.LastIndex(dir, "/") {
			dir, out = dir[:i], dir[i+1:]
			if !validName(out) {
				return bad("@terraform/DIR:OUTPUT: %q is not an output name", out)
			}
		}
		if dir == "" || strings.ContainsAny(dir, "\x00\n\r") {
			return bad("@terraform/DIR[:OUTPUT] needs the directory to run terraform in")
		}
		return Spec{Kind: KindTerraform, Path: dir, Output: out}, nil
	case strings.HasPrefix(spec, "@"):
		name, arg, ok := strings.Cut(spec[1:], "/")
		if !ok || !connectorName(name) || BuiltinConnector(name) {
			return bad("unknown connector (known: %s)", connectors)
		}
		if !validArg(arg) {
			return bad("@%s/ARG needs an argument (letters, digits, '_', '.', ':', '@', '/', '-'; not starting with '-')", name)
		}
		return Spec{Kind: KindSoul, Connector: name, Arg: arg}, nil
	case strings.ContainsAny(spec, "/~") || spec == "." || spec == "..":
		// No host name or address has a slash: this is a directory.
		dir := spec
		if abs, err := filepath.Abs(spec); err == nil && !strings.HasPrefix(spec, "~") {
			dir = abs
		}
		return bad("a path is not a target (an SSH host has no '/'); did you mean @chroot/%s?", dir)
	}
	s := Spec{Kind: KindSSH, Host: spec}
	if u, rest, ok := strings.Cut(spec, "@"); ok {
		if !ValidUser(u) {
			return bad("invalid user name %q", u)
		}
		s.User, s.Host = u, rest
	}
	s.Host, s.Port, _ = splitPort(s.Host)
	if s.Host == "" || strings.ContainsAny(s.Host, " \t\n\r\\'\"`$;|&<>(){}*?[]!,@=") {
		return bad("not a host name or address: only letters, digits, '.', '-', '_', ':' (and [ ] around an IPv6 address) are allowed (known: %s)", connectors)
	}
	return s, nil
}

// ValidUser reports whether u is a plausible login name (for SSH users).
func ValidUser(u string) bool {
	if len(u) == 0 || len(u) > 64 || u[0] == '-' {
		return false
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.' || r == '$') {
			return false
		}
	}
	return true
}

// splitPort splits "host:port" and "[v6]:port"; a bare IPv6 address has no port.
func splitPort(s string) (string, int, bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return s, 0, false
		}
		host, rest := s[1:end], s[end+1:]
		if p, err := strconv.Atoi(strings.TrimPrefix(rest, ":")); err == nil && strings.HasPrefix(rest, ":") && p > 0 && p < 65536 {
			return host, p, true
		}
		return host, 0, false
	}
	if strings.Count(s, ":") != 1 {
		return s, 0, false
	}
	host, ps, _ := strings.Cut(s, ":")
	p, err := strconv.Atoi(ps)
	if err != nil || p <= 0 || p > 65535 {
		return s, 0, false
	}
	return host, p, true
}
