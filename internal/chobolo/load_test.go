package chobolo

import (
	"strings"
	"testing"
)

// Each case is one document loaded as c.yml; want lists every diagnostic, in order.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown top-level key", "hostnme: a\n",
			[]string{`c.yml:1:1: error: unknown top-level key "hostnme"; did you mean hostname?`}},
		{"unknown key without suggestion", "frobnicate: 1\n",
			[]string{`c.yml:1:1: error: unknown top-level key "frobnicate"`}},
		{"unknown user key", "users:\n  - name: a\n    shel: zsh\n",
			[]string{`c.yml:3:5: error: users[0]: unknown key "shel"; did you mean shell?`}},
		{"unknown region key", "region:\n  timezon: UTC\n",
			[]string{`c.yml:2:3: error: region: unknown key "timezon"; did you mean timezone?`}},
		{"unknown apt key", "repos:\n  apt:\n    - name: x\n      uri: [http://a]\n      suites: [s]\n      components: [main]\n",
			[]string{`c.yml:3:7: error: repos.apt[0]: missing required key "uris"`,
				`c.yml:4:7: error: repos.apt[0]: unknown key "uri"; did you mean uris?`}},
		{"unknown package target", "packages:\n  - {name: a, debain: b}\n",
			[]string{`c.yml:2:15: error: packages[0]: unknown key "debain"; did you mean debian?`}},
		{"case-insensitive suggestion", "Users: []\n",
			[]string{`c.yml:1:1: error: unknown top-level key "Users"; did you mean users?`}},
		{"string for list", "users:\n  - name: a\n    groups: wheel\n",
			[]string{`c.yml:3:13: error: users[0].groups: expected a list, got a string`}},
		{"map for list", "packages: {a: 1}\n",
			[]string{`c.yml:1:11: error: packages: expected a list, got a mapping`}},
		{"list for string", "hostname: [a]\n",
			[]string{`c.yml:1:11: error: hostname: expected a string, got a list`}},
		{"bool for string", "hostname: true\n",
			[]string{`c.yml:1:11: error: hostname: expected a string, got a boolean (quote it if you mean the text "true")`}},
		{"string for bool", "users:\n  - name: a\n    sudo: maybe\n",
			[]string{`c.yml:3:11: error: users[0].sudo: expected a boolean (true or false), got a string`}},
		{"string for int", "users:\n  - name: a\n    uid: \"1000\"\n",
			[]string{`c.yml:3:10: error: users[0].uid: expected an integer, got a string`}},
		{"list item of wrong type", "services:\n  - [a]\n",
			[]string{`c.yml:2:5: error: services[0]: expected a string or a mapping, got a list`}},
		{"empty list item", "packages:\n  -\n  - git\n",
			[]string{`c.yml:2:4: error: packages[0]: empty list item`}},
		{"missing required", "users:\n  - shell: bash\n",
			[]string{`c.yml:2:5: error: users[0]: missing required key "name"`}},
		{"top level not a mapping", "- a\n- b\n",
			[]string{`c.yml:1:1: error: a Ch-obolo is a mapping of keys (hostname: ..., users: ...), got a list`}},
		{"syntax error", "users:\n  - name: a\n   bad: [\n",
			[]string{`c.yml:3:4: error: invalid YAML: did not find expected '-' indicator`}},
		{"unclosed flow sequence", "hostname: a\nusers:\n  - name: a\n    groups: [wheel, docker\npackages: [git]\n",
			[]string{`c.yml:4:13: error: invalid YAML: did not find expected ',' or ']'`}},
		{"unclosed flow sequence in a flow mapping", "users:\n  - {name: a, groups: [ wheel}\n",
			[]string{`c.yml:2:23: error: invalid YAML: did not find expected ',' or ']'`}},
		{"unclosed flow mapping", "hostname: a\nregion: {timezone: UTC\n",
			[]string{`c.yml:2:9: error: invalid YAML: did not find expected ',' or '}'`}},
		{"unclosed quote on line 1", "hostname: \"box\npackages: [vim]\n",
			[]string{`c.yml:1:11: error: invalid YAML: found unexpected end of stream`}},
		{"unclosed single quote on line 1, spanning lines", "hostname: 'box\n  more\n  and more\n",
			[]string{`c.yml:1:11: error: invalid YAML: found unexpected end of stream`}},
		{"unclosed quote further down", "packages: [vim]\nhostname: \"box\nusers: []\n",
			[]string{`c.yml:2:11: error: invalid YAML: found unexpected end of stream`}},
		{"unclosed quote after a byte order mark", "\xef\xbb\xbfhostname: \"box\npackages: [vim]\n",
			[]string{`c.yml:1:11: error: invalid YAML: found unexpected end of stream`}},
		{"second colon", "hostname: a: b\n",
			[]string{`c.yml:1:12: error: invalid YAML: mapping values are not allowed in this context`}},
		{"multi-document", "hostname: a\n---\nhostname: b\n",
			[]string{`c.yml:2:1: error: a Ch-obolo is one YAML document; found another one here (use imports to combine files)`}},
		{"duplicate top-level key", "hostname: a\nhostname: b\n",
			[]string{`c.yml:2:1: error: duplicate key "hostname" (first at line 1, column 1)`}},
		{"duplicate nested key", "users:\n  - name: a\n    name: b\n",
			[]string{`c.yml:3:5: error: duplicate key "name" (first at line 2, column 5)`}},
		{"duplicate key in extra section", "fleet:\n  hosts: {}\n  hosts: {}\n",
			[]string{`c.yml:3:3: error: duplicate key "hosts" (first at line 2, column 3)`}},
		// more than 16 keys: the duplicate is found through a map, not by comparing pairs
		{"duplicate key in a large mapping", "x-big:\n" +
			"  k01: 1\n  k02: 1\n  k03: 1\n  k04: 1\n  k05: 1\n  k06: 1\n  k07: 1\n  k08: 1\n  k09: 1\n  k10: 1\n  k11: 1\n  k12: 1\n  k13: 1\n  k14: 1\n  k15: 1\n  k16: 1\n  k17: 1\n  k03: 2\n",
			[]string{`c.yml:19:3: error: duplicate key "k03" (first at line 4, column 3)`}},
		{"duplicate users", "users:\n  - name: a\n  - name: b\n  - name: a\n",
			[]string{`c.yml:4:11: error: users[2].name: user "a" is declared twice (first at c.yml:2:11)`}},
		{"duplicate uids", "users:\n  - {name: a, uid: 1000}\n  - {name: b, uid: 1000}\n",
			[]string{`c.yml:3:20: error: users[1].uid: uid "1000" is declared twice (first at c.yml:2:20)`}},
		{"duplicate services, suffix implied", "services: [nginx, nginx.service]\n",
			[]string{`c.yml:1:19: error: services[1].name: service "nginx.service" is declared twice (first at c.yml:1:12)`}},
		{"duplicate files", "files:\n  - path: /etc/a\n  - path: /etc/a\n",
			[]string{`c.yml:3:11: error: files[1].path: file "/etc/a" is declared twice (first at c.yml:2:11)`}},
		{"duplicate apt repos", "repos:\n  apt:\n    - {name: r, uris: [http://a], suites: [s], components: [c]}\n    - {name: r, uris: [http://a], suites: [s], components: [c]}\n",
			[]string{`c.yml:4:14: error: repos.apt[1].name: apt repository "r" is declared twice (first at c.yml:3:14)`}},
		{"duplicate packages", "packages: [git, vim, git]\n",
			[]string{`c.yml:1:22: error: packages[2].name: package "git" is declared twice (first at c.yml:1:12)`}},
		{"legacy and current spelling", "pacotes: [a]\npackages: [b]\n",
			[]string{`c.yml:1:1: error: both packages and its old spelling pacotes are set; keep only packages`}},
		{"legacy mount_point and mountpoint", "partitioning:\n  partitions:\n    - {mount_point: /a, mountpoint: /b}\n",
			[]string{`c.yml:3:8: error: both mountpoint and its old spelling mount_point are set; keep only mountpoint`}},
		{"enum with suggestion", "users:\n  - name: a\n    state: absen\n",
			[]string{`c.yml:3:12: error: users[0].state: invalid value "absen": expected one of present, absent; did you mean absent?`}},
		{"core enum", "core: ubuntu\n",
			[]string{`c.yml:1:7: error: core: invalid value "ubuntu": expected one of debian, arch, fedora`}},
		{"mode as a decimal integer", "files:\n  - path: /a\n    mode: 644\n",
			[]string{`c.yml:3:11: error: files[0].mode: 644 is a decimal integer in YAML, not an octal mode; write mode: "0644"`}},
		{"setuid mode as a decimal integer", "files:\n  - {path: /a, mode: 4755}\n",
			[]string{`c.yml:2:22: error: files[0].mode: 4755 is a decimal integer in YAML, not an octal mode; write mode: "4755"`}},
		{"quoted yes for bool", "users:\n  - name: a\n    sudo: \"yes\"\n",
			[]string{`c.yml:3:11: error: users[0].sudo: expected a boolean, got the quoted string "yes"; write sudo: true`}},
		{"quoted no for bool", "users:\n  - {name: a, purge_home: 'no'}\n",
			[]string{`c.yml:2:27: error: users[0].purge_home: expected a boolean, got the quoted string "no"; write purge_home: false`}},
		{"bad mode", "files:\n  - path: /a\n    mode: u+rw\n",
			[]string{`c.yml:3:11: error: files[0].mode: invalid mode "u+rw": expected octal digits such as 0644 or 0755`}},
		{"mode out of range", "files:\n  - path: /a\n    mode: 17777\n",
			[]string{`c.yml:3:11: error: files[0].mode: invalid mode "17777": expected octal digits such as 0644 or 0755`}},
		{"content and template", "files:\n  - path: /a\n    content: x\n    template: t\n",
			[]string{`c.yml:4:15: error: files[0].template: content and template are exclusive; use one`}},
		{"link without target", "files:\n  - path: /a\n    state: link\n",
			[]string{`c.yml:2:5: error: files[0]: state link needs a target`}},
		{"target without link", "files:\n  - path: /a\n    target: /b\n",
			[]string{`c.yml:3:13: error: files[0].target: target is only used with state: link`}},
		{"content on a directory", "files:\n  - path: /a\n    state: directory\n    content: x\n",
			[]string{`c.yml:3:12: error: files[0].state: state directory takes no content or template`}},
		{"root is not a file", "files:\n  - path: /\n    state: absent\n",
			[]string{`c.yml:2:11: error: files[0].path: "/" cannot be a managed file`}},
		{"missing template file", "files:\n  - path: /a\n    template: nope.tmpl\n",
			[]string{`c.yml:3:15: error: files[0].template: cannot read nope.tmpl: open: file does not exist`}},
		{"validate without %s", "files:\n  - path: /a\n    validate: [nginx, -t]\n",
			[]string{`c.yml:3:15: error: files[0].validate: needs %s exactly once (it is replaced by the temp file's path), found 0`}},
		{"validate with two %s", "files:\n  - path: /a\n    validate: [cmp, \"%s\", \"%s\"]\n",
			[]string{`c.yml:3:15: error: files[0].validate: needs %s exactly once (it is replaced by the temp file's path), found 2`}},
		{"validate as a shell line", "files:\n  - path: /a\n    validate: \"visudo -cf %s\"\n",
			[]string{`c.yml:3:15: error: files[0].validate: expected a list, got a string`}},
		{"validate empty", "files:\n  - path: /a\n    validate: []\n",
			[]string{`c.yml:3:15: error: files[0].validate: empty command: give the program and its arguments, one holding %s`}},
		{"validate empty argument", "files:\n  - path: /a\n    validate: [cat, \"\", \"%s\"]\n",
			[]string{`c.yml:3:21: error: files[0].validate[1]: empty argument`}},
		{"validate program", "files:\n  - path: /a\n    validate: [\"-x\", \"%s\"]\n  - path: /b\n    validate: [\"sh -c\", \"%s\"]\n  - path: /c\n    validate: [\"/usr/../bin/x\", \"%s\"]\n",
			[]string{
				`c.yml:3:16: error: files[0].validate[0]: invalid validate program "-x": starts with "-" (it would be read as a command-line option)`,
				`c.yml:5:16: error: files[1].validate[0]: invalid validate program "sh -c": contains a space (a program name like visudo, or an absolute path)`,
				`c.yml:7:16: error: files[2].validate[0]: invalid path "/usr/../bin/x": contains a ".." component`,
			}},
		{"validate cannot replace visudo", "files:\n  - path: /etc/sudoers.d/ops\n    validate: [\"true\", \"%s\"]\n",
			[]string{`c.yml:3:15: error: files[0].validate: /etc/sudoers.d/ops is always checked with visudo before it lands; validate: cannot replace that check`}},
		{"validate on a directory", "files:\n  - path: /a\n    state: directory\n    validate: [test, -d, \"%s\"]\n",
			[]string{`c.yml:4:15: error: files[0].validate: validate checks content before it lands: only for state: present`}},
		{"restart_on unknown targets", "services:\n  - name: web\n    restart_on: [/etc/web.conf, ngnix, web]\n    reload_on: nginx\n    check: [\"nginx -t\"]\n  - nginx\npackages: [nginx]\n",
			[]string{
				`c.yml:3:18: error: services[0].restart_on[0]: /etc/web.conf is not declared under files: only files chaos manages trigger a restart`,
				`c.yml:3:33: error: services[0].restart_on[1]: "ngnix" is neither a file declared under files, a package declared under packages nor a service declared under services; did you mean nginx?`,
				`c.yml:3:40: error: services[0].restart_on[2]: a service cannot restart on itself`,
				`c.yml:5:13: error: services[0].check[0]: invalid check program "nginx -t": contains a space (a program name like nginx, or an absolute path)`,
			}},
		{"notify unknown service", "services: [nginx]\nfiles:\n  - path: /a\n    notify: [nginx, ngnix]\n",
			[]string{`c.yml:4:21: error: files[0].notify[1]: "ngnix" is not a service declared under services; did you mean nginx?`}},
		{"key and key_file", "repos:\n  apt:\n    - {name: r, uris: [http://a], suites: [s], components: [c], key: k, key_file: k.asc}\n",
			[]string{`c.yml:3:83: error: repos.apt[0].key_file: key and key_file are exclusive; use one`}},
		{"apt components required", "repos:\n  apt:\n    - {name: r, uris: [http://a], suites: [s]}\n",
			[]string{`c.yml:3:7: error: repos.apt[0]: components are required unless the suite is a flat path ending in /`}},
		{"apt flat repo with components", "repos:\n  apt:\n    - {name: r, uris: [\"file:/srv/repo\"], suites: [./], components: [main]}\n",
			[]string{`c.yml:3:69: error: repos.apt[0].components: a flat repository (suite ending in /) takes no components`}},
		{"apt bad type", "repos:\n  apt:\n    - {name: r, types: [rpm], uris: [http://a], suites: [s], components: [c]}\n",
			[]string{`c.yml:3:25: error: repos.apt[0].types[0]: invalid value "rpm": expected one of deb, deb-src`}},
		{"apt bad uri", "repos:\n  apt:\n    - {name: r, uris: [debian.org], suites: [s], components: [c]}\n",
			[]string{`c.yml:3:24: error: repos.apt[0].uris[0]: invalid URI "debian.org": expected scheme:..., e.g. https://deb.debian.org/debian`}},
		{"apt key not armored", "repos:\n  apt:\n    - {name: r, uris: [http://a], suites: [s], components: [c], key: abc}\n",
			[]string{`c.yml:3:70: error: repos.apt[0].key: expected an ASCII-armored OpenPGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----)`}},
		{"third party needs url or include", "repos:\n  third_party:\n    - name: x\n",
			[]string{`c.yml:3:7: error: repos.third_party[0]: needs url or include`}},
		{"managed typo", "repos:\n  managed: {cor: true}\n",
			[]string{`c.yml:2:13: error: repos.managed: unknown key "cor"; did you mean core?`}},
		{"uid out of range", "users:\n  - {name: a, uid: -1}\n",
			[]string{`c.yml:2:20: error: users[0].uid: uid -1 is out of range (0 to 4294967294)`}},
		{"bad locale", "region:\n  locale: [en_US.UTF-8, english]\n",
			[]string{`c.yml:2:25: error: region.locale[1]: invalid locale "english": expected language[_TERRITORY][.codeset][@modifier], e.g. en_US.UTF-8`}},
		{"bad timezone", "region: {timezone: America/Sao Paulo}\n",
			[]string{`c.yml:1:20: error: region.timezone: invalid timezone "America/Sao Paulo": contains a space (e.g. UTC, Europe/Berlin, America/Argentina/Buenos_Aires)`}},
		{"unsupported tag", "hostname: !secret a\n",
			[]string{`c.yml:1:11: error: hostname: unsupported YAML tag !secret`}},
		{"non-string key", "users:\n  - name: a\n    1: x\n",
			[]string{`c.yml:3:5: error: users[0]: key must be a string, got a number`}},
		{"bad import strategy", "imports:\n  - {file: b.yml, strategy: merge}\n",
			[]string{`c.yml:2:29: error: imports: invalid strategy "merge": expected combine or override`}},
		{"all errors at once", "hostname: -bad\nusers:\n  - name: Root\n    home: home/x\nservices: [\"a b\"]\n",
			[]string{
				`c.yml:1:11: error: hostname: invalid hostname "-bad": starts with "-" (it would be read as a command-line option)`,
				`c.yml:3:11: error: users[0].name: invalid user name "Root": contains uppercase letter 'R' (use lowercase letters, digits, _ and -, starting with a letter or _)`,
				`c.yml:4:11: error: users[0].home: invalid path "home/x": is not absolute (it must start with "/")`,
				`c.yml:5:12: error: services[0].name: invalid unit name "a b": contains a space (use letters, digits and : _ . @ -)`,
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, got := loadString(t, tc.src, memFS{"b.yml": ""})
			if c != nil {
				t.Errorf("got a Chobolo along with errors")
			}
			equalLines(t, got, tc.want)
		})
	}
}

func TestLoadValid(t *testing.T) {
	c := mustLoad(t, `
core: debian
hostname: forge-01.example.org
users:
  - name: alice
    shell: zsh
    groups: [wheel, docker]
    sudo: yes
    uid: 1000
  - {name: old, state: absent, purge_home: true}
packages:
  - git
  - {name: ssh, debian: openssh-server, arch: [openssh], fedora: []}
baseOverride: [base]
services:
  - nginx
  - {name: getty@tty1.service, running: false, on_boot: true}
  - {name: web, restart_on: [/etc/nginx/nginx.conf, git, nginx], reload_on: /etc/w, check: [nginx, -t], restart_on_upgrade: false}
region:
  timezone: America/Argentina/Buenos_Aires
  locale: en_US.UTF-8
  keymap: br-abnt2
  ntp: true
files:
  - {path: /etc/motd, content: "hi\n", mode: 0644, owner: root, group: "0"}
  - {path: /etc/x, mode: "755", state: directory}
  - {path: /etc/y, mode: "0o600", template: t/y.tmpl}
  - {path: /etc/z, state: link, target: ../usr/share/z}
  - {path: /etc/nginx/nginx.conf, content: "x\n", validate: [/usr/sbin/nginx, -t, -c, "%s"]}
  - {path: /etc/w, content: "x\n", validate: [grep, -q, "--file=%s", /etc/v], notify: [web]}
repos:
  apt:
    - name: local
      uris: ["file:/srv/repo"]
      suites: [./]
      trusted: true
      key_file: keys/k.asc
  dnf: {fedora: true}
  managed: {core: true}
fleet: {hosts: {a: {}}}
aurPkgs: [yay]
x-defaults: &d {shell: bash}
`, memFS{"t/y.tmpl": "hello {{ .Hostname }}", "keys/k.asc": "KEY"})

	if c.Core != "debian" || c.Hostname != "forge-01.example.org" {
		t.Errorf("core/hostname = %q/%q", c.Core, c.Hostname)
	}
	if u := c.Users[0]; !u.Sudo || *u.UID != 1000 || strings.Join(u.Groups, ",") != "wheel,docker" {
		t.Errorf("users[0] = %+v", u)
	}
	if u := c.Users[1]; u.State != "absent" || !u.PurgeHome {
		t.Errorf("users[1] = %+v", u)
	}
	p := c.Packages[1]
	if p.Name != "ssh" || strings.Join(p.Overrides["debian"], ",") != "openssh-server" ||
		strings.Join(p.Overrides["arch"], ",") != "openssh" || p.Overrides["fedora"] == nil || len(p.Overrides["fedora"]) != 0 {
		t.Errorf("packages[1] = %#v", p)
	}
	if c.Packages[0].Name != "git" || c.Packages[0].Overrides != nil {
		t.Errorf("packages[0] = %#v", c.Packages[0])
	}
	if s := c.Services[1]; s.Name != "getty@tty1.service" || s.WantRunning() || !s.WantOnBoot() {
		t.Errorf("services[1] = %+v", s)
	}
	if s := c.Services[2]; strings.Join(s.RestartOn, ",") != "/etc/nginx/nginx.conf,git,nginx" || strings.Join(s.ReloadOn, ",") != "/etc/w" ||
		strings.Join(s.Check, " ") != "nginx -t" || s.WantRestartOnUpgrade() || !c.Services[0].WantRestartOnUpgrade() {
		t.Errorf("services[2] triggers = %+v", s)
	}
	if n := c.Files[5].Notify; strings.Join(n, ",") != "web" {
		t.Errorf("files[5].notify = %q", n)
	}
	if !c.Services[0].WantRunning() || !c.Services[0].WantOnBoot() {
		t.Errorf("services[0] defaults = %+v", c.Services[0])
	}
	if r := c.Region; strings.Join(r.Locales, ",") != "en_US.UTF-8" || r.NTP == nil || !*r.NTP || r.Keymap != "br-abnt2" {
		t.Errorf("region = %+v", r)
	}
	for i, want := range []string{"0644", "0755", "0600", ""} {
		if c.Files[i].Mode != want {
			t.Errorf("files[%d].mode = %q, want %q", i, c.Files[i].Mode, want)
		}
	}
	if c.Files[2].TemplateText != "hello {{ .Hostname }}" || c.Files[2].Template != "t/y.tmpl" {
		t.Errorf("files[2] template = %q %q", c.Files[2].Template, c.Files[2].TemplateText)
	}
	if a := c.Repos.Apt[0]; a.KeyText != "KEY" || !a.Trusted {
		t.Errorf("apt[0] = %+v", a)
	}
	if c.Repos.Extra["dnf"] == nil || c.Repos.Managed["core"] != true {
		t.Errorf("repos = %+v", c.Repos)
	}
	for _, k := range []string{"fleet", "aurPackages"} {
		if c.Extra[k] == nil {
			t.Errorf("Extra[%q] missing", k)
		}
	}
	if c.Extra["x-defaults"] != nil || c.Has("x-defaults") {
		t.Errorf("x- keys must be ignored")
	}
	for _, k := range []string{"core", "hostname", "users", "packages", "baseOverride", "services", "region", "files",
		"repos", "fleet", "aurPackages"} {
		if !c.Has(k) {
			t.Errorf("Has(%q) = false", k)
		}
	}
	if c.Has("mirrors") {
		t.Errorf("Has(mirrors) = true")
	}
	wantWarn := `c.yml:40:1: warning: aurPkgs is the old spelling of aurPackages; rename it`
	if len(c.Warnings) != 1 || c.Warnings[0].String() != wantWarn {
		t.Errorf("warnings = %v, want %s", c.Warnings, wantWarn)
	}
}

func TestPositions(t *testing.T) {
	c := mustLoad(t, `hostname: h
users:
  - name: alice
    groups: [a, b]
packages:
  - git
  - {name: ssh, debian: [openssh-server]}
region:
  timezone: UTC
files:
  - path: /etc/a
    mode: 0644
partitioning:
  disk: /dev/sda
`, nil)
	for path, want := range map[string]string{
		"hostname":              "c.yml:1:11",
		"users":                 "c.yml:3:3",
		"users[0]":              "c.yml:3:5",
		"users[0].name":         "c.yml:3:11",
		"users[0].groups[1]":    "c.yml:4:17",
		"users[0].shell":        "c.yml:3:5", // not declared: falls back to the closest ancestor
		"packages[0]":           "c.yml:6:5",
		"packages[0].name":      "c.yml:6:5",
		"packages[1].name":      "c.yml:7:12",
		"packages[1].debian[0]": "c.yml:7:26",
		"region.timezone":       "c.yml:9:13",
		"files[0].mode":         "c.yml:12:11",
		"partitioning.disk":     "c.yml:14:9",
		"nothing":               "c.yml",
	} {
		if got := c.Pos(path).String(); got != want {
			t.Errorf("Pos(%q) = %s, want %s", path, got, want)
		}
	}
	if got := c.NodePos(c.Extra["partitioning"]).String(); got != "c.yml:14:3" {
		t.Errorf("NodePos(partitioning) = %s", got)
	}
}

func TestEmptyDocuments(t *testing.T) {
	const nothing = `c.yml:1:1: warning: the Ch-obolo declares nothing (no hostname, users, packages, ...): applying it changes nothing`
	for _, src := range []string{"", "\n", "# only a comment\n", "---\n", "~\n", "{}\n", "x-a: &a {shell: bash}\n"} {
		c := mustLoad(t, src, nil)
		if len(c.Keys()) != 0 || c.File != "c.yml" {
			t.Errorf("%q: keys %v", src, c.Keys())
		}
		if len(c.Warnings) != 1 || c.Warnings[0].String() != nothing {
			t.Errorf("%q: warnings %v, want %s", src, c.Warnings, nothing)
		}
	}
	// A null section is ignored (its own warning), and then nothing is declared either.
	if c := mustLoad(t, "users:\n", nil); len(c.Warnings) != 2 || c.Warnings[1].String() != nothing {
		t.Errorf("users: null: warnings %v", c.Warnings)
	}
	if c := mustLoad(t, "users: []\n", nil); len(c.Warnings) != 0 {
		t.Errorf("users: []: warnings %v", c.Warnings)
	}
}

func TestNullValues(t *testing.T) {
	c := mustLoad(t, "users:\nhostname: h\nregion:\n  timezone:\n", nil)
	if c.Has("users") {
		t.Errorf("a null section must not count as declared (full-state roles would prune everything)")
	}
	want := `c.yml:1:1: warning: users has no value and is ignored (write users: [] or {} to declare it empty)`
	if len(c.Warnings) != 1 || c.Warnings[0].String() != want {
		t.Errorf("warnings = %v", c.Warnings)
	}
	if c.Region.Timezone != "" || !c.Has("region") {
		t.Errorf("region = %+v", c.Region)
	}
	if c := mustLoad(t, "users: []\n", nil); !c.Has("users") || len(c.Users) != 0 {
		t.Errorf("users: [] must be declared and empty")
	}
}

func TestLegacySpellings(t *testing.T) {
	c := mustLoad(t, `pacotes: [git]
particoes:
  partitions:
    - {name: root, mount_point: /}
    - {name: boot, mountpoint: /boot}
aurPkgs: [yay]
`, nil)
	if len(c.Packages) != 1 || c.Packages[0].Name != "git" {
		t.Errorf("pacotes not loaded as packages: %+v", c.Packages)
	}
	for _, k := range []string{"partitioning", "aurPackages"} {
		if c.Extra[k] == nil {
			t.Errorf("%s missing", k)
		}
	}
	if c.Extra["partitioning"].Content[1].Content[0].Content[2].Value != "mountpoint" {
		t.Errorf("mount_point not renamed")
	}
	var got []string
	for _, w := range c.Warnings {
		got = append(got, w.String())
	}
	equalLines(t, got, []string{
		`c.yml:1:1: warning: pacotes is the old spelling of packages; rename it`,
		`c.yml:2:1: warning: particoes is the old spelling of partitioning; rename it`,
		`c.yml:4:20: warning: mount_point is the old spelling of mountpoint; rename it`,
		`c.yml:6:1: warning: aurPkgs is the old spelling of aurPackages; rename it`,
	})
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	c := mustLoad(t, `x-user: &user
  shell: zsh
  groups: [wheel]
users:
  - <<: *user
    name: alice
  - <<: *user
    name: bob
    shell: bash
packages: &pk [git, vim]
baseOverride: *pk
`, nil)
	if c.Users[0].Shell != "zsh" || c.Users[1].Shell != "bash" || c.Users[1].Groups[0] != "wheel" {
		t.Errorf("users = %+v", c.Users)
	}
	if len(c.BaseOverride) != 2 {
		t.Errorf("baseOverride = %+v", c.BaseOverride)
	}
	// A value reached through an alias is positioned where it was written.
	if got := c.Pos("users[1].groups[0]").String(); got != "c.yml:3:12" {
		t.Errorf("aliased position = %s", got)
	}
}

func TestAliasBomb(t *testing.T) {
	src := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		src += "x-" + n + ": &" + n + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = n
	}
	src = strings.Replace(src, "a: &a", "x-a: &a", 1)
	_, errs := loadString(t, src, nil)
	if len(errs) != 1 || !strings.Contains(errs[0], "alias bomb") {
		t.Fatalf("errors = %v", errs)
	}
}

func TestZoneinfo(t *testing.T) {
	opts := LoadOptions{Zoneinfo: func(tz string) bool { return tz == "UTC" }}
	if _, err := LoadBytes("c.yml", []byte("region: {timezone: UTC}\n"), opts); err != nil {
		t.Fatal(err)
	}
	_, err := LoadBytes("c.yml", []byte("region: {timezone: Mars/Olympus}\n"), opts)
	equalLines(t, errLines(t, err), []string{
		`c.yml:1:20: error: region.timezone: unknown timezone "Mars/Olympus": not found in the target's zoneinfo`})

	dir := writeTree(t, map[string]string{"Etc/GMT+3": "TZif", "UTC": "TZif"})
	zi := ZoneinfoDir(dir)
	for tz, want := range map[string]bool{"UTC": true, "Etc/GMT+3": true, "Etc": false, "Nope": false, "../UTC": false} {
		if zi(tz) != want {
			t.Errorf("ZoneinfoDir(%q) = %v", tz, !want)
		}
	}
}

func TestLoadFromDisk(t *testing.T) {
	dir := writeTree(t, map[string]string{"c.yml": "hostname: h\n"})
	c, err := Load(dir+"/c.yml", LoadOptions{})
	if err != nil || c.Hostname != "h" || c.File != dir+"/c.yml" {
		t.Fatalf("Load = %+v, %v", c, err)
	}
	_, err = Load(dir+"/missing.yml", LoadOptions{})
	equalLines(t, errLines(t, err), []string{dir + "/missing.yml: error: cannot read Ch-obolo: open: no such file or directory"})
}

// Validate is usable on Ch-obolos built in code, where positions fall back to the file.
func TestValidateProgrammatic(t *testing.T) {
	c := &Chobolo{File: "gen.yml", Users: []User{{Name: "ok"}, {Name: "$(id)"}}, Packages: []Package{{Name: "a",
		Overrides: map[string][]string{"debian": {"Bad"}, "gentoo": {"x"}}}}}
	equalLines(t, errLines(t, Validate(c, LoadOptions{})), []string{
		`gen.yml: error: users[1].name: invalid user name "$(id)": contains shell metacharacter '$' (use lowercase letters, digits, _ and -, starting with a letter or _)`,
		`gen.yml: error: packages[0].debian[0]: invalid Debian package name "Bad": contains uppercase letter 'B' (use lowercase letters, digits, +, - and ., starting with a letter or digit)`,
		`gen.yml: error: packages[0].gentoo: unknown package target "gentoo": expected one of debian, arch, fedora, nix, guix`,
	})
}

func TestExtraKeys(t *testing.T) {
	src := []byte("chimera: {flake: true}\n")
	if _, err := LoadBytes("c.yml", src, LoadOptions{}); err == nil {
		t.Fatal("an undeclared top-level key loaded")
	}
	c, err := LoadBytes("c.yml", src, LoadOptions{ExtraKeys: []string{"chimera"}})
	if err != nil || c.Extra["chimera"] == nil || !c.Has("chimera") {
		t.Fatalf("ExtraKeys: %v, %v", c, err)
	}
}
