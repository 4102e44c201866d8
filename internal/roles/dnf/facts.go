package dnf

import (
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/cores/fedora"
	"github.com/ch-aos-ch/chaos/internal/roles/hostfacts"
	"github.com/ch-aos-ch/chaos/internal/shell"
)

// Probe sections: the rpm database with every package's requires and provides, dnf's install
// reasons (and installed groups when groups matter), a few host facts, and (only when declared
// packages are missing) what dnf knows about them.
const (
	secRpm    = "rpmdb"
	secReason = "reasons"
	secGroups = "groups"
	secHost   = "host"
	secNew    = "new"
)

// rpmProbe lists every installed package (name, arch, epoch:version-release, requires and provides
// separated by vertical tabs), then resolves the file requires that no package provides explicitly to
// the packages owning the file ("@file PATH<TAB>PKG..."). One rpm query plus one per such path.
const rpmProbe = `command -v rpm >/dev/null 2>&1 || { echo '@norpm'; exit 0; }
out=$(rpm -qa --qf '%{NAME}\t%{ARCH}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\t[%{REQUIRENAME}\v]\t[%{PROVIDENAME}\v]\n') || exit 1
printf '%s\n' "$out"
printf '%s\n' "$out" | awk -F'\t' '{
  n = split($4, r, "\v"); for (i = 1; i <= n; i++) if (substr(r[i], 1, 1) == "/") req[r[i]] = 1
  n = split($5, p, "\v"); for (i = 1; i <= n; i++) if (substr(p[i], 1, 1) == "/") prov[p[i]] = 1
} END { for (f in req) if (!(f in prov)) print f }' | while IFS= read -r f; do
  printf '@file %s\t%s\n' "$f" "$(rpm -q --whatprovides --qf '%{NAME} ' -- "$f" 2>/dev/null | grep -v ' is not installed\|no package provides')"
done
true`

// reasonProbe prints "@dnf MAJOR CMD" (which dnf the host runs) and "NAME REASON" for every
// installed package from dnf's own database, reading no repository: dnf 4 prints user, dependency,
// weak-dependency, group, unknown (installed outside dnf, e.g. with rpm -i); dnf5 prints User,
// Dependency, Weak Dependency, Group, External User, None (see normalizeReason). dnf5's repoquery
// loads no repository for --installed alone; dnf 4 needs -C --disablerepo='*' for that.
const reasonProbe = fedora.DetectScript + `[ -n "$dnf" ] || { echo '@nodnf'; exit 0; }
echo "@dnf $dnfv $dnf"
if [ "$dnfv" = 5 ]; then
  "$dnf" -q repoquery --installed --queryformat '%{name} %{reason}\n' 2>/dev/null || echo '@failed'
else
  dnf -q -C --disablerepo='*' $dnfro repoquery --installed --qf '%{name} %{reason}\n' 2>/dev/null || echo '@failed'
fi
true`

// groupsProbe prints "@group ID" for every installed comps group, from the installed state itself,
// never from repository metadata (which dnf 4's `group list --installed` needs, so that a cleaned
// cache or a removed repository hid installed groups). dnf 4: its history database, read the way
// libdnf's CompsGroupItem::getTransactionItem does (the newest item of a group in a finished
// transaction, upgrades and replaced items skipped, decides; REMOVE = 8 means not installed), with
// the Python that runs dnf. dnf5: `group list --installed` with every repository disabled lists the
// groups of its system state ("@System"). "@failed" when the state could not be read.
const groupsProbe = fedora.DetectScript + `case $dnfv in
5)
  out=$("$dnf" -q --disable-repo='*' group list --installed 2>/dev/null) || { echo '@failed'; exit 0; }
  printf '%s\n' "$out" | awk 'NR > 1 && $NF == "yes" { print "@group " $1 }' ;;
4)
  $dnfpy -c '
import os, sqlite3
db = os.path.join(os.environ.get("CHAOS_DNF_RO", "/var/lib"), "dnf", "history.sqlite")
if os.path.exists(db):
    seen = set()
    for gid, action in sqlite3.connect("file:" + db + "?mode=ro", uri=True).execute(
            "SELECT g.groupid, ti.action FROM trans_item ti JOIN comps_group g USING (item_id) "
            "JOIN trans t ON ti.trans_id = t.id WHERE t.state = 1 AND ti.action NOT IN (3, 5, 7) "
            "ORDER BY ti.trans_id DESC, ti.id DESC"):
        if gid not in seen:
            seen.add(gid)
            if action != 8:
                print("@group " + gid)
' 2>/dev/null || echo '@failed' ;;
esac
true`

// hostProbe prints key=value lines: whether dnf has cached metadata and the shared host facts
// (hostfacts: login shells, sshd, the wheel group, the running kernel).
var hostProbe = `set -- /var/cache/dnf/*/repodata/repomd.xml /var/cache/libdnf5/*/repodata/repomd.xml
for f; do [ -e "$f" ] && { echo cache=1; break; }; done
` + hostfacts.Probe(host)

// host is what the shared host facts need of the Fedora core. rpm -qf prints a sentence with
// spaces for a file no package owns, which the shared fragment drops.
var host = hostfacts.Core{
	Owner:      `owner() { rpm -qf --qf '%{NAME}\n' -- "$1"; }`,
	AdminGroup: "wheel",
	SSHD:       "openssh-server",
	Kernel: func(f *hostfacts.Facts) string {
		if f.Kernel == "" {
			return ""
		}
		return fedora.KernelPackage()
	},
}

// newProbe prints, for the declared names no installed package provides ("@missing NAME..."),
// which of them the cached repositories have ("@avail NAME", by name or as a provide) and every
// package that provides a requirement of theirs, recursively over the installed and the cached
// packages ("@dep NAME", what `repoquery --requires --resolve --recursive` prints), so that the prune
// keeps what a new package needs; "@failed" when dnf could not answer. dnf 4: one Python process
// with dnf's API (one start and one metadata load instead of three `dnf repoquery` runs); dnf5,
// which has no Python API by default: `rpm -q` per name and two `dnf5 repoquery` runs. Names are
// passed as quoted words.
func newProbe(names []string) string {
	if len(names) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(fedora.DetectScript)
	b.WriteString("[ -n \"$dnf\" ] || exit 0\nset --")
	for _, n := range names {
		b.WriteString(" " + shell.Quote(n))
	}
	b.WriteString(`
if [ "$dnfv" = 5 ]; then
  missing=""
  for n; do rpm -q --whatprovides -- "$n" >/dev/null 2>&1 || missing="$missing $n"; done
  [ -n "$missing" ] || exit 0
  echo "@missing$missing"
  set -- $missing
  list=$(printf '%s,' "$@")
  "$dnf" -q -C repoquery --available --whatprovides="${list%,}" --queryformat '%{provides}' 2>/dev/null | sed -n 's/^\([^ ][^ ]*\).*/@avail \1/p' | sort -u
  "$dnf" -q -C repoquery --available --installed --providers-of=requires --recursive --queryformat '%{name}\n' "$@" 2>/dev/null | sed -n 's/^\(..*\)$/@dep \1/p' | sort -u
  exit 0
fi
$dnfpy -c '` + newPy + `' "$@" 2>/dev/null || echo '@failed'
true`)
	return b.String()
}

// newPy is newProbe's dnf 4 program (no single quotes: it sits in a sh single-quoted word). dnf's
// public API: fill_sack_from_repos_in_cache reads the cached metadata and never the network, like -C.
const newPy = `
import os
import sys
import dnf
names = sys.argv[1:]
base = dnf.Base()
base.conf.read()
ro = os.environ.get("CHAOS_DNF_RO")
if ro:
    base.conf.logdir = ro + "/log"
    base.conf.persistdir = ro + "/dnf"
    base.conf.cachedir = ro + "/cache"
base.conf.substitutions.update_from_etc(base.conf.installroot)
base.read_all_repos()
try:
    base.fill_sack_from_repos_in_cache(load_system_repo=True)
except dnf.exceptions.Error:
    base.fill_sack(load_system_repo=True, load_available_repos=False)
q = base.sack.query()
installed = q.installed()
missing = [n for n in names if not installed.filter(provides=n)]
if not missing:
    sys.exit(0)
print("@missing " + " ".join(missing))
avail = q.available()
for n in missing:
    if avail.filter(provides=n):
        print("@avail " + n)
todo = list(avail.filter(provides=missing))
seen = set(todo)
deps = set()
while todo:
    reqs = [r for p in todo for r in p.requires]
    if not reqs:
        break
    prov = q.filter(provides=reqs)
    deps.update(p.name for p in prov)
    todo = [p for p in prov if p not in seen]
    seen.update(todo)
for n in sorted(deps):
    print("@dep " + n)
`

// Pkg is one installed package name (installonly packages such as the kernel merge their versions).
type Pkg struct {
	Name     string
	Arches   []string
	EVRs     []string
	Requires []string // raw requirement names (capabilities, files, rich dependencies)
	Provides []string
	// Reason is dnf's install reason: user, dependency, weak-dependency, group, unknown (installed
	// outside dnf, e.g. with rpm -i); "" when dnf's database was not read.
	Reason string
}

// UserInstalled reports whether the package is in dnf's user-installed set (what `dnf repoquery
// --userinstalled` prints: reason user, or unknown).
func (p *Pkg) UserInstalled() bool { return p.Reason == "user" || p.Reason == "unknown" }

// Facts are the parsed probe outputs.
type Facts struct {
	Pkgs map[string]*Pkg
	// Prov maps every capability (package names, virtual provides, files) to the installed packages
	// providing it, sorted.
	Prov map[string][]string
	// NoRpm and NoDnf are set when the tools are missing (not an rpm system).
	NoRpm, NoDnf bool
	// Reasons is true when dnf's install reasons were read.
	Reasons bool
	// Tool is the dnf the host runs (dnf 4 unless the probe said otherwise).
	Tool fedora.Tool
	// Groups are the installed comps group ids; GroupsFailed is set when they could not be read.
	Groups       map[string]bool
	GroupsFailed bool
	// Cache is true when dnf has cached repository metadata.
	Cache bool
	// Facts are the shared host facts (login shells, sshd, sudo, kernel).
	hostfacts.Facts
	// Missing are the declared names not installed; Avail those the cached repositories have (by
	// name or as a provide); NewDeps every package dnf would install with them. NewKnown is false when
	// the new-package section did not run.
	Missing  []string
	Avail    map[string]bool
	NewDeps  []string
	NewKnown bool
	// RepoChanged are the repositories the plan adds, changes or removes (Env.Refreshing).
	RepoChanged []string
}

// ParseFacts turns the probe outputs into Facts.
func ParseFacts(f map[string]string) *Facts {
	fs := &Facts{Pkgs: map[string]*Pkg{}, Prov: map[string][]string{}, Groups: map[string]bool{}, Tool: fedora.Dnf4,
		Facts: hostfacts.Parse(f[secHost]), Avail: map[string]bool{}}
	addProv := func(capability, pkg string) {
		if !slices.Contains(fs.Prov[capability], pkg) {
			fs.Prov[capability] = append(fs.Prov[capability], pkg)
		}
	}
	for line := range strings.SplitSeq(f[secRpm], "\n") {
		switch {
		case line == "":
			continue
		case line == "@norpm":
			fs.NoRpm = true
			continue
		case strings.HasPrefix(line, "@file "):
			path, pkgs, _ := strings.Cut(strings.TrimPrefix(line, "@file "), "\t")
			for _, p := range strings.Fields(pkgs) {
				addProv(path, p)
			}
			continue
		}
		fl := strings.Split(line, "\t")
		if len(fl) < 5 {
			continue
		}
		p := fs.Pkgs[fl[0]]
		if p == nil {
			p = &Pkg{Name: fl[0]}
			fs.Pkgs[fl[0]] = p
		}
		p.Arches = append(p.Arches, fl[1])
		p.EVRs = append(p.EVRs, fl[2])
		for r := range strings.SplitSeq(fl[3], "\v") {
			if r != "" && !slices.Contains(p.Requires, r) {
				p.Requires = append(p.Requires, r)
			}
		}
		addProv(p.Name, p.Name)
		for pr := range strings.SplitSeq(fl[4], "\v") {
			if pr != "" {
				if !slices.Contains(p.Provides, pr) {
					p.Provides = append(p.Provides, pr)
				}
				addProv(pr, p.Name)
			}
		}
	}
	for _, ps := range fs.Prov {
		slices.Sort(ps)
	}
	for line := range strings.SplitSeq(f[secReason], "\n") {
		switch {
		case line == "":
			continue
		case line == "@nodnf":
			fs.NoDnf = true
			continue
		case line == "@failed":
			continue
		case strings.HasPrefix(line, "@dnf "):
			if t, ok := fedora.ParseTool(strings.TrimPrefix(line, "@dnf ")); ok {
				fs.Tool = t
			}
			continue
		}
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			continue
		}
		if p := fs.Pkgs[line[:i]]; p != nil {
			p.Reason = normalizeReason(strings.TrimSpace(line[i+1:]))
			fs.Reasons = true
		}
	}
	if strings.Contains(f[secReason], "@failed") {
		fs.Reasons = false
	}
	for line := range strings.SplitSeq(f[secGroups], "\n") {
		if id, ok := strings.CutPrefix(line, "@group "); ok && id != "" {
			fs.Groups[id] = true
		} else if line == "@failed" {
			fs.GroupsFailed = true
		}
	}
	fs.Cache = slices.Contains(strings.Split(f[secHost], "\n"), "cache=1")
	if out, ok := f[secNew]; ok && !strings.Contains(out, "@failed") {
		fs.NewKnown = true
		for line := range strings.SplitSeq(out, "\n") {
			k, v, _ := strings.Cut(line, " ")
			switch k {
			case "@missing":
				fs.Missing = strings.Fields(v)
			case "@avail", "@prov":
				fs.Avail[v] = true
			case "@dep":
				if !slices.Contains(fs.NewDeps, v) {
					fs.NewDeps = append(fs.NewDeps, v)
				}
			}
		}
	}
	return fs
}

// dnf5Reasons maps the reasons dnf5 prints (libdnf5's transaction_item_reason_to_string, in
// libdnf5/transaction/transaction_item_reason.cpp) to dnf 4's spelling, which chaos uses. dnf5's
// External User (installed by another tool, e.g. rpm) and None (no reason recorded) are what dnf 4
// calls unknown: both count as user-installed, as in `repoquery --userinstalled` of either.
var dnf5Reasons = map[string]string{
	"User": "user", "Dependency": "dependency", "Weak Dependency": "weak-dependency", "Group": "group",
	"External User": "unknown", "None": "unknown", "Clean": "clean",
}

// normalizeReason returns dnf 4's spelling of a reason printed by dnf 4 or dnf5.
func normalizeReason(r string) string {
	if n, ok := dnf5Reasons[r]; ok {
		return n
	}
	return r
}

// richKeywords are the operators of rpm's boolean dependencies.
var richKeywords = map[string]bool{"and": true, "or": true, "if": true, "else": true, "unless": true, "with": true, "without": true}

// DepGroups turns one requirement into groups of alternative capabilities, given which capabilities
// are installed (for conditional rich dependencies): "a" -> [[a]]; "(a or b)" -> [[a b]];
// "(a and b)" -> [[a] [b]]; "(a if b)" -> [[a]] when b is installed, else nothing. rpmlib() and
// config() requirements are satisfied by rpm or the package itself and give nothing. Versions are
// dropped.
func DepGroups(req string, installed func(string) bool) [][]string {
	if strings.HasPrefix(req, "rpmlib(") || strings.HasPrefix(req, "config(") {
		return nil
	}
	if !strings.HasPrefix(req, "(") {
		return [][]string{{req}}
	}
	// Tokens are separated by spaces; the parentheses of the expression are stripped from a token's
	// ends when unbalanced there, so that "perl(Foo::Bar)" stays whole.
	var toks []string
	for _, t := range strings.Fields(req) {
		for strings.HasPrefix(t, "(") && strings.Count(t, "(") > strings.Count(t, ")") {
			t = t[1:]
		}
		for strings.HasSuffix(t, ")") && strings.Count(t, ")") > strings.Count(t, "(") {
			t = t[:len(t)-1]
		}
		if t != "" {
			toks = append(toks, t)
		}
	}
	// Drop versions: an operator and the token after it.
	var words []string
	for i := 0; i < len(toks); i++ {
		switch toks[i] {
		case "<", ">", "=", "<=", ">=", "==":
			i++
			continue
		}
		words = append(words, toks[i])
	}
	var main, cond []string
	mode, condKind := "", ""
	for _, w := range words {
		switch {
		case w == "if" || w == "unless":
			condKind = w
		case w == "else" && condKind != "":
			condKind += "-else"
		case richKeywords[w]:
			if condKind == "" && (w == "or" || w == "and" || w == "with" || w == "without") && mode == "" {
				mode = w
			}
		case condKind == "":
			main = append(main, w)
		case strings.HasPrefix(condKind, "if") || strings.HasPrefix(condKind, "unless"):
			if !strings.HasSuffix(condKind, "-else") {
				cond = append(cond, w)
			}
		}
	}
	if condKind != "" {
		any := slices.ContainsFunc(cond, installed)
		if (strings.HasPrefix(condKind, "if") && !any) || (strings.HasPrefix(condKind, "unless") && any) {
			return nil
		}
	}
	if len(main) == 0 {
		return nil
	}
	if mode == "or" {
		return [][]string{main}
	}
	if mode == "without" {
		return [][]string{main[:1]}
	}
	out := make([][]string, 0, len(main))
	for _, m := range main {
		out = append(out, []string{m})
	}
	return out
}
