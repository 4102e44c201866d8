package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/config"
)

// TestInvalidChoboloPositions: an invalid Ch-obolo is refused before any target is touched, with
// FILE:LINE:COL for every problem (the target here does not even exist).
func TestInvalidChoboloPositions(t *testing.T) {
	isolate(t)
	file := writeChobolo(t, "hostname: \"bad host\"\nusers:\n  - name: alice\n  - name: \"Bob Smith\"\n")
	for _, args := range [][]string{
		{"apply", "-c", file, "--dry", "--target", "@chroot/nonexistent-chaos-root"},
		{"apply", "-c", file, "-y", "--target", "@chroot/nonexistent-chaos-root"},
		{"check", "chobolo", "-c", file},
	} {
		r := run(t, "", args...)
		if r.code != 1 {
			t.Errorf("%v: want exit 1\n%s", args, r)
		}
		for _, pos := range []string{file + ":1:11:", file + ":4:11:"} {
			if !strings.Contains(r.stderr, pos) {
				t.Errorf("%v: stderr lacks the position %s\n%s", args, pos, r)
			}
		}
	}
	r := run(t, "", "check", "chobolo", "-c", file, "--json")
	var v struct {
		Valid  bool        `json:"valid"`
		Errors []jsonError `json:"errors"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 1 || v.Valid || len(v.Errors) != 2 {
		t.Fatalf("check chobolo --json on an invalid file: %v %+v\n%s", err, v, r)
	}
	// Each error is an object with its position, not a "FILE:LINE:COL: ..." string to parse back.
	for i, line := range []int{1, 4} {
		e := v.Errors[i]
		if e.File != file || e.Line != line || e.Col != 11 || e.Severity != "error" || e.Message == "" ||
			strings.Contains(e.Message, file) {
			t.Errorf("check chobolo --json: error %d = %+v, want %s:%d:11, severity error, a message without the position", i, e, file, line)
		}
	}
}

// jsonError is one element of `check chobolo --json`'s errors.
type jsonError struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Col      int    `json:"col"`
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Message  string `json:"message"`
}

func TestCheckChobolo(t *testing.T) {
	isolate(t)
	file := writeChobolo(t, machineYML)
	r := run(t, "", "check", "chobolo", "-c", file)
	if r.code != 0 || !strings.Contains(r.stdout, file+": valid") {
		t.Fatalf("check chobolo: %s", r)
	}
	for _, k := range []string{"hostname", "users", "packages", "region", "files"} {
		if !strings.Contains(r.stdout, k) {
			t.Errorf("check chobolo: key %s not listed\n%s", k, r)
		}
	}
	r = run(t, "", "check", "chobolo", "-c", file, "--json")
	var v struct {
		Valid bool     `json:"valid"`
		Keys  []string `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || !v.Valid || len(v.Keys) != 5 {
		t.Errorf("check chobolo --json: %v %+v\n%s", err, v, r)
	}
}

// TestCheckSyntaxErrorColumn: a YAML syntax error names the column of the unclosed bracket.
func TestCheckSyntaxErrorColumn(t *testing.T) {
	isolate(t)
	file := writeChobolo(t, "hostname: a\nusers:\n  - name: a\n    groups: [wheel, docker\npackages: [git]\n")
	r := run(t, "", "check", "chobolo", "-c", file)
	if r.code != 1 || !strings.Contains(r.stderr, file+":4:13: error: invalid YAML: did not find expected ',' or ']'") {
		t.Errorf("check chobolo: %s", r)
	}
}

// TestCheckEmptyChobolo: a valid Ch-obolo that declares nothing says so (a warning on stderr, and no
// empty "valid ()" on stdout), since applying it would change nothing.
func TestCheckEmptyChobolo(t *testing.T) {
	isolate(t)
	for _, text := range []string{"", "# nothing yet\n", "{}\n"} {
		file := writeChobolo(t, text)
		r := run(t, "", "check", "chobolo", "-c", file)
		if r.code != 0 || r.stdout != file+": valid, but declares nothing\n" ||
			!strings.Contains(r.stderr, file+":1:1: warning: the Ch-obolo declares nothing") {
			t.Errorf("%q: %s", text, r)
		}
		r = run(t, "", "check", "chobolo", "-c", file, "--json")
		// Warnings are objects, like the errors of an invalid Ch-obolo.
		var v struct {
			Valid    bool     `json:"valid"`
			Keys     []string `json:"keys"`
			Warnings []struct {
				File     string `json:"file"`
				Line     int    `json:"line"`
				Col      int    `json:"col"`
				Severity string `json:"severity"`
				Message  string `json:"message"`
			} `json:"warnings"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || !v.Valid || len(v.Keys) != 0 || len(v.Warnings) != 1 {
			t.Errorf("%q --json: %v %+v\n%s", text, err, v, r)
			continue
		}
		if w := v.Warnings[0]; w.File != file || w.Line != 1 || w.Col != 1 || w.Severity != "warning" ||
			!strings.HasPrefix(w.Message, "the Ch-obolo declares nothing") {
			t.Errorf("%q --json: warning %+v", text, w)
		}
	}
}

func TestCheckRolesJSON(t *testing.T) {
	isolate(t)
	r := run(t, "", "check", "roles", "--json")
	if r.code != 0 {
		t.Fatalf("check roles --json: %s", r)
	}
	var roles []struct {
		Name  string   `json:"name"`
		Keys  []string `json:"keys"`
		Order int      `json:"order"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &roles); err != nil {
		t.Fatalf("check roles --json: %v\n%s", err, r)
	}
	got := map[string]bool{}
	for _, role := range roles {
		got[role.Name] = true
		if len(role.Keys) == 0 {
			t.Errorf("role %s lists no keys", role.Name)
		}
	}
	for _, want := range []string{"hostname", "repos", "packages", "users", "region", "services", "files"} {
		if !got[want] {
			t.Errorf("check roles --json: role %s missing\n%s", want, r)
		}
	}
}

func TestExplain(t *testing.T) {
	isolate(t)
	r := run(t, "", "explain", "users")
	if r.code != 0 || !strings.Contains(r.stdout, "CONCEPT") || !strings.Contains(r.stdout, "SECURITY") {
		t.Fatalf("explain users: %s", r)
	}
	whole := r.stdout

	r = run(t, "", "explain", "users.security")
	if r.code != 0 || !strings.Contains(r.stdout, "SECURITY") || strings.Contains(r.stdout, "CONCEPT") {
		t.Errorf("explain users.security: want only the security section\n%s", r)
	}
	if len(r.stdout) >= len(whole) {
		t.Errorf("explain users.security is not shorter than explain users")
	}
	// An alias resolves to its role.
	if r := run(t, "", "explain", "usr"); r.code != 0 || r.stdout != whole {
		t.Errorf("explain usr (alias): %s", r)
	}

	if r2 := run(t, "", "explain", "usr.security"); r2.code != 0 || !strings.Contains(r2.stdout, "SECURITY") {
		t.Errorf("explain usr.security (alias with subtopic): %s", r2)
	}
	if r2 := run(t, "", "explain", "users.list"); r2.code != 0 || strings.TrimSpace(r2.stdout) !=
		"users: concept, what, why, how, keys, examples, security, equivalent" {
		t.Errorf("explain users.list: want the subtopic names, got %s", r2)
	}
	r = run(t, "", "explain", "packages", "--details", "advanced", "--json")
	var topic struct {
		Name     string `json:"name"`
		Sections []struct {
			Name string `json:"name"`
			Body string `json:"body"`
		} `json:"sections"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &topic); err != nil || r.code != 0 {
		t.Fatalf("explain packages --details advanced --json: %v\n%s", err, r)
	}
	names := map[string]bool{}
	for _, s := range topic.Sections {
		names[s.Name] = s.Body != ""
	}
	// advanced shows every section, including the ones basic hides.
	for _, want := range []string{"concept", "how", "keys", "security", "equivalent"} {
		if !names[want] {
			t.Errorf("explain packages --details advanced: section %s missing or empty (have %v)", want, names)
		}
	}
	basic := run(t, "", "explain", "packages", "--json")
	if len(basic.stdout) >= len(r.stdout) {
		t.Errorf("explain packages (basic) is not shorter than --details advanced")
	}

	if r := run(t, "", "explain", "users.nonesuch"); r.code != 1 || !strings.Contains(r.stderr, "security") {
		t.Errorf("explain users.nonesuch: want exit 1 listing the subtopics\n%s", r)
	}
	if r := run(t, "", "explain", "nonesuch"); r.code != 1 {
		t.Errorf("explain nonesuch: want exit 1\n%s", r)
	}
}

func TestInitChobolo(t *testing.T) {
	isolate(t)
	r := run(t, "", "init", "chobolo")
	if r.code != 0 || !strings.Contains(r.stdout, "# users:") {
		t.Fatalf("init chobolo: %s", r)
	}
	// The template is all comments: it loads back as an empty, valid Ch-obolo.
	c, err := chobolo.LoadBytes("template.yml", []byte(r.stdout), chobolo.LoadOptions{})
	if err != nil {
		t.Fatalf("the init template does not load: %v", err)
	}
	if len(c.Keys()) != 0 {
		t.Errorf("the init template declares keys %v", c.Keys())
	}
	// Every commented key line, uncommented, is a known key: uncommenting the whole template gives a
	// Ch-obolo that loads (except the import, which points at files that do not exist).
	var b strings.Builder
	skip := false
	uncomment := regexp.MustCompile(`^# ?`)
	for line := range strings.SplitSeq(r.stdout, "\n") {
		if strings.HasPrefix(line, "##") || !strings.HasPrefix(line, "#") {
			continue
		}
		l := uncomment.ReplaceAllString(line, "")
		if strings.HasPrefix(l, "imports:") {
			skip = true
			continue
		}
		if skip && strings.HasPrefix(l, " ") {
			continue
		}
		skip = false
		b.WriteString(l + "\n")
	}
	// Files the examples refer to (key files, templates) do not exist here; anything else is a bug.
	if _, err := chobolo.LoadBytes("uncommented.yml", []byte(b.String()), chobolo.LoadOptions{}); err != nil {
		for line := range strings.SplitSeq(err.Error(), "\n") {
			if !strings.Contains(line, "cannot read") {
				t.Errorf("the uncommented template: %s", line)
			}
		}
	}

	// -o writes the file and never overwrites.
	out := filepath.Join(t.TempDir(), "new.yml")
	if r := run(t, "", "init", "chobolo", "-o", out); r.code != 0 {
		t.Fatalf("init chobolo -o: %s", r)
	}
	if data, err := os.ReadFile(out); err != nil || !strings.Contains(string(data), "# users:") {
		t.Fatalf("init chobolo -o wrote %q (%v)", data, err)
	}
	if r := run(t, "", "init", "chobolo", "-o", out); r.code != 1 || !strings.Contains(r.stderr, "not overwriting") {
		t.Errorf("init chobolo -o on an existing file: %s", r)
	}
}

func TestSetChobolo(t *testing.T) {
	dir := isolate(t)
	file := writeChobolo(t, "hostname: forge\n")
	r := run(t, "", "set", "chobolo", file)
	if r.code != 0 {
		t.Fatalf("set chobolo: %s", r)
	}
	cfg, err := config.Load()
	if err != nil || cfg.ChoboloFile != file {
		t.Fatalf("config after set chobolo: %+v, %v", cfg, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.yml")); err != nil {
		t.Fatalf("no config.yml in CHAOS_CONFIG_DIR: %v", err)
	}
	// The default is used without -c.
	r = run(t, "", "check", "chobolo")
	if r.code != 0 || !strings.Contains(r.stdout, file+": valid") {
		t.Errorf("check chobolo with the configured default: %s", r)
	}
	// Unknown keys in config.yml survive a set.
	p := filepath.Join(dir, "config.yml")
	data, _ := os.ReadFile(p)
	if err := os.WriteFile(p, append(data, []byte("future_key: keep me\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "", "set", "secrets", file); r.code != 0 {
		t.Fatalf("set secrets: %s", r)
	}
	if data, _ := os.ReadFile(p); !strings.Contains(string(data), "future_key: keep me") || !strings.Contains(string(data), file) {
		t.Errorf("config.yml after set secrets:\n%s", data)
	}
	// A missing file is refused and the config is unchanged.
	before, _ := os.ReadFile(p)
	if r := run(t, "", "set", "chobolo", filepath.Join(t.TempDir(), "missing.yml")); r.code != 1 {
		t.Errorf("set chobolo MISSING: want exit 1\n%s", r)
	}
	if after, _ := os.ReadFile(p); string(after) != string(before) {
		t.Error("a refused set changed config.yml")
	}
}

func TestNoChoboloConfigured(t *testing.T) {
	isolate(t)
	r := run(t, "", "apply", "--dry")
	if r.code != 1 || !strings.Contains(r.stderr, "chaos set chobolo") {
		t.Errorf("apply without -c and without a default: %s", r)
	}
}

// TestOwnershipConflicts: two roles managing one path are refused with both positions, every
// conflict listed, by `check chobolo` (no host; every core when `core:` is unset) and by apply
// before the target is touched (it does not even exist here).
func TestOwnershipConflicts(t *testing.T) {
	isolate(t)
	src := "hostname: forge\nregion: {timezone: UTC}\nfiles:\n" +
		"  - {path: /etc/motd, content: \"hi\\n\"}\n" +
		"  - {path: /etc/hostname, content: \"other\\n\"}\n" +
		"  - {path: /etc/timezone, content: \"UTC\\n\"}\n"
	file := writeChobolo(t, src)
	r := run(t, "", "check", "chobolo", "-c", file)
	if r.code != 1 {
		t.Fatalf("check chobolo: want exit 1\n%s", r)
	}
	for _, want := range []string{
		file + ":5:12: error: role files and role hostname both manage /etc/hostname",
		"    " + file + ":1:11: role hostname manages /etc/hostname",
		file + ":6:12: error: role files and role region both manage /etc/timezone",
		"    " + file + ":2:20: role region manages /etc/timezone",
		"(on the debian core)", // Arch and Fedora keep no /etc/timezone
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("check chobolo: stderr lacks %q\n%s", want, r)
		}
	}
	if strings.Contains(r.stderr, "/etc/motd") {
		t.Errorf("/etc/motd has one owner\n%s", r)
	}
	r = run(t, "", "check", "chobolo", "-c", file, "--json")
	var v struct {
		Valid  bool        `json:"valid"`
		Errors []jsonError `json:"errors"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 1 || v.Valid || len(v.Errors) == 0 {
		t.Errorf("check chobolo --json: %v %+v\n%s", err, v, r)
	}
	for _, e := range v.Errors {
		if e.File != file || e.Line == 0 || e.Col == 0 || e.Severity != "error" || e.Code != "ownership-conflict" ||
			!strings.HasPrefix(e.Message, "role ") {
			t.Errorf("check chobolo --json: conflict %+v, want its position, code ownership-conflict and the message", e)
		}
	}

	file = writeChobolo(t, "core: debian\n"+src)
	for _, args := range [][]string{
		{"apply", "-c", file, "--dry", "--target", "@chroot/nonexistent-chaos-root"},
		{"apply", "-c", file, "-y", "--target", "@chroot/nonexistent-chaos-root"},
		{"apply", "-c", file, "--dry", "files", "--target", "@chroot/nonexistent-chaos-root"}, // tags do not hide it
	} {
		r := run(t, "", args...)
		if r.code != 1 || !strings.Contains(r.stderr, file+":6:12: error: role files and role hostname both manage /etc/hostname") ||
			!strings.Contains(r.stderr, file+":7:12: error: role files and role region both manage /etc/timezone") {
			t.Errorf("%v: want exit 1 with both conflicts\n%s", args, r)
		}
		if strings.Contains(r.stderr, "nonexistent-chaos-root") {
			t.Errorf("%v: the target was contacted before the Ch-obolo was refused\n%s", args, r)
		}
	}
	// Without hostname and region, files owns both paths alone.
	file = writeChobolo(t, "files:\n  - {path: /etc/hostname, content: \"x\\n\"}\n  - {path: /etc/timezone, content: \"UTC\\n\"}\n")
	if r := run(t, "", "check", "chobolo", "-c", file); r.code != 0 {
		t.Errorf("check chobolo: %s", r)
	}
}

// TestCheckJSONWarnings: `check chobolo --json` gives each warning as an object with its position,
// like the errors of an invalid Ch-obolo, and an empty list when there is none.
func TestCheckJSONWarnings(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		text string
		want []jsonError
	}{
		{"hostname: a\npacotes: [git]\n", []jsonError{{Line: 2, Col: 1, Severity: "warning", Message: "pacotes is the old spelling of packages; rename it"}}},
		{"hostname: a\n", []jsonError{}},
	} {
		file := writeChobolo(t, tc.text)
		r := run(t, "", "check", "chobolo", "-c", file, "--json")
		var v struct {
			Valid    bool        `json:"valid"`
			Warnings []jsonError `json:"warnings"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || !v.Valid || v.Warnings == nil {
			t.Errorf("%q: %v %+v\n%s", tc.text, err, v, r)
			continue
		}
		for i := range tc.want {
			tc.want[i].File = file
		}
		if !reflect.DeepEqual(v.Warnings, tc.want) {
			t.Errorf("%q: warnings %+v, want %+v", tc.text, v.Warnings, tc.want)
		}
	}
}
