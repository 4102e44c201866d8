// Package region is the `region` role: timezone, locales, keyboard layout and NTP (Debian core for
// now; the file layout of other cores plugs in later).
package region

import (
	"cmp"
	_ "embed"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/fedora"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/roles/services"
)

// explainMD is the `chaos explain region` text.
//
//go:embed explain.md
var explainMD string

// Role is the region role. The zero value is the Debian core's; NewArch returns the Arch core's.
type Role struct {
	// Arch selects the Arch layout (/etc/locale.conf, /etc/vconsole.conf, no /etc/timezone).
	Arch bool
	// Fedora selects the Fedora layout (Arch's files, glibc langpacks instead of locale-gen).
	Fedora bool
}

// New returns the region role.
func New() engine.Role { return Role{} }

// NewArch returns the region role of the Arch core.
func NewArch() engine.Role { return Role{Arch: true} }

// NewFedora returns the region role of the Fedora core.
func NewFedora() engine.Role { return Role{Fedora: true} }

func (r Role) layout() Layout {
	if r.Fedora {
		return FedoraLayout
	}
	if r.Arch {
		return ArchLayout
	}
	return DebianLayout
}

// Meta implements engine.Role.
func (r Role) Meta() engine.Meta {
	cores := []string{"debian"}
	if r.Arch {
		cores = []string{"arch"}
	}
	if r.Fedora {
		cores = []string{"fedora"}
	}
	return engine.Meta{
		Name:    "region",
		Keys:    []string{"region"},
		Cores:   cores,
		Summary: "timezone, locales, keyboard layout and NTP (systemd-timesyncd)",
		Explain: explainMD,
		Order:   40,
	}
}

var _ engine.Owner = Role{}

// Owns implements engine.Owner: the files of this core's layout that the declared settings write.
// NTP only starts and enables a unit.
func (r Role) Owns(_ string, c *chobolo.Chobolo) []engine.Claim {
	return Owns(r.layout(), c)
}

// Owns is the claims of the region section on a core with layout lay.
func Owns(lay Layout, c *chobolo.Chobolo) []engine.Claim {
	reg := c.Region
	var out []engine.Claim
	if reg.Timezone != "" {
		p := c.Pos("region.timezone")
		out = append(out, engine.Claim{Path: localtime, Pos: p, Why: "the timezone link"})
		if lay.TimezoneFile != "" {
			out = append(out, engine.Claim{Path: lay.TimezoneFile, Pos: p, Why: "the timezone name"})
		}
	}
	if len(reg.Locales) > 0 {
		p := c.Pos("region.locale")
		if !lay.Langpacks {
			out = append(out, engine.Claim{Path: localeGenFile, Pos: p, Why: "the locales to generate"})
		}
		out = append(out, engine.Claim{Path: lay.LocaleConf, Pos: c.Pos("region.locale[0]"), Why: "LANG"})
	}
	if reg.Keymap != "" {
		out = append(out, engine.Claim{Path: lay.Keyboard, Pos: c.Pos("region.keymap"), Why: "the keyboard layout"})
	}
	return out
}

// Needs implements engine.Needer: on Debian, locale-gen (and /etc/locale.gen, SUPPORTED) come with
// the `locales` package, which a minimal root lacks, and systemd-timesyncd is a package of its own;
// the packages role installs them before this role runs. Arch's locale-gen and timesyncd are glibc's
// and systemd's (base set); Fedora's langpacks are installed by this role.
// Keyboard layouts need no tool: the role only writes the file (/etc/default/keyboard,
// /etc/vconsole.conf) that the console and X read at boot.
func (r Role) Needs(env *engine.Env, c *chobolo.Chobolo) []engine.Need {
	if r.Arch || r.Fedora {
		return nil
	}
	var needs []engine.Need
	if len(c.Region.Locales) > 0 {
		needs = append(needs, engine.Need{Package: "locales", Command: "locale-gen", Why: "locale-gen for region.locale", Pos: c.Pos("region.locale")})
	}
	if c.Region.NTP != nil && *c.Region.NTP {
		needs = append(needs, engine.Need{Package: "systemd-timesyncd", Why: "the NTP client of region.ntp", Pos: c.Pos("region.ntp")})
	}
	return needs
}

// Probe implements engine.Role.
func (r Role) Probe(env *engine.Env, c *chobolo.Chobolo) []engine.ProbeSection {
	lay := r.layout()
	secs := []engine.ProbeSection{
		{Name: "state", Script: probeState(safeZone(c.Region.Timezone), safeLocales(c.Region.Locales), env.Chroot)},
		{Name: "localegen", Script: probeFile(localeGenFile)},
		{Name: "deflocale", Script: probeFile(lay.LocaleConf)},
		{Name: "keyboard", Script: probeFile(lay.Keyboard)},
	}
	if lay.Langpacks {
		secs = append(secs, engine.ProbeSection{Name: "langpacks", Script: fedora.ProbeFor(probeLangpacks(safeLocales(c.Region.Locales)), env.ReadOnly),
			Scratch: env.ReadOnly},
			engine.ProbeSection{Name: "dnf", Script: fedora.ToolProbe})
	}
	return secs
}

// safeZone keeps an invalid zone out of the probe (Plan reports it with its position).
func safeZone(z string) string {
	if chobolo.ValidTimezone(z) != nil {
		return ""
	}
	return z
}

func safeLocales(ls []string) []string {
	var out []string
	for _, l := range ls {
		if chobolo.ValidLocale(l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// Plan implements engine.Role.
func (r Role) Plan(env *engine.Env, c *chobolo.Chobolo, facts engine.Facts) (*engine.RolePlan, error) {
	f := ParseFacts(facts["state"].Stdout, facts["localegen"].Stdout, facts["deflocale"].Stdout, facts["keyboard"].Stdout)
	f.Langpacks = ParseLangpacks(facts["langpacks"].Stdout)
	f.Dnf = ParseDnf(facts["dnf"].Stdout)
	lay := r.layout()
	t := Target{Live: env.Systemd && !env.Chroot && f.Live, Chroot: env.Chroot, Layout: &lay}
	t.TimesyncdComing = env.NeedsServed && slices.ContainsFunc(env.Needs, func(n engine.Need) bool { return n.Package == "systemd-timesyncd" })
	if c.Region.NTP != nil {
		for _, s := range c.Services {
			if !s.Dense && strings.TrimSuffix(services.UnitName(s.Name), ".service") == "systemd-timesyncd" {
				t.ServicesDeclareTimesyncd = true
			}
		}
	}
	return BuildPlan(c.Region, &f, t, c.Pos)
}

// Capture implements engine.Capturer: the timezone, the generated locales (LANG first), the keyboard
// layout and whether timesyncd is enabled.
func (ro Role) Capture(env *engine.Env, facts engine.Facts, into *chobolo.Chobolo) error {
	f := ParseFacts(facts["state"].Stdout, facts["localegen"].Stdout, facts["deflocale"].Stdout, facts["keyboard"].Stdout)
	r := chobolo.Region{Timezone: f.Timezone}
	r.Timezone = cmp.Or(r.Timezone, strings.TrimPrefix(f.Localtime, zoneinfo))
	lang, _ := getVar(f.DefaultLocale, "LANG")
	for l := range strings.SplitSeq(f.LocaleGen, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		name := strings.Fields(t)[0]
		if name == lang {
			r.Locales = append([]string{name}, r.Locales...)
		} else {
			r.Locales = append(r.Locales, name)
		}
	}
	if km, ok := getVar(f.Keyboard, "KEYMAP"); (ro.Arch || ro.Fedora) && ok && km != "" {
		r.Keymap = km
	} else if layout, ok := getVar(f.Keyboard, "XKBLAYOUT"); !ro.Arch && !ro.Fedora && ok && layout != "" {
		if v, _ := getVar(f.Keyboard, "XKBVARIANT"); v == "" {
			r.Keymap = layout
		} else {
			r.Keymap = layout + "-" + v
		}
	}
	if f.Timesyncd != "" {
		on := f.Timesyncd == "enabled"
		r.NTP = &on
	}
	if r.Timezone != "" || len(r.Locales) > 0 || r.Keymap != "" || r.NTP != nil {
		into.Region = r
		into.SetKey("region", chobolo.Pos{})
	}
	return nil
}
