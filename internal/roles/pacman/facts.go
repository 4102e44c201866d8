package pacman

import (
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/arch"
	"github.com/ch-aos-ch/chaos/internal/pkggraph"
	"github.com/ch-aos-ch/chaos/internal/roles/hostfacts"
	"github.com/ch-aos-ch/chaos/internal/roles/pacmanconf"
	"github.com/ch-aos-ch/chaos/internal/shell"
)

// Probe sections: pacman's local database read by one awk (every package's name, version, install
// reason, dependencies and provisions), the foreign packages (`pacman -Qqm`), a few host facts, and
// (only when declared packages are missing) what installing them would pull in. Each section costs
// a handful of processes whatever the number of packages: installed names come from the database
// directory's entries, and only names not found there (virtual ones) are asked to `pacman -T`.
const (
	secLocal   = "local"
	secForeign = "foreign"
	secHost    = "host"
	secNew     = "new"
)

// localProbe prints one line per installed package: NAME<TAB>VERSION<TAB>REASON<TAB>DEPENDS<TAB>PROVIDES
// (REASON 0 explicit, 1 dependency; lists space-separated, with version constraints). It reads the
// desc files of pacman's local database directly: the same data `pacman -Qi` prints, without
// pacman's formatting, in one process for any number of packages.
const localProbe = LocalProbe

// LocalProbe is localProbe, for other Arch roles (the AUR role) that read the same database.
const LocalProbe = arch.DBPathProbe + `
set -- "${db%/}"/local/*/desc
[ -e "$1" ] || exit 0
awk 'function flush() { if (n != "") printf "%s\t%s\t%s\t%s\t%s\n", n, v, r, d, p; n = ""; v = ""; d = ""; p = ""; r = 0 }
FNR == 1 { flush() }
/^%[A-Z0-9]+%$/ { k = $0; next }
/^$/ { k = ""; next }
k == "%NAME%" { n = $0 }
k == "%VERSION%" { v = $0 }
k == "%REASON%" { r = $0 }
k == "%DEPENDS%" { d = d " " $0 }
k == "%PROVIDES%" { p = p " " $0 }
END { flush() }' "$@"`

// ForeignProbe lists the installed packages no sync database has (AUR and locally built ones).
// Without sync databases every package is foreign, so the prune (which only touches native ones)
// does nothing until the repositories are synced. Roles use ForeignProbeFor.
const ForeignProbe = `pacman -Qqm 2>/dev/null; true`

// ForeignProbeFor is foreignProbe judged against the repositories the apply will have. When the
// Ch-obolo manages pacman.conf and the host's file differs (or nothing was synced yet), the repos
// role rewrites and syncs it before any package is installed or pruned; asked of the current
// databases, a package of a newly added repository would still look foreign and be pruned only by
// the next run. So the probe syncs the desired file into a throwaway database path that shares the
// local database (as checkupdates does) and asks that. If the throwaway sync fails (a key not
// imported yet, a server not reachable), the current answer stands. The throwaway sync logs
// nothing (--logfile /dev/null): a probe, of a dry run too, leaves the host's pacman.log alone.
func ForeignProbeFor(c *chobolo.Chobolo) string {
	if !pacmanconf.Applies(c) {
		return ForeignProbe
	}
	d, err := pacmanconf.Render(c)
	if err != nil {
		return ForeignProbe
	}
	return "set -- " + shell.Quote(d.Content) + "\n" + arch.DBPathProbe + foreignPresync
}

const foreignPresync = `
if [ -n "$(ls "${db%/}"/sync/*.db 2>/dev/null)" ] && [ "$(cat /etc/pacman.conf 2>/dev/null)" = "$(printf '%s' "$1")" ]; then
  pacman -Qqm 2>/dev/null; exit 0
fi
t=$(mktemp -d) || { pacman -Qqm 2>/dev/null; exit 0; }
trap 'rm -rf "$t"' EXIT
chmod 755 "$t" # pacman 7 downloads as DownloadUser (alpm), which must reach $t/db/sync
printf '%s' "$1" > "$t/pacman.conf"
mkdir "$t/db" && ln -s "${db%/}/local" "$t/db/local"
if pacman --config "$t/pacman.conf" --dbpath "$t/db" --logfile /dev/null -Sy --noconfirm --noprogressbar >/dev/null 2>&1; then
  pacman --config "$t/pacman.conf" --dbpath "$t/db" -Qqm 2>/dev/null
else
  pacman -Qqm 2>/dev/null
fi
true`

// Section names other roles use with ParseFacts.
const (
	SectionLocal   = secLocal
	SectionForeign = secForeign
)

// hostProbe prints key=value lines: the database path, whether sync databases exist, the lock, UEFI,
// the boot loaders present and the shared host facts (hostfacts: login shells, sshd, the wheel
// group, the running kernel's package).
var hostProbe = arch.DBPathProbe + `
echo "dbpath=$db"
set -- "${db%/}"/sync/*.db
[ -e "$1" ] && echo synced=1
` + arch.LockProbe + `
[ -d /sys/firmware/efi ] && echo uefi=1
[ -e /boot/grub/grub.cfg ] && echo boot=grub
for f in /boot/EFI/refind/refind.conf /boot/efi/EFI/refind/refind.conf /efi/EFI/refind/refind.conf; do
  [ -e "$f" ] && { echo boot=refind; break; }
done
` + hostfacts.Probe(host)

// host is what the shared host facts need of the Arch core. pacman's file lists are relative to /
// and name the package's database directory NAME-VERSION-RELEASE; the running kernel's package is
// the pkgbase its modules directory names.
var host = hostfacts.Core{
	Owner: `owner() {
  f=$(grep -l -x -F -e "${1#/}" -e "${2#/}" "${db%/}"/local/*/files 2>/dev/null | head -n 1)
  [ -n "$f" ] || return 0
  p=${f%/files}; p=${p##*/}; p=${p%-*}; printf '%s\n' "${p%-*}"
}`,
	AdminGroup: "wheel",
	SSHD:       "openssh",
	Kernel:     func(f *hostfacts.Facts) string { return f.KernelPkg },
}

// newProbe prints, for the declared packages that are not installed, every package the install
// transaction would add (targets and missing dependencies) as "@new NAME" lines, then each one's
// dependencies from the sync databases (`pacman -Si`), so that the prune keeps what a new package
// needs and the install's undo removes exactly what it added. Before that, what the sync databases
// know about the missing names (pkggraph.Availability): a name they lack stops the section there, as
// the transaction could not be computed. Names are quoted words.
func newProbe(names []string) string {
	if len(names) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("set --")
	for _, n := range names {
		b.WriteString(" " + shell.Quote(n))
	}
	b.WriteString("\n" + arch.DBPathProbe + `
inst=" "
for d in "${db%/}"/local/*/; do d=${d%/}; d=${d##*/}; d=${d%-*}; d=${d%-*}; inst="$inst$d "; done
missing=""
for n; do case $inst in *" $n "*) ;; *) missing="$missing $n" ;; esac; done
[ -n "$missing" ] || exit 0
missing=$(pacman -T -- $missing 2>/dev/null)
[ -n "$missing" ] || exit 0
echo "@missing" $missing
set -- "${db%/}"/sync/*.db
[ -e "$1" ] || { echo '@unknown pacman has no sync databases yet (the plan syncs them first)'; exit 0; }
unknown=""
for n in $missing; do
  if pacman -Sp --print-format '%n' -- "$n" >/dev/null 2>&1; then echo "@have $n"; else unknown="$unknown $n"; fi
done
[ -z "$unknown" ] || { pacman -Slq 2>/dev/null | awk -v want="$unknown" ` + shell.Quote(pkggraph.NearScript) + `; exit 0; }
new=$(pacman -Sp --print-format '%n' -- $missing 2>/dev/null) || exit 0
[ -n "$new" ] || exit 0
for n in $new; do echo "@new $n"; done
pacman -Si -- $new 2>/dev/null | awk '/^Name *:/ { n = $3; k = 0; next }
/^Depends On *:/ { k = 1; sub(/^Depends On *: */, ""); print "@dep " n " " $0; next }
/^[A-Za-z]/ { k = 0; next }
k == 1 { sub(/^ */, ""); print "@dep " n " " $0 }'
true`)
	return b.String()
}

// Pkg is what pacman's local database says about one installed package.
type Pkg struct {
	Name     string
	Version  string
	Explicit bool
	Foreign  bool
	// Deps are the dependency names (version constraints dropped).
	Deps []string
	// Provides are the virtual names the package provides (versions dropped).
	Provides []string
}

// Facts are the parsed probe outputs.
type Facts struct {
	Pkgs   map[string]*Pkg
	DBPath string
	// Synced is true when sync databases exist (`pacman -Sy` happened at least once).
	Synced bool
	Locked bool
	// Facts are the shared host facts (login shells, sshd, sudo, kernel).
	hostfacts.Facts
	UEFI bool
	Boot []string // boot loaders found: grub, refind
	// New lists what installing the missing declared packages adds (targets and dependencies), with
	// NewDeps their dependency names.
	New     []string
	NewDeps map[string][]string
	// Avail is what the sync databases know about the declared packages that are not installed.
	Avail pkggraph.Availability
}

// depName strips a version constraint or description: "glibc>=2.3" -> "glibc", "libfoo.so=1-64" ->
// "libfoo.so", "python: for scripts" -> "python".
func depName(s string) string {
	if i := strings.IndexAny(s, "<>=:"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func depNames(field string) []string {
	var out []string
	for w := range strings.FieldsSeq(field) {
		if n := depName(w); n != "" && n != "None" {
			out = append(out, n)
		}
	}
	return out
}

// ParseFacts turns the probe outputs into Facts.
func ParseFacts(f map[string]string) *Facts {
	fs := &Facts{Pkgs: map[string]*Pkg{}, Facts: hostfacts.Parse(f[secHost]), NewDeps: map[string][]string{}}
	for line := range strings.SplitSeq(f[secLocal], "\n") {
		fl := strings.Split(line, "\t")
		if len(fl) < 5 || fl[0] == "" {
			continue
		}
		fs.Pkgs[fl[0]] = &Pkg{Name: fl[0], Version: fl[1], Explicit: strings.TrimSpace(fl[2]) != "1",
			Deps: depNames(fl[3]), Provides: depNames(fl[4])}
	}
	for n := range strings.FieldsSeq(f[secForeign]) {
		if p := fs.Pkgs[n]; p != nil {
			p.Foreign = true
		}
	}
	for line := range strings.SplitSeq(f[secHost], "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "dbpath":
			fs.DBPath = v
		case "synced":
			fs.Synced = true
		case "lock":
			fs.Locked = true
		case "uefi":
			fs.UEFI = true
		case "boot":
			fs.Boot = append(fs.Boot, v)
		}
	}
	fs.Avail.AvailLines(f[secNew])
	for line := range strings.SplitSeq(f[secNew], "\n") {
		switch {
		case strings.HasPrefix(line, "@new "):
			n := strings.TrimSpace(line[5:])
			fs.New = append(fs.New, n)
			if _, ok := fs.NewDeps[n]; !ok {
				fs.NewDeps[n] = nil
			}
		case strings.HasPrefix(line, "@dep "):
			n, rest, _ := strings.Cut(line[5:], " ")
			fs.NewDeps[n] = append(fs.NewDeps[n], depNames(rest)...)
		}
	}
	return fs
}
