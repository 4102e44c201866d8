// Package filedump reads small files with their mode and owner from a target in one probe section:
// the roles that own whole files (repository definitions, keyrings) compare content locally.
package filedump

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// File is a file on the target as the probe saw it.
type File struct {
	Content  string
	Mode     fs.FileMode
	UID, GID int
}

// Script is a probe fragment that prints every regular file matching the globs (unquoted shell
// patterns, written by code, never from user data) as "@file SIZE MODE UID GID PATH", then exactly
// SIZE bytes of content and a newline. Paths with a newline are skipped.
func Script(globs ...string) string {
	return `for f in ` + strings.Join(globs, " ") + `; do
  [ -f "$f" ] || continue
  case $f in *'
'*) continue ;; esac
  printf '@file %s %s %s\n' "$(wc -c < "$f")" "$(stat -c '%a %u %g' "$f")" "$f"
  cat "$f"
  echo
done
true`
}

// Parse reads the output of Script, by path.
func Parse(out string) (map[string]File, error) {
	files := map[string]File{}
	for len(out) > 0 {
		nl := strings.IndexByte(out, '\n')
		if nl < 0 {
			break
		}
		line := out[:nl]
		out = out[nl+1:]
		if line == "" {
			continue
		}
		f := strings.SplitN(strings.TrimPrefix(line, "@file "), " ", 5)
		if !strings.HasPrefix(line, "@file ") || len(f) != 5 {
			return nil, fmt.Errorf("probe: unexpected line %q", line)
		}
		size, err1 := strconv.Atoi(strings.TrimSpace(f[0]))
		mode, err2 := strconv.ParseUint(f[1], 8, 32)
		uid, err3 := strconv.Atoi(f[2])
		gid, err4 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || size < 0 || size > len(out) {
			return nil, fmt.Errorf("probe: bad file header %q", line)
		}
		files[f[4]] = File{Content: out[:size], Mode: fs.FileMode(mode), UID: uid, GID: gid}
		out = strings.TrimPrefix(out[size:], "\n")
	}
	return files, nil
}
