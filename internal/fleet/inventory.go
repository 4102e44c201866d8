// Package fleet turns the Ch-obolo's `fleet` section (and boats, dynamic inventories) into hosts,
// selects them with --limit patterns, filters roles with restrictions and runs an apply on many hosts
// in parallel, in rolling batches, where a failed or unreachable host never stops the others.
package fleet

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/transport"
	"github.com/ch-aos-ch/chaos/pkg/soul"
)

// DefaultParallelism is how many hosts run at once when fleet.parallelism is not set.
const DefaultParallelism = 50

// Host is one machine of the fleet.
type Host struct {
	// Name is the host's label (its key under fleet.hosts): what --limit, restrictions and output use.
	Name string `json:"name"`
	// Connector is "ssh", "local", "chroot", or the kind of Target: "podman", "docker", "dockerssh",
	// "vagrant", "terraform", "soul" (a Soul's connector).
	Connector string `json:"connector"`
	// Target is the connector spec of a container or tool host ("@podman/web1"): the host's name,
	// or its `connector:` setting.
	Target string `json:"target,omitempty"`
	// Path is the directory of a chroot host.
	Path string `json:"path,omitempty"`
	// Address is ssh_hostname, else the name.
	Address string `json:"address,omitempty"`
	Port    int    `json:"port,omitempty"`
	User    string `json:"user,omitempty"`
	Key     string `json:"key,omitempty"`
	// ProxyJump is ssh_proxy_jump (OpenSSH's ProxyJump).
	ProxyJump string `json:"proxy_jump,omitempty"`
	// Become runs commands as root through sudo when User is not root.
	Become bool `json:"become,omitempty"`
	// BecomeSecret is the secrets path of sudo's password (become_password: {secret: PATH}).
	BecomeSecret string `json:"become_password_secret,omitempty"`
	// Groups are the groups the host belongs to (declared on the host or by the group).
	Groups []string `json:"groups,omitempty"`
	// Vars deep-merge into the Ch-obolo for this host (after the groups' vars).
	Vars *yaml.Node `json:"-"`
	// Source says where the host came from: "fleet.hosts" or "boat NAME".
	Source string `json:"source"`
	// Boat and Provider name the boat that added the host (empty for static hosts).
	Boat     string `json:"boat,omitempty"`
	Provider string `json:"provider,omitempty"`
	// Pos is where the host was declared.
	Pos chobolo.Pos `json:"-"`
}

// Spec is the target spec of a local or chroot host ("@local", "@chroot/PATH"), "" for SSH.
func (h *Host) Spec() string {
	switch h.Connector {
	case "local":
		return "@local"
	case "chroot":
		return "@chroot" + h.Path
	}
	return ""
}

// Group is a named set of hosts with shared variables.
type Group struct {
	Name string
	// Hosts are names or glob patterns of members.
	Hosts []string
	Vars  *yaml.Node
	// BecomeSecret is the secrets path of sudo's password for member hosts with become.
	BecomeSecret string
	Pos          chobolo.Pos
}

// SSHSettings are fleet-wide SSH settings (fleet.ssh).
type SSHSettings struct {
	KnownHosts     []string      `json:"known_hosts,omitempty"`
	Config         string        `json:"config,omitempty"`
	ConnectTimeout time.Duration `json:"connect_timeout,omitempty"`
	KeepAlive      time.Duration `json:"keepalive,omitempty"`
	AcceptNew      bool          `json:"accept_new_host_keys,omitempty"`
}

// BoatSpec is one entry of fleet.boats.
type BoatSpec struct {
	Provider string // a built-in provider, or "soul:NAME" for a Soul's boat
	Name     string
	Required bool
	Timeout  time.Duration
	Config   *yaml.Node
	Pos      chobolo.Pos
	// Soul is the installed Soul that provides the boat named by `soul: NAME` ("" for built-in
	// providers); SoulBoat is its manifest entry.
	Soul     string
	SoulBoat soul.KindSpec
}

// Fleet is the decoded `fleet` section.
type Fleet struct {
	Parallelism       int
	Serial            int
	MaxFailPercentage int // 0..100; 100 (default) never stops a rolling run early
	Hosts             []*Host
	Groups            []*Group
	SSH               SSHSettings
	Restrictions      Restrictions
	Boats             []BoatSpec
	// Dir is the Ch-obolo's directory: vagrant and terraform of fleet hosts run relative to it.
	Dir string
	// Souls provide the boats of `soul: NAME` and the connectors of @NAME/ARG hosts (the run's Soul
	// runtime); nil: none.
	Souls soul.Kinds
}

// Error is a problem in the fleet section, with its position.
type Error struct {
	Pos chobolo.Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": error: " + e.Msg }

// Errors lists every problem found.
type Errors []*Error

func (es Errors) Error() string {
	var b []string
	for _, e := range es {
		b = append(b, e.Error())
	}
	return strings.Join(b, "\n")
}

type decoder struct {
	c    *chobolo.Chobolo
	errs Errors
	// souls, when set, are asked whether the Soul connectors and boats named exist (a boat's
	// document is checked when its hosts are opened instead).
	souls soul.Kinds
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: d.c.NodePos(n), Msg: fmt.Sprintf(format, args...)})
}

// Decode reads fleet (and a top-level `restrictions`, the original's spelling) from the Ch-obolo.
// A Ch-obolo without fleet decodes to an empty Fleet. canonical maps role tags and aliases to role
// names ("" for unknown); restrictions naming unknown roles are errors. souls provide the boats
// and connectors of installed Souls (nil: none).
func Decode(c *chobolo.Chobolo, canonical func(string) string, souls soul.Kinds) (*Fleet, error) {
	if souls == nil {
		souls = noSouls{}
	}
	d := &decoder{c: c, souls: souls}
	f := &Fleet{Parallelism: DefaultParallelism, MaxFailPercentage: 100, Souls: souls}
	if c.File != "" {
		f.Dir = filepath.Dir(c.File)
	}
	if n := c.Extra["fleet"]; n != nil {
		d.fleet(f, n)
	}
	if n := c.Extra["restrictions"]; n != nil {
		if len(f.Restrictions.rules) > 0 {
			d.errorf(n, "restrictions are declared twice (top level and under fleet); keep fleet.restrictions")
		} else {
			d.restrictions(f, n, canonical)
		}
	}
	if f.Restrictions.pending != nil {
		d.restrictions(f, f.Restrictions.pending, canonical)
		f.Restrictions.pending = nil
	}
	d.checkGroups(f)
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return f, nil
}

func (d *decoder) mapping(n *yaml.Node, what string) bool {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping", what)
		return false
	}
	return true
}

func (d *decoder) fleet(f *Fleet, n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if !d.mapping(n, "fleet") {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "parallelism":
			if p, ok := d.intIn(v, "fleet.parallelism", 0, 100000); ok {
				f.Parallelism = p
			}
		case "serial":
			if p, ok := d.intIn(v, "fleet.serial", 0, 100000); ok {
				f.Serial = p
			}
		case "max_fail_percentage":
			if p, ok := d.intIn(v, "fleet.max_fail_percentage", 0, 100); ok {
				f.MaxFailPercentage = p
			}
		case "hosts":
			d.hosts(f, v)
		case "groups":
			d.groups(f, v)
		case "ssh":
			d.ssh(f, v)
		case "restrictions":
			f.Restrictions.pending = v
		case "boats":
			d.boats(f, v)
		default:
			d.errorf(k, "fleet: unknown key %q (known: parallelism, serial, max_fail_percentage, hosts, groups, ssh, restrictions, boats)", k.Value)
		}
	}
}

func (d *decoder) intIn(v *yaml.Node, what string, lo, hi int) (int, bool) {
	n, err := strconv.Atoi(v.Value)
	if v.Kind != yaml.ScalarNode || err != nil || n < lo || n > hi {
		d.errorf(v, "%s must be a whole number from %d to %d, got %q", what, lo, hi, v.Value)
		return 0, false
	}
	return n, true
}

func (d *decoder) boolVal(v *yaml.Node, what string) bool {
	var b bool
	if v.Kind != yaml.ScalarNode || v.Decode(&b) != nil {
		d.errorf(v, "%s must be true or false, got %q", what, v.Value)
	}
	return b
}

func (d *decoder) str(v *yaml.Node, what string) string {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		d.errorf(v, "%s must be a string", what)
		return ""
	}
	if strings.ContainsAny(v.Value, "\x00\n\r") {
		d.errorf(v, "%s: control characters are not allowed", what)
		return ""
	}
	return v.Value
}

func (d *decoder) duration(v *yaml.Node, what string) time.Duration {
	if v.Kind == yaml.ScalarNode {
		if n, err := strconv.Atoi(v.Value); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
		if t, err := time.ParseDuration(v.Value); err == nil && t >= 0 {
			return t
		}
	}
	d.errorf(v, "%s must be a duration such as 10s or 2m (a plain number means seconds), got %q", what, v.Value)
	return 0
}

// hosts accepts a mapping (name: settings) or a list of one-key mappings / plain names.
func (d *decoder) hosts(f *Fleet, n *yaml.Node) {
	seen := map[string]bool{}
	add := func(k, v *yaml.Node) {
		h := d.host(k, v, "fleet.hosts")
		if h == nil {
			return
		}
		if seen[h.Name] {
			d.errorf(k, "fleet.hosts: host %q is declared twice", h.Name)
			return
		}
		seen[h.Name] = true
		f.Hosts = append(f.Hosts, h)
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			add(n.Content[i], n.Content[i+1])
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			switch {
			case item.Kind == yaml.ScalarNode:
				add(item, nil)
			case item.Kind == yaml.MappingNode && len(item.Content) == 2:
				add(item.Content[0], item.Content[1])
			default:
				d.errorf(item, "fleet.hosts: each list item is a host name or a one-key mapping {name: {settings}}")
			}
		}
	default:
		if n.Tag != "!!null" {
			d.errorf(n, "fleet.hosts must be a mapping of host names, or a list of them")
		}
	}
}

var hostKeys = []string{"connector", "ssh_hostname", "ssh_user", "ssh_port", "ssh_key", "ssh_proxy_jump", "become", "become_password", "groups", "vars"}

// host decodes one host's settings (v may be nil or an empty mapping).
func (d *decoder) host(k, v *yaml.Node, where string) *Host {
	name := d.str(k, where+": host name")
	if name == "" {
		if k.Kind == yaml.ScalarNode && k.Value == "" {
			d.errorf(k, "%s: empty host name", where)
		}
		return nil
	}
	h := &Host{Name: name, Source: where, Pos: d.c.NodePos(k)}
	if err := parseConnector(h); err != nil {
		d.errorf(k, "%s: %v", where, err)
		return nil
	}
	if err := d.soulConnector(h); err != nil {
		d.errorf(k, "%s: host %v", where, err)
		return nil
	}
	if v == nil || (v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
		return h
	}
	if !d.mapping(v, where+"."+name) {
		return nil
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		kk, vv := v.Content[i], v.Content[i+1]
		what := where + "." + name + "." + kk.Value
		switch kk.Value {
		case "connector":
			spec := d.str(vv, what)
			switch {
			case spec == "":
			case h.Connector != "ssh" || h.Target != "":
				d.errorf(vv, "%s: host %s is already named as a connector; give the host a plain name to use connector:", what, name)
			default:
				if err := setConnector(h, spec); err != nil {
					d.errorf(vv, "%s: %v", what, err)
				} else if err := d.soulConnector(h); err != nil {
					d.errorf(vv, "%s: %v", what, err)
				}
			}
		case "ssh_hostname":
			h.Address = d.str(vv, what)
		case "ssh_user":
			h.User = d.str(vv, what)
			if h.User != "" && !transport.ValidUser(h.User) {
				d.errorf(vv, "%s: invalid user name %q", what, h.User)
			}
		case "ssh_port":
			h.Port, _ = d.intIn(vv, what, 1, 65535)
		case "ssh_key":
			h.Key = d.str(vv, what)
		case "ssh_proxy_jump":
			h.ProxyJump = d.str(vv, what)
		case "become":
			h.Become = d.boolVal(vv, what)
		case "groups":
			h.Groups = d.strList(vv, what)
		case "vars":
			if d.mapping(vv, what) {
				h.Vars = vv
			}
		case "become_password":
			p, err := SecretRef(vv, what)
			if err != nil {
				d.errorf(vv, "%v", err)
			}
			h.BecomeSecret = p
		case "ssh_password", "ssh_key_password", "sudo_password":
			d.errorf(kk, "%s: passwords do not belong in the Ch-obolo; use keys or ssh-agent, and become_password: {secret: PATH} or --ask-become-pass for sudo", what)
		default:
			d.errorf(kk, "%s: unknown host setting %q (known: %s)", where+"."+name, kk.Value, strings.Join(hostKeys, ", "))
		}
	}
	if !h.OverSSH() && (h.Address != "" || h.User != "" || h.Port != 0 || h.Key != "" || h.ProxyJump != "" || h.Become || h.BecomeSecret != "") {
		d.errorf(k, "%s: host %s is not reached over SSH; ssh_* settings and become do not apply", where, name)
	}
	if h.Connector == "vagrant" && h.Address != "" {
		d.errorf(k, "%s: host %s: vagrant ssh-config gives the address; ssh_hostname does not apply", where, name)
	}
	if h.BecomeSecret != "" && !h.Become {
		d.errorf(k, "%s: host %s has become_password but not become: true", where, name)
	}
	return h
}

// parseConnector reads the connector of a host name (transport.ParseSpec): @local, @chroot/PATH, a
// container or tool connector, or an SSH host (whose name is also its address unless ssh_hostname
// says otherwise).
func parseConnector(h *Host) error {
	if err := setConnector(h, h.Name); err != nil {
		return fmt.Errorf("host %w", err)
	}
	return nil
}

// setConnector sets the host's connector from a target spec: its name, or its connector: setting
// (where an SSH spec, [user@]host[:port], sets the address).
func setConnector(h *Host, spec string) error {
	s, err := transport.ParseSpec(spec)
	if err != nil {
		return err
	}
	switch s.Kind {
	case transport.KindLocal:
		h.Connector = "local"
	case transport.KindChroot:
		h.Connector, h.Path = "chroot", s.Path
	case transport.KindSSH:
		h.Connector = "ssh"
		if spec != h.Name {
			h.Address, h.User, h.Port = s.Host, s.User, s.Port
		}
	case transport.KindPID:
		return fmt.Errorf("%q: @pid targets cannot be fleet hosts (a process id does not outlive a boot; known: %s)", spec, fleetConnectors)
	default:
		h.Connector, h.Target = s.Kind, s.String()
	}
	return nil
}

// soulConnector checks that a Soul provides the connector of an @NAME/ARG host (when the decoder
// knows the Souls).
func (d *decoder) soulConnector(h *Host) error {
	if h.Connector != transport.KindSoul || d.souls == nil {
		return nil
	}
	s, _ := transport.ParseSpec(h.Target)
	if _, _, err := d.souls.Lookup(soul.KindConnector, s.Connector); err != nil {
		return transport.UnknownConnector(h.Target, err.Error())
	}
	return nil
}

// noSouls is the Souls of a run that loaded none.
type noSouls struct{}

func (noSouls) Lookup(kind, name string) (string, soul.KindSpec, error) {
	return "", soul.KindSpec{}, fmt.Errorf("no installed Soul provides the %s %q (no Souls are loaded)", kind, name)
}

func (n noSouls) Call(_ context.Context, kind, name, _ string, _, _ any) error {
	_, _, err := n.Lookup(kind, name)
	return err
}

const fleetConnectors = "@local, @chroot/PATH, @podman/NAME, @docker/NAME, @dockerssh/HOST/NAME, @vagrant/BOX, @terraform/DIR[:OUTPUT], a Soul's @NAME/ARG; plain names are SSH hosts"

// OverSSH reports whether the host is reached over SSH (its ssh_* settings and become apply): SSH
// hosts, @dockerssh's host, and the hosts vagrant and terraform name.
func (h *Host) OverSSH() bool {
	switch h.Connector {
	case "ssh", "dockerssh", "vagrant", "terraform":
		return true
	}
	return false
}

func (d *decoder) strList(v *yaml.Node, what string) []string {
	if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
		return []string{d.str(v, what)}
	}
	if v.Kind != yaml.SequenceNode {
		d.errorf(v, "%s must be a list of names", what)
		return nil
	}
	var out []string
	for _, item := range v.Content {
		if s := d.str(item, what); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) groups(f *Fleet, n *yaml.Node) {
	if !d.mapping(n, "fleet.groups") {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		g := &Group{Name: d.str(k, "fleet.groups: group name"), Pos: d.c.NodePos(k)}
		if g.Name == "" {
			continue
		}
		if g.Name == "all" || strings.HasPrefix(g.Name, "@") || strings.ContainsAny(g.Name, "*?[]!&,~ ") {
			d.errorf(k, "fleet.groups: %q is not a valid group name", g.Name)
			continue
		}
		switch v.Kind {
		case yaml.SequenceNode:
			g.Hosts = d.strList(v, "fleet.groups."+g.Name)
		case yaml.MappingNode:
			for j := 0; j+1 < len(v.Content); j += 2 {
				kk, vv := v.Content[j], v.Content[j+1]
				switch kk.Value {
				case "hosts":
					g.Hosts = d.strList(vv, "fleet.groups."+g.Name+".hosts")
				case "vars":
					if d.mapping(vv, "fleet.groups."+g.Name+".vars") {
						g.Vars = vv
					}
				case "become_password":
					p, err := SecretRef(vv, "fleet.groups."+g.Name+".become_password")
					if err != nil {
						d.errorf(vv, "%v", err)
					}
					g.BecomeSecret = p
				default:
					d.errorf(kk, "fleet.groups.%s: unknown key %q (known: hosts, vars, become_password)", g.Name, kk.Value)
				}
			}
		default:
			d.errorf(v, "fleet.groups.%s must be a list of hosts or a mapping with hosts and vars", g.Name)
		}
		f.Groups = append(f.Groups, g)
	}
}

func (d *decoder) ssh(f *Fleet, n *yaml.Node) {
	if !d.mapping(n, "fleet.ssh") {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		what := "fleet.ssh." + k.Value
		switch k.Value {
		case "known_hosts":
			f.SSH.KnownHosts = d.strList(v, what)
		case "config":
			f.SSH.Config = d.str(v, what)
		case "connect_timeout":
			f.SSH.ConnectTimeout = d.duration(v, what)
		case "keepalive":
			f.SSH.KeepAlive = d.duration(v, what)
		case "accept_new_host_keys":
			f.SSH.AcceptNew = d.boolVal(v, what)
		default:
			d.errorf(k, "fleet.ssh: unknown key %q (known: known_hosts, config, connect_timeout, keepalive, accept_new_host_keys)", k.Value)
		}
	}
}

func (d *decoder) boats(f *Fleet, n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "fleet.boats must be a list of {provider, config} or {soul, config}")
		return
	}
	for i, item := range n.Content {
		if !d.mapping(item, "fleet.boats[]") {
			continue
		}
		b := BoatSpec{Timeout: 30 * time.Second, Pos: d.c.NodePos(item)}
		var soulNode *yaml.Node
		for j := 0; j+1 < len(item.Content); j += 2 {
			k, v := item.Content[j], item.Content[j+1]
			what := fmt.Sprintf("fleet.boats[%d].%s", i, k.Value)
			switch k.Value {
			case "provider":
				b.Provider = d.str(v, what)
			case "soul":
				soulNode = v
			case "name":
				b.Name = d.str(v, what)
			case "required":
				b.Required = d.boolVal(v, what)
			case "timeout":
				b.Timeout = d.duration(v, what)
			case "config":
				b.Config = v
			default:
				d.errorf(k, "fleet.boats[%d]: unknown key %q (known: provider, soul, name, required, timeout, config)", i, k.Value)
			}
		}
		switch {
		case soulNode != nil && b.Provider != "":
			d.errorf(soulNode, "fleet.boats[%d]: provider and soul are exclusive (soul names a boat an installed Soul provides)", i)
			continue
		case soulNode != nil:
			name := d.str(soulNode, fmt.Sprintf("fleet.boats[%d].soul", i))
			if name == "" {
				continue
			}
			s, spec, err := d.souls.Lookup(soul.KindBoat, name)
			if err != nil {
				d.errorf(soulNode, "fleet.boats[%d]: %v", i, err)
				continue
			}
			b.Provider, b.Soul, b.SoulBoat = "soul:"+name, s, spec
		case b.Provider == "":
			d.errorf(item, "fleet.boats[%d]: provider is required (built in: %s), or soul: NAME for a Soul's boat", i, strings.Join(BoatProviders(), ", "))
			continue
		case !slices.Contains(BoatProviders(), b.Provider):
			d.errorf(item, "fleet.boats[%d]: unknown provider %q (built in: %s; a Soul's boat is soul: NAME)", i, b.Provider, strings.Join(BoatProviders(), ", "))
			continue
		}
		b.Name = cmp.Or(b.Name, fmt.Sprintf("%s#%d", b.Provider, i+1))
		f.Boats = append(f.Boats, b)
	}
}

// checkGroups: every group a host names exists or is created; every group member resolves later.
func (d *decoder) checkGroups(f *Fleet) {
	known := map[string]bool{}
	for _, g := range f.Groups {
		known[g.Name] = true
	}
	for _, h := range f.Hosts {
		for _, g := range h.Groups {
			if !known[g] {
				known[g] = true
				f.Groups = append(f.Groups, &Group{Name: g})
			}
		}
	}
}

// Resolve finalizes group membership after boats added hosts: each host's Groups gets every group
// whose member list names or matches it. Hosts named in a group but absent are errors.
func (f *Fleet) Resolve() error {
	var errs Errors
	for _, g := range f.Groups {
		for _, pat := range g.Hosts {
			matched := false
			for _, h := range f.Hosts {
				if matchName(pat, h.Name) {
					matched = true
					if !slices.Contains(h.Groups, g.Name) {
						h.Groups = append(h.Groups, g.Name)
					}
				}
			}
			if !matched && !hasGlob(pat) {
				errs = append(errs, &Error{Pos: g.Pos, Msg: fmt.Sprintf("fleet.groups.%s: host %q is not in the fleet", g.Name, pat)})
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Group returns the group with that name, or nil.
func (f *Fleet) Group(name string) *Group {
	for _, g := range f.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

func hasGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

func matchName(pat, name string) bool {
	if !hasGlob(pat) {
		return pat == name
	}
	ok, err := path.Match(pat, name)
	return err == nil && ok
}

func pathMatch(pat, s string) (bool, error) { return path.Match(pat, s) }
