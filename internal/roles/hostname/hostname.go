// Package hostname is the `hostname` role: /etc/hostname, the 127.0.1.1 line of /etc/hosts and, on a
// live systemd host, the running hostname.
package hostname

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
)

// explainMD is the text of `chaos explain hostname`.
//
//go:embed explain.md
var explainMD string

const (
	hostnameFile = "/etc/hostname"
	hostsFile    = "/etc/hosts"
)

type role struct{}

var _ engine.Capturer = role{}

// New returns the hostname role. It is the same on every core.
func New() engine.Role { return role{} }

func (role) Meta() engine.Meta {
	return engine.Meta{
		Name:    "hostname",
		Keys:    []string{"hostname"},
		Summary: "the machine's name: /etc/hostname, the 127.0.1.1 line of /etc/hosts, the running hostname",
		Explain: explainMD,
		Order:   5,
	}
}

var _ engine.Owner = role{}

// Owns implements engine.Owner: both files, when a hostname is declared.
func (role) Owns(_ string, c *chobolo.Chobolo) []engine.Claim {
	if !c.Has("hostname") {
		return nil
	}
	pos := c.Pos("hostname")
	return []engine.Claim{
		{Path: hostnameFile, Pos: pos, Why: "the declared hostname"},
		{Path: hostsFile, Pos: pos, Why: "its 127.0.1.1 line, from the declared hostname"},
	}
}

// Probe reads both files byte for byte (a missing file exits 3) and, outside chroots, the kernel's
// hostname from /proc when systemd runs as init. It never calls `hostname`.
func (role) Probe(env *engine.Env, c *chobolo.Chobolo) []engine.ProbeSection {
	s := []engine.ProbeSection{
		{Name: "hostname", Script: `[ -f /etc/hostname ] || exit 3; cat /etc/hostname`},
		{Name: "hosts", Script: `[ -f /etc/hosts ] || exit 3; cat /etc/hosts`},
	}
	if !env.Chroot {
		s = append(s, engine.ProbeSection{Name: "running",
			Script: `[ -d /run/systemd/system ] || exit 3; cat /proc/sys/kernel/hostname 2>/dev/null || uname -n`})
	}
	return s
}

// Facts is what the probe found.
type Facts struct {
	// Hostname is /etc/hostname's content; HostnameExists is false when the file is missing.
	Hostname       string
	HostnameExists bool
	Hosts          string
	HostsExists    bool
	// Running is the kernel's hostname; RunningKnown is false in chroots and without systemd.
	Running      string
	RunningKnown bool
}

// ParseFacts turns probe outputs into Facts.
func ParseFacts(f engine.Facts) (Facts, error) {
	var out Facts
	if o, ok := f["hostname"]; ok {
		switch o.Code {
		case 0:
			out.Hostname, out.HostnameExists = o.Stdout, true
		case 3:
		default:
			return out, fmt.Errorf("cannot read %s (exit %d)", hostnameFile, o.Code)
		}
	}
	if o, ok := f["hosts"]; ok {
		switch o.Code {
		case 0:
			out.Hosts, out.HostsExists = o.Stdout, true
		case 3:
		default:
			return out, fmt.Errorf("cannot read %s (exit %d)", hostsFile, o.Code)
		}
	}
	if o, ok := f["running"]; ok && o.Code == 0 {
		out.Running, out.RunningKnown = strings.TrimSpace(o.Stdout), true
	}
	return out, nil
}

// Desired is the declared name with what the role may do on this target.
type Desired struct {
	Name string
	Pos  chobolo.Pos
	// Live allows changing the running hostname (systemd runs as init and the target is no chroot).
	Live bool
}

func (role) Plan(env *engine.Env, c *chobolo.Chobolo, f engine.Facts) (*engine.RolePlan, error) {
	if !c.Has("hostname") {
		return &engine.RolePlan{Notes: []string{"no `hostname` declared: nothing to do"}}, nil
	}
	pos := c.Pos("hostname")
	if err := chobolo.ValidHostname(c.Hostname); err != nil {
		return nil, fmt.Errorf("%s: %w", pos, err)
	}
	facts, err := ParseFacts(f)
	if err != nil {
		return nil, err
	}
	return BuildPlan(facts, Desired{Name: c.Hostname, Pos: pos, Live: env.Systemd && !env.Chroot}), nil
}

// BuildPlan is the pure delta and plan: facts plus the declared name to steps.
func BuildPlan(f Facts, d Desired) *engine.RolePlan {
	p := &engine.RolePlan{}
	want := d.Name + "\n"
	if !f.HostnameExists || f.Hostname != want {
		detail := "create: " + d.Name
		kind := engine.Add
		if f.HostnameExists {
			kind, detail = engine.Modify, fmt.Sprintf("%s -> %s", firstLine(f.Hostname), d.Name)
		}
		p.Add([]engine.Change{{Kind: kind, Subject: hostnameFile, Detail: detail, Pos: d.Pos}},
			engine.Write(hostnameFile, []byte(want), 0o644, "root", "root"))
	}
	if next, old, changed := EditHosts(f.Hosts, d.Name); changed || !f.HostsExists {
		detail := "127.0.1.1 line: " + strings.Join(strings.Fields(HostsLine(d.Name)), " ")
		kind := engine.Add
		if old != "" {
			kind, detail = engine.Modify, fmt.Sprintf("127.0.1.1 line: %s -> %s", strings.Join(strings.Fields(old), " "),
				strings.Join(strings.Fields(HostsLine(d.Name)), " "))
		}
		if !f.HostsExists {
			detail = "create with localhost and " + strings.Join(strings.Fields(HostsLine(d.Name)), " ")
		}
		p.Add([]engine.Change{{Kind: kind, Subject: hostsFile, Detail: detail, Pos: d.Pos}},
			engine.Write(hostsFile, []byte(next), 0o644, "root", "root"))
	}
	if d.Live && f.RunningKnown && f.Running != d.Name {
		op := engine.Exec("hostnamectl", "set-hostname", d.Name)
		if chobolo.ValidHostname(f.Running) == nil {
			op = op.WithUndo(engine.Exec("hostnamectl", "set-hostname", f.Running))
		} else {
			op = op.CannotUndo(fmt.Sprintf("the running hostname %q is no valid name to set back", f.Running))
		}
		p.Add([]engine.Change{{Kind: engine.Modify, Subject: "running hostname",
			Detail: fmt.Sprintf("%s -> %s", f.Running, d.Name), Pos: d.Pos}}, op)
	}
	return p
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

// HostsLine is the managed /etc/hosts line for name: "127.0.1.1\tFQDN SHORT" for a dotted name,
// "127.0.1.1\tNAME" otherwise (the Debian installer's layout).
func HostsLine(name string) string {
	if short, _, ok := strings.Cut(name, "."); ok {
		return "127.0.1.1\t" + name + " " + short
	}
	return "127.0.1.1\t" + name
}

// EditHosts returns /etc/hosts with its first 127.0.1.1 line set for name, every other line kept byte
// for byte. A missing line is added after the first 127.0.0.1 line (at the top when there is none).
// An existing line with the same fields (whatever the whitespace) is left alone. old is the line that
// was replaced ("" when the line was added).
func EditHosts(content, name string) (next, old string, changed bool) {
	want := HostsLine(name)
	if content == "" {
		return "127.0.0.1\tlocalhost\n" + want + "\n", "", true
	}
	lines := strings.SplitAfter(content, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	loopback := -1
	for i, l := range lines {
		fields := strings.Fields(stripComment(l))
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "127.0.1.1":
			if slices.Equal(fields, strings.Fields(want)) {
				return content, "", false
			}
			nl := ""
			if strings.HasSuffix(l, "\n") {
				nl = "\n"
			}
			old = strings.TrimRight(l, "\n")
			lines[i] = want + nl
			return strings.Join(lines, ""), old, true
		case "127.0.0.1":
			if loopback < 0 {
				loopback = i
			}
		}
	}
	if !strings.HasSuffix(lines[len(lines)-1], "\n") {
		lines[len(lines)-1] += "\n"
	}
	at := loopback + 1 // 0 when there is no 127.0.0.1 line
	lines = append(lines[:at], append([]string{want + "\n"}, lines[at:]...)...)
	return strings.Join(lines, ""), "", true
}

func stripComment(l string) string {
	if i := strings.IndexByte(l, '#'); i >= 0 {
		return l[:i]
	}
	return l
}

// Capture sets `hostname` from /etc/hostname, for `chaos init chobolo --from`. The name is left out
// when applying it would change the host (no 127.0.1.1 line for it in /etc/hosts, a running hostname
// that differs), since a first apply of a captured Ch-obolo must change nothing.
func (role) Capture(env *engine.Env, in engine.Facts, into *chobolo.Chobolo) error {
	f, err := ParseFacts(in)
	if err != nil {
		return err
	}
	name := firstLine(f.Hostname)
	if !f.HostnameExists || chobolo.ValidHostname(name) != nil {
		return nil // nothing usable to capture: leave `hostname` out
	}
	if !BuildPlan(f, Desired{Name: name, Live: env != nil && env.Systemd && !env.Chroot}).Empty() {
		return nil
	}
	into.Hostname = name
	into.SetKey("hostname", chobolo.Pos{})
	return nil
}
