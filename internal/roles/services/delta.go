package services

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// unitSuffixes are systemd's unit types; a declared name without one is a service.
var unitSuffixes = []string{".service", ".socket", ".timer", ".target", ".path", ".mount", ".automount",
	".swap", ".slice", ".scope", ".device"}

// UnitName applies the `.service` default to a declared name.
func UnitName(name string) string { return chobolo.UnitName(name) }

// Protected are the services that are never disabled or stopped because they are not declared: the
// ways in (SSH, consoles), the network, the bus, logging, time, the init system's own daemons,
// storage needed at boot and firewalls. Patterns use path.Match syntax against the unit name and
// every alias of it.
var Protected = []string{
	// remote and console access
	"ssh.service", "sshd.service", "dropbear.service", "getty@*.service", "serial-getty@*.service",
	"console-getty.service", "container-getty@*.service", "autovt@*.service",
	// network
	"networking.service", "ifup@*.service", "ifupdown-pre.service", "NetworkManager.service",
	"NetworkManager-*.service", "systemd-networkd.service", "systemd-networkd-wait-online.service",
	"systemd-networkd-wait-online@*.service", "systemd-resolved.service", "wpa_supplicant.service",
	"wpa_supplicant@*.service", "iwd.service", "connman.service",
	"cloud-init.service", "cloud-init-*.service", "cloud-config.service", "cloud-final.service",
	// the system's own daemons
	"dbus.service", "dbus-broker.service", "systemd-journald.service", "systemd-logind.service",
	"systemd-udevd.service", "systemd-timesyncd.service", "systemd-pstore.service",
	"systemd-remount-fs.service", "systemd-sysusers.service", "polkit.service",
	// scheduling and logging
	"cron.service", "crond.service", "cronie.service", "anacron.service", "rsyslog.service",
	"syslog.service", "syslog-ng.service", "auditd.service",
	// storage needed to boot
	"e2scrub_reap.service", "lvm2-monitor.service", "lvm2-lvmpolld.service", "mdmonitor.service",
	"multipathd.service", "iscsid.service", "open-iscsi.service", "zfs-*.service", "blk-availability.service",
	"cryptsetup*.service", "console-setup.service", "keyboard-setup.service",
	// security
	"apparmor.service", "ufw.service", "nftables.service", "netfilter-persistent.service",
	"firewalld.service", "iptables.service", "ip6tables.service",
}

// critical are the SSH daemons: chaos refuses to disable or stop them on a running host even when
// the Ch-obolo asks, because that is how the next run gets in.
var critical = []string{"ssh.service", "sshd.service", "dropbear.service"}

func matchAny(patterns []string, names []string) bool {
	for _, p := range patterns {
		for _, n := range names {
			if ok, _ := path.Match(p, n); ok {
				return true
			}
		}
	}
	return false
}

// Target is what the delta needs to know about the host besides its units.
type Target struct {
	// Live is true when systemd runs on the target and units can be started and stopped.
	Live bool
	// Chroot is true for directory targets.
	Chroot bool
	// Packages are the Debian package names the Ch-obolo installs in the same run: a declared unit
	// that does not exist yet but is named like one of them is assumed to come with it, unless the
	// package is already installed (Installed) and so does not ship it.
	Packages  []string
	Installed map[string]bool
	// UnitFiles are the units whose unit file the Ch-obolo declares under files: a declared unit that
	// does not exist yet comes with them, and is enabled and started after they are written.
	UnitFiles map[string]bool
}

// Want is one declared unit after name defaults, dense expansion and alias resolution.
type Want struct {
	Unit     string // canonical unit file (or instance) name
	Declared string // the name as declared, when it differs
	OnBoot   bool
	Running  bool
	Pos      chobolo.Pos
	// Pending is true when the unit does not exist yet but a package of the same run should ship it;
	// Custom when its unit file is declared under files (it is enabled and started after the write).
	Pending, Custom bool
	// Index is the entry's index in services (-1 for a dense expansion).
	Index int
}

// Action on one unit.
type Action struct {
	Unit     string
	Declared string
	Pos      chobolo.Pos
	Unmask   bool
	Enable   bool
	Disable  bool
	Start    bool
	Stop     bool
	// Prune is true for an undeclared unit that is being disabled. ThisRun marks a pruned unit that
	// an earlier role of the same apply enabled (a package's maintainer script; see Settle).
	Prune, ThisRun bool
	// Reenable is true for a unit that must stay enabled but that the disable of Via reaches
	// (through Via's Also=): it is enabled again after the disables.
	Reenable bool
	// DisableLast is true for a unit declared off that the enable of Via reaches: it is disabled
	// after the enables.
	DisableLast bool
	Via         string
	// Run is the unit started and stopped: the unit itself, or a template's default instance.
	Run string
	// Custom: the unit file comes from files in this apply: its actions run in the restart phase,
	// after the write and the daemon-reload.
	Custom bool
}

// runUnit is the unit that Start and Stop act on.
func (a Action) runUnit() string {
	if a.Run != "" {
		return a.Run
	}
	return a.Unit
}

// Delta is the typed difference between the host's units and the Ch-obolo.
type Delta struct {
	Actions []Action
	Notes   []string
	// Warnings are what the delta could not verify (a unit of a package not installed yet).
	Warnings []string
	// Enabled counts the enabled services found (the denominator of the prune guard); Pruned the
	// services the delta disables because they are not declared.
	Enabled, Pruned int
}

// Desired expands and resolves the declared services. prefix is the Ch-obolo path of the list
// ("services").
func Desired(svcs []chobolo.Service, f *Facts, t Target, posOf func(string) chobolo.Pos) ([]Want, error) {
	var out []Want
	byUnit := map[string]int{}
	add := func(w Want, explicit bool) error {
		if i, dup := byUnit[w.Unit]; dup {
			prev := out[i]
			if prev.OnBoot != w.OnBoot || prev.Running != w.Running {
				if !explicit {
					return nil // an explicit entry wins over a dense expansion
				}
				return fmt.Errorf("%s: unit %s is declared twice with different settings (also at %s)", w.Pos, w.Unit, prev.Pos)
			}
			return nil
		}
		byUnit[w.Unit] = len(out)
		out = append(out, w)
		return nil
	}
	// explicit entries first, so that they win over dense expansions
	order := make([]int, 0, len(svcs))
	for i, s := range svcs {
		if !s.Dense {
			order = append(order, i)
		}
	}
	for i, s := range svcs {
		if s.Dense {
			order = append(order, i)
		}
	}
	var missing chobolo.Errors // every unit the host says cannot exist, reported together
	for _, i := range order {
		s := svcs[i]
		p := posOf(fmt.Sprintf("[%d].name", i))
		if err := chobolo.ValidUnitName(s.Name); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if s.Dense {
			var matched []string
			for name, st := range f.Units {
				if strings.HasPrefix(name, s.Name) && strings.HasSuffix(name, ".service") && !strings.Contains(name, "@") &&
					!strings.Contains(name, "initrd") && st != "alias" {
					matched = append(matched, name)
				}
			}
			if len(matched) == 0 {
				return nil, fmt.Errorf("%s: dense_service %q matches no service unit file on the target", p, s.Name)
			}
			sort.Strings(matched)
			for _, m := range matched {
				if err := add(Want{Unit: m, OnBoot: s.WantOnBoot(), Running: s.WantRunning(), Pos: p, Index: -1}, false); err != nil {
					return nil, err
				}
			}
			continue
		}
		name := UnitName(s.Name)
		w := Want{OnBoot: s.WantOnBoot(), Running: s.WantRunning(), Pos: p, Index: i}
		unit, ok := f.Resolve(name)
		switch {
		case ok:
		case t.UnitFiles[name] || isInstance(name) && t.UnitFiles[templateOf(name)]:
			unit, w.Pending, w.Custom = name, true, true
		default:
			base := pendingBase(name)
			switch {
			case !slices.Contains(t.Packages, base):
				missing = append(missing, chobolo.Diagnostic{Pos: p, Severity: chobolo.SevError, Code: "unknown-unit",
					Message: fmt.Sprintf("unit %s does not exist on the target: install the package that ships it "+
						"(declare it under packages:, e.g. `- %s`) or fix the name", name, base)})
				continue
			case t.Installed[base]:
				missing = append(missing, chobolo.Diagnostic{Pos: p, Severity: chobolo.SevError, Code: "unknown-unit",
					Message: fmt.Sprintf("unit %s does not exist on the target, and package %s, which is installed, does not ship it: fix the name", name, base)})
				continue
			}
			unit, w.Pending = name, true
		}
		w.Unit = unit
		if unit != name {
			w.Declared = name
		}
		if err := add(w, true); err != nil {
			return nil, err
		}
	}
	if len(missing) > 0 {
		return nil, missing
	}
	return out, nil
}

// ComputeDelta is the pure delta: declared wants against the facts. full says whether undeclared
// enabled services are disabled (the `services` key is declared).
//
// `systemctl enable X` and `disable X` also act on the units X's [Install] section reaches (Also=,
// transitively, and a template's DefaultInstance=; see Facts.Reach). So a unit enabled that way along
// with a declared or protected unit is not pruned; a unit that must stay enabled but that a disable
// reaches is enabled again after the disables (a protected one only when the disable is a prune, or
// when it is the SSH daemon or the session's unit of a running host); and a unit declared off that
// an enable reaches is disabled after the enables. Each run leaves the state the next run expects.
func ComputeDelta(wants []Want, f *Facts, t Target, full bool) (*Delta, error) {
	d := &Delta{}
	declared := map[string]*Want{}
	session := ""
	if t.Live {
		session = f.Session
	}
	runningNote := false
	var acts []*Action
	for i := range wants {
		w := &wants[i]
		declared[w.Unit] = w
		a := &Action{Unit: w.Unit, Declared: w.Declared, Pos: w.Pos, Custom: w.Custom}
		acts = append(acts, a)
		names := append(f.namesOf(w.Unit), w.Declared)
		isCritical := matchAny(critical, names) || (session != "" && w.Unit == session)
		st := f.State(w.Unit)
		switch {
		case w.Custom:
			st = "pending"
			d.Notes = append(d.Notes, fmt.Sprintf("%s does not exist yet: its unit file is declared under files, so it is "+
				"enabled (and started) after the write and a daemon-reload", w.Unit))
		case w.Pending:
			st = "pending"
			d.Warnings = append(d.Warnings, fmt.Sprintf("%s: cannot verify unit %s: it does not exist yet; assumed to come with package %s, which this run installs",
				w.Pos, w.Unit, pendingBase(w.Unit)))
		}
		// an indirect unit with Also= is enabled through those units (socket activation)
		viaAlso := st == "indirect" && len(f.enablesVia(w.Unit)) > 0
		if w.OnBoot && isTemplate(w.Unit) && !w.Pending && f.Install[w.Unit].DefaultInstance == "" && st != "enabled" {
			return nil, fmt.Errorf("%s: %s is a template without DefaultInstance=: `systemctl enable` cannot enable it; "+
				"declare an instance (%sINSTANCE)", w.Pos, w.Unit, w.Unit[:strings.IndexByte(w.Unit, '@')+1])
		}
		switch {
		case w.OnBoot && (st == "masked" || st == "masked-runtime"):
			a.Unmask, a.Enable = true, true
		case w.OnBoot && (st == "disabled" || st == "pending" || st == "linked" || st == "enabled-runtime"):
			a.Enable = true
		case w.OnBoot && viaAlso:
			a.Enable = !f.Enabled(w.Unit)
		case w.OnBoot && st == "indirect":
			d.Notes = append(d.Notes, fmt.Sprintf("%s is indirect: its [Install] section links nothing that can be enabled, so it starts through other units (on_boot has no effect)", w.Unit))
		case w.OnBoot && st != "enabled":
			d.Notes = append(d.Notes, fmt.Sprintf("%s is %s: it has no [Install] section, so it starts through other units (on_boot has no effect)", w.Unit, st))
		case !w.OnBoot && (st == "enabled" || viaAlso && f.anyEnabled(f.enablesVia(w.Unit))):
			if isCritical && !t.Chroot {
				return nil, fmt.Errorf("%s: refusing to disable %s: it is the SSH service this host is reached through (remove openssh-server from the packages instead, or apply to a chroot)", w.Pos, w.Unit)
			}
			a.Disable = true
		case !w.OnBoot && (st == "static" || st == "indirect" || st == "generated"):
			d.Notes = append(d.Notes, fmt.Sprintf("%s is %s: it cannot be disabled (mask it by hand if it must never start)", w.Unit, st))
		}
		// a template cannot run: its DefaultInstance= does (what enabling the template enables)
		run := w.Unit
		if isTemplate(w.Unit) {
			run = ""
			if in := f.Install[w.Unit]; in.DefaultInstance != "" {
				run = w.Unit[:strings.IndexByte(w.Unit, '@')+1] + in.DefaultInstance + w.Unit[strings.LastIndexByte(w.Unit, '.'):]
			}
		}
		if t.Live && run == "" {
			d.Notes = append(d.Notes, fmt.Sprintf("%s is a template without DefaultInstance=: only its instances run "+
				"(declare NAME@INSTANCE); running is not enforced for it", w.Unit))
		} else if t.Live {
			a.Run = run
			running := f.Running(run)
			switch {
			case w.Running && !running && f.CondFailed[run]:
				d.Notes = append(d.Notes, fmt.Sprintf("%s is not started: its start conditions (Condition*= in the unit) fail "+
					"on this host, so a start would leave it inactive; chaos starts it once they pass", w.Unit))
			case w.Running && !running:
				a.Start = true
			case !w.Running && running:
				if isCritical {
					return nil, fmt.Errorf("%s: refusing to stop %s: it is the SSH service this host is reached through", w.Pos, w.Unit)
				}
				a.Stop = true
			}
		} else if w.Running {
			runningNote = true
		}
	}
	if runningNote {
		if t.Chroot {
			d.Notes = append(d.Notes, "running is not enforced in a chroot (no systemd runs there): only on_boot is applied")
		} else {
			d.Notes = append(d.Notes, "systemd is not running on this target: only on_boot is applied, running is not enforced")
		}
	}

	// stay: units that must be enabled after this run, with the unit that carries each one (itself
	// for declared and kept units, the declaring unit for those its enablement reaches).
	stay := map[string]string{}
	// keptOnly: units in stay only because a protected (or the session's) unit is enabled; a
	// declared disable that reaches them is the user's choice and takes them along, a prune does not
	keptOnly := map[string]bool{}
	for _, w := range wants {
		if w.OnBoot {
			for _, u := range f.Reach(w.Unit) {
				if _, ok := stay[u]; !ok && (declared[u] == nil || u == w.Unit) {
					stay[u] = w.Unit
				}
			}
		}
	}
	var prune []*Action
	if full {
		// full state: enabled .service units (and enabled template instances) that are not declared
		names := slices.Sorted(maps.Keys(f.enabledServices()))
		d.Enabled = len(names)
		var kept []string
		for _, n := range names {
			if declared[n] == nil && (matchAny(Protected, f.namesOf(n)) || n == session) {
				kept = append(kept, n)
				for _, u := range f.Reach(n) {
					if _, ok := stay[u]; !ok && declared[u] == nil {
						stay[u], keptOnly[u] = n, true
					}
				}
			}
		}
		with := map[string][]string{}
		for _, n := range names {
			if declared[n] != nil || slices.Contains(kept, n) {
				continue
			}
			if by, ok := stay[n]; ok {
				with[by] = append(with[by], n)
				continue
			}
			a := &Action{Unit: n, Disable: true, Prune: true}
			if t.Live && f.Running(n) {
				a.Stop = true
			}
			prune = append(prune, a)
			d.Pruned++
		}
		if len(kept) > 0 {
			d.Notes = append(d.Notes, "kept enabled (protected, not declared): "+strings.Join(kept, ", "))
		}
		for _, by := range slices.Sorted(maps.Keys(with)) {
			d.Notes = append(d.Notes, fmt.Sprintf("kept enabled (enabled with %s through its [Install] Also=/DefaultInstance=): %s",
				by, strings.Join(with[by], ", ")))
		}
	}

	// keeps reports whether u must stay enabled when a disable (a prune or not) reaches it
	keeps := func(u string, byPrune bool) bool {
		if _, ok := stay[u]; !ok {
			return false
		}
		return !keptOnly[u] || byPrune || (matchAny(critical, f.namesOf(u)) && !t.Chroot) || u == session
	}
	byUnit := map[string]*Action{}
	for _, a := range acts {
		byUnit[a.Unit] = a
	}
	// enabled again: units that stay enabled (and are now) but that a disable reaches
	for _, a := range append(slices.Clone(prune), acts...) {
		if !a.Disable {
			continue
		}
		for _, u := range f.Reach(a.Unit)[1:] {
			if !keeps(u, a.Prune) || !f.Enabled(u) {
				continue
			}
			if b := byUnit[u]; b != nil {
				if !b.Enable && !b.Disable && !b.Reenable {
					b.Reenable, b.Via = true, a.Unit
				}
				continue
			}
			b := &Action{Unit: u, Reenable: true, Via: a.Unit}
			byUnit[u] = b
			acts = append(acts, b)
		}
	}
	// disabled last: units declared off that an enable reaches
	for _, a := range acts {
		if !a.Enable && !a.Reenable {
			continue
		}
		for _, u := range f.Reach(a.Unit)[1:] {
			w := declared[u]
			if w == nil || w.OnBoot {
				continue
			}
			b := byUnit[u]
			if b.DisableLast {
				continue
			}
			for _, r := range f.Reach(u)[1:] {
				if keeps(r, false) {
					by := stay[r]
					return nil, fmt.Errorf("%s: %s is declared with on_boot: false, but enabling %s enables it (Also=) and disabling it "+
						"disables %s (Also=), which stays enabled for %s: these cannot all hold", w.Pos, u, a.Unit, r, by)
				}
			}
			b.Disable, b.DisableLast, b.Via = false, true, a.Unit
		}
	}
	for _, a := range prune {
		d.Actions = append(d.Actions, *a)
	}
	for _, a := range acts {
		if a.Unmask || a.Enable || a.Disable || a.Start || a.Stop || a.Reenable || a.DisableLast {
			d.Actions = append(d.Actions, *a)
		}
	}
	return d, nil
}

// enabledServices are the units the full state prunes unless declared, protected or kept: enabled
// .service unit files and enabled template instances.
func (f *Facts) enabledServices() map[string]bool {
	enabled := map[string]bool{}
	for name, st := range f.Units {
		if st == "enabled" && strings.HasSuffix(name, ".service") && !isTemplate(name) {
			enabled[name] = true
		}
	}
	for name := range f.Wants {
		if isInstance(name) && strings.HasSuffix(name, ".service") {
			if u, ok := f.Resolve(name); ok {
				enabled[u] = true
			}
		}
	}
	return enabled
}

// anyEnabled reports whether one of units is enabled.
func (f *Facts) anyEnabled(units []string) bool {
	return slices.ContainsFunc(units, func(u string) bool { return f.State(u) == "enabled" })
}

// pendingBase is the package a pending unit is assumed to come with: its name without the suffix and
// instance.
func pendingBase(unit string) string {
	base := strings.TrimSuffix(unit, path.Ext(unit))
	if i := strings.IndexByte(base, '@'); i >= 0 {
		base = base[:i]
	}
	return base
}
