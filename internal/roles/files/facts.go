package files

import (
	"encoding/base64"
	"fmt"
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
}

// The probe costs the same handful of processes whatever the number of paths: type tests are sh
// builtins, then one stat and one sha256sum over every path, and one awk joins them into one R line
// per path (in the order the keys were given). Content comes back only for small files whose
// checksum differs from the desired one and that group or others may read, for a diff in the plan.

// probeKey classifies one path with builtins: K KEY TYPE PARENT ENTRIES WANT PATH.
const probeKey = `K() {
  p=$2 par=1 n=-
  if [ -L "$p" ]; then ty=link; printf 'T\t%s\t%s\n' "$1" "$(readlink -- "$p")"
  elif [ -d "$p" ]; then ty=dir n=0
    for e in "$p"/* "$p"/.[!.]* "$p"/..?*; do if [ -e "$e" ] || [ -L "$e" ]; then n=$((n + 1)); fi; done
  elif [ -f "$p" ]; then ty=file
  elif [ -e "$p" ]; then ty=other
  else ty=none par=0; [ -d "${p%/*}/" ] && par=1
  fi
  printf 'K\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$ty" "$par" "$n" "$3" "$p"
}
`

// probeJoin turns K lines, stat lines (M) and sha256sum lines into the R lines ParseFacts reads, and
// X lines naming the files whose content should come back.
const probeJoin = `awk -F '\t' '
$1 == "T" { links[++nl] = $0; next }
$1 == "K" { n++; key[n] = $2; ty[n] = $3; par[n] = $4; ent[n] = $5; want[n] = $6; path[n] = $7; next }
$1 == "M" { p = $8; for (i = 9; i <= NF; i++) p = p "\t" $i
  mode[p] = $2; uid[p] = $3; gid[p] = $4; usr[p] = $5; grp[p] = $6; size[p] = $7; next }
/^[0-9a-f]+  \// { sum[substr($0, 67)] = substr($0, 1, 64); next }
END {
  for (i = 1; i <= n; i++) {
    p = path[i]
    if (ty[i] == "none") { printf "R\t%s\tnone\t%s\n", key[i], par[i]; continue }
    if (!(p in mode)) { mode[p] = "0"; uid[p] = -1; gid[p] = -1; usr[p] = "?"; grp[p] = "?"; size[p] = 0 }
    s = (ty[i] == "file" && (p in sum)) ? sum[p] : "-"
    printf "R\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", key[i], ty[i], par[i], mode[p], uid[p], gid[p], usr[p], grp[p], size[p], s, ent[i]
    m = mode[p]
    if (ty[i] == "file" && want[i] != "" && s != want[i] && size[p] + 0 <= 32768 &&
        (substr(m, length(m) - 1, 1) ~ /[4-7]/ || substr(m, length(m), 1) ~ /[4-7]/))
      printf "X\t%s\t%s\n", key[i], p
  }
  for (i = 1; i <= nl; i++) print links[i]
}'`

// probeScript builds the fragment for the declared paths (with the checksum each should have when
// the role manages its content and may show a diff) and the ledger's paths.
func probeScript(paths []string, wantSHA []string, tools []string) string {
	var b strings.Builder
	b.WriteString(probeKey)
	b.WriteString("ledger=$(" + engine.LedgerItems(DomainCreated) + ")\n")
	b.WriteString("all=$(printf '%s\\n'")
	for _, p := range paths {
		b.WriteString(" " + shell.Quote(p))
	}
	b.WriteString("; printf '%s\\n' \"$ledger\")\n")
	b.WriteString("out=$({\n")
	for i, p := range paths {
		fmt.Fprintf(&b, "K %d %s %s\n", i, shell.Quote(p), shell.Quote(wantSHA[i]))
	}
	b.WriteString(`printf '%s\n' "$ledger" | while IFS= read -r p; do case $p in /*) K "L$p" "$p" "" ;; esac; done
printf '%s\n' "$all" | grep '^/' | xargs -r -d '\n' stat --printf 'M\t%a\t%u\t%g\t%U\t%G\t%s\t%n\n' -- 2>/dev/null
printf '%s\n' "$all" | while IFS= read -r p; do if [ -f "$p" ] && [ ! -L "$p" ]; then printf '%s\n' "$p"; fi; done |
  xargs -r -d '\n' sha256sum -- 2>/dev/null
} | ` + probeJoin + `)
printf '%s\n' "$out"
tab=$(printf '\t')
printf '%s\n' "$out" | grep '^X' | while IFS=$tab read -r tag key p; do
  printf 'C\t%s\n' "$key"; base64 < "$p"; printf 'E\n'
done
`)
	// V TOOL 1|0: whether the programs the declared checks run exist (command -v is a builtin).
	for _, t := range tools {
		fmt.Fprintf(&b, "if command -v %s >/dev/null 2>&1; then printf 'V\\t%%s\\t1\\n' %s; else printf 'V\\t%%s\\t0\\n' %s; fi\n",
			shell.Quote(t), shell.Quote(t), shell.Quote(t))
	}
	b.WriteString("true\n")
	return b.String()
}

// ParseFacts reads the probe's output.
func ParseFacts(out string) (*Facts, error) {
	f := &Facts{Declared: map[int]Stat{}, Ledger: map[string]Stat{}, Tools: map[string]bool{}}
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
	lines := strings.Split(out, "\n")
	for i := 0; i < len(lines); i++ {
		parts := strings.Split(lines[i], "\t")
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
	return f, nil
}

// probeSection is the role's only section.
func probeSection(paths, wantSHA, tools []string) engine.ProbeSection {
	return engine.ProbeSection{Name: "paths", Script: probeScript(paths, wantSHA, tools)}
}
