package packages

import (
	"fmt"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/cores/debian"
	"github.com/ch-aos-ch/chaos/internal/pkggraph"
	"github.com/ch-aos-ch/chaos/internal/roles/hostfacts"
	"github.com/ch-aos-ch/chaos/internal/shell"
)

// Probe sections. Each is one cheap read: the dpkg database, apt's auto marks, a few host facts, and
// (only when declared packages are missing) what they would pull in.
const (
	secStatus  = "status"
	secAuto    = "auto"
	secHost    = "host"
	secMissing = "missing"
)

// statusProbe lists every package dpkg knows, with what the delta needs. dpkg-query reads
// /var/lib/dpkg/status once; this is what `apt-mark showmanual` and friends read too, minus the cost
// of loading apt's cache.
const statusProbe = `dpkg-query -W -f='${Package}\t${Architecture}\t${db:Status-Abbrev}\t${Priority}\t${Essential}\t${Version}\t${Pre-Depends}\t${Depends}\t${Provides}\n'`

// autoProbe prints "NAME ARCH" for every package apt marked as automatically installed.
const autoProbe = `[ -r /var/lib/apt/extended_states ] || exit 0
awk '/^$/ {p=""; a=""} /^Package:/ {p=$2} /^Architecture:/ {a=$2} /^Auto-Installed: *1/ {print p, a}' /var/lib/apt/extended_states`

// hostProbe prints key=value lines: whether apt has package lists, the policy-rc.d state and the
// shared host facts (hostfacts: login shells, sshd, the sudo group, the running kernel).
var hostProbe = `set -- /var/lib/apt/lists/*_Packages*
[ -e "$1" ] && echo lists=1
` + debian.PolicyRCProbe + "\n" + hostfacts.Probe(host)

// host is what the shared host facts need of the Debian core. dpkg's file lists may spell a shell
// /bin/NAME or /usr/bin/NAME whatever /etc/passwd says (merged /usr), so owner tries both.
var host = hostfacts.Core{
	Owner: `owner() {
  b=${1##*/}
  p=$(grep -l -x -F -e "$1" -e "$2" -e "/bin/$b" -e "/usr/bin/$b" /var/lib/dpkg/info/*.list 2>/dev/null | head -n 1)
  [ -n "$p" ] || return 0
  p=${p##*/}; p=${p%.list}; printf '%s\n' "${p%%:*}"
}`,
	AdminGroup: "sudo",
	SSHD:       "openssh-server",
	Kernel: func(f *hostfacts.Facts) string {
		if f.Kernel == "" {
			return ""
		}
		return debian.KernelPackage(f.Kernel)
	},
}

// missingProbe prints, for the declared packages that are not installed, "@missing NAME..." and
// what apt knows about them before any op runs (pkggraph.Availability: which names the package lists
// offer, close names for the others) and, with deps, the dependencies apt would pull in with them (apt-cache depends --recurse), so
// that the prune keeps what a new package needs. Names are passed as quoted words; nothing from the
// Ch-obolo is interpolated otherwise.
func missingProbe(names []string, deps bool) string {
	if len(names) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("set --")
	for _, n := range names {
		b.WriteString(" " + shell.Quote(n))
	}
	b.WriteString(`
inst=" $(dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\n' "$@" 2>/dev/null | awk -F'\t' '$1 ~ /^.i/ {printf "%s ", $2}') "
missing=""
for n; do
  case $inst in *" ${n%%:*} "*) ;; *) missing="$missing $n" ;; esac
done
[ -n "$missing" ] || exit 0
echo "@missing$missing"
ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 || { echo '@unknown apt has no package lists yet (the plan runs apt-get update first)'; exit 0; }
bare=""
for n in $missing; do bare="$bare ${n%%:*}"; done
apt-cache pkgnames 2>/dev/null | awk -v want="$bare" ` + shell.Quote(pkggraph.NearScript) + "\n")
	if deps {
		b.WriteString(`apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances $missing 2>/dev/null
`)
	}
	b.WriteString("true")
	return b.String()
}

// Pkg is what dpkg and apt know about one package name (all its installed architectures merged).
type Pkg struct {
	Name      string
	Arches    []string
	Status    string // db:Status-Abbrev, e.g. "ii ", "rc ", "hi "
	Priority  string
	Essential bool
	Version   string
	Installed bool
	// Held is true when the package is on hold (dpkg selection "hold").
	Held bool
	// Auto is true when apt marked every installed architecture of the package as automatically
	// installed.
	Auto bool
	// Deps are the Pre-Depends and Depends, as groups of alternatives (names only).
	Deps     [][]string
	Provides []string
}

// Facts are the parsed probe outputs.
type Facts struct {
	Pkgs map[string]*Pkg
	// Lists is true when apt has package lists (an `apt-get update` happened at least once).
	Lists    bool
	PolicyRC debian.PolicyRCState
	// Facts are the shared host facts (login shells, sshd, sudo, kernel).
	hostfacts.Facts
	// NewDeps are the dependency groups of packages not installed yet, as apt would install them.
	NewDeps map[string][][]string
	// Avail is what apt knows about the declared packages that are not installed.
	Avail pkggraph.Availability
}

// ParseFacts turns the probe outputs into Facts.
func ParseFacts(f map[string]string) (*Facts, error) {
	fs := &Facts{Pkgs: map[string]*Pkg{}, Facts: hostfacts.Parse(f[secHost]), NewDeps: map[string][][]string{}}
	autoArch := map[string]map[string]bool{}
	for line := range strings.SplitSeq(f[secAuto], "\n") {
		name, arch, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || name == "" {
			continue
		}
		if autoArch[name] == nil {
			autoArch[name] = map[string]bool{}
		}
		autoArch[name][arch] = true
	}
	for line := range strings.SplitSeq(f[secStatus], "\n") {
		if line == "" {
			continue
		}
		fl := strings.Split(line, "\t")
		if len(fl) < 9 {
			return nil, fmt.Errorf("dpkg-query: unexpected line %q", line)
		}
		name, arch, status := fl[0], fl[1], fl[2]
		installed := len(status) >= 2 && status[1] == 'i'
		p := fs.Pkgs[name]
		if p == nil {
			p = &Pkg{Name: name, Auto: true}
			fs.Pkgs[name] = p
		}
		if !installed {
			if !p.Installed {
				p.Status = status
			}
			continue
		}
		if !p.Installed {
			p.Status, p.Priority, p.Version = status, fl[3], fl[5]
		}
		p.Installed = true
		p.Held = p.Held || status[0] == 'h'
		p.Essential = p.Essential || fl[4] == "yes"
		p.Arches = append(p.Arches, arch)
		// apt records architecture-independent packages under the native architecture.
		if !autoArch[name][arch] && (arch != "all" || len(autoArch[name]) == 0) {
			p.Auto = false
		}
		p.Deps = append(p.Deps, ParseDepends(fl[6])...)
		p.Deps = append(p.Deps, ParseDepends(fl[7])...)
		for _, g := range ParseDepends(fl[8]) {
			p.Provides = append(p.Provides, g...)
		}
	}
	for _, p := range fs.Pkgs {
		if !p.Installed {
			p.Auto = false
		}
	}
	for line := range strings.SplitSeq(f[secHost], "\n") {
		if st, ok := debian.ParsePolicyRC(line); ok {
			fs.PolicyRC = st
			continue
		}
		if line == "lists=1" {
			fs.Lists = true
		}
	}
	parseAptCacheDepends(f[secMissing], fs)
	fs.Avail.AvailLines(f[secMissing])
	return fs, nil
}

// ParseDepends parses a Depends-style field ("a (>= 1), b | c:any [amd64]") into groups of
// alternative package names, dropping versions, architecture qualifiers and restrictions.
func ParseDepends(field string) [][]string {
	var out [][]string
	for group := range strings.SplitSeq(field, ",") {
		var alts []string
		for alt := range strings.SplitSeq(group, "|") {
			alt = strings.TrimSpace(alt)
			if i := strings.IndexAny(alt, " ([<"); i >= 0 {
				alt = alt[:i]
			}
			alt, _, _ = strings.Cut(alt, ":")
			if alt != "" {
				alts = append(alts, alt)
			}
		}
		if len(alts) > 0 {
			out = append(out, alts)
		}
	}
	return out
}

// parseAptCacheDepends reads `apt-cache depends --recurse` output:
//
//	pkg
//	  Depends: a
//	 |Depends: b
//	  Depends: c
//	  Depends: <virtual>
//	    provider1
//	    provider2
//
// A line starting with "|" continues the group with the next dependency; the indented names under a
// virtual package are its providers, alternatives of the same group.
func parseAptCacheDepends(out string, fs *Facts) {
	var cur string
	var group []string
	cont := false
	flush := func() {
		if cur != "" && len(group) > 0 {
			fs.NewDeps[cur] = append(fs.NewDeps[cur], group)
		}
		group = nil
	}
	for line := range strings.SplitSeq(out, "\n") {
		if line == "" || line[0] == '@' { // availability lines (pkggraph.Availability)
			continue
		}
		trim := strings.TrimSpace(line)
		switch {
		case line[0] != ' ':
			flush()
			cur = strings.Trim(trim, "<>")
			if _, ok := fs.NewDeps[cur]; !ok {
				fs.NewDeps[cur] = nil
			}
			cont = false
		case strings.Contains(trim, "Depends: "):
			alt := strings.HasPrefix(trim, "|")
			if !cont {
				flush()
			}
			_, name, _ := strings.Cut(trim, "Depends: ")
			name, _, _ = strings.Cut(name, " ")
			name = strings.Trim(name, "<>")
			name, _, _ = strings.Cut(name, ":")
			group = append(group, name)
			cont = alt
		default: // a provider of the virtual package just named
			name, _, _ := strings.Cut(trim, " ")
			name, _, _ = strings.Cut(strings.Trim(name, "<>"), ":")
			group = append(group, name)
		}
	}
	flush()
	for name, deps := range fs.NewDeps {
		if p := fs.Pkgs[name]; p != nil && p.Installed {
			delete(fs.NewDeps, name)
		} else if deps == nil {
			fs.NewDeps[name] = [][]string{}
		}
	}
}

// desired is one package the Ch-obolo wants on the host.
type desired = pkggraph.Want
