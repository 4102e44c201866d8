package chobolo

import (
	"strings"
	"testing"
)

// Each validator gets values it must accept and values it must refuse, with the reason expected in
// the message (empty: only that it fails).
func TestValidators(t *testing.T) {
	type bad struct{ value, reason string }
	cases := []struct {
		name  string
		check func(string) error
		good  []string
		bad   []bad
	}{
		{"user", ValidUserName,
			[]string{"alice", "_apt", "systemd-network", "a1", "machine$", strings.Repeat("a", 32)},
			[]bad{{"", "is empty"}, {"-rf", `starts with "-"`}, {"Alice", "uppercase letter 'A'"}, {"1abc", "cannot start with character '1'"},
				{"a b", "a space"}, {"a;b", "shell metacharacter ';'"}, {"$(id)", "shell metacharacter '$'"}, {"a`id`", "shell metacharacter '`'"},
				{"a\nb", "a newline"}, {"a$b", "shell metacharacter '$'"}, {"$", `is only "$"`}, {strings.Repeat("a", 33), "longer than 32"},
				{"jos\u00e9", "non-ASCII"}, {"a.b", "character '.'"}}},
		{"group", ValidGroupName, []string{"wheel", "docker", "_ssh"}, []bad{{"Wheel", "uppercase"}, {"-g", `starts with "-"`}}},
		{"hostname", ValidHostname,
			[]string{"a", "forge-01", "forge-01.example.org", "1host", strings.Repeat("a", 63), "Dionysus", "Forge-01.Example.ORG"},
			[]bad{{"", "is empty"}, {"-a", `starts with "-"`}, {"a-", `ends with "-"`}, {"a.-b", `label "-b" starts or ends`},
				{"a..b", "empty label"}, {"a.", "empty label"}, {"a_b", "character '_'"}, {"-Forge", `starts with "-"`},
				{strings.Repeat("a", 64), "longer than 63"}, {"a$(reboot)", "shell metacharacter '$'"},
				{strings.Repeat("a.", 127) + "a", "longer than 253"}}},
		{"debian package", ValidDebianPackage,
			[]string{"openssh-server", "g++", "libc6:i386", "python3.11", "0ad", "xz-utils"},
			[]bad{{"a", "shorter than 2"}, {"Foo", "uppercase"}, {"-x", `starts with "-"`}, {"a b", "a space"}, {"libc6:", "architecture is empty"},
				{"libc6:i386:x", "character ':'"}, {"foo_bar", "character '_'"}, {".ab", "cannot start with character '.'"}}},
		{"package", ValidPackageName,
			[]string{"NetworkManager", "python3Packages.requests", "guile@3.0", "libc6:i386", "_x", "7zip", "g++", "@development-tools"},
			[]bad{{"", "is empty"}, {"-y", `starts with "-"`}, {"a;b", "shell metacharacter"}, {"a b", "a space"}, {"@@x", "cannot start"},
				{"@", "invalid group"}, {"@-x", `starts with "-"`}}},
		{"unit", ValidUnitName,
			[]string{"nginx", "nginx.service", "getty@tty1.service", "getty@.service", "systemd-networkd.socket",
				`dev-disk-by\x2duuid.swap`, "org.cups.cupsd", "fstrim.timer", "a:b"},
			[]bad{{"", "is empty"}, {"-x.service", `starts with "-"`}, {".service", "no name before the suffix"},
				{"a@b@c.service", "more than one"}, {`a\b`, "systemd escape"}, {`a\x2`, "systemd escape"}, {"a b", "a space"},
				{"a;b", "shell metacharacter"}, {"a/b", `a "/"`}, {"@x.service", "cannot start"}}},
		{"timezone", ValidTimezone,
			[]string{"UTC", "Etc/GMT+3", "Etc/GMT-14", "America/Argentina/Buenos_Aires", "EST5EDT", "America/Port-au-Prince"},
			[]bad{{"", "is empty"}, {"/etc/passwd", "cannot start"}, {"../../etc/passwd", "character '.'"}, {"Europe/../x", "character '.'"},
				{"Europe//Berlin", "empty component"}, {"Europe/", "empty component"}, {"a b", "a space"}, {"Etc/-x", `starts with '-'`}}},
		{"locale", ValidLocale,
			[]string{"en_US.UTF-8", "C.UTF-8", "C.utf8", "C", "POSIX", "pt_BR", "sr_RS@latin", "ca_ES.UTF-8@valencia", "ast_ES.UTF-8",
				"es_419.UTF-8", "de_DE.ISO-8859-15", "eo"},
			[]bad{{"", "is empty"}, {"english", "expected language"}, {"en_us.UTF-8", "expected language"}, {"en_US.UTF-8 UTF-8", "a space"},
				{"en_US.", "expected language"}, {"-en", `starts with "-"`}, {"en_US@", "expected language"}}},
		{"keymap", ValidKeymap,
			[]string{"us", "br-abnt2", "de-latin1-nodeadkeys", "fr_CH", "mac-us"},
			[]bad{{"", "is empty"}, {"-us", `starts with "-"`}, {"us;x", "shell metacharacter"}, {"a/b", `a "/"`}}},
		{"path", ValidAbsPath,
			[]string{"/", "/etc/motd", "/home/a b/c", "/etc/ssh/sshd_config.d/10-chaos.conf", "/opt/x@1+2,3"},
			[]bad{{"", "is empty"}, {"etc/motd", "not absolute"}, {"/etc/../shadow", `".." component`}, {"/etc/", "not clean"},
				{"/etc//x", "not clean"}, {"/./x", "not clean"}, {"/a\nb", "a newline"}, {"/a\x00b", "a NUL byte"},
				{"/a$(id)", "shell metacharacter '$'"}, {"/a`id`", "shell metacharacter '`'"}, {"/a;b", "shell metacharacter ';'"},
				{"/" + strings.Repeat("a", 4096), "longer than 4096"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range tc.good {
				if err := tc.check(v); err != nil {
					t.Errorf("%q refused: %v", v, err)
				}
			}
			for _, b := range tc.bad {
				err := tc.check(b.value)
				switch {
				case err == nil:
					t.Errorf("%q accepted", b.value)
				case !strings.Contains(err.Error(), b.reason):
					t.Errorf("%q: error %q does not say %q", b.value, err, b.reason)
				case strings.ContainsAny(err.Error(), "\n\x00"):
					t.Errorf("%q: message is not one line: %q", b.value, err)
				}
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"hostname", "users", "packages", "services", "region", "files", "core"}
	for got, want := range map[string]string{
		"hostnme": "hostname", "user": "users", "pakages": "packages", "Services": "services", "fils": "files",
		"foo": "", "x": "", "cores": "core", "zzzzzzzz": "",
	} {
		if s := suggest(got, known); s != want {
			t.Errorf("suggest(%q) = %q, want %q", got, s, want)
		}
	}
}

func TestUnitOfPath(t *testing.T) {
	for p, want := range map[string]string{
		"/etc/systemd/system/nginx.service":                     "nginx.service",
		"/etc/systemd/system/nginx.service.d/limits.conf":       "nginx.service",
		"/usr/lib/systemd/system/getty@.service":                "getty@.service",
		"/lib/systemd/system/fstrim.timer":                      "fstrim.timer",
		"/run/systemd/system/x.socket.d/override.conf":          "x.socket",
		"/etc/systemd/system/nginx.service.d":                   "",
		"/etc/systemd/system/nginx.service.d/notes.txt":         "",
		"/etc/systemd/system/multi-user.target.wants/a.service": "",
		"/etc/systemd/system.conf":                              "",
		"/etc/nginx/nginx.service":                              "",
	} {
		got, ok := UnitOfPath(p)
		if got != want || ok != (want != "") {
			t.Errorf("UnitOfPath(%q) = %q, %v; want %q", p, got, ok, want)
		}
	}
}
