package region

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	dnfrole "github.com/ch-aos-ch/chaos/internal/roles/dnf"
)

// Debian paths. Other cores get their own set (locale.conf, vconsole.conf) when they are added.
const (
	zoneinfo      = "/usr/share/zoneinfo/"
	localtime     = "/etc/localtime"
	timezoneFile  = "/etc/timezone"
	localeGenFile = "/etc/locale.gen"
	defaultLocale = "/etc/default/locale"
	keyboardFile  = "/etc/default/keyboard"
)

// Layout is where a core keeps the settings (the locale.gen file and locale-gen are the same on
// Debian and Arch).
type Layout struct {
	// TimezoneFile holds the zone name besides the /etc/localtime link; "" when the core has none.
	TimezoneFile string
	// LocaleConf holds LANG=.
	LocaleConf string
	// Keyboard is the keyboard file: XKB variables (Debian's /etc/default/keyboard), or the console
	// KEYMAP= when Vconsole is set (Arch's /etc/vconsole.conf, which takes the keymap name as is).
	Keyboard string
	Vconsole bool
	// Langpacks selects Fedora's way of providing locales: the glibc-langpack-LANG packages (dnf)
	// instead of locale.gen and locale-gen.
	Langpacks bool
}

// DebianLayout and ArchLayout are the two cores' files.
var (
	DebianLayout = Layout{TimezoneFile: timezoneFile, LocaleConf: defaultLocale, Keyboard: keyboardFile}
	ArchLayout   = Layout{LocaleConf: "/etc/locale.conf", Keyboard: "/etc/vconsole.conf", Vconsole: true}
	// FedoraLayout is the Fedora core's: locale.conf and vconsole.conf like Arch, no /etc/timezone, and
	// glibc langpacks for the declared locales.
	FedoraLayout = Layout{LocaleConf: "/etc/locale.conf", Keyboard: "/etc/vconsole.conf", Vconsole: true, Langpacks: true}
)

// Target is what the plan needs to know about the host besides its files.
type Target struct {
	Live   bool // systemd runs: timesyncd can be started and stopped
	Chroot bool
	// Layout is the core's file layout; nil means DebianLayout.
	Layout *Layout
	// ServicesDeclareTimesyncd is true when the `services` key also declares systemd-timesyncd.
	ServicesDeclareTimesyncd bool
	// TimesyncdComing is true when the packages role installs systemd-timesyncd (this role's need
	// for `ntp: true`) earlier in the same run.
	TimesyncdComing bool
}

// consoleToXKB maps common console keymap names (the original's vconsole KEYMAP values) to an XKB
// layout and variant for /etc/default/keyboard.
var consoleToXKB = map[string][2]string{
	"uk": {"gb", ""}, "br-abnt2": {"br", "abnt2"}, "br-abnt": {"br", ""}, "us-acentos": {"us", "intl"},
	"de-latin1": {"de", ""}, "de-latin1-nodeadkeys": {"de", "nodeadkeys"}, "de-nodeadkeys": {"de", "nodeadkeys"},
	"fr-latin1": {"fr", ""}, "fr-latin9": {"fr", "latin9"}, "fr-pc": {"fr", ""}, "fr-bepo": {"fr", "bepo"},
	"fr_CH": {"ch", "fr"}, "fr_CH-latin1": {"ch", "fr"}, "de_CH-latin1": {"ch", ""}, "sg": {"ch", ""},
	"pt-latin1": {"pt", ""}, "pt-latin9": {"pt", ""}, "es": {"es", ""}, "it": {"it", ""},
	"dvorak": {"us", "dvorak"}, "colemak": {"us", "colemak"}, "pl2": {"pl", ""}, "se-lat6": {"se", ""},
	"sv-latin1": {"se", ""}, "no-latin1": {"no", ""}, "dk-latin1": {"dk", ""}, "fi": {"fi", ""},
	"cz-qwertz": {"cz", ""}, "cz-lat2": {"cz", ""}, "hu": {"hu", ""}, "jp106": {"jp", ""}, "trq": {"tr", ""},
	"la-latin1": {"latam", ""}, "be-latin1": {"be", ""}, "ru": {"ru", ""}, "ua": {"ua", ""},
}

// XKB maps a declared keymap to an XKB layout and variant.
func XKB(keymap string) (layout, variant string) {
	if m, ok := consoleToXKB[keymap]; ok {
		return m[0], m[1]
	}
	if l, v, ok := strings.Cut(keymap, "-"); ok {
		return l, v
	}
	return keymap, ""
}

// BuildPlan is the pure delta and plan: facts and the region section to steps.
func BuildPlan(r chobolo.Region, f *Facts, t Target, pos func(string) chobolo.Pos) (*engine.RolePlan, error) {
	rp := &engine.RolePlan{}
	lay := DebianLayout
	if t.Layout != nil {
		lay = *t.Layout
	}
	if r.Timezone != "" {
		p := pos("region.timezone")
		if err := chobolo.ValidTimezone(r.Timezone); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if !f.HasZone {
			return nil, fmt.Errorf("%s: timezone %q does not exist in the target's %s (is tzdata installed?)", p, r.Timezone, zoneinfo)
		}
		want := zoneinfo + r.Timezone
		var ops []engine.Op
		if f.Localtime != want {
			ops = append(ops, engine.Symlink(localtime, want))
		}
		if lay.TimezoneFile != "" && f.Timezone != r.Timezone {
			ops = append(ops, engine.Write(lay.TimezoneFile, []byte(r.Timezone+"\n"), 0o644, "root", "root"))
		}
		if len(ops) > 0 {
			from := f.Timezone
			if lay.TimezoneFile == "" || from == "" {
				from = strings.TrimPrefix(f.Localtime, zoneinfo)
			}
			from = cmp.Or(from, "(none)")
			rp.Add([]engine.Change{{Kind: engine.Modify, Subject: "timezone", Detail: from + " -> " + r.Timezone, Pos: p}}, ops...)
		}
	}
	if len(r.Locales) > 0 {
		if err := planLocales(rp, r.Locales, f, lay, pos); err != nil {
			return nil, err
		}
	}
	if r.Keymap != "" {
		p := pos("region.keymap")
		if err := chobolo.ValidKeymap(r.Keymap); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if lay.Vconsole {
			planVconsole(rp, r.Keymap, f, lay.Keyboard, p)
		} else if err := planXKB(rp, r.Keymap, f, t, p); err != nil {
			return nil, err
		}
	}
	if r.NTP != nil {
		if err := planNTP(rp, *r.NTP, f, t, pos("region.ntp")); err != nil {
			return nil, err
		}
	}
	return rp, nil
}

// planVconsole sets KEYMAP= in the console configuration (Arch: /etc/vconsole.conf).
func planVconsole(rp *engine.RolePlan, keymap string, f *Facts, path string, p chobolo.Pos) {
	next := setVars(f.Keyboard, [][2]string{{"KEYMAP", keymap}})
	if next != f.Keyboard || f.KeyboardMissing {
		from, _ := getVar(f.Keyboard, "KEYMAP")
		from = cmp.Or(from, "(unset)")
		rp.Add([]engine.Change{{Kind: engine.Modify, Subject: "keymap " + path, Detail: from + " -> " + keymap, Pos: p}},
			engine.Write(path, []byte(next), 0o644, "root", "root"))
	}
}

// planXKB sets the XKB layout in Debian's /etc/default/keyboard.
func planXKB(rp *engine.RolePlan, keymap string, f *Facts, t Target, p chobolo.Pos) error {
	{
		layout, variant := XKB(keymap)
		cur := f.Keyboard
		if f.KeyboardMissing {
			cur = "XKBMODEL=\"pc105\"\nXKBLAYOUT=\"\"\nXKBVARIANT=\"\"\nXKBOPTIONS=\"\"\n\nBACKSPACE=\"guess\"\n"
		}
		next := setVars(cur, [][2]string{{"XKBLAYOUT", quoteVal(layout)}, {"XKBVARIANT", quoteVal(variant)}})
		if next != f.Keyboard || f.KeyboardMissing {
			detail := fmt.Sprintf("XKBLAYOUT=%s XKBVARIANT=%s", layout, variant)
			if t.Live {
				detail += " (the console picks it up at the next boot or `setupcon`)"
			}
			rp.Add([]engine.Change{{Kind: engine.Modify, Subject: "keymap " + keyboardFile, Detail: detail, Pos: p}},
				engine.Write(keyboardFile, []byte(next), 0o644, "root", "root"))
		}
	}
	return nil
}

func quoteVal(v string) string { return `"` + v + `"` }

// setVars sets KEY=VALUE lines in a shell-style variables file, keeping every other line; a later
// duplicate assignment (which would override ours) is dropped, and missing keys are appended.
func setVars(content string, vars [][2]string) string {
	var lines []string
	if content != "" {
		lines = strings.Split(strings.TrimSuffix(content, "\n"), "\n")
	}
	for _, kv := range vars {
		found := false
		out := lines[:0:0]
		for _, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), kv[0]+"=") {
				if found {
					continue
				}
				l, found = kv[0]+"="+kv[1], true
			}
			out = append(out, l)
		}
		if !found {
			out = append(out, kv[0]+"="+kv[1])
		}
		lines = out
	}
	return strings.Join(lines, "\n") + "\n"
}

// getVar reads KEY's value from a shell-style variables file, without quotes.
func getVar(content, key string) (string, bool) {
	for l := range strings.SplitSeq(content, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+"="); ok {
			return strings.Trim(v, `"'`), true
		}
	}
	return "", false
}

// LocaleGen returns the locale.gen content that generates exactly the declared locales: their
// commented lines are uncommented (or appended), other active lines are commented out.
func LocaleGen(content string, locales []string, charset func(string) string) string {
	lines := strings.Split(strings.TrimSuffix(content, "\n"), "\n")
	if content == "" {
		lines = nil
	}
	done := map[string]bool{}
	// active lines: keep the declared, comment out the rest
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		name := strings.Fields(t)[0]
		if slices.Contains(locales, name) && !done[name] {
			done[name] = true
			continue
		}
		lines[i] = "# " + l
	}
	for _, loc := range locales {
		if done[loc] {
			continue
		}
		want := loc + " " + charset(loc)
		for i, l := range lines {
			t := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(l), "#"))
			if fs := strings.Fields(t); len(fs) == 2 && fs[0] == loc && fs[1] == charset(loc) && strings.HasPrefix(strings.TrimSpace(l), "#") {
				lines[i] = want
				done[loc] = true
				break
			}
		}
		if !done[loc] {
			lines = append(lines, want)
			done[loc] = true
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

func planLocales(rp *engine.RolePlan, locales []string, f *Facts, lay Layout, pos func(string) chobolo.Pos) error {
	localeConf := lay.LocaleConf
	seen := map[string]bool{}
	for i, l := range locales {
		p := pos(fmt.Sprintf("region.locale[%d]", i))
		if err := chobolo.ValidLocale(l); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if seen[l] {
			return fmt.Errorf("%s: locale %s is declared twice", p, l)
		}
		seen[l] = true
		if f.HasSupported && f.Supported[l] == "" && l != "C.UTF-8" {
			return fmt.Errorf("%s: locale %q is not in the target's /usr/share/i18n/SUPPORTED (spelling? e.g. en_US.UTF-8)", p, l)
		}
	}
	charset := func(l string) string {
		if cs := f.Supported[l]; cs != "" {
			return cs
		}
		if _, cs, ok := strings.Cut(strings.SplitN(l, "@", 2)[0], "."); ok {
			return cs
		}
		return "ISO-8859-1"
	}
	p := pos("region.locale")
	if lay.Langpacks {
		planLangpacks(rp, locales, f, p)
	} else {
		planLocaleGen(rp, locales, f, charset, p)
	}
	planLang(rp, locales, f, localeConf, pos)
	return nil
}

// planLocaleGen writes locale.gen and runs locale-gen (Debian, Arch).
func planLocaleGen(rp *engine.RolePlan, locales []string, f *Facts, charset func(string) string, p chobolo.Pos) {
	next := LocaleGen(f.LocaleGen, locales, charset)
	var missing []string
	for _, l := range locales {
		if !f.Generated[normLocale(l)] {
			missing = append(missing, l)
		}
	}
	changed := next != f.LocaleGen || f.LocaleGenMissing
	if changed || len(missing) > 0 {
		var ops []engine.Op
		detail := "generate " + strings.Join(locales, ", ")
		if changed {
			ops = append(ops, engine.Write(localeGenFile, []byte(next), 0o644, "root", "root"))
		}
		if len(missing) > 0 && !changed {
			detail = "generate missing " + strings.Join(missing, ", ")
		}
		ops = append(ops, engine.Exec("locale-gen").CannotUndo("compiles the locales into the locale archive; a rollback restores locale.gen, not the archive"))
		rp.Add([]engine.Change{{Kind: engine.Modify, Subject: "locales " + localeGenFile, Detail: detail, Pos: p}}, ops...)
	}
}

// Langpack returns the Fedora glibc langpack providing locale l (pt_BR.UTF-8 -> glibc-langpack-pt),
// or "" for the C locales, which glibc itself provides.
func Langpack(l string) string {
	lang, _, _ := strings.Cut(l, "_")
	lang, _, _ = strings.Cut(lang, ".")
	lang, _, _ = strings.Cut(lang, "@")
	if lang == "C" || lang == "POSIX" || lang == "" {
		return ""
	}
	return "glibc-langpack-" + lang
}

// planLangpacks installs the glibc langpacks of the declared locales with the host's dnf (dnf 4 or
// dnf5, each with its own command line), unless
// glibc-all-langpacks is installed. The install's undo is the dnf role's (dnf.InstallUndo): what
// the transaction added goes, also when it was killed half-way. Langpacks are never removed here (other users may rely on them);
// the Fedora packages role never prunes them either.
func planLangpacks(rp *engine.RolePlan, locales []string, f *Facts, p chobolo.Pos) {
	if f.Langpacks["glibc-all-langpacks"] {
		return
	}
	var missing []string
	for _, l := range locales {
		if lp := Langpack(l); lp != "" && !f.Langpacks[lp] && !slices.Contains(missing, lp) {
			missing = append(missing, lp)
		}
	}
	if len(missing) == 0 {
		return
	}
	rp.Add([]engine.Change{{Kind: engine.Add, Subject: "locales " + strings.Join(missing, ", "), Detail: "glibc langpacks for " + strings.Join(locales, ", "), Pos: p}},
		dnfrole.InstallUndo(f.Dnf.Op(f.Dnf.Names([]string{"install"}, missing...)...), f.Dnf, missing))
}

// planLang sets LANG to the first declared locale.
func planLang(rp *engine.RolePlan, locales []string, f *Facts, localeConf string, pos func(string) chobolo.Pos) {
	lang := locales[0]
	cur := f.DefaultLocale
	if got, ok := getVar(cur, "LANG"); !ok || got != lang || f.DefaultLocaleMissing {
		from := got
		from = cmp.Or(from, "(unset)")
		rp.Add([]engine.Change{{Kind: engine.Modify, Subject: "LANG " + localeConf, Detail: from + " -> " + lang, Pos: pos("region.locale[0]")}},
			engine.Write(localeConf, []byte(setVars(cur, [][2]string{{"LANG", lang}})), 0o644, "root", "root"))
	}
}

func systemctl(live bool, verb string) engine.Op {
	if live {
		return engine.Exec("systemctl", verb, unit)
	}
	return engine.Exec("systemctl", "--root=/", verb, unit)
}

func planNTP(rp *engine.RolePlan, want bool, f *Facts, t Target, p chobolo.Pos) error {
	if t.ServicesDeclareTimesyncd {
		return fmt.Errorf("%s: region.ntp and services both declare %s: keep only one of them", p, unit)
	}
	installed := f.Timesyncd != ""
	if !installed && !(want && t.TimesyncdComing) {
		if want {
			return fmt.Errorf("%s: ntp: true needs %s, which is not installed, and the packages role, which would install it, does not run here", p, unit)
		}
		return nil
	}
	var ops []engine.Op
	var what []string
	if !installed { // the packages role installs it first: enable (and start) it as a fresh unit
		f = &Facts{Timesyncd: "disabled", TimesyncdActive: "inactive"}
	}
	enabled := f.Timesyncd == "enabled"
	running := f.TimesyncdActive == "active" || f.TimesyncdActive == "activating"
	switch {
	case want && (f.Timesyncd == "masked" || f.Timesyncd == "masked-runtime"):
		ops = append(ops, systemctl(t.Live, "unmask").WithUndo(systemctl(t.Live, "mask")),
			systemctl(t.Live, "enable").WithUndo(systemctl(t.Live, "disable")))
		what = append(what, "unmask", "enable")
	case want && !enabled:
		ops = append(ops, systemctl(t.Live, "enable").WithUndo(systemctl(t.Live, "disable")))
		what = append(what, "enable")
	case !want && enabled:
		ops = append(ops, systemctl(t.Live, "disable").WithUndo(systemctl(t.Live, "enable")))
		what = append(what, "disable")
	}
	if t.Live {
		switch {
		case want && !running && f.TimesyncdCondFailed:
			rp.Notes = append(rp.Notes, unit+" is not started: its start conditions fail on this host (as shipped it does not "+
				"run in containers or without CAP_SYS_TIME); it stays enabled, and chaos starts it once they pass")
		case want && !running:
			ops = append(ops, systemctl(true, "start").WithUndo(systemctl(true, "stop")))
			what = append(what, "start")
		case !want && running:
			ops = append(ops, systemctl(true, "stop").WithUndo(systemctl(true, "start")))
			what = append(what, "stop")
		}
	}
	if len(ops) > 0 {
		rp.Add([]engine.Change{{Kind: engine.Modify, Subject: "ntp " + unit, Detail: strings.Join(what, ", "), Pos: p}}, ops...)
	}
	return nil
}
