package files

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/shell"
)

// Stat is what the probe saw at one path.
type Stat struct {
	Known  bool   // the probe reported this path
	Type   string // "none", "file", "dir", "link", "other"
	Parent bool   // the parent directory exists
	Mode   uint32 // permission and setuid/setgid/sticky bits, as `stat %a`
	UID    int
	GID    int
	User   string
	Group  string
	Size   int64
	SHA256 string // regular files
	// Entries counts a directory's entries (-1 when unknown).
	Entries int
	Target  string // symlinks
	// Content is the file's current content, sent only for small files whose checksum differs from
	// the desired one (for a diff in the plan).
	Content    []byte
	HasContent bool
}

// Exists reports whether something is at the path.
func (s Stat) Exists() bool { return s.Known && s.Type != "none" }

// Facts are the probed paths: the declared ones by index, the ledger's by path.
type Facts struct {
	Declared map[int]Stat
	Ledger   map[string]Stat
	// Tools says, for each program a check needs, whether the target has it.
	Tools map[string]bool
	// Homes are the paths the probe located under an owner's home read from the target's passwd
	// (homeKey), by index; "" when the target does not know the owner or it has no home.
	Homes map[int]string
}

// The probe costs the same handful of processes whatever the number of paths, and no shell work per
// path: one stat over every path (and every parent, for a path that is missing), one sha256sum over
// the regular files, and awk joins them into one R line per path (in the order the keys were given).
// Only directories cost a loop of builtins (their entries are counted). Content comes back only for
// small files whose checksum differs from the desired one and that group or others may read, for a
// diff in the plan. Declared paths are valid paths (no tab, no newline, no trailing slash); the
// ledger's come from the host (read by each awk from the ledger file) and count when absolute.

// probeStat is stat's format: an M line per path (the type as %F spells it, the name last, so that
// a name may hold tabs), then an N line with the name and, for a symlink, " -> " and its target.
// Owners are numbers: stat's %U and %G look each one up in the user database again for every path
// (two thirds of stat's time over 1,000 files). awk names them from /etc/passwd and /etc/group, and
// getent runs only for owners those files lack (directory services, systemd's dynamic users); an id
// without a name reads UNKNOWN, as stat prints it.
const probeStat = `M\t%a\t%u\t%g\t%s\t%F\t%n\nN\t%N\n`

// probeAwk is the awk program every step shares. It reads the declared keys (D KEY PATH WANT lines)
// and the ledger's paths, stat's lines, sha256sum's lines, the owners getent named (after a @P or
// @G line) and the entry counts of directories (E COUNT PATH). step=args prints every distinct path
// and parent ("${p%/*}/", as test -d of the parent sees it) for stat; step=more prints the owners
// the /etc files do not name (a line of uids, a line of gids) and then the key paths that are
// directories; the last step prints the number of X lines, then the R lines ParseFacts reads, the T
// lines of symlinks, S lines (INDEX PATH) for the ledger's paths that are also declared (usually
// nearly all of them: their facts are the declared path's, so they are reported once), and X lines
// naming the files whose content should come back.
var probeAwk = `awk -F '\t' -v step="$1" -v ledger=` + shell.Quote(engine.LedgerPath) + ` -v domain=` + shell.Quote(DomainCreated) + ` '
function rest(f,  p, i) { p = $f; for (i = f + 1; i <= NF; i++) p = p "\t" $i; return p }
function parent(p) { match(p, /.*\//); return substr(p, 1, RLENGTH) }
function key(k, p, w) { n++; kk[n] = k; path[n] = p; want[n] = w; if (substr(k, 1, 1) != "L" && !(p in decl)) decl[p] = k
  if (step == "args") { if (!(p in seen)) { seen[p] = 1; print p }; q = parent(p); if (!(q in seen)) { seen[q] = 1; print q } } }
function names(file, arr,  l, f) { while ((getline l < file) > 0) { split(l, f, ":"); if (!(f[3] in arr)) arr[f[3]] = f[1] }; close(file) }
$1 == "D" { w = $NF; p = $3; for (i = 4; i < NF; i++) p = p "\t" $i; key($2, p, w); next }
$0 == "@P" || $0 == "@G" { db = $0; next }
$1 == "M" { last = rest(7); ty[last] = $6; mode[last] = $2; uid[last] = $3; gid[last] = $4; size[last] = $5; next }
$1 == "N" { t = substr($0, 3); if (substr(t, length(last) + 1, 4) == " -> ") tgt[last] = substr(t, length(last) + 5); next }
$1 == "E" { ent[rest(3)] = $2; next }
db == "" && /^[0-9a-f]+  \// { sum[substr($0, 67)] = substr($0, 1, 64); next }
db != "" { split($0, f, ":"); if (db == "@P" && !(f[3] in uname)) uname[f[3]] = f[1]; if (db == "@G" && !(f[3] in gname)) gname[f[3]] = f[1] }
END {
  pre = domain "\t"
  while ((getline l < ledger) > 0) if (index(l, pre) == 1 && substr(l, length(pre) + 1, 1) == "/") { p = substr(l, length(pre) + 1); if (p in decl) { if (!(p in al)) { al[p] = 1; sl[++ns] = "S\t" decl[p] "\t" p } } else key("L" p, p, "") }
  if (step == "args") exit
  names("/etc/passwd", uname); names("/etc/group", gname)
  for (i = 1; i <= n; i++) {
    p = path[i]
    if (!(p in ty)) kind[i] = "none"
    else if (ty[p] ~ /^regular/) kind[i] = "file"
    else if (ty[p] == "directory") kind[i] = "dir"
    else if (ty[p] == "symbolic link") kind[i] = "link"
    else kind[i] = "other"
  }
  if (step == "more") {
    for (p in uid) if (!(uid[p] in uname) && !(uid[p] in us)) { us[uid[p]] = 1; lu = lu " " uid[p] }
    for (p in gid) if (!(gid[p] in gname) && !(gid[p] in gs)) { gs[gid[p]] = 1; lg = lg " " gid[p] }
    print lu; print lg
    for (i = 1; i <= n; i++) if (kind[i] == "dir" && !(path[i] in dirs)) { dirs[path[i]] = 1; print path[i] }
    exit
  }
  for (i = 1; i <= n; i++) {
    p = path[i]; m = mode[p]; s = (p in sum) ? sum[p] : "-"
    if (kind[i] == "file" && want[i] != "" && s != want[i] && size[p] + 0 <= 32768 &&
        (substr(m, length(m) - 1, 1) ~ /[4-7]/ || substr(m, length(m), 1) ~ /[4-7]/)) x[++nx] = "X\t" kk[i] "\t" p
  }
  print nx + 0
  for (i = 1; i <= n; i++) {
    p = path[i]
    if (kind[i] == "none") { q = parent(p); printf "R\t%s\tnone\t%d\n", kk[i], (q in ty) && ty[q] == "directory"; continue }
    s = (kind[i] == "file" && (p in sum)) ? sum[p] : "-"
    e = (kind[i] == "dir") ? ((p in ent) ? ent[p] : 0) : "-"
    u = (uid[p] in uname) ? uname[uid[p]] : "UNKNOWN"; g = (gid[p] in gname) ? gname[gid[p]] : "UNKNOWN"
    printf "R\t%s\t%s\t1\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", kk[i], kind[i], mode[p], uid[p], gid[p], u, g, size[p], s, e
    if (kind[i] == "link") links[++nl] = "T\t" kk[i] "\t" tgt[p]
  }
  for (i = 1; i <= nl; i++) print links[i]
  for (i = 1; i <= ns; i++) print sl[i]
  for (i = 1; i <= nx; i++) print x[i]
}'`

// homeAwk prints the home (passwd's sixth field) of the user named by the variable n from the
// first passwd line naming it, and fails when there is none or it is empty.
const homeAwk = `awk -F: -v n="$1" '$1 == n { if ($6 != "") { print $6; f = 1 }; exit } END { exit !f }'`

// homesScript locates the paths of homes (homeKey): the owner's home from the target's
// /etc/passwd, else from getent (directory services), as the owners' names are read; an H line
// per key, with the path (home/rel) or without one when the owner has no home there.
func homesScript(homes []homeKey) string {
	if len(homes) == 0 {
		return "homes=\n"
	}
	var b strings.Builder
	b.WriteString("home() { " + homeAwk + " /etc/passwd 2>/dev/null || getent passwd \"$1\" 2>/dev/null | " + homeAwk + "; }\nhomes=$(\n")
	for _, h := range homes {
		fmt.Fprintf(&b, "if h=$(home %s); then printf 'H\\t%%s\\t%%s/%%s\\n' %d \"$h\" %s; else printf 'H\\t%%s\\n' %d; fi\n",
			shell.Quote(h.owner), h.index, shell.Quote(h.rel), h.index)
	}
	b.WriteString(")\n")
	return b.String()
}

// probeScript builds the fragment for the declared paths (with the checksum each should have when
// the role manages its content and may show a diff) and the ledger's paths. An empty path is a
// placeholder for one of homes, located on the target first (its key follows the others).
func probeScript(paths []string, wantSHA []string, homes []homeKey) string {
	var b strings.Builder
	b.WriteString("J() {\n" + probeAwk + "\n}\n")
	b.WriteString(homesScript(homes))
	// One printf (a builtin) writes the keys of every declared path.
	b.WriteString("keys=$(")
	if slices.ContainsFunc(paths, func(p string) bool { return p != "" }) {
		b.WriteString(`printf 'D\t%s\t%s\t%s\n'`)
		for i, p := range paths {
			if p != "" {
				fmt.Fprintf(&b, " %d %s %s", i, shell.Quote(p), shell.Quote(wantSHA[i]))
			}
		}
	}
	// The located paths: their content is secret, so no checksum is wanted.
	b.WriteString(`
[ -z "$homes" ] || printf '%s\n' "$homes" | awk -F '\t' 'NF >= 3 { print "D\t" substr($0, 3) "\t" }'`)
	b.WriteString(")\n")
	b.WriteString(`nl='
'
st=$(printf '%s\n' "$keys" | J args | QUOTING_STYLE=literal xargs -r -d '\n' stat --printf '` + probeStat + `' -- 2>/dev/null)
sums=$(printf '%s\n' "$st" | awk -F '\t' '$1 == "M" && $6 ~ /^regular/ { p = $7; for (i = 8; i <= NF; i++) p = p "\t" $i; print p }' |
  xargs -r -d '\n' sha256sum -- 2>/dev/null)
more=$(printf '%s\n%s\n' "$keys" "$st" | J more | {
  IFS= read -r us; IFS= read -r gs
  echo @P; [ -z "$us" ] || getent passwd $us; echo @G; [ -z "$gs" ] || getent group $gs
  while IFS= read -r p; do
    n=0; for e in "$p"/* "$p"/.[!.]* "$p"/..?*; do if [ -e "$e" ] || [ -L "$e" ]; then n=$((n + 1)); fi; done
    printf 'E\t%s\t%s\n' "$n" "$p"
  done
})
out=$(printf '%s\n%s\n%s\n%s\n' "$keys" "$st" "$sums" "$more" | J)
x=${out%%"$nl"*} out=${out#*"$nl"}
[ -z "$homes" ] || printf '%s\n' "$homes"
printf '%s\n' "$out"
tab=$(printf '\t')
[ "$x" = 0 ] || printf '%s\n' "$out" | grep '^X' | while IFS=$tab read -r tag key p; do
  printf 'C\t%s\n' "$key"; base64 < "$p"; printf 'E\n'
done
true
`)
	return b.String()
}

// toolsScript prints V TOOL 1|0: whether the programs the declared checks run exist (command -v is
// a builtin). It is a section of its own, answered by the shell on every target (a PATH lookup
// in Go would not see the shell's builtins as command -v does).
func toolsScript(tools []string) string {
	var b strings.Builder
	for _, t := range tools {
		fmt.Fprintf(&b, "if command -v %s >/dev/null 2>&1; then printf 'V\\t%%s\\t1\\n' %s; else printf 'V\\t%%s\\t0\\n' %s; fi\n",
			shell.Quote(t), shell.Quote(t), shell.Quote(t))
	}
	b.WriteString("true\n")
	return b.String()
}

// ParseFacts reads the probe's output.
func ParseFacts(out string) (*Facts, error) {
	f := &Facts{Declared: map[int]Stat{}, Ledger: map[string]Stat{}, Tools: map[string]bool{}, Homes: map[int]string{}}
	get := func(key string) Stat {
		if p, ok := strings.CutPrefix(key, "L"); ok {
			return f.Ledger[p]
		}
		i, _ := strconv.Atoi(key)
		return f.Declared[i]
	}
	put := func(key string, s Stat) {
		if p, ok := strings.CutPrefix(key, "L"); ok {
			f.Ledger[p] = s
			return
		}
		i, _ := strconv.Atoi(key)
		f.Declared[i] = s
	}
	type alias struct {
		index int
		path  string
	}
	var same []alias
	lines := strings.Split(out, "\n")
	var parts []string // the fields of one line, the slice reused (no field outlives it)
	for i := 0; i < len(lines); i++ {
		parts = splitTabs(parts[:0], lines[i])
		switch parts[0] {
		case "R":
			if len(parts) < 4 {
				return nil, fmt.Errorf("bad probe line %q", lines[i])
			}
			s := Stat{Known: true, Type: parts[2], Parent: parts[3] == "1"}
			if s.Type != "none" {
				if len(parts) != 12 {
					return nil, fmt.Errorf("bad probe line %q", lines[i])
				}
				m, err := strconv.ParseUint(parts[4], 8, 32)
				if err != nil {
					return nil, fmt.Errorf("bad mode in probe line %q", lines[i])
				}
				s.Mode = uint32(m)
				s.UID, _ = strconv.Atoi(parts[5])
				s.GID, _ = strconv.Atoi(parts[6])
				s.User, s.Group = parts[7], parts[8]
				s.Size, _ = strconv.ParseInt(parts[9], 10, 64)
				if parts[10] != "-" {
					s.SHA256 = parts[10]
				}
				s.Entries = -1
				if n, err := strconv.Atoi(parts[11]); err == nil {
					s.Entries = n
				}
			}
			put(parts[1], s)
		case "T":
			if len(parts) >= 3 {
				s := get(parts[1])
				s.Target = strings.Join(parts[2:], "\t")
				put(parts[1], s)
			}
		case "S":
			// S INDEX PATH: a ledger path that is also declared, whose facts are the declared
			// path's (reported once).
			if len(parts) < 3 {
				return nil, fmt.Errorf("bad probe line %q", lines[i])
			}
			n, err := strconv.Atoi(parts[1])
			if err != nil {
				return nil, fmt.Errorf("bad probe line %q", lines[i])
			}
			same = append(same, alias{n, strings.Join(parts[2:], "\t")})
		case "H":
			// H INDEX [PATH]: a path located under an owner's home (homesScript).
			if len(parts) < 2 {
				return nil, fmt.Errorf("bad probe line %q", lines[i])
			}
			n, err := strconv.Atoi(parts[1])
			if err != nil {
				return nil, fmt.Errorf("bad probe line %q", lines[i])
			}
			if len(parts) >= 3 {
				f.Homes[n] = strings.Join(parts[2:], "\t")
			} else {
				f.Homes[n] = ""
			}
		case "V":
			if len(parts) == 3 {
				f.Tools[parts[1]] = parts[2] == "1"
			}
		case "C":
			if len(parts) != 2 {
				continue
			}
			var enc strings.Builder
			for i++; i < len(lines) && lines[i] != "E"; i++ {
				enc.WriteString(lines[i])
			}
			data, err := base64.StdEncoding.DecodeString(enc.String())
			if err != nil {
				return nil, fmt.Errorf("bad content in probe output: %w", err)
			}
			s := get(parts[1])
			s.Content, s.HasContent = data, true
			put(parts[1], s)
		}
	}
	// After every line: a declared path's facts are complete only once its T and C lines are read.
	// The ledger's copy has no content (only declared paths bring content back, for a diff).
	for _, a := range same {
		s := f.Declared[a.index]
		s.Content, s.HasContent = nil, false
		f.Ledger[a.path] = s
	}
	return f, nil
}

// splitTabs appends the tab-separated fields of line to parts (strings.Split without a new slice
// per line: a tenth of a 1,000-file plan's parsing).
func splitTabs(parts []string, line string) []string {
	for {
		i := strings.IndexByte(line, '\t')
		if i < 0 {
			return append(parts, line)
		}
		parts = append(parts, line[:i])
		line = line[i+1:]
	}
}

// probeSections are the role's sections for its files: the paths (answered in-process where the
// controller reads the target's files itself, see native.go) and, when checks need programs, the
// tools.
func probeSections(paths, wantSHA, tools []string, homes []homeKey) []engine.ProbeSection {
	secs := []engine.ProbeSection{{Name: secPaths, Script: probeScript(paths, wantSHA, homes), Native: nativeProbe(paths, wantSHA, homes)}}
	if len(tools) > 0 {
		secs = append(secs, engine.ProbeSection{Name: secTools, Script: toolsScript(tools)})
	}
	return secs
}

// The sections' names.
const (
	secPaths = "paths"
	secTools = "tools"
)

// parseSections reads the outputs of probeSections.
func parseSections(facts engine.Facts) (*Facts, error) {
	return ParseFacts(facts[secPaths].Stdout + "\n" + facts[secTools].Stdout)
}
