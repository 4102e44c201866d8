package services

import (
	"path"
	"slices"
	"strings"
)

// Facts is what the probe learnt about the target's systemd units.
type Facts struct {
	// NoSystemctl is true when the target has no systemctl at all.
	NoSystemctl bool
	// UnitsCached is true when the unit list came from the probe's cache (see probeUnits).
	UnitsCached bool
	// Units maps every unit file name to its state as `systemctl list-unit-files` reports it
	// (enabled, disabled, static, masked, alias, indirect, generated, ...).
	Units map[string]string
	// Links maps a symlink in a unit directory (an alias, or a mask) to the base name of its target
	// ("/dev/null" for masks). The first directory in systemd's search order wins.
	Links map[string]string
	// Aliases maps a name from an `Alias=` line of a unit file's [Install] section to that unit file:
	// the alias only exists as a symlink while the unit is enabled (sshd.service -> ssh.service).
	Aliases map[string]string
	// Wants holds the units linked from /etc/systemd/system/*.wants, *.requires and *.upholds: for
	// template instances (getty@tty1.service) this is their enablement.
	Wants map[string]bool
	// Install holds what `systemctl enable/disable` of a unit file reaches besides the unit itself,
	// from the [Install] section of the file systemd uses (the first in its search order).
	Install map[string]Install
	// Active maps loaded units to their ACTIVE state; nil when no systemd runs (chroot, other init).
	Active map[string]string
	// CondFailed holds the declared units whose start conditions fail now (see ConditionProbe): a
	// start would leave them inactive.
	CondFailed map[string]bool
	// CanReload holds the declared units that can reload, and After the units each declared unit is
	// ordered after (UnitsProbe); live only.
	CanReload map[string]bool
	After     map[string][]string
	// Session is the system service the probe ran in (the SSH daemon serving this connection when
	// sessions are not moved to a logind scope); empty when unknown.
	Session string
}

// Install is the part of a unit file's [Install] section that carries enablement to other units.
type Install struct {
	// Also are the units enabled and disabled together with this one (names as written).
	Also []string
	// DefaultInstance is the instance `systemctl enable foo@.service` enables, for templates.
	DefaultInstance string
}

// probe sections; the live ones are added only when the target is not a chroot. probeUnits serves
// the unit-file listing from a cache on the target while it is fresh and refreshes it otherwise;
// probeUnitsReadOnly (dry runs, captures) reads a fresh cache but never writes one.
const (
	probeUnits         = probeUnitsCached + probeUnitsRefresh + probeUnitsList
	probeUnitsReadOnly = probeUnitsCached + probeUnitsList
)

const probeUnitsCached = `command -v systemctl >/dev/null 2>&1 || { echo '@nosystemctl'; exit 0; }
c=/var/lib/chaos/cache/unit-files
set -- "$(command -v systemctl)"
for d in /etc/systemd/system /etc/systemd/system.control /run/systemd/system /run/systemd/system.control \
  /run/systemd/transient /run/systemd/generator /run/systemd/generator.early /run/systemd/generator.late \
  /usr/local/lib/systemd/system /usr/lib/systemd/system /lib/systemd/system \
  /etc/systemd/system-preset /usr/lib/systemd/system-preset /lib/systemd/system-preset; do
  [ -d "$d" ] && set -- "$@" "$d"
done
if [ -f "$c" ] && [ -z "$(find "$@" -maxdepth 2 -newer "$c" -print 2>/dev/null | head -n 1)" ]; then
  echo '@cached'
  cat "$c"
  exit 0
fi
`

const probeUnitsRefresh = `if mkdir -p -m 0700 "${c%/*}" 2>/dev/null && s=$(mktemp "${c%/*}/.stamp.XXXXXX" 2>/dev/null); then
  systemctl --root=/ list-unit-files --no-legend --no-pager >"$s.list"
  rc=$?
  cat "$s.list"
  if [ "$rc" -ne 0 ] || ! touch -r "$s" "$s.list" || ! mv -f "$s.list" "$c"; then rm -f "$s.list"; fi
  rm -f "$s"
  exit "$rc"
fi
`

const probeUnitsList = `systemctl --root=/ list-unit-files --no-legend --no-pager`

// probeLinks lists, per unit directory in systemd's search order, the symlinks at its top level
// (aliases, masks), its unit files, the Alias= lines of them and the Also=/DefaultInstance= lines of
// their [Install] sections (with the file's path: the first directory wins), and the .wants/
// .requires/.upholds links of /etc. The awk that reads Alias= reads the rest in the same pass.
const probeLinks = `for d in /etc/systemd/system /run/systemd/system /usr/local/lib/systemd/system /usr/lib/systemd/system /lib/systemd/system; do
  [ -d "$d" ] || continue
  find "$d" -maxdepth 1 -type l -printf 'L\t%f\t%l\n' 2>/dev/null
  find "$d" -maxdepth 1 -type f -name '*.*' -exec awk '
    FNR==1{n=FILENAME; sub(/.*\//,"",n); s=0; print "F\t" FILENAME}
    /^[ \t]*\[/{s=($0 ~ /^[ \t]*\[Install\]/)}
    /^Alias=/{v=$0; sub(/^Alias=/,"",v); print "A\t" n "\t" v}
    s && /^[ \t]*(Also|DefaultInstance)[ \t]*=/{k=$0; sub(/^[ \t]*/,"",k); sub(/[ \t]*=.*/,"",k); v=$0; sub(/^[^=]*=[ \t]*/,"",v); print "I\t" FILENAME "\t" k "\t" v}' {} + 2>/dev/null
done
find /etc/systemd/system -mindepth 2 -maxdepth 2 \( -path '*.wants/*' -o -path '*.requires/*' -o -path '*.upholds/*' \) -printf 'W\t%f\n' 2>/dev/null
true`

// probeActive lists the loaded units with their ACTIVE state, the service the probe runs in, and
// the condition checks of the declared units (names already given the .service default).
func probeActive(declared []string) string {
	return `if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  echo '@live'
  systemctl list-units --all --no-legend --plain --no-pager 2>/dev/null
  sed -n 's|.*/system\.slice/\([^/]*\.service\).*|@session \1|p' /proc/self/cgroup 2>/dev/null | head -n 1
` + ConditionProbe(declared) + UnitsProbe(declared) + `fi
true`
}

// ParseFacts reads the outputs of the probe sections (by section name: units, links, active).
func ParseFacts(units, links, active string) Facts {
	f := Facts{Units: map[string]string{}, Links: map[string]string{}, Aliases: map[string]string{}, Wants: map[string]bool{},
		Install: map[string]Install{}}
	installFrom := map[string]string{} // unit -> the file its [Install] lines were taken from
	for line := range strings.SplitSeq(units, "\n") {
		line = strings.TrimSpace(line)
		if line == "@nosystemctl" {
			f.NoSystemctl = true
			continue
		}
		if line == "@cached" {
			f.UnitsCached = true
			continue
		}
		fields := strings.Fields(line)
		if len(fields) >= 2 && strings.Contains(fields[0], ".") {
			f.Units[fields[0]] = fields[1]
		}
	}
	for line := range strings.SplitSeq(links, "\n") {
		parts := strings.Split(line, "\t")
		switch {
		case len(parts) == 3 && parts[0] == "L":
			if _, seen := f.Links[parts[1]]; !seen {
				target := parts[2]
				if target != "/dev/null" {
					target = path.Base(target)
				}
				f.Links[parts[1]] = target
			}
		case len(parts) == 3 && parts[0] == "A":
			for _, a := range strings.Fields(parts[2]) {
				if _, seen := f.Aliases[a]; !seen && a != parts[1] {
					f.Aliases[a] = parts[1]
				}
			}
		case len(parts) == 4 && parts[0] == "I":
			unit := path.Base(parts[1])
			if from, seen := installFrom[unit]; seen && from != parts[1] {
				continue // a file earlier in the search order overrides this one
			}
			installFrom[unit] = parts[1]
			in := f.Install[unit]
			switch parts[2] {
			case "Also":
				in.Also = append(in.Also, strings.Fields(parts[3])...)
			case "DefaultInstance":
				in.DefaultInstance = strings.TrimSpace(parts[3])
			}
			f.Install[unit] = in
		case len(parts) == 2 && parts[0] == "F":
			// every unit file, in search order: the first one of a name is the one systemd uses,
			// even when it has no Also=/DefaultInstance= lines while a later one does
			if _, seen := installFrom[path.Base(parts[1])]; !seen {
				installFrom[path.Base(parts[1])] = parts[1]
			}
		case len(parts) == 2 && parts[0] == "W":
			f.Wants[parts[1]] = true
		}
	}
	for line := range strings.SplitSeq(active, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "@live":
			if f.Active == nil {
				f.Active = map[string]string{}
			}
			continue
		case strings.HasPrefix(line, "@session "):
			f.Session = strings.TrimSpace(strings.TrimPrefix(line, "@session "))
			continue
		case strings.HasPrefix(line, "@condfailed "):
			continue
		case strings.HasPrefix(line, "@canreload "):
			if f.CanReload == nil {
				f.CanReload = map[string]bool{}
			}
			f.CanReload[strings.TrimSpace(strings.TrimPrefix(line, "@canreload "))] = true
			continue
		case strings.HasPrefix(line, "@after "):
			if fields := strings.Fields(line); len(fields) > 2 {
				if f.After == nil {
					f.After = map[string][]string{}
				}
				f.After[fields[1]] = fields[2:]
			}
			continue
		}
		fields := strings.Fields(line)
		if len(fields) > 0 && (fields[0] == "●" || fields[0] == "*") {
			fields = fields[1:]
		}
		if f.Active != nil && len(fields) >= 3 {
			f.Active[fields[0]] = fields[2]
		}
	}
	if f.Active != nil {
		f.CondFailed = ParseConditions(active)
	}
	return f
}

// isTemplate reports whether name is a template unit file (getty@.service).
func isTemplate(name string) bool { return strings.Contains(name, "@.") }

// isInstance reports whether name is an instance of a template (getty@tty1.service).
func isInstance(name string) bool { return strings.Contains(name, "@") && !isTemplate(name) }

// templateOf returns the template of an instance: getty@tty1.service -> getty@.service.
func templateOf(name string) string {
	at := strings.IndexByte(name, '@')
	dot := strings.LastIndexByte(name, '.')
	if at < 0 || dot < at {
		return ""
	}
	return name[:at+1] + name[dot:]
}

// Resolve maps a unit name to the unit file systemd would use for it, following alias symlinks and
// Alias= declarations. ok is false when no such unit exists on the target.
func (f *Facts) Resolve(name string) (canonical string, ok bool) {
	cur := name
	for range 8 {
		if t, isLink := f.Links[cur]; isLink {
			if t == "/dev/null" { // masked: the name itself is the unit
				return cur, true
			}
			if t == cur {
				break
			}
			cur = t
			continue
		}
		if st, known := f.Units[cur]; known && st != "alias" {
			return cur, true
		}
		if a, isAlias := f.Aliases[cur]; isAlias {
			cur = a
			continue
		}
		break
	}
	if _, known := f.Units[cur]; known && cur != name {
		return cur, true
	}
	if isInstance(name) {
		tmpl, ok := f.Resolve(templateOf(name))
		if !ok {
			return "", false
		}
		at := strings.IndexByte(name, '@')
		dot := strings.LastIndexByte(name, '.')
		return tmpl[:strings.IndexByte(tmpl, '@')+1] + name[at+1:dot] + tmpl[strings.LastIndexByte(tmpl, '.'):], true
	}
	return "", false
}

// State is the enablement state of a resolved unit: list-unit-files' state for unit files; for
// template instances "enabled" when linked from a .wants/.requires directory, else the template's
// state when it cannot be enabled (static) or "disabled".
func (f *Facts) State(unit string) string {
	if isInstance(unit) {
		if f.Wants[unit] {
			return "enabled"
		}
		switch st := f.Units[templateOf(unit)]; st {
		case "static", "masked", "masked-runtime":
			return st
		}
		return "disabled"
	}
	if f.Links[unit] == "/dev/null" {
		return "masked"
	}
	return f.Units[unit]
}

// Running reports whether a unit is active (or on its way there) on a live systemd host.
func (f *Facts) Running(unit string) bool {
	switch f.Active[unit] {
	case "active", "activating", "reloading", "refreshing":
		return true
	}
	return false
}

// namesOf returns every name that designates unit: itself and the aliases that point at it.
func (f *Facts) namesOf(unit string) []string {
	out := []string{unit}
	for a, t := range f.Links {
		if t == unit {
			out = append(out, a)
		}
	}
	for a, t := range f.Aliases {
		if t == unit {
			out = append(out, a)
		}
	}
	return out
}

// Reach is every unit that `systemctl enable` or `disable` of unit touches, unit first: the units
// of its [Install] section's Also= (resolved through aliases, followed transitively, as systemctl
// does), and for a template with DefaultInstance= that instance. An instance reads its template's
// [Install], with %i standing for the instance.
func (f *Facts) Reach(unit string) []string {
	out := []string{unit}
	seen := map[string]bool{unit: true}
	add := func(u string) {
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	for i := 0; i < len(out); i++ {
		u := out[i]
		file, inst := u, ""
		if isInstance(u) {
			file = templateOf(u)
			inst = u[strings.IndexByte(u, '@')+1 : strings.LastIndexByte(u, '.')]
		}
		in, ok := f.Install[file]
		if !ok {
			continue
		}
		if isTemplate(u) && in.DefaultInstance != "" {
			add(u[:strings.IndexByte(u, '@')+1] + in.DefaultInstance + u[strings.LastIndexByte(u, '.'):])
		}
		for _, a := range in.Also {
			if inst != "" {
				a = strings.ReplaceAll(a, "%i", inst)
			}
			if strings.Contains(a, "%") { // other specifiers: not resolvable here
				continue
			}
			if r, ok := f.Resolve(UnitName(a)); ok {
				add(r)
			}
		}
	}
	return out
}

// Enabled reports whether unit is enabled at boot. A unit that is enabled only through the units of
// its Also= (state indirect: socket activation, `[Install]` with Also= alone) counts as enabled when
// every one of them that can be enabled is.
func (f *Facts) Enabled(unit string) bool {
	switch f.State(unit) {
	case "enabled":
		return true
	case "indirect":
		also := f.enablesVia(unit)
		return len(also) > 0 && !slices.ContainsFunc(also, func(u string) bool { return f.State(u) != "enabled" })
	}
	return false
}

// enablesVia returns the units that `systemctl enable unit` links besides unit itself: those its
// Reach holds that have an [Install] section of their own (static ones are never linked).
func (f *Facts) enablesVia(unit string) []string {
	var out []string
	for _, u := range f.Reach(unit)[1:] {
		switch f.State(u) {
		case "enabled", "disabled", "linked", "masked", "masked-runtime", "enabled-runtime", "linked-runtime":
			out = append(out, u)
		}
	}
	return out
}
