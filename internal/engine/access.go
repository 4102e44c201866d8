package engine

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// accessPrefixes are the paths whose change can cut the way in: sshd's configuration and keys,
// PAM, sudo, login limits, the account databases, firewalls, and the network configuration. A
// path counts when it is one of them or lies below one.
var accessPrefixes = []string{
	"/etc/ssh", "/etc/pam.d", "/etc/pam.conf", "/etc/sudoers", "/etc/sudoers.d", "/etc/security",
	"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/shells", "/etc/nologin",
	"/etc/hosts.allow", "/etc/hosts.deny",
	"/etc/nftables.conf", "/etc/nftables.d", "/etc/nftables", "/etc/sysconfig/nftables.conf",
	"/etc/iptables", "/etc/sysconfig/iptables", "/etc/sysconfig/ip6tables", "/etc/ufw", "/etc/firewalld",
	"/etc/network", "/etc/netplan", "/etc/systemd/network", "/etc/NetworkManager/system-connections",
	"/etc/sysconfig/network-scripts",
}

// accessUnits are the services whose stop, restart or reload can cut the way in.
var accessUnits = []string{"ssh", "sshd", "networking", "systemd-networkd", "NetworkManager",
	"nftables", "iptables", "ip6tables", "ufw", "firewalld", "netfilter-persistent"}

// accountCommands change users and groups: they touch access when they name the connecting user.
var accountCommands = []string{"usermod", "userdel", "useradd", "groupmod", "groupdel", "gpasswd",
	"chsh", "chpasswd", "passwd", "deluser", "adduser", "delgroup", "addgroup", "chage", "chfn"}

// firewallCommands change packet filtering or addresses at once, whatever their arguments.
var firewallCommands = []string{"nft", "iptables", "ip6tables", "iptables-restore", "ip6tables-restore",
	"ufw", "firewall-cmd", "netplan", "nmcli", "ip", "ifdown", "ifup"}

// AccessReasons says why applying hp could cut access to the host for user (the login user of
// the connection), one line per op that touches access: a path above (or under user's home
// .ssh, or any .ssh directory), an account command naming user, a firewall or network command, or
// a service command on sshd, the network or a firewall. Empty: the plan cannot lock user out by
// any change chaos knows of.
func AccessReasons(hp *HostPlan, user string) []string {
	var out []string
	for _, rp := range hp.Roles {
		for _, st := range rp.Steps {
			for _, op := range st.Ops {
				if why := opTouchesAccess(op, user); why != "" {
					out = append(out, fmt.Sprintf("%s: %s: %s", rp.Role, op, why))
				}
			}
		}
	}
	return out
}

// opTouchesAccess returns why op touches access, or "".
func opTouchesAccess(op Op, user string) string {
	if op.Kind != OpExec {
		return pathTouchesAccess(op.Path, user)
	}
	if len(op.Argv) == 0 {
		return ""
	}
	cmd := path.Base(op.Argv[0])
	args := op.Argv[1:]
	if cmd == "env" || cmd == "sudo" || cmd == "nice" {
		// a wrapper: judge the command it runs
		for i, a := range args {
			if !strings.HasPrefix(a, "-") && !strings.Contains(a, "=") {
				return opTouchesAccess(Exec(args[i:]...), user)
			}
		}
		return ""
	}
	switch {
	case slices.Contains(accountCommands, cmd):
		if user != "" && slices.Contains(args, user) {
			return "changes the account of " + user + ", the connecting user"
		}
		if cmd == "groupdel" || cmd == "groupmod" || cmd == "delgroup" {
			return "changes a group (" + user + " may be a member)"
		}
	case slices.Contains(firewallCommands, cmd):
		return "changes the firewall or the network"
	case cmd == "systemctl" || cmd == "service" || cmd == "rc-service":
		for _, a := range args {
			unit := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(a, ".service"), ".socket"), ".target")
			if slices.Contains(accessUnits, unit) || unit == "network" || unit == "network-online" {
				return "acts on " + a
			}
		}
	}
	for _, a := range op.Argv[1:] {
		// a command writing an access file itself (visudo, authorized_keys tooling, sed -i)
		if strings.HasPrefix(a, "/") {
			if why := pathTouchesAccess(a, user); why != "" {
				return why
			}
		}
	}
	return ""
}

// pathTouchesAccess returns why a change of p touches access, or "".
func pathTouchesAccess(p, user string) string {
	if p == "" || p[0] != '/' {
		return ""
	}
	p = path.Clean(p)
	for _, pre := range accessPrefixes {
		if p == pre || strings.HasPrefix(p, pre+"/") {
			return "access configuration (" + pre + ")"
		}
	}
	if p == "/etc/systemd/system" || strings.HasPrefix(p, "/etc/systemd/system/") {
		base := path.Base(p)
		for _, u := range accessUnits {
			for _, suf := range []string{".service", ".socket"} {
				if base == u+suf || base == u+suf+".d" || strings.HasPrefix(p, "/etc/systemd/system/"+u+suf+".d/") {
					return "a unit of " + u
				}
			}
		}
	}
	if home := homeOf(user); home != "" && (p == home || p == home+"/.ssh" || strings.HasPrefix(p, home+"/.ssh/")) {
		return "the home or SSH keys of " + user + ", the connecting user"
	}
	if slices.Contains(strings.Split(p, "/"), ".ssh") {
		return "SSH keys (.ssh)"
	}
	return ""
}

// homeOf is the usual home of user: chaos does not read /etc/passwd to plan, and a home elsewhere
// is still caught by its .ssh directory.
func homeOf(user string) string {
	switch user {
	case "":
		return ""
	case "root":
		return "/root"
	}
	return "/home/" + user
}
