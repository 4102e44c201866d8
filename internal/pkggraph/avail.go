package pkggraph

import (
	"fmt"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// Availability is what a host's package manager knows, before any op runs, about the declared
// packages that are not installed: which names its repositories offer, and what it cannot judge
// yet. Each core's probe prints it in the same lines (AvailLines).
type Availability struct {
	// Missing are the declared names the probe found not installed: the only ones it judged.
	Missing map[string]bool
	// Unknown says why the host cannot judge (no package lists yet, no sync databases, no dnf
	// cache); "" when it can.
	Unknown string
	// Have are the missing names some repository offers (by name or as a provide).
	Have map[string]bool
	// Near are, per missing name the repositories lack, names they offer that could be typos of it.
	Near map[string][]string
	// Changed are the repositories this plan adds, changes or removes (Env.Refreshing): what they
	// offer is not known before the plan refreshes them.
	Changed []string
}

// AvailLines parses the probe lines of availability: "@missing NAME...", "@unknown WHY", "@have NAME",
// "@near NAME CANDIDATE". Other lines are ignored.
func (a *Availability) AvailLines(out string) {
	for line := range strings.SplitSeq(out, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch k {
		case "@missing":
			if a.Missing == nil {
				a.Missing = map[string]bool{}
			}
			for _, n := range strings.Fields(v) {
				n, _, _ = strings.Cut(n, ":") // Debian's NAME:ARCH
				a.Missing[n] = true
			}
		case "@unknown":
			a.Unknown = v
		case "@have":
			if a.Have == nil {
				a.Have = map[string]bool{}
			}
			a.Have[v] = true
		case "@near":
			if n, cand, ok := strings.Cut(v, " "); ok {
				if a.Near == nil {
					a.Near = map[string][]string{}
				}
				a.Near[n] = append(a.Near[n], cand)
			}
		}
	}
}

// NearScript is an awk program that reads package names (one a line) and prints "@have NAME" for
// each of the names in the awk variable want (space-separated) it finds, and "@near NAME CANDIDATE"
// for names that could be typos of a missing one (close in length, same first or last letter; at
// most 300 each): the did-you-mean is computed from them (chobolo.Suggest) on the controller.
const NearScript = `BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) { W[w[i]] = 1; L[w[i]] = length(w[i]) } }
{ if ($1 in W) { if (!($1 in H)) print "@have " $1; H[$1] = 1; next }
  l = length($1)
  for (x in W) {
    d = l - L[x]; if (d < 0) d = -d
    m = int(L[x] / 3); if (m < 2) m = 2
    if (d <= m && C[x] < 300 && (substr($1, 1, 1) == substr(x, 1, 1) || substr($1, l, 1) == substr(x, L[x], 1))) { print "@near " x " " $1; C[x]++ }
  } }`

// CheckAvailable judges the packages about to be installed against av: a name no repository offers
// is an error at its declaration (with a did-you-mean when one is close, and hint for a name the
// package map does not know); when the host cannot judge, or a repository is added or changed by the
// same plan, it is a warning that says so ("cannot verify"), never silence. repos names the place
// to add a repository ("repos.apt").
func CheckAvailable(install []Want, av *Availability, repos string) (errs []chobolo.Diagnostic, warns []string) {
	if av == nil {
		return nil, nil
	}
	for _, w := range install {
		name, _, _ := strings.Cut(w.Name, ":")
		if !av.Missing[name] || av.Have[name] {
			continue
		}
		switch {
		case len(av.Changed) > 0:
			warns = append(warns, fmt.Sprintf("%s: cannot verify package %s: this plan adds or changes repositories (%s) first",
				w.Pos, w.Name, strings.Join(av.Changed, ", ")))
			continue
		case av.Unknown != "":
			warns = append(warns, fmt.Sprintf("%s: cannot verify package %s: %s", w.Pos, w.Name, av.Unknown))
			continue
		}
		msg := fmt.Sprintf("%s: no package %s in the configured repositories", w.Why, w.Name)
		if s := chobolo.Suggest(name, av.Near[name]); s != "" {
			msg += "; did you mean " + s + "?"
		} else {
			msg += "; check the spelling, or add the repository that has it under " + repos
			if w.Unmapped {
				msg += " (the package map has no entry for it: if this distribution calls it differently, declare an override)"
			}
		}
		errs = append(errs, chobolo.Diagnostic{Pos: w.Pos, Severity: chobolo.SevError, Code: "package-unavailable", Message: msg})
	}
	return errs, warns
}

// InstalledFunc is a sh function "inst NAME" that succeeds when the core's package database has
// NAME installed (or, on Fedora, a package providing it); "" for an unknown core. Roles that only
// need to know whether a declared package is there yet (files, services) use it in their probes.
func InstalledFunc(core string) string {
	switch core {
	case "debian":
		return `inst() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^.i'; }`
	case "arch":
		return `inst() { pacman -Q -- "$1" >/dev/null 2>&1; }`
	case "fedora":
		return `inst() { rpm -q --quiet --whatprovides -- "$1" 2>/dev/null; }`
	}
	return ""
}
