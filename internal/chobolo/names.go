package chobolo

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode"
)

// The validators below are exported so that roles, cores and compilers check names the same way
// the loader does. Values end up in argv slices and configuration files, never in a shell line
// without quoting; the character sets are nevertheless closed so that a hostile or mistyped value
// (newline, `$(...)`, a leading "-" read as an option) is refused before any plan exists.

// shellMeta are the characters that mean something to sh; none of them belongs in a name.
const shellMeta = "$`;|&<>()\\'\""

// describeRune names a character in an error message.
func describeRune(r rune) string {
	switch {
	case r == '\n':
		return "a newline"
	case r == '\r':
		return "a carriage return"
	case r == 0:
		return "a NUL byte"
	case r == '\t':
		return "a tab"
	case r == ' ':
		return "a space"
	case r == '/':
		return `a "/"`
	case unicode.IsControl(r) || r == unicode.ReplacementChar:
		return fmt.Sprintf("control character %U", r)
	case strings.ContainsRune(shellMeta, r):
		return fmt.Sprintf("shell metacharacter %q", r)
	case unicode.IsUpper(r):
		return fmt.Sprintf("uppercase letter %q", r)
	case r > unicode.MaxASCII:
		return fmt.Sprintf("non-ASCII character %q", r)
	default:
		return fmt.Sprintf("character %q", r)
	}
}

// checkName applies the rules every name shares (not empty, no leading "-", bounded length) and
// then the character classes of the first and the following characters.
func checkName(what, s string, maxLen int, first, rest func(rune) bool, hint string) error {
	fail := func(reason string) error { return fmt.Errorf("invalid %s %q: %s", what, s, reason) }
	switch {
	case s == "":
		return fmt.Errorf("%s is empty", what)
	case s[0] == '-':
		return fail(`starts with "-" (it would be read as a command-line option)`)
	}
	for i, r := range s {
		ok := rest(r)
		if i == 0 {
			ok = first(r)
		}
		if !ok {
			if i == 0 && rest(r) {
				return fail(fmt.Sprintf("cannot start with %s (%s)", describeRune(r), hint))
			}
			return fail(fmt.Sprintf("contains %s (%s)", describeRune(r), hint))
		}
	}
	if len(s) > maxLen {
		return fail(fmt.Sprintf("longer than %d characters", maxLen))
	}
	return nil
}

func isLower(r rune) bool { return r >= 'a' && r <= 'z' }
func isDigit(r rune) bool { return r >= '0' && r <= '9' }
func isAlnum(r rune) bool { return isLower(r) || isDigit(r) || (r >= 'A' && r <= 'Z') }

// posixName checks a POSIX portable user or group name: ^[a-z_][a-z0-9_-]*[$]?$, at most 32 bytes
// (the limit of useradd and of utmp).
func posixName(what, s string) error {
	body := strings.TrimSuffix(s, "$") // a trailing "$" marks Samba machine accounts
	if body == "" && s != "" {
		return fmt.Errorf("invalid %s %q: is only \"$\"", what, s)
	}
	if err := checkName(what, body, 32, func(r rune) bool { return isLower(r) || r == '_' },
		func(r rune) bool { return isLower(r) || isDigit(r) || r == '_' || r == '-' },
		"use lowercase letters, digits, _ and -, starting with a letter or _"); err != nil {
		if body != s {
			return fmt.Errorf("invalid %s %q: %w", what, s, errors.Unwrap(err))
		}
		return err
	}
	if len(s) > 32 {
		return fmt.Errorf("invalid %s %q: longer than 32 characters", what, s)
	}
	return nil
}

// ValidUserName checks a POSIX portable user name (^[a-z_][a-z0-9_-]*[$]?$, at most 32 characters).
func ValidUserName(s string) error { return posixName("user name", s) }

// ValidGroupName checks a POSIX portable group name, with the rules of ValidUserName.
func ValidGroupName(s string) error { return posixName("group name", s) }

// ValidHostname checks an RFC 1123 host name: dot-separated labels of 1 to 63 characters among
// letters, digits and "-", not starting or ending with "-", at most 253 characters in total. Case is
// kept: RFC 1123 names are case-insensitive, and systemd (hostnamectl, /etc/hostname), NixOS's
// networking.hostName and Guix's host-name all accept uppercase ("Dionysus"). A dotted FQDN is
// accepted; the hostname role decides what goes where (short name, /etc/hosts aliases).
func ValidHostname(s string) error {
	if err := checkName("hostname", s, 253, isAlnum,
		func(r rune) bool { return isAlnum(r) || r == '-' || r == '.' },
		"use letters, digits, - and dots between labels"); err != nil {
		return err
	}
	for label := range strings.SplitSeq(s, ".") {
		switch {
		case label == "":
			return fmt.Errorf("invalid hostname %q: has an empty label (two dots, or a dot at the end)", s)
		case len(label) > 63:
			return fmt.Errorf("invalid hostname %q: label %q is longer than 63 characters", s, label)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Errorf("invalid hostname %q: label %q starts or ends with \"-\"", s, label)
		}
	}
	return nil
}

// ValidDebianPackage checks a Debian package name (^[a-z0-9][a-z0-9+.-]+$, Debian Policy 5.6.1),
// optionally qualified with an architecture (libc6:i386).
func ValidDebianPackage(s string) error {
	name, arch, qualified := strings.Cut(s, ":")
	if err := checkName("Debian package name", name, 255, func(r rune) bool { return isLower(r) || isDigit(r) },
		func(r rune) bool { return isLower(r) || isDigit(r) || strings.ContainsRune("+.-", r) },
		"use lowercase letters, digits, +, - and ., starting with a letter or digit"); err != nil {
		if name != s {
			return fmt.Errorf("invalid Debian package name %q: %w", s, errors.Unwrap(err))
		}
		return err
	}
	if len(name) < 2 {
		return fmt.Errorf("invalid Debian package name %q: shorter than 2 characters", s)
	}
	if qualified {
		if err := checkName("architecture", arch, 32, func(r rune) bool { return isLower(r) || isDigit(r) },
			func(r rune) bool { return isLower(r) || isDigit(r) || r == '-' }, "e.g. amd64, i386, arm64"); err != nil {
			return fmt.Errorf("invalid Debian package name %q: %w", s, err)
		}
	}
	return nil
}

// ValidPackageName checks a distro-agnostic package name as written in `packages`, before the
// package map turns it into a core's names: letters, digits and @ . _ + : -, not starting with a
// symbol other than "_", or "@" and such a name: a comps group ("@development-tools", Fedora). Each
// core checks its resolved names with its own rule (ValidDebianPackage, fedora.ValidName).
func ValidPackageName(s string) error {
	if group, ok := strings.CutPrefix(s, "@"); ok {
		if err := validName(group); err != nil {
			return fmt.Errorf("invalid group %q: %w", s, err)
		}
		return nil
	}
	return validName(s)
}

func validName(s string) error {
	return checkName("package name", s, 255, func(r rune) bool { return isAlnum(r) || r == '_' },
		func(r rune) bool { return isAlnum(r) || strings.ContainsRune("@._+:-", r) },
		"use letters, digits and @ . _ + : -")
}

// unitSuffixes are the unit types chaos manages; a name without one of them is a service.
var unitSuffixes = []string{".service", ".socket", ".timer", ".target", ".path", ".mount", ".automount",
	".swap", ".slice", ".scope"}

// ValidUnitName checks a systemd unit name: characters among A-Z a-z 0-9 : _ . @ - and systemd's
// \xNN escapes, no leading "-", at most 255 characters, at most one "@" (not first), and an optional
// unit suffix (.service, .socket, .timer, ...). Without a known suffix the name is a service.
func ValidUnitName(s string) error {
	if err := checkName("unit name", s, 255, func(r rune) bool { return isAlnum(r) || strings.ContainsRune(":_.\\", r) },
		func(r rune) bool { return isAlnum(r) || strings.ContainsRune(":_.@-\\", r) },
		`use letters, digits and : _ . @ -`); err != nil {
		return err
	}
	// A backslash is only allowed as systemd's own escape, \xNN (as in dev-disk-by\x2duuid).
	for rest := s; ; {
		i := strings.IndexByte(rest, '\\')
		if i < 0 {
			break
		}
		if i+3 >= len(rest) || rest[i+1] != 'x' || !isHex(rest[i+2]) || !isHex(rest[i+3]) {
			return fmt.Errorf(`invalid unit name %q: a "\" must start a systemd escape \xNN`, s)
		}
		rest = rest[i+4:]
	}
	base := s
	for _, suf := range unitSuffixes {
		if strings.HasSuffix(s, suf) {
			base = strings.TrimSuffix(s, suf)
			break
		}
	}
	switch {
	case base == "" || base == "@":
		return fmt.Errorf("invalid unit name %q: has no name before the suffix", s)
	case strings.Count(s, "@") > 1:
		return fmt.Errorf("invalid unit name %q: has more than one \"@\"", s)
	}
	return nil
}

func isHex(b byte) bool { return isDigit(rune(b)) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F') }

// ValidTimezone checks the syntax of a zoneinfo name: "UTC", "Etc/GMT+3",
// "America/Argentina/Buenos_Aires". Components use letters, digits, _ + and -, and "." or ".."
// components and a leading "/" are refused, so the name always stays under /usr/share/zoneinfo.
// Whether the zone exists on a target is checked separately (LoadOptions.Zoneinfo, the engine).
func ValidTimezone(s string) error {
	if err := checkName("timezone", s, 255, func(r rune) bool { return isAlnum(r) || r == '_' },
		func(r rune) bool { return isAlnum(r) || strings.ContainsRune("/_+-", r) },
		"e.g. UTC, Europe/Berlin, America/Argentina/Buenos_Aires"); err != nil {
		return err
	}
	for c := range strings.SplitSeq(s, "/") {
		switch {
		case c == "":
			return fmt.Errorf("invalid timezone %q: has an empty component", s)
		case c[0] == '-' || c[0] == '+':
			return fmt.Errorf("invalid timezone %q: component %q starts with %q", s, c, c[0])
		}
	}
	return nil
}

// ValidLocale checks a locale name: language[_TERRITORY][.codeset][@modifier], e.g. en_US.UTF-8,
// pt_BR, sr_RS@latin, C.UTF-8, POSIX.
func ValidLocale(s string) error {
	const hint = "expected language[_TERRITORY][.codeset][@modifier], e.g. en_US.UTF-8"
	if err := checkName("locale", s, 64, isAlnum, func(r rune) bool { return isAlnum(r) || strings.ContainsRune("_.@-", r) },
		hint); err != nil {
		return err
	}
	rest, modifier, hasMod := strings.Cut(s, "@")
	rest, codeset, hasCodeset := strings.Cut(rest, ".")
	lang, territory, hasTerritory := strings.Cut(rest, "_")
	ok := (lang == "C" || lang == "POSIX" || (len(lang) >= 2 && len(lang) <= 3 && all(lang, isLower))) &&
		(!hasTerritory || (len(territory) == 2 && all(territory, func(r rune) bool { return r >= 'A' && r <= 'Z' })) ||
			(len(territory) == 3 && all(territory, isDigit))) &&
		(!hasCodeset || (codeset != "" && all(codeset, func(r rune) bool { return isAlnum(r) || r == '-' }))) &&
		(!hasMod || (modifier != "" && all(modifier, isLower)))
	if !ok {
		return fmt.Errorf("invalid locale %q: %s", s, hint)
	}
	return nil
}

func all(s string, f func(rune) bool) bool {
	for _, r := range s {
		if !f(r) {
			return false
		}
	}
	return true
}

// ValidKeymap checks a console keymap name (us, br-abnt2, de-latin1-nodeadkeys, fr_CH).
func ValidKeymap(s string) error {
	return checkName("keymap", s, 64, isAlnum, func(r rune) bool { return isAlnum(r) || strings.ContainsRune("_.+-", r) },
		"use letters, digits and _ . + -")
}

// ValidAbsPath checks an absolute, clean path: it starts with "/", path.Clean leaves it unchanged
// (no "..", ".", "//" or trailing "/"), and it has no control character (newline, NUL) and no shell
// metacharacter. Spaces are allowed.
func ValidAbsPath(p string) error {
	fail := func(reason string) error { return fmt.Errorf("invalid path %q: %s", p, reason) }
	if p == "" {
		return errors.New("path is empty")
	}
	for _, r := range p {
		if unicode.IsControl(r) || r == unicode.ReplacementChar || strings.ContainsRune(shellMeta, r) {
			return fail("contains " + describeRune(r))
		}
	}
	switch {
	case p[0] != '/':
		return fail(`is not absolute (it must start with "/")`)
	case len(p) > 4096:
		return fail("longer than 4096 characters")
	case path.Clean(p) != p:
		for c := range strings.SplitSeq(p, "/") {
			if c == ".." {
				return fail(`contains a ".." component`)
			}
		}
		return fail(fmt.Sprintf("is not clean (write %q)", path.Clean(p)))
	}
	return nil
}

// UnitName applies the `.service` default to a declared unit name.
func UnitName(name string) string {
	if hasUnitSuffix(name) {
		return name
	}
	return name + ".service"
}

// unitDirs are the directories systemd loads unit files from, in its search order.
var unitDirs = []string{"/etc/systemd/system/", "/run/systemd/system/", "/usr/local/lib/systemd/system/",
	"/usr/lib/systemd/system/", "/lib/systemd/system/"}

// UnitOfPath says which unit a path configures: a unit file (/etc/systemd/system/NAME) or one of its
// drop-ins (/etc/systemd/system/NAME.d/*.conf) in one of systemd's unit directories. Changing such a
// file needs a `systemctl daemon-reload` before the unit sees it.
func UnitOfPath(p string) (unit string, ok bool) {
	for _, d := range unitDirs {
		rest, found := strings.CutPrefix(p, d)
		if !found {
			continue
		}
		name, conf, sub := strings.Cut(rest, "/")
		switch {
		case !sub && hasUnitSuffix(name):
			return name, true
		case sub && strings.HasSuffix(name, ".d") && !strings.Contains(conf, "/") && strings.HasSuffix(conf, ".conf"):
			if u := strings.TrimSuffix(name, ".d"); hasUnitSuffix(u) {
				return u, true
			}
		}
	}
	return "", false
}
