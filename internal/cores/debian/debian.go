// Package debian holds the facts of the Debian/Ubuntu core (Ch-ronos) that its roles share: the base
// package set that is never pruned, how apt and dpkg are run unattended, and how service starts are
// blocked inside chroots while packages are installed or removed.
package debian

import (
	"fmt"
	"path"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
)

// Core is the name of this core in engine.Meta.Cores and chobolo.Package overrides.
const Core = "debian"

// BaseSet is the core's base package set: manually installed packages matching one of these patterns
// (path.Match syntax) are never pruned, unless the Ch-obolo's `baseOverride` replaces the set. Besides
// this list, the packages role never prunes Essential packages, packages of priority required or
// important, and its protected set (the login shells in use, openssh-server while sshd runs, sudo
// while someone uses it, the running kernel), whatever `baseOverride` says.
//
// The list is deliberate: it is what a fresh Debian or Ubuntu install (debian-installer, mmdebstrap,
// cloud images) marks as manually installed and what a machine needs to boot, be reached and be
// administered. Losing any of these leaves a machine that does not boot, has no network or cannot be
// logged into. Group by group:
var BaseSet = []string{
	// Package management and the essential system (most are also Essential: yes).
	"apt", "apt-utils", "dpkg", "debconf", "debconf-i18n", "base-files", "base-passwd", "bash", "coreutils",
	"dash", "debianutils", "init-system-helpers", "login", "passwd", "adduser", "usrmerge", "usr-is-merged",
	"debian-archive-keyring", "ubuntu-keyring", "ubuntu-pro-client", "gpgv",
	// Distribution meta-packages: removing one makes autoremove take the system apart.
	"ubuntu-minimal", "ubuntu-standard", "ubuntu-server", "ubuntu-server-minimal", "ubuntu-cloud-minimal",
	"tasksel", "tasksel-data", "task-*",
	// Init and the system bus.
	"init", "systemd", "systemd-sysv", "systemd-resolved", "systemd-timesyncd", "libpam-systemd",
	"libnss-systemd", "udev", "dbus", "dbus-broker", "dbus-user-session", "sysvinit-core", "runit-init",
	// Getting in and becoming root.
	"sudo", "doas", "opendoas", "openssh-server", "openssh-client", "ssh",
	// Locale, time, console, trust.
	"locales", "locales-all", "tzdata", "ca-certificates", "console-setup", "keyboard-configuration", "kbd",
	// Networking.
	"netbase", "ifupdown", "ifupdown2", "network-manager", "netplan.io", "systemd-networkd",
	"isc-dhcp-client", "dhcpcd-base", "dhcpcd5", "resolvconf", "wpasupplicant", "iproute2",
	// Booting: kernels, firmware, microcode, initramfs, boot loaders.
	"linux-image-*", "linux-headers-*", "linux-modules-*", "linux-generic*", "linux-virtual*",
	"linux-signed-*", "linux-firmware", "firmware-*", "*-microcode", "initramfs-tools", "initramfs-tools-*",
	"dracut", "dracut-*", "busybox", "busybox-static", "klibc-utils", "grub-*", "grub2", "grub2-*", "shim",
	"shim-*", "systemd-boot", "systemd-boot-*", "efibootmgr", "mokutil",
	// Storage stacks a root file system may sit on.
	"e2fsprogs", "btrfs-progs", "xfsprogs", "dosfstools", "lvm2", "cryptsetup", "cryptsetup-*", "mdadm",
	"zfsutils-linux", "zfs-initramfs", "zfs-dkms",
	// Cloud instances configure their network through these.
	"cloud-init", "cloud-initramfs-growroot", "cloud-guest-utils",
}

// Matcher matches package names against patterns (path.Match syntax), compiled once: exact names go
// into a map, only real globs are matched one by one.
type Matcher struct {
	exact map[string]bool
	affix []affix // globs with a single "*": a prefix and a suffix check
	globs []string
}

type affix struct{ pre, suf string }

// NewMatcher compiles patterns; a malformed pattern matches nothing.
func NewMatcher(patterns []string) *Matcher {
	m := &Matcher{exact: make(map[string]bool, len(patterns))}
	for _, p := range patterns {
		if strings.ContainsAny(p, "*?[\\") {
			pre, suf, _ := strings.Cut(p, "*")
			switch _, err := path.Match(p, ""); {
			case err != nil:
			case strings.Count(p, "*") == 1 && !strings.ContainsAny(p, "?[\\"):
				m.affix = append(m.affix, affix{pre, suf})
			default:
				m.globs = append(m.globs, p)
			}
		} else {
			m.exact[p] = true
		}
	}
	return m
}

// Match reports whether name (an architecture qualifier is ignored) matches.
func (m *Matcher) Match(name string) bool {
	name, _, _ = strings.Cut(name, ":")
	if m.exact[name] {
		return true
	}
	for _, a := range m.affix {
		if len(name) >= len(a.pre)+len(a.suf) && strings.HasPrefix(name, a.pre) && strings.HasSuffix(name, a.suf) {
			return true
		}
	}
	for _, g := range m.globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// Matches reports whether name matches one of patterns (see Matcher).
func Matches(patterns []string, name string) bool { return NewMatcher(patterns).Match(name) }

var baseMatcher = NewMatcher(BaseSet)

// InBase reports whether name is in BaseSet.
func InBase(name string) bool { return baseMatcher.Match(name) }

// ValidPackage checks a Debian package name before it goes into argv, wrapping the Ch-obolo's validator
// so that a name can never be taken for an option.
func ValidPackage(name string) error {
	if strings.HasPrefix(name, "-") {
		return fmt.Errorf("invalid Debian package name %q: starts with \"-\"", name)
	}
	return chobolo.ValidDebianPackage(name)
}

// AptEnv is the environment of every apt and dpkg command: no debconf questions, no changelogs or
// news (apt-listchanges), no needrestart prompt or restarts (Ubuntu).
var AptEnv = []string{
	"DEBIAN_FRONTEND=noninteractive",
	"APT_LISTCHANGES_FRONTEND=none",
	"NEEDRESTART_SUSPEND=1",
}

// AptOptions come right after `apt-get`: quiet, assume yes, keep the admin's changed configuration
// files and take the maintainer's version of files the admin never touched (dpkg --force-confdef
// --force-confold), and wait for a lock held by unattended-upgrades instead of failing at once.
var AptOptions = []string{
	"-q", "-y",
	"-o", "Dpkg::Options::=--force-confdef",
	"-o", "Dpkg::Options::=--force-confold",
	"-o", "DPkg::Lock::Timeout=300",
}

// AptGet returns an exec op running `apt-get AptOptions... args...` with AptEnv. Package names in args
// must have been checked with ValidPackage.
func AptGet(args ...string) engine.Op {
	argv := append(append([]string{"apt-get"}, AptOptions...), args...)
	return engine.Exec(argv...).WithEnv(AptEnv...)
}

// AptGetAfterInterrupt is AptGet for an inverse, which may run after the transaction it undoes was
// killed: dpkg's journal is then unmerged and packages are unpacked but not configured, and apt
// refuses to run until `dpkg --configure -a` finishes them (a no-op after a transaction that ended).
func AptGetAfterInterrupt(args ...string) engine.Op {
	argv := append([]string{"sh", "-c", `dpkg --force-confdef --force-confold --configure -a && exec apt-get "$@"`, "sh"}, AptOptions...)
	op := engine.Exec(append(argv, args...)...).WithEnv(AptEnv...)
	op.Label = "dpkg --configure -a; apt-get " + strings.Join(args, " ")
	return op
}

// AptMark returns an exec op running `apt-mark args...`.
func AptMark(args ...string) engine.Op {
	return engine.Exec(append([]string{"apt-mark"}, args...)...).WithEnv(AptEnv...)
}

// PolicyRC is the path of the invoke-rc.d policy helper (Debian Policy 9.3.3).
const PolicyRC = "/usr/sbin/policy-rc.d"

// PolicyRCMarker is in the temporary helper chaos writes, so that one left behind by an interrupted
// run is recognised (and removed) by the next one.
const PolicyRCMarker = "chaos: temporary policy-rc.d"

// PolicyRCContent denies every service action (exit 101), as Debian's chroot tools do.
var PolicyRCContent = []byte("#!/bin/sh\n# " + PolicyRCMarker + ": no service starts inside a chroot while\n" +
	"# chaos installs or removes packages. Removed at the end of the transaction.\nexit 101\n")

// PolicyRCState is what the probe found at PolicyRC.
type PolicyRCState string

const (
	PolicyRCAbsent PolicyRCState = "absent" // nothing there
	PolicyRCChaos  PolicyRCState = "chaos"  // ours, left behind by an interrupted run
	PolicyRCOther  PolicyRCState = "other"  // the admin's (or a build tool's): never touched
)

// PolicyRCProbe is a probe fragment printing `policy-rc.d=STATE` (a PolicyRCState).
const PolicyRCProbe = `if [ -e ` + PolicyRC + ` ] || [ -L ` + PolicyRC + ` ]; then
  if grep -q '` + PolicyRCMarker + `' ` + PolicyRC + ` 2>/dev/null; then echo policy-rc.d=chaos; else echo policy-rc.d=other; fi
else echo policy-rc.d=absent; fi`

// ParsePolicyRC reads the state from a line printed by PolicyRCProbe; ok is false when the line is
// not one.
func ParsePolicyRC(line string) (PolicyRCState, bool) {
	v, ok := strings.CutPrefix(line, "policy-rc.d=")
	if !ok {
		return "", false
	}
	switch s := PolicyRCState(v); s {
	case PolicyRCAbsent, PolicyRCChaos, PolicyRCOther:
		return s, true
	}
	return "", false
}

// NoServiceStarts returns the ops that wrap a package transaction so that no maintainer script starts
// a service inside a chroot: before, a policy-rc.d that denies everything; after, its removal. It
// returns nothing outside chroots (services are meant to start there) and when the admin has a
// policy-rc.d of their own (it stays in charge, untouched). A helper left by an interrupted run is
// rewritten and removed like a fresh one. If the apply fails in between, the engine's undo removes the
// helper again, so it is never left behind.
func NoServiceStarts(chroot bool, st PolicyRCState) (before, after []engine.Op) {
	if !chroot || st == PolicyRCOther || st == "" {
		return nil, nil
	}
	return []engine.Op{engine.Write(PolicyRC, PolicyRCContent, 0o755, "root", "root")},
		[]engine.Op{engine.Remove(PolicyRC)}
}

// KernelPackage is the package that ships the running kernel's image on Debian and Ubuntu.
func KernelPackage(release string) string { return "linux-image-" + release }

// ShellPackages maps a login shell's file name to the Debian package providing it. Shells that are
// Essential (sh, dash, bash) need nothing; nologin/false are not shells to install. The packages
// role installs the package of a declared user's shell; the users role needs it.
var ShellPackages = map[string]string{
	"bash": "bash", "rbash": "bash", "sh": "", "dash": "", "nologin": "", "false": "", "true": "",
	"zsh": "zsh", "rzsh": "zsh", "fish": "fish", "ksh": "ksh", "ksh93": "ksh", "mksh": "mksh",
	"tcsh": "tcsh", "csh": "csh", "bsd-csh": "csh", "yash": "yash", "elvish": "elvish", "xonsh": "xonsh",
	"posh": "posh", "busybox": "busybox", "screen": "screen", "tmux": "tmux", "git-shell": "git",
}
