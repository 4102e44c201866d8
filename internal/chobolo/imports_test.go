package chobolo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func names[T any](items []T, name func(T) string) string {
	var out []string
	for _, it := range items {
		out = append(out, name(it))
	}
	return strings.Join(out, ",")
}

func TestImportsCombine(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"host.yml": `imports:
  - roles/base.yml
  - roles/desktop/desktop.yml
hostname: host
users:
  - name: alice
    shell: zsh
packages: [htop, git]
region:
  timezone: UTC
files:
  - {path: /etc/motd, template: motd.tmpl}
`,
		"motd.tmpl": "host motd",
		"roles/base.yml": `hostname: base
users:
  - name: alice
    shell: bash
    groups: [wheel]
  - name: ops
packages: [git, vim]
services: [ssh]
region:
  timezone: Europe/Berlin
  keymap: us
  locale: [en_US.UTF-8]
files:
  - {path: /etc/motd, content: base}
  - {path: /etc/issue, template: tmpl/issue.tmpl}
fleet:
  hosts: {a: {}}
`,
		"roles/tmpl/issue.tmpl": "base issue",
		"roles/desktop/desktop.yml": `imports: [../common.yml]
packages: [firefox]
region:
  locale: [pt_BR.UTF-8]
fleet:
  hosts: {b: {}}
`,
		"roles/common.yml": `services: [{name: cups, running: false}]
aurPackages: [yay]
`,
	})
	c, err := Load(filepath.Join(dir, "host.yml"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Scalars from the importing file win; maps merge; keyed lists replace items with the same
	// identity in place and append the rest; plain lists concatenate without repeats.
	if c.Hostname != "host" {
		t.Errorf("hostname = %q", c.Hostname)
	}
	if got := names(c.Users, func(u User) string { return u.Name + ":" + u.Shell }); got != "alice:zsh,ops:" {
		t.Errorf("users = %s", got)
	}
	if len(c.Users[0].Groups) != 0 {
		t.Errorf("an importing file's user replaces the imported one entirely: %+v", c.Users[0])
	}
	if got := names(c.Packages, func(p Package) string { return p.Name }); got != "git,vim,firefox,htop" {
		t.Errorf("packages = %s", got)
	}
	if got := names(c.Services, func(s Service) string { return s.Name }); got != "ssh,cups" {
		t.Errorf("services = %s", got)
	}
	if r := c.Region; r.Timezone != "UTC" || r.Keymap != "us" || strings.Join(r.Locales, ",") != "en_US.UTF-8,pt_BR.UTF-8" {
		t.Errorf("region = %+v", r)
	}
	if got := names(c.Files, func(f File) string { return f.Path + "=" + f.Content + f.TemplateText }); got != "/etc/motd=host motd,/etc/issue=base issue" {
		t.Errorf("files = %s (templates are read relative to the file declaring them)", got)
	}
	if hosts := c.Extra["fleet"].Content[1]; len(hosts.Content) != 4 {
		t.Errorf("fleet.hosts not merged: %d nodes", len(hosts.Content))
	}
	if c.Extra["aurPackages"] == nil || !c.Has("aurPackages") {
		t.Errorf("aurPackages from a nested import missing")
	}
	// Every value keeps the position of the file that wrote it.
	for path, want := range map[string]string{
		"hostname":         "host.yml:4:11",
		"users[1].name":    "roles/base.yml:6:11",
		"packages[2].name": "roles/desktop/desktop.yml:2:12",
		"services[1].name": "roles/common.yml:1:19",
		"region.keymap":    "roles/base.yml:11:11",
		"region.locale[1]": "roles/desktop/desktop.yml:4:12",
		"files[1].path":    "roles/base.yml:15:12",
	} {
		got := c.Pos(path)
		rel, _ := filepath.Rel(dir, got.File)
		if s := filepath.ToSlash(rel) + strings.TrimPrefix(got.String(), got.File); s != want {
			t.Errorf("Pos(%q) = %s, want %s", path, s, want)
		}
	}
	if got := c.NodePos(c.Extra["aurPackages"]); !strings.HasSuffix(got.String(), "roles/common.yml:2:14") {
		t.Errorf("NodePos(aurPackages) = %s", got)
	}
}

func TestImportsOverride(t *testing.T) {
	c := mustLoad(t, `imports:
  - {file: base.yml, strategy: override}
  - other.yml
users: [{name: me}]
region: {keymap: de}
`, memFS{
		"base.yml":  "users: [{name: base}]\npackages: [git]\nregion: {timezone: UTC, keymap: us}\n",
		"other.yml": "region: {timezone: Europe/Berlin}\n",
	})
	if got := names(c.Users, func(u User) string { return u.Name }); got != "me" {
		t.Errorf("override: users = %s", got)
	}
	if len(c.Packages) != 1 {
		t.Errorf("override keeps keys the importing file does not set: %+v", c.Packages)
	}
	// region of base.yml is replaced whole; other.yml combines.
	if c.Region.Timezone != "Europe/Berlin" || c.Region.Keymap != "de" {
		t.Errorf("region = %+v", c.Region)
	}
}

func TestImportErrors(t *testing.T) {
	cases := []struct {
		name string
		fs   memFS
		src  string
		want []string
	}{
		{"cycle", memFS{"a.yml": "imports: [b/b.yml]\n", "b/b.yml": "hostname: h\nimports: [../c.yml]\n"},
			"imports: [a.yml]\n",
			[]string{"b/b.yml:2:11: error: import cycle: c.yml -> a.yml -> b/b.yml -> c.yml"}},
		{"self import", nil, "imports: [c.yml]\n", []string{"c.yml:1:11: error: import cycle: c.yml -> c.yml"}},
		{"missing import", nil, "imports:\n  - nope.yml\n",
			[]string{"c.yml:2:5: error: cannot import nope.yml: open: file does not exist"}},
		{"errors in every file at once", memFS{"a.yml": "hostname: -x\nusers: [{name: A}]\n"},
			"imports: [a.yml]\nservices: [\"a;b\"]\nbogus: 1\n",
			[]string{
				`a.yml:1:11: error: hostname: invalid hostname "-x": starts with "-" (it would be read as a command-line option)`,
				`a.yml:2:16: error: users[0].name: invalid user name "A": contains uppercase letter 'A' (use lowercase letters, digits, _ and -, starting with a letter or _)`,
				`c.yml:2:12: error: services[0].name: invalid unit name "a;b": contains shell metacharacter ';' (use letters, digits and : _ . @ -)`,
				`c.yml:3:1: error: unknown top-level key "bogus"`,
			}},
		{"duplicate across files is replaced, within one file reported", memFS{"a.yml": "users: [{name: x}, {name: y}]\n"},
			"imports: [a.yml]\nusers: [{name: x}, {name: x}]\n",
			[]string{`c.yml:2:27: error: users[2].name: user "x" is declared twice (first at c.yml:2:16)`}},
		{"syntax error in an import", memFS{"a.yml": "users:\n  - name: a\n  bad\n"}, "imports: [a.yml]\n",
			[]string{`a.yml:3:3: error: invalid YAML: could not find expected ':'`}},
		{"bad import entry", nil, "imports: [{strategy: combine}, 3]\n",
			[]string{`c.yml:1:11: error: imports[0]: missing required key "file" (a path) or "styx" (NAME@VERSION of a bundle)`,
				`c.yml:1:32: error: cannot import 3: open: file does not exist`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, got := loadString(t, tc.src, tc.fs)
			equalLines(t, got, tc.want)
		})
	}
}

func TestImportDepth(t *testing.T) {
	fs := memFS{}
	for i := range 40 {
		fs[filepath.Join("d", strings.Repeat("x/", i), "f.yml")] = "imports: [x/f.yml]\n"
	}
	_, got := loadString(t, "imports: [d/f.yml]\n", fs)
	if len(got) != 1 || !strings.Contains(got[0], "imports are nested more than 32 deep") {
		t.Errorf("errors = %v", got)
	}
}

// imports: [{styx: NAME@VERSION}] reads the bundle chaos styx invoke installed.
func TestImportStyxBundle(t *testing.T) {
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	root, err := StyxBundleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(root, StyxBundleName("alice/base", "1.0.0"))
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(bundle, StyxBundleEntry), []byte("imports: [pkgs.yml]\nhostname: base\n"), 0o644)
	os.WriteFile(filepath.Join(bundle, "pkgs.yml"), []byte("packages: [git]\n"), 0o644)
	dir := t.TempDir()
	main := filepath.Join(dir, "m.yml")
	for _, ref := range []string{"alice/base@1.0.0", "alice/base"} {
		os.WriteFile(main, []byte("imports: [{styx: "+ref+"}]\npackages: [htop]\n"), 0o644)
		c, err := Load(main, LoadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if c.Hostname != "base" || len(c.Packages) != 2 {
			t.Fatalf("%s: hostname %q packages %v", ref, c.Hostname, c.Packages)
		}
	}
	for src, want := range map[string]string{
		"imports: [{styx: alice/base@2.0.0}]\n":        "m.yml:1:18: error: imports: the Styx bundle alice/base@2.0.0 is not installed (chaos styx invoke alice/base@2.0.0)",
		"imports: [{styx: bob/x}]\n":                   "m.yml:1:18: error: imports: the Styx bundle bob/x is not installed",
		"imports: [{styx: alice/base, file: a.yml}]\n": "m.yml:1:18: error: imports: an entry imports a file or a Styx bundle, not both",
		"imports: [{styx: \"../../etc@1\"}]\n":         "invalid Styx reference",
	} {
		os.WriteFile(main, []byte(src), 0o644)
		_, err := Load(main, LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(want, "m.yml")) {
			t.Errorf("%s: got %v, want %s", src, err, want)
		}
	}
}
