package cli_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// hostileValues are the payloads: command substitution, backticks, separators, newlines, option
// injection and path traversal. Every one of them that could run creates a file named after the
// test's marker.
func hostileValues(marker string) []string {
	touch := "touch " + marker
	return []string{
		"$(" + touch + ")",
		"`" + touch + "`",
		"a;" + touch,
		"a && " + touch,
		"a|" + touch,
		"a\n" + touch,
		"a\r\n" + touch,
		"-rf",
		"--help",
		"-o/tmp/x",
		"../../.." + marker,
		"a b",
		"a\x00b",
		"a'b\"c",
		"${IFS}" + touch,
	}
}

// hostileSlot is one place in a Ch-obolo a value goes: tmpl holds %s where the value goes (as a YAML
// double-quoted scalar, so every byte reaches the loader); path says what the value is.
type hostileSlot struct {
	key  string
	tmpl string
	// abs prefixes the value with "/" (paths and homes must be absolute, so the test aims past that
	// check at the rest of the validation).
	abs bool
	// prefix goes before the value (a URI scheme and host, so the payload sits in the URI's path).
	prefix string
}

var hostileSlots = []hostileSlot{
	{key: "hostname", tmpl: "hostname: %s\n"},
	{key: "users[0].name", tmpl: "users:\n  - name: %s\n"},
	{key: "users[0].groups[0]", tmpl: "users:\n  - name: alice\n    groups: [%s]\n"},
	{key: "users[0].shell", tmpl: "users:\n  - name: alice\n    shell: %s\n"},
	{key: "users[0].shell (abs)", tmpl: "users:\n  - name: alice\n    shell: %s\n", abs: true},
	{key: "users[0].home", tmpl: "users:\n  - name: alice\n    home: %s\n", abs: true},
	{key: "packages[0]", tmpl: "packages:\n  - %s\n"},
	{key: "packages[0].name", tmpl: "packages:\n  - name: %s\n"},
	{key: "packages[0].debian", tmpl: "packages:\n  - name: editor\n    debian: [%s]\n"},
	{key: "baseOverride[0]", tmpl: "baseOverride:\n  - %s\n"},
	{key: "services[0].name", tmpl: "services:\n  - name: %s\n"},
	{key: "services[0] (short)", tmpl: "services:\n  - %s\n"},
	{key: "services[0].restart_on[0]", tmpl: "services:\n  - name: ssh\n    restart_on: [%s]\n"},
	{key: "services[0].reload_on[0] (abs)", tmpl: "services:\n  - name: ssh\n    reload_on: [%s]\n", abs: true},
	{key: "services[0].check[0]", tmpl: "services:\n  - name: ssh\n    check: [%s, -t]\n"},
	{key: "files[0].notify[0]", tmpl: "services: [ssh]\nfiles:\n  - path: /etc/chaos-hostile\n    content: x\n    notify: [%s]\n"},
	{key: "region.timezone", tmpl: "region:\n  timezone: %s\n"},
	{key: "region.locale[0]", tmpl: "region:\n  locale: [%s]\n"},
	{key: "region.keymap", tmpl: "region:\n  keymap: %s\n"},
	{key: "files[0].path", tmpl: "files:\n  - path: %s\n    content: x\n", abs: true},
	{key: "files[0].owner", tmpl: "files:\n  - path: /etc/chaos-hostile\n    content: x\n    owner: %s\n"},
	{key: "files[0].group", tmpl: "files:\n  - path: /etc/chaos-hostile\n    content: x\n    group: %s\n"},
	{key: "files[0].mode", tmpl: "files:\n  - path: /etc/chaos-hostile\n    content: x\n    mode: %s\n"},
	{key: "files[0].state", tmpl: "files:\n  - path: /etc/chaos-hostile\n    state: %s\n"},
	{key: "repos.apt[0].name", tmpl: "repos:\n  apt:\n    - name: %s\n      uris: [http://deb.example.org/debian]\n      suites: [bookworm]\n      components: [main]\n"},
	{key: "repos.apt[0].uris[0]", tmpl: "repos:\n  apt:\n    - name: extra\n      uris: [%s]\n      suites: [bookworm]\n      components: [main]\n"},
	{key: "repos.apt[0].uris[0] (http)", tmpl: "repos:\n  apt:\n    - name: extra\n      uris: [%s]\n      suites: [bookworm]\n      components: [main]\n", prefix: "http://deb.example.org/"},
	{key: "repos.apt[0].suites[0]", tmpl: "repos:\n  apt:\n    - name: extra\n      uris: [http://deb.example.org/debian]\n      suites: [%s]\n      components: [main]\n"},
	{key: "repos.apt[0].components[0]", tmpl: "repos:\n  apt:\n    - name: extra\n      uris: [http://deb.example.org/debian]\n      suites: [bookworm]\n      components: [%s]\n"},
}

// TestHostileCorpus feeds hostile names to every role's keys through the CLI: each Ch-obolo must be
// refused (exit 1) with the position of the bad value, before anything reaches the target; the root
// must be unchanged (paths, modes, sizes, mtimes and content hashes) and no marker file may appear.
func TestHostileCorpus(t *testing.T) {
	testenv.RequireRoot(t)
	isolate(t)
	root := testenv.DebianRoot(t)
	target := "@chroot" + root

	var tok [6]byte
	_, _ = rand.Read(tok[:])
	token := "chaos-pwned-" + hex.EncodeToString(tok[:])
	marker := "/tmp/" + token
	markerDirs := []string{"/tmp", "/var/tmp", filepath.Join(root, "tmp"), filepath.Join(root, "var/tmp"), root, "/"}
	noMarker := func(where string) {
		t.Helper()
		for _, d := range markerDirs {
			if m, _ := filepath.Glob(filepath.Join(d, "*"+token+"*")); len(m) > 0 {
				t.Fatalf("%s: injection marker created: %v", where, m)
			}
		}
	}

	// Between cases, watch the overlay's upper directory when DebianRoot made one (every write to the
	// root lands there, and it is tiny); the full content snapshot at the end covers the rest.
	watch := filepath.Join(filepath.Dir(root), "upper")
	if fi, err := os.Stat(watch); err != nil || !fi.IsDir() {
		watch = ""
	}
	quickSnap := func() map[string]string {
		if watch == "" {
			return nil
		}
		return snapshot(t, watch, true)
	}
	if watch != "" { // the watch sees a write into the root
		canary := filepath.Join(root, "etc", "chaos-canary")
		quick := quickSnap()
		if err := os.WriteFile(canary, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if len(quickSnap()) == len(quick) {
			t.Fatal("the overlay watch does not see writes")
		}
		os.Remove(canary)
	}
	before := snapshot(t, root, true)
	quick := quickSnap()
	cases := 0
	for _, slot := range hostileSlots {
		for _, v := range hostileValues(marker) {
			if slot.abs {
				// "/-rf" or "/a b" are ordinary absolute paths (argv keeps them harmless): only
				// payloads with shell syntax, control characters or traversal are hostile here.
				if !strings.ContainsAny(v, "$`;|&\n\r\x00") && !strings.Contains(v, "../") {
					continue
				}
				v = "/" + strings.TrimPrefix(v, "/")
			}
			if slot.prefix != "" && (strings.HasPrefix(v, "-") || strings.Contains(v, "../")) {
				continue // a dash or dot segment inside an http URI's path is no option, no local path
			}
			v = slot.prefix + v
			enc, _ := json.Marshal(v) // a JSON string is a YAML double-quoted scalar
			text := fmt.Sprintf(slot.tmpl, enc)
			line := lineOf(text, string(enc), v)
			file := writeChobolo(t, text)
			name := fmt.Sprintf("%s=%q", slot.key, v)
			for _, args := range [][]string{
				{"check", "chobolo", "-c", file},
				{"apply", "-c", file, "--target", target, "--dry"},
				{"apply", "-c", file, "--target", target, "-y"},
			} {
				cases++
				r := run(t, "", args...)
				if r.code != 1 {
					t.Errorf("%s: %v: want exit 1 (refused), got %d: %s", name, args[0:2], r.code, firstLine(r.stdout+r.stderr))
					continue
				}
				want := regexp.MustCompile(regexp.QuoteMeta(file) + fmt.Sprintf(`:%d:\d+: `, line))
				if !want.MatchString(r.stderr) {
					t.Errorf("%s: %v: stderr lacks the position %d:COL: %s", name, args[0:2], line, firstLine(r.stderr))
				}
			}
			noMarker(name)
			if after := quickSnap(); !equalSnap(t, quick, after) {
				t.Fatalf("%s: the root changed", name)
			}
		}
	}
	if after := snapshot(t, root, true); !equalSnap(t, before, after) {
		t.Fatal("the root changed (content)")
	}
	noMarker("end")
	t.Logf("%d refused runs over %d slots x %d payloads", cases, len(hostileSlots), len(hostileValues(marker)))
}

// lineOf is the 1-based line of text that holds the encoded value (or, failing that, the raw one).
func lineOf(text, enc, raw string) int {
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, enc) || strings.Contains(l, strings.Trim(enc, `"`)) {
			return i + 1
		}
	}
	for i, l := range strings.Split(text, "\n") {
		if raw != "" && strings.Contains(l, raw) {
			return i + 1
		}
	}
	return -1
}

// snapshot maps every path under root (not crossing into other file systems) to its type, mode,
// size, mtime and, with content, the sha256 of regular files and symlink targets.
func snapshot(t *testing.T, root string, content bool) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		v := fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if content {
			switch {
			case fi.Mode().IsRegular():
				f, err := os.Open(p)
				if err == nil {
					h := sha256.New()
					_, _ = io.Copy(h, f)
					f.Close()
					v += " " + hex.EncodeToString(h.Sum(nil))
				}
			case fi.Mode()&fs.ModeSymlink != 0:
				target, _ := os.Readlink(p)
				v += " -> " + target
			}
		}
		snap[strings.TrimPrefix(p, root)] = v
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", root, err)
	}
	return snap
}

func equalSnap(t *testing.T, a, b map[string]string) bool {
	t.Helper()
	var diffs []string
	for p, v := range a {
		if w, ok := b[p]; !ok {
			diffs = append(diffs, "- "+p)
		} else if v != w {
			diffs = append(diffs, "~ "+p+": "+v+" -> "+w)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			diffs = append(diffs, "+ "+p)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 20 {
		diffs = append(diffs[:20], fmt.Sprintf("... and %d more", len(diffs)-20))
	}
	for _, d := range diffs {
		t.Log(d)
	}
	return len(diffs) == 0
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
