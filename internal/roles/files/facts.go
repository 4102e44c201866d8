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
}

// The probe sends back the content of files up to 32 KiB whose checksum differs from the desired
// one and that group or others may read, for a diff in the plan.

const probeFunc = `st() {
  if [ -L "$2" ]; then ty=link; elif [ -d "$2" ]; then ty=dir; elif [ -f "$2" ]; then ty=file; elif [ -e "$2" ]; then ty=other
  else par=0; [ -d "${2%/*}/" ] && par=1; printf 'R\t%s\tnone\t%s\n' "$1" "$par"; return 0; fi
  m=$(stat -c '%a %u %g %U %G %s' -- "$2" 2>/dev/null) || m='0 -1 -1 ? ? 0'
  k=$1 p=$2 want=$3
  set -- $m
  sum=-; empty=-
  case $ty in
    file) sum=$(sha256sum < "$p" | cut -c1-64) ;;
    dir) empty=$(ls -A -- "$p" 2>/dev/null | wc -l | tr -d ' ') ;;
  esac
  printf 'R\t%s\t%s\t1\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$k" "$ty" "$1" "$2" "$3" "$4" "$5" "$6" "$sum" "$empty"
  [ "$ty" = link ] && printf 'T\t%s\t%s\n' "$k" "$(readlink -- "$p")"
  if [ "$ty" = file ] && [ -n "$want" ] && [ "$sum" != "$want" ] && [ "$6" -le 32768 ] && [ $((0$1 & 044)) -ne 0 ]; then
    printf 'C\t%s\n' "$k"; base64 < "$p"; printf 'E\n'
  fi
  return 0
}
`

// probeLedger lists the paths of the ledger's "files" domain (the engine writes the ledger with
// json.MarshalIndent; declared paths never hold quotes or backslashes, and Go escapes & < >).
const probeLedger = `if [ -r /var/lib/chaos/ledger.json ]; then
  sed -n '/^    "files": \[/,/^    \]/p' /var/lib/chaos/ledger.json |
    sed -n 's/^      "\(.*\)",\{0,1\}$/\1/p' |
    sed 's/\\u0026/\&/g; s/\\u003c/</g; s/\\u003e/>/g' |
    while IFS= read -r p; do case $p in /*) st "L$p" "$p" "" ;; esac; done
fi
true`

// probeScript builds the fragment: one st call per declared path (with the checksum it should have
// when the role manages its content and may show a diff), then the ledger's paths.
func probeScript(paths []string, wantSHA []string) string {
	var b strings.Builder
	b.WriteString(probeFunc)
	for i, p := range paths {
		fmt.Fprintf(&b, "st %d %s %s\n", i, shell.Quote(p), shell.Quote(wantSHA[i]))
	}
	b.WriteString(probeLedger)
	return b.String()
}

// ParseFacts reads the probe's output.
func ParseFacts(out string) (*Facts, error) {
	f := &Facts{Declared: map[int]Stat{}, Ledger: map[string]Stat{}}
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
func probeSection(paths, wantSHA []string) engine.ProbeSection {
	return engine.ProbeSection{Name: "paths", Script: probeScript(paths, wantSHA)}
}
