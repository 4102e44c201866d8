// Package arch holds the facts of the Arch Linux core (Ch-aronte) that its roles share: the base
// package set, the packages that are never pruned, package-name rules, and how pacman is run
// unattended.
package arch

import (
	"fmt"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/cores/debian"
	"github.com/ch-aos-ch/chaos/internal/engine"
)

// Core is the name of this core in engine.Meta.Cores and chobolo.Package overrides.
const Core = "arch"

// BaseSet is the original Ch-aronte's base set: installed (as explicit packages) whenever `packages`
// or `baseOverride` is declared, and never pruned. A non-empty `baseOverride` replaces it completely.
var BaseSet = []string{
	"linux", "linux-firmware", "linux-headers", "base", "base-devel", "nano", "networkmanager",
	"openssh", "git", "arch-install-scripts", "sops",
}

// Essential packages are never pruned, whatever `baseOverride` says: without them pacman, the
// boot or the login stop working. Patterns use path.Match syntax. Besides these, the packages role
// keeps its protected set (login shells in use, openssh while sshd runs or is enabled, sudo while
// someone uses it, the running kernel's package, the installed boot loader).
var Essential = []string{
	"base", "filesystem", "glibc", "pacman", "pacman-mirrorlist", "archlinux-keyring", "bash", "coreutils",
	"systemd", "systemd-sysvcompat", "util-linux", "shadow", "pam",
	"linux", "linux-lts", "linux-zen", "linux-hardened", "linux-rt", "linux-rt-lts",
	"mkinitcpio", "dracut", "booster", "*-ucode",
}

var essential = debian.NewMatcher(Essential)

// IsEssential reports whether name is in Essential.
func IsEssential(name string) bool { return essential.Match(name) }

// NewMatcher compiles package patterns (path.Match syntax); it is the Debian core's matcher, which
// knows nothing Debian-specific except ignoring a ":arch" qualifier, which Arch names never have.
func NewMatcher(patterns []string) *debian.Matcher { return debian.NewMatcher(patterns) }

// ValidPackage checks an Arch package name before it goes into argv or a file: makepkg's rule
// (letters, digits and @ . _ + -, not starting with "-" or "."), at most 255 characters. Repository
// prefixes (core/foo) and version constraints (foo>=1) are refused: chaos installs names.
func ValidPackage(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("invalid Arch package name: empty")
	case len(name) > 255:
		return fmt.Errorf("invalid Arch package name %q: longer than 255 characters", name)
	case name[0] == '-' || name[0] == '.':
		return fmt.Errorf("invalid Arch package name %q: starts with %q", name, name[0])
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@._+-", r)) {
			return fmt.Errorf("invalid Arch package name %q: character %q is not allowed (use letters, digits and @ . _ + -)", name, r)
		}
	}
	return nil
}

// Options are added to every pacman transaction (-S, -R, -U): no questions (the default answer,
// which is "no" for removing conflicting packages, so such a transaction fails instead of removing
// something), no progress bars. Other operations (-D, -Q) get only --noconfirm.
var Options = []string{"--noconfirm", "--noprogressbar"}

// Pacman returns an exec op running `pacman OPERATION Options... args...`. Package names in args must
// have been checked with ValidPackage and come after a "--", so that no name is read as an option.
func Pacman(args ...string) engine.Op {
	opts := Options
	if len(args) > 0 && !strings.HasPrefix(args[0], "-S") && !strings.HasPrefix(args[0], "-R") && !strings.HasPrefix(args[0], "-U") {
		opts = []string{"--noconfirm"}
	}
	argv := append([]string{"pacman"}, args...)
	if i := indexOf(argv, "--"); i >= 0 {
		argv = append(append(append([]string{}, argv[:i]...), opts...), argv[i:]...)
	} else {
		argv = append(argv, opts...)
	}
	return engine.Exec(argv...)
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// DBPathProbe sets $db to pacman's database directory: /var/lib/pacman/, unless pacman.conf sets
// DBPath (then pacman-conf, which knows the Include rules, reads it; otherwise no process is spent).
const DBPathProbe = `db=/var/lib/pacman/
if grep -q '^[[:space:]]*DBPath' /etc/pacman.conf 2>/dev/null; then db=$(pacman-conf DBPath 2>/dev/null) && [ -n "$db" ] || db=/var/lib/pacman/; fi`

// Sync returns `pacman -Sy` with its inverse: the sync databases it fetches for repositories that
// had none are removed again (the engine captures the names in the sync directory right before
// it). A database it refreshed stays refreshed, as apt's lists after an undone apt-get update. So a
// pacman.conf change that is rolled back leaves no database of a repository it no longer names.
func Sync() engine.Op {
	op := Pacman("-Sy")
	undo := engine.Exec("sh", "-c", syncUndoScript)
	undo.Label = "remove the sync databases pacman -Sy added"
	op = op.WithUndo(undo)
	op.Capture = []string{"sh", "-c", DBPathProbe + `
ls -A -- "${db%/}/sync" 2>/dev/null || :`}
	return op
}

// syncUndoScript removes the entries of pacman's sync directory that are not in its stdin (the
// names there before the sync). A killed pacman's lock goes too, when no pacman runs.
const syncUndoScript = DBPathProbe + `
in=$(mktemp) || exit 1
trap 'rm -f "$in"' EXIT
cat >"$in"
dir=${db%/}/sync
if [ -d "$dir" ]; then
  for f in "$dir"/* "$dir"/.[!.]*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    grep -qxF -- "${f##*/}" "$in" || rm -rf -- "$f" || exit 1
  done
fi` + unlockScript + `
exit 0`

// unlockScript removes pacman's database lock ($db: DBPathProbe) when no pacman process runs on
// this root: a killed pacman leaves it behind, and every later transaction fails on it. In a chroot
// whose /proc is the machine's, the pacman of another root (its /proc/PID/root is not this /) does
// not count.
const unlockScript = `
if [ -e "${db%/}/db.lck" ]; then
  busy=
  for c in /proc/[0-9]*/comm; do
    IFS= read -r n <"$c" 2>/dev/null && [ "$n" = pacman ] && [ "${c%/comm}/root" -ef / ] && busy=1
  done
  [ -n "$busy" ] || rm -f -- "${db%/}/db.lck"
fi`

// installedNames lists the installed packages' names from pacman's local database directory
// ($db: DBPathProbe), one per NAME-PKGVER-PKGREL entry; it fails without that directory. (`pacman
// -Qq` cannot tell an empty database, where it exits 1, from a failure.)
const installedNames = `
[ -d "${db%/}/local" ] || { echo "no pacman database at ${db%/}/local" >&2; exit 1; }
for e in "${db%/}"/local/*/; do
  [ -d "$e" ] || continue
  e=${e%/}; e=${e##*/}; e=${e%-*}; printf '%s\n' "${e%-*}"
done`

// removeNewScript is the inverse of an install: it removes (-Rn) every package installed now that
// is not in its stdin (the time, then the installed names before the transaction): dependencies
// included, also of a transaction that stopped partway (a failing scriptlet, a killed pacman) or
// pulled in dependencies the plan could not foresee. Before that, the lock a killed pacman left
// goes (unlockScript), and so does a package pacman was extracting or recording when it was
// killed: its database entry has no desc yet (pacman then fails on it, "invalid or corrupted
// package", until it is gone) or no file list. Its files are listed from its package file in
// pacman's cache: the files go, then the directories that are empty, owned by no package and
// changed since the transaction began.
const removeNewScript = DBPathProbe + unlockScript + `
in=$(mktemp) || exit 1
trap 'rm -f "$in"' EXIT
cat >"$in"
since=$(sed -n '1s/^since //p' "$in")
case $since in ''|*[!0-9]*) echo "chaos: no start time in the captured state" >&2; exit 1 ;; esac
cache=$(pacman-conf CacheDir 2>/dev/null | head -n 1) || cache=
[ -n "$cache" ] || cache=/var/cache/pacman/pkg/
fail=
for e in "${db%/}"/local/*/; do
  [ -d "$e" ] || continue
  name=${e%/}; name=${name##*/}
  n=${name%-*}; n=${n%-*}
  if grep -qxF -- "$n" "$in"; then continue; fi
  pkgfile=
  for f in "${cache%/}/$name"-*.pkg.tar*; do
    case $f in *.sig) ;; *) [ ! -f "$f" ] || pkgfile=$f ;; esac
  done
  list=
  [ -z "$pkgfile" ] || list=$(bsdtar -tf "$pkgfile" | grep -v '^\.') || list=
  # Complete: desc, and the file list when the package has files (pacman writes desc, then files).
  if [ -e "${e}desc" ] && { [ -z "$list" ] || grep -q '^%FILES%$' "${e}files" 2>/dev/null; }; then continue; fi
  rm -rf -- "$e" || exit 1
  if [ -z "$list" ]; then
    echo "chaos: pacman was killed while installing $name, and no package file in $cache lists its files: they stay" >&2
    fail=1
    continue
  fi
  printf '%s\n' "$list" | while IFS= read -r p; do
    p=/${p%/}
    if [ -L "$p" ] || [ -f "$p" ]; then rm -f -- "$p"; fi
  done
  printf '%s\n' "$list" | sort -r | while IFS= read -r p; do
    p=/${p%/}
    if [ -d "$p" ] && ! pacman -Qqo -- "$p" >/dev/null 2>&1 && [ "$(stat -c %Z -- "$p")" -ge "$since" ]; then
      rmdir -- "$p" 2>/dev/null || :
    fi
  done
done
now=$(` + installedNames + `
) || exit 1
new=$(printf '%s\n' "$now" | awk 'FILENAME == ARGV[1] { if (FNR > 1) was[$0] = 1; next } $0 != "" && !was[$0]' "$in" -)
if [ -n "$new" ]; then
  set -f
  pacman -Rn --noconfirm --noprogressbar -- $new || exit 1
fi
[ -z "$fail" ]`

// RemoveNew gives op, which installs packages, its inverse: the engine captures the time and the
// installed names right before it, and the undo removes every package installed since
// (removeNewScript).
func RemoveNew(op engine.Op) engine.Op {
	undo := engine.Exec("sh", "-c", removeNewScript)
	undo.Label = "pacman -Rn the packages installed since"
	op = op.WithUndo(undo)
	op.Capture = []string{"sh", "-c", DBPathProbe + `
echo "since $(date +%s)"` + installedNames}
	return op
}

// LockProbe prints "lock=1" when pacman's database lock exists (another pacman is running, or one
// was killed): a transaction would fail with "unable to lock database". Needs DBPathProbe first.
const LockProbe = `[ -e "${db%/}/db.lck" ] && echo lock=1`

// LockNote is the note shown when the lock exists.
func LockNote(dbpath string) string {
	return fmt.Sprintf("pacman's database is locked (%sdb.lck): another pacman is running, or one was interrupted; "+
		"if none is running, remove the file, or the transaction will fail", dbpath)
}

// ShellPackages maps a login shell's file name to the Arch package providing it ("" = nothing to
// install: sh is bash, nologin is util-linux). The packages role installs the package of a declared
// user's shell; the users role needs it.
var ShellPackages = map[string]string{
	"bash": "bash", "rbash": "bash", "sh": "", "nologin": "", "false": "", "true": "",
	"zsh": "zsh", "fish": "fish", "dash": "dash", "ksh": "mksh", "mksh": "mksh", "tcsh": "tcsh",
	"csh": "tcsh", "nu": "nushell", "nushell": "nushell", "xonsh": "xonsh", "elvish": "elvish",
	"busybox": "busybox", "yash": "yash", "oksh": "oksh", "ion": "ion", "git-shell": "git",
	"tmux": "tmux", "screen": "screen",
}
