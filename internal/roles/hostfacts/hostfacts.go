// Package hostfacts is the one probe and parser of the host facts the package roles of every core
// (apt, pacman, dnf) protect from a prune: the packages of the login shells in use, sshd, sudo while
// the admin group has members, and the running kernel. Each core says only what differs: how to find
// the package owning a file, the admin group's name and its package names (Core).
package hostfacts

import (
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/shell"
)

// Core is what one core's package role tells the shared probe and protected set.
type Core struct {
	// Owner is a sh fragment defining the function `owner`: given a login shell as /etc/passwd spells
	// it ($1) and with its symlinks resolved ($2), it prints the name of the installed package shipping
	// it, or nothing. It reads the core's package database and may use variables its section set
	// before the shared fragment (the Arch core's $db).
	Owner string
	// AdminGroup is the group whose members get root through sudo: sudo on Debian, wheel on Arch and
	// Fedora.
	AdminGroup string
	// SSHD is the package shipping sshd (openssh-server, openssh).
	SSHD string
	// Kernel names the running kernel's package from the facts, "" when they do not tell.
	Kernel func(*Facts) string
}

// Probe is the shared sh fragment, to be appended to a role's host section. It prints key=value
// lines: shell=PACKAGE PATH for each login shell of root or of a user with uid >= 1000 (what
// UID_MIN defaults to), sshd=running and sshd=enabled, sudo=MEMBERS of the admin group,
// kernel=RELEASE of the running kernel and kernelpkg=PKGBASE where the kernel's modules directory
// names its package (Arch). It never exits: the role's own lines may follow.
func Probe(c Core) string {
	return c.Owner + `
awk -F: '($3 == 0 || $3 >= 1000) && $7 != "" {print $7}' /etc/passwd 2>/dev/null | sort -u | while IFS= read -r s; do
  case $s in */nologin|*/false|*/true|*/sync|*/halt|*/shutdown) continue ;; esac
  r=$(readlink -f "$s" 2>/dev/null) || r=$s
  p=$(owner "$s" "$r" 2>/dev/null | head -n 1)
  case $p in ''|*' '*) continue ;; esac
  printf 'shell=%s %s\n' "$p" "$s"
done
if [ -s /run/sshd.pid ] && IFS= read -r pid </run/sshd.pid && kill -0 "$pid" 2>/dev/null; then echo sshd=running; fi
for w in /etc/systemd/system/multi-user.target.wants/ssh.service /etc/systemd/system/multi-user.target.wants/sshd.service \
  /etc/systemd/system/sockets.target.wants/ssh.socket /etc/systemd/system/sockets.target.wants/sshd.socket \
  /etc/systemd/system/sshd.service /etc/rc2.d/S*ssh; do
  [ -e "$w" ] && { echo sshd=enabled; break; }
done
g=$(getent group ` + shell.Quote(c.AdminGroup) + ` 2>/dev/null) && g=${g##*:}
[ -n "$g" ] && echo "sudo=$g"
{ IFS= read -r k </proc/sys/kernel/osrelease; } 2>/dev/null || k=$(uname -r 2>/dev/null)
echo "kernel=$k"
[ -n "$k" ] && [ -r "/usr/lib/modules/$k/pkgbase" ] && echo "kernelpkg=$(cat "/usr/lib/modules/$k/pkgbase")"
true`
}

// Facts are the parsed host facts.
type Facts struct {
	// ShellPkgs maps a package to the login shells in use that it provides.
	ShellPkgs map[string][]string
	// SSHDRunning: sshd's pid file names a live process; SSHDEnabled: sshd starts at boot (a
	// systemd service or socket link, a sysvinit rc2.d link, or Debian's sshd.service alias).
	SSHDRunning, SSHDEnabled bool
	// SudoMembers are the members of the admin group (Core.AdminGroup).
	SudoMembers []string
	// Kernel is the running kernel's release; KernelPkg the package its modules directory names
	// (Arch's pkgbase file), "" elsewhere.
	Kernel, KernelPkg string
}

// Parse reads the shared fragment's lines from a host section; lines with other keys (the role's
// own) are ignored.
func Parse(out string) Facts {
	f := Facts{ShellPkgs: map[string][]string{}}
	for line := range strings.SplitSeq(out, "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "shell":
			pkg, sh, _ := strings.Cut(v, " ")
			if pkg != "" && sh != "" && !slices.Contains(f.ShellPkgs[pkg], sh) {
				f.ShellPkgs[pkg] = append(f.ShellPkgs[pkg], sh)
			}
		case "sshd":
			switch v {
			case "running":
				f.SSHDRunning = true
			case "enabled":
				f.SSHDEnabled = true
			}
		case "sudo":
			for m := range strings.SplitSeq(v, ",") {
				if m = strings.TrimSpace(m); m != "" && !slices.Contains(f.SudoMembers, m) {
					f.SudoMembers = append(f.SudoMembers, m)
				}
			}
		case "kernel":
			f.Kernel = strings.TrimSpace(v)
		case "kernelpkg":
			f.KernelPkg = strings.TrimSpace(v)
		}
	}
	return f
}

// Protected names the installed packages a prune must keep whatever the base set says, with the
// reason: no lockout (login shells in use, sshd, sudo) and the running kernel. sudoUsed is true when
// a declared user has `sudo: true`; in a chroot, a running sshd and the running kernel are the
// host's, not the tree's.
func (f *Facts) Protected(c Core, sudoUsed, chroot bool) map[string]string {
	out := map[string]string{}
	for pkg, shells := range f.ShellPkgs {
		out[pkg] = "it provides the login shell " + strings.Join(shells, ", ") + " of a user on this host"
	}
	if (f.SSHDRunning && !chroot) || f.SSHDEnabled {
		out[c.SSHD] = "sshd is running or enabled at boot; removing it could lock you out"
	}
	if sudoUsed || len(f.SudoMembers) > 0 {
		out["sudo"] = "users rely on sudo (the " + c.AdminGroup + " group has members or a declared user has sudo: true)"
	}
	if !chroot && c.Kernel != nil {
		if k := c.Kernel(f); k != "" {
			out[k] = "it is the running kernel"
		}
	}
	return out
}
