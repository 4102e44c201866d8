package services

import (
	"strings"

	"github.com/ch-aos-ch/chaos/internal/shell"
)

// A unit whose Condition*= settings fail (systemd-timesyncd has ConditionVirtualization=!container,
// many units check a path) is skipped by `systemctl start`: the start succeeds and the unit stays
// inactive. Planning that start again on every run would never converge. So, on a live systemd, the
// probe evaluates the current conditions of every declared unit whose last check did not pass (or
// that was never started) with `systemd-analyze condition --unit=`, which changes nothing; a unit
// whose conditions fail now is not started, with a note. Units that run, or whose last check passed,
// cost nothing beyond one `systemctl show` for all of them.

// ConditionProbe is a probe fragment for a live systemd that prints "@condfailed UNIT" for each of
// units whose start conditions fail now. Names are quoted; invalid ones are the caller's to keep out.
func ConditionProbe(units []string) string {
	if len(units) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("if command -v systemd-analyze >/dev/null 2>&1; then\n")
	b.WriteString("  systemctl show -p Id -p ConditionResult -- " + shell.Join(units))
	// paragraph mode: one record per unit, whatever the order of the properties
	b.WriteString(` 2>/dev/null | awk -v RS= '{id=""; no=0; for (i = 1; i <= NF; i++) { if ($i ~ /^Id=/) id = substr($i, 4); if ($i == "ConditionResult=no") no = 1 } if (no && id != "") print id}' |
  while read -r u; do
    systemd-analyze condition --unit="$u" 2>&1 | grep -q '^Conditions failed' && echo "@condfailed $u"
  done
fi
`)
	return b.String()
}

// ParseConditions reads the "@condfailed UNIT" lines of ConditionProbe from out (other lines are
// ignored): the units whose start conditions fail, so that starting them would change nothing.
func ParseConditions(out string) map[string]bool {
	failed := map[string]bool{}
	for line := range strings.SplitSeq(out, "\n") {
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), "@condfailed "); ok && u != "" {
			failed[strings.TrimSpace(u)] = true
		}
	}
	return failed
}

// UnitsProbe is a probe fragment for a live systemd that prints, for each of units, whether it can
// reload ("@canreload UNIT": it has ExecReload=, systemd's CanReload) and the units it is ordered
// after ("@after UNIT A B ...", systemd's After=, which includes the other units' Before= and the
// drop-ins): the restart phase reloads the ones that can and restarts units in that order. Names
// are quoted.
func UnitsProbe(units []string) string {
	if len(units) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("systemctl show -p Id -p CanReload -p After -- " + shell.Join(units))
	b.WriteString(` 2>/dev/null | awk -v RS= '{id=""; ok=0; after=""; for (i = 1; i <= NF; i++) { if ($i ~ /^Id=/) id = substr($i, 4); else if ($i == "CanReload=yes") ok = 1; else if ($i ~ /^After=/) after = substr($i, 7); else if (after != "" && $i !~ /=/) after = after " " $i } if (id == "") next; if (ok) print "@canreload " id; if (after != "") print "@after " id " " after}'
`)
	return b.String()
}
