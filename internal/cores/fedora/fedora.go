// Package fedora holds the facts of the Fedora/RHEL core (Ch-iron) that its roles share: the base
// package set that is never pruned, how dnf is run unattended, and the package and group name rules.
package fedora

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/cores/debian"
	"github.com/ch-aos-ch/chaos/internal/engine"
)

// Core is the name of this core in engine.Meta.Cores and chobolo.Package overrides. The engine maps
// /etc/os-release ID or ID_LIKE fedora, rhel and centos to it.
const Core = "fedora"

// BaseSet is the core's base package set: user-installed packages matching one of these patterns
// (path.Match syntax) are never pruned, unless the Ch-obolo's `baseOverride` replaces the set. Besides
// this list, the packages role never prunes its protected set (the login shells in use, openssh-server
// while sshd runs or is enabled, sudo while someone uses it, the running kernel), whatever
// `baseOverride` says, and dnf itself refuses to remove its protected_packages (dnf, systemd, sudo,
// the running kernel; /etc/dnf/protected.d).
//
// The list is what a Fedora or RHEL-family install (Anaconda's @core and @standard, the cloud and
// container images, mkosi) marks as user-installed and what a machine needs to boot, be reached and
// be administered. Group by group:
var BaseSet = []string{
	// Package management and the essential system.
	"dnf", "dnf5", "dnf-*", "dnf5-*", "yum", "python3-dnf", "python3-dnf-*", "libdnf*", "rpm", "rpm-*",
	"fedora-release*", "fedora-repos*", "fedora-gpg-keys", "generic-release*", "redhat-release*",
	"centos-release*", "centos-stream-release*", "centos-stream-repos", "centos-gpg-keys", "rocky-release*",
	"rocky-repos", "rocky-gpg-keys", "almalinux-release*", "almalinux-repos", "epel-release",
	"setup", "filesystem", "basesystem", "bash", "coreutils", "coreutils-single", "glibc", "glibc-common",
	"glibc-minimal-langpack", "glibc-all-langpacks", "shadow-utils", "passwd", "util-linux", "util-linux-core",
	"systemd-*", "authselect", "authselect-*", "pam", "crypto-policies*", "selinux-policy*", "policycoreutils*",
	"libselinux-utils", "audit", "rootfiles", "hostname", "less", "vim-minimal", "which", "tar", "procps-ng",
	// Init and the system bus.
	"systemd", "systemd-udev", "dbus", "dbus-broker", "dbus-daemon",
	// Getting in and becoming root.
	"sudo", "openssh-server", "openssh-clients", "openssh",
	// Locale, time, console, trust.
	"tzdata", "chrony", "kbd", "ca-certificates", "langpacks-*",
	// glibc langpacks are the region role's (it installs those of the declared locales).
	"glibc-langpack-*",
	// Networking.
	"NetworkManager", "NetworkManager-*", "iproute", "iputils", "dhcp-client", "dhcpcd", "firewalld",
	"wpa_supplicant", "systemd-networkd", "systemd-resolved",
	// Booting: kernels, firmware, microcode, initramfs, boot loaders.
	"kernel", "kernel-*", "linux-firmware", "linux-firmware-*", "*-firmware", "microcode_ctl", "dracut",
	"dracut-*", "grub2", "grub2-*", "grubby", "shim", "shim-*", "efibootmgr", "mokutil", "systemd-boot*",
	// Storage stacks a root file system may sit on.
	"e2fsprogs", "btrfs-progs", "xfsprogs", "dosfstools", "lvm2", "cryptsetup", "mdadm", "zram-generator*",
	// Cloud instances configure their network through these.
	"cloud-init", "cloud-utils-growpart",
}

var baseMatcher = debian.NewMatcher(BaseSet)

// NewMatcher compiles package patterns (path.Match syntax); it is the Debian core's matcher, which
// knows nothing Debian-specific except ignoring a ":arch" qualifier, which rpm names never have.
func NewMatcher(patterns []string) *debian.Matcher { return debian.NewMatcher(patterns) }

// InBase reports whether name is in BaseSet.
func InBase(name string) bool { return baseMatcher.Match(name) }

// ValidPackage checks an rpm package name before it goes into argv: letters, digits and . _ + -, not
// starting with "-" or ".", at most 255 characters. Capabilities (perl(Foo), /usr/bin/x), versions
// (foo-1.2) are refused as such: chaos installs names. Groups are checked with ValidGroup.
func ValidPackage(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("invalid rpm package name: empty")
	case len(name) > 255:
		return fmt.Errorf("invalid rpm package name %q: longer than 255 characters", name)
	case name[0] == '-' || name[0] == '.':
		return fmt.Errorf("invalid rpm package name %q: starts with %q", name, name[0])
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._+-", r)) {
			return fmt.Errorf("invalid rpm package name %q: character %q is not allowed (use letters, digits and . _ + -)", name, r)
		}
	}
	return nil
}

// IsGroup reports whether a resolved name is a comps group ("@development-tools").
func IsGroup(name string) bool { return strings.HasPrefix(name, "@") }

// ValidGroup checks a comps group id written as "@id": lowercase letters, digits, "-" and "_".
func ValidGroup(name string) error {
	id, ok := strings.CutPrefix(name, "@")
	if !ok || id == "" || len(id) > 128 || id[0] == '-' {
		return fmt.Errorf("invalid dnf group %q: want @ID, e.g. @development-tools", name)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("invalid dnf group %q: character %q is not allowed in a group id (lowercase letters, digits, - and _)", name, r)
		}
	}
	return nil
}

// ValidName checks a resolved name: a group (@id) or a package.
func ValidName(name string) error {
	if IsGroup(name) {
		return ValidGroup(name)
	}
	return ValidPackage(name)
}

// Tool is the dnf a host runs: dnf 4 (Python, libdnf; Fedora up to 40, RHEL 8-10) or dnf5 (C++,
// libdnf5; Fedora 41 and later, where /usr/bin/dnf is a link to dnf5). Their command lines differ:
// dnf5 dropped --color, renamed `mark install`/`mark remove` to `mark user`/`mark dependency`, and
// its argument parser has no "--" end of options (names are validated: none starts with "-").
type Tool struct {
	Cmd   string // the command to run: "dnf", or "dnf5" on a host that has no dnf
	Major int    // 4 or 5
}

// Dnf4 is the dnf of hosts whose probe said nothing else (and of the test fixture).
var Dnf4 = Tool{Cmd: "dnf", Major: 4}

// DetectScript is a sh fragment for probes: it sets dnf (the command, "" when neither dnf nor dnf5
// is installed), dnfv (4 or 5) and, for dnf 4, dnfpy (the interpreter of its script, which has
// the dnf Python module). dnf 4's /usr/bin/dnf is a Python script (or a link to dnf-3); dnf5's is
// an ELF binary or a link to dnf5; `dnf --version` (dnf5 prints "dnf5 version 5...") settles any
// other layout.
const DetectScript = `dnf= dnfv= dnfpy=
if p=$(command -v dnf 2>/dev/null); then
  dnf=dnf
  r=$(readlink -f "$p" 2>/dev/null) || r=$p
  IFS= read -r l 2>/dev/null < "$r" || l=
  case ${r##*/}:$l in
    dnf5*) dnfv=5 ;;
    *:'#!'*) dnfv=4; dnfpy=${l#??} ;;
    *) case $(dnf --version 2>/dev/null) in dnf5*) dnfv=5 ;; *) dnfv=4; dnfpy=python3 ;; esac ;;
  esac
elif command -v dnf5 >/dev/null 2>&1; then
  dnf=dnf5 dnfv=5
fi
`

// ToolProbe prints "dnf=MAJOR CMD" ("dnf=5 dnf"), or nothing when the host has no dnf.
const ToolProbe = DetectScript + `[ -n "$dnf" ] && echo "dnf=$dnfv $dnf"
true`

// ParseTool reads the value of ToolProbe's line ("5 dnf"); ok is false for anything else.
func ParseTool(v string) (Tool, bool) {
	major, cmd, _ := strings.Cut(strings.TrimSpace(v), " ")
	if cmd != "dnf" && cmd != "dnf5" {
		return Tool{}, false
	}
	switch major {
	case "4":
		return Tool{Cmd: cmd, Major: 4}, true
	case "5":
		return Tool{Cmd: cmd, Major: 5}, true
	}
	return Tool{}, false
}

// Op returns an exec op running dnf unattended: assume yes (a transaction that would need another
// answer, a conflict, fails) and, for dnf 4, no colour (dnf5 has no --color option; it colours only
// a terminal). Package names in args must have been checked with ValidName.
func (t Tool) Op(args ...string) engine.Op {
	argv := []string{t.Cmd, "-y"}
	if t.Major < 5 {
		argv = append(argv, "--color=never")
	}
	return engine.Exec(append(argv, args...)...)
}

// Names ends args with names: after "--" for dnf 4, directly for dnf5 (which has no "--").
func (t Tool) Names(args []string, names ...string) []string {
	out := slices.Clone(args)
	if t.Major < 5 {
		out = append(out, "--")
	}
	return append(out, names...)
}

// MarkUser is the `mark` subcommand that makes packages user-installed, and MarkDependency its
// inverse: `mark install`/`mark remove` in dnf 4, `mark user`/`mark dependency` in dnf5.
func (t Tool) MarkUser() []string {
	if t.Major >= 5 {
		return []string{"mark", "user"}
	}
	return []string{"mark", "install"}
}

// MarkDependency is the inverse of MarkUser.
func (t Tool) MarkDependency() []string {
	if t.Major >= 5 {
		return []string{"mark", "dependency"}
	}
	return []string{"mark", "remove"}
}

// RemoveOptions are added to removal transactions: dependencies nothing needs any more go with the
// removed packages (clean_requirements_on_remove, the default of both dnf 4 and dnf5, passed
// explicitly so that an admin's different default does not change chaos's plan; both spell it the
// same and read booleans case-insensitively).
var RemoveOptions = []string{"--setopt=clean_requirements_on_remove=True"}

// KernelPackage is the package of the running kernel on Fedora (kernel-core since Fedora 21).
func KernelPackage() string { return "kernel-core" }

// ShellPackages maps a login shell's file name to the Fedora package providing it. bash and sh are
// in every install; nologin and false are not shells to install. The packages role installs the
// package of a declared user's shell; the users role needs it.
var ShellPackages = map[string]string{
	"bash": "bash", "sh": "", "nologin": "", "false": "", "true": "",
	"zsh": "zsh", "fish": "fish", "ksh": "ksh", "ksh93": "ksh", "mksh": "mksh", "tcsh": "tcsh", "csh": "tcsh",
	"dash": "dash", "yash": "yash", "elvish": "elvish", "xonsh": "xonsh", "nu": "nushell", "busybox": "busybox",
	"tmux": "tmux", "screen": "screen", "git-shell": "git-core",
}

// ReadOnlyScript is a sh fragment that lets the rest of a probe section read rpm's and dnf's state
// without writing to the host, for runs that must not write (--dry, captures). Left alone, rpm
// updates the -shm file of its SQLite database (WAL mode) even for a query, and dnf 4 appends to its
// logs (dnf*.log, hawkey.log), takes lock files and rewrites expired_repos.json in its cache
// directory and opens its history database (history.sqlite, WAL too) for writing. So the first
// section that needs them copies rpm's database directory (%{_dbpath}) and dnf's persistdir
// (/var/lib/dnf) into $ro, a directory in the probe's scratch directory (engine.ScratchEnv, under
// the target's /tmp, removed when the probe ends; sections using the fragment set
// ProbeSection.Scratch; $ro is built under another name and renamed, so that a failed copy is
// never used), and every section points the tools at the copies: rpm, and the librpm
// inside dnf, through $HOME/.rpmmacros (root's own plus %_dbpath; rpm reads it after
// /etc/rpm/macros*); dnf 4's command line through $dnfro (--setopt logdir, persistdir and
// cachedir), its Python API through CHAOS_DNF_RO (= $ro). The cache directory there holds symbolic
// links to the host's cached repositories and solv files (read in place; dnf replaces solv files by
// rename, so a rewrite lands in $ro) and copies of its plain files (expired_repos.json, which dnf
// rewrites in place). Real applies do not use it: their probe reads the host's files in place.
const ReadOnlyScript = `ro=${` + engine.ScratchEnv + `:?no scratch directory}/fedora
if [ ! -d "$ro" ]; then
  fail="could not copy the rpm and dnf databases to $ro for a read-only run"
  {
    rm -rf "$ro.new" && mkdir "$ro.new" "$ro.new/rpm" "$ro.new/dnf" "$ro.new/cache" "$ro.new/log" &&
    rpmdb=$(rpm --eval '%{_dbpath}' 2>/dev/null || :) &&
    { [ ! -d "$rpmdb" ] || cp -pR "$rpmdb/." "$ro.new/rpm/"; } &&
    { [ ! -d /var/lib/dnf ] || cp -pR /var/lib/dnf/. "$ro.new/dnf/"; } &&
    for f in /var/cache/dnf/*; do
      case $f in
        *.solv|*.solvx) ln -s "$f" "$ro.new/cache/" ;;
        *) if [ -d "$f" ]; then ln -s "$f" "$ro.new/cache/"; elif [ -f "$f" ]; then cp -p "$f" "$ro.new/cache/"; fi ;;
      esac || { echo "$fail"; exit 1; }
    done &&
    { [ ! -f "$HOME/.rpmmacros" ] || cp "$HOME/.rpmmacros" "$ro.new/.rpmmacros"; } &&
    printf '\n%%_dbpath %s\n' "$ro/rpm" >>"$ro.new/.rpmmacros" &&
    mv "$ro.new" "$ro"
  } || { echo "$fail"; exit 1; }
fi
HOME=$ro CHAOS_DNF_RO=$ro; export HOME CHAOS_DNF_RO
dnfro="--setopt=logdir=$ro/log --setopt=persistdir=$ro/dnf --setopt=cachedir=$ro/cache --setopt=system_cachedir=$ro/cache"
`

// ProbeFor returns script as a probe section's script: with ReadOnlyScript first in read-only runs.
func ProbeFor(script string, readOnly bool) string {
	if readOnly {
		return ReadOnlyScript + script
	}
	return script
}
