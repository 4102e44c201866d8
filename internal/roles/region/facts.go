package region

import (
	"fmt"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/cores/fedora"
	"github.com/ch-aos-ch/chaos/internal/roles/services"
	"github.com/ch-aos-ch/chaos/internal/shell"
)

// Facts is what the probe learnt about the target's time, locale and keyboard settings.
type Facts struct {
	Localtime string // target of the /etc/localtime symlink ("" when not a symlink)
	Timezone  string // content of /etc/timezone, trimmed; "" when missing
	HasZone   bool   // the declared zone exists in the target's zoneinfo
	// Timesyncd is `systemctl --root=/ is-enabled systemd-timesyncd.service` ("" when not installed).
	Timesyncd string
	// TimesyncdActive is the unit's ACTIVE state on a live systemd host, "" otherwise.
	TimesyncdActive string
	// TimesyncdCondFailed is true on a live host when the unit's start conditions fail
	// (ConditionVirtualization=!container in a container): a start would leave it inactive.
	TimesyncdCondFailed bool
	Live                bool
	// Generated are the locales `locale -a` lists, normalized (see normLocale).
	Generated map[string]bool
	// Supported maps a locale to its charset from /usr/share/i18n/SUPPORTED (declared ones only);
	// HasSupported is false when that file is missing.
	Supported    map[string]string
	HasSupported bool
	// File contents; the *Missing flags tell an empty file from an absent one.
	LocaleGen, DefaultLocale, Keyboard     string
	LocaleGenMissing, DefaultLocaleMissing bool
	// Langpacks are the installed glibc langpack packages (Fedora layout), from the "langpacks" section.
	Langpacks map[string]bool
	// Dnf is the dnf that installs them (dnf 4 unless the "dnf" section said otherwise).
	Dnf             fedora.Tool
	KeyboardMissing bool
}

const unit = "systemd-timesyncd.service"

// probeState builds the probe fragment for the declared zone and locales.
func probeState(zone string, locales []string, chroot bool) string {
	var b strings.Builder
	b.WriteString("echo \"@localtime $(readlink /etc/localtime 2>/dev/null)\"\n")
	b.WriteString("[ -r /etc/timezone ] && echo \"@timezone $(head -n 1 /etc/timezone)\"\n")
	if zone != "" {
		fmt.Fprintf(&b, "[ -f /usr/share/zoneinfo/%s ] && echo '@zone'\n", shell.Quote(zone))
	}
	b.WriteString("if command -v systemctl >/dev/null 2>&1 && { [ -e /lib/systemd/system/" + unit +
		" ] || [ -e /usr/lib/systemd/system/" + unit + " ] || [ -e /etc/systemd/system/" + unit + " ]; }; then\n")
	b.WriteString("  echo \"@timesyncd $(systemctl --root=/ is-enabled " + unit + " 2>/dev/null)\"\n")
	if !chroot {
		b.WriteString("  [ -d /run/systemd/system ] && echo \"@active $(systemctl is-active " + unit + " 2>/dev/null)\"\n")
		b.WriteString("  if [ -d /run/systemd/system ]; then\n" + services.ConditionProbe([]string{unit}) + "  fi\n")
	}
	b.WriteString("fi\n")
	b.WriteString("if [ -r /usr/share/i18n/SUPPORTED ]; then echo '@supported'\n")
	for _, l := range locales {
		fmt.Fprintf(&b, "  awk -v l=%s '$1==l{print \"@charset \" $0; exit}' /usr/share/i18n/SUPPORTED\n", shell.Quote(l))
	}
	b.WriteString("fi\n")
	b.WriteString("locale -a 2>/dev/null | sed 's/^/@gen /'\n")
	b.WriteString("true")
	return b.String()
}

// probeFile prints a file, or @missing.
func probeFile(path string) string {
	return fmt.Sprintf("if [ -f %[1]s ]; then cat %[1]s; else echo '@missing'; fi", shell.Quote(path))
}

// ParseFacts reads the probe sections state, localegen, deflocale and keyboard.
func ParseFacts(state, localeGen, defLocale, keyboard string) Facts {
	f := Facts{Generated: map[string]bool{}, Supported: map[string]string{}, Dnf: fedora.Dnf4}
	for line := range strings.SplitSeq(state, "\n") {
		key, val, _ := strings.Cut(line, " ")
		val = strings.TrimSpace(val)
		switch key {
		case "@localtime":
			f.Localtime = val
		case "@timezone":
			f.Timezone = val
		case "@zone":
			f.HasZone = true
		case "@timesyncd":
			f.Timesyncd = val
			if val == "" {
				f.Timesyncd = "unknown"
			}
		case "@active":
			f.Live = true
			f.TimesyncdActive = val
		case "@supported":
			f.HasSupported = true
		case "@charset":
			if fs := strings.Fields(val); len(fs) == 2 {
				f.Supported[fs[0]] = fs[1]
			}
		case "@gen":
			f.Generated[normLocale(val)] = true
		}
	}
	missing := func(s string) (string, bool) {
		if strings.TrimSpace(s) == "@missing" {
			return "", true
		}
		return s, false
	}
	f.TimesyncdCondFailed = services.ParseConditions(state)[unit]
	f.LocaleGen, f.LocaleGenMissing = missing(localeGen)
	f.DefaultLocale, f.DefaultLocaleMissing = missing(defLocale)
	f.Keyboard, f.KeyboardMissing = missing(keyboard)
	return f
}

// normLocale normalizes a locale name the way `locale -a` prints it: the codeset lowercased without
// dashes (en_US.UTF-8 -> en_US.utf8).
func normLocale(l string) string {
	rest, mod, hasMod := strings.Cut(l, "@")
	name, codeset, hasCodeset := strings.Cut(rest, ".")
	out := name
	if hasCodeset {
		out += "." + strings.ReplaceAll(strings.ToLower(codeset), "-", "")
	}
	if hasMod {
		out += "@" + mod
	}
	return out
}

// probeLangpacks prints the installed glibc langpacks among the ones the declared locales need (and
// glibc-all-langpacks), Fedora layout.
func probeLangpacks(locales []string) string {
	var b strings.Builder
	b.WriteString("rpm -q --qf '@langpack %{NAME}\\n' glibc-all-langpacks")
	for _, l := range locales {
		if lp := Langpack(l); lp != "" {
			b.WriteString(" " + shell.Quote(lp))
		}
	}
	b.WriteString(" 2>/dev/null | grep '^@langpack '\ntrue")
	return b.String()
}

// ParseDnf reads the "dnf" section (fedora.ToolProbe): the host's dnf, dnf 4 when it says nothing
// (the install then fails with dnf's own message).
func ParseDnf(out string) fedora.Tool {
	if t, ok := fedora.ParseTool(strings.TrimPrefix(strings.TrimSpace(out), "dnf=")); ok {
		return t
	}
	return fedora.Dnf4
}

// ParseLangpacks reads the "langpacks" section.
func ParseLangpacks(out string) map[string]bool {
	m := map[string]bool{}
	for line := range strings.SplitSeq(out, "\n") {
		if n, ok := strings.CutPrefix(strings.TrimSpace(line), "@langpack "); ok {
			m[n] = true
		}
	}
	return m
}
