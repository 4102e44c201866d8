package packages

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/cores/debian"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/shell"
)

// guardScript runs at apply time, right before an apt transaction: it simulates the transaction
// (`apt-get -s`) and refuses it when apt would remove a package that the plan does not remove and that
// is not automatically installed, i.e. something declared, in the base set, protected, or needed by
// one of those. The plan's own dependency analysis should make this never fire; it is the backstop
// that keeps apt's resolver from having the last word. Data only arrives as positional parameters:
// PLANNED-REMOVALS... -- APT-GET-ARGS...
const guardScript = `ok=' '
while [ "$#" -gt 0 ] && [ "$1" != -- ]; do ok="$ok$1 "; shift; done
shift
ok="$ok$(awk '/^$/ {p = ""} /^Package:/ {p = $2} /^Auto-Installed: *1/ {printf "%s ", p}' /var/lib/apt/extended_states 2>/dev/null)"
out=$(apt-get -s -q -o Debug::NoLocking=1 "$@" 2>&1) || { printf '%s\n' "$out" >&2; exit 1; }
bad=$(printf '%s\n' "$out" | awk -v ok="$ok " '$1 == "Remv" {n = $2; sub(/:.*/, "", n); if (index(ok, " " n " ") == 0) printf "%s ", n}')
[ -z "$bad" ] && exit 0
echo "chaos: refusing apt-get $1: apt would also remove ${bad}which the plan keeps (declared, base set, protected, or needed by one of those)" >&2
exit 1`

// GuardOp returns the op that checks an apt transaction (args as given to apt-get) before it runs:
// apt may remove the planned removals and automatically installed packages, nothing else.
func GuardOp(planned []string, args ...string) engine.Op {
	argv := append([]string{"sh", "-c", guardScript, "chaos-apt-guard"}, planned...)
	argv = append(append(argv, "--"), args...)
	op := engine.Exec(argv...).WithEnv(debian.AptEnv...)
	op.Label = "check: apt-get -s " + shell.Join(args) + " removes nothing the plan keeps"
	return op
}

// PlanInput is what the plan needs besides the delta.
type PlanInput struct {
	Chroot   bool
	PolicyRC debian.PolicyRCState
	// HadConfig lists packages to install that are in state config-files (removed, not purged): the
	// undo removes them again instead of purging their configuration.
	HadConfig []string
}

// BuildPlan turns a delta into steps: one apt-mark for the auto->manual marks and one for the
// manual->auto marks (first, so that the transactions' guards see them), one apt transaction for the installs, one apt transaction for the removals followed by autoremove.
func BuildPlan(d *Delta, in PlanInput) *engine.RolePlan {
	rp := &engine.RolePlan{Notes: slices.Clone(d.Notes)}
	before, after := debian.NoServiceStarts(in.Chroot, in.PolicyRC)
	transactions := len(d.Install) > 0 || len(d.Remove) > 0

	if in.PolicyRC == debian.PolicyRCChaos && (!in.Chroot || !transactions) {
		rp.Add([]engine.Change{{Kind: engine.Del, Subject: debian.PolicyRC,
			Detail: "left behind by an interrupted chaos run; it blocks every service start"}},
			engine.Remove(debian.PolicyRC))
	}

	var steps []engine.Step
	if len(d.Mark) > 0 {
		var ch []engine.Change
		var names []string
		for _, m := range d.Mark {
			detail := "installed as a dependency; mark it manually installed"
			if m.Pkg != m.Name {
				detail = "provided by " + m.Pkg + ", installed as a dependency; mark " + m.Pkg + " manually installed"
			}
			ch = append(ch, engine.Change{Kind: engine.Modify, Subject: "package " + m.Name, Detail: detail, Pos: m.Pos})
			names = append(names, m.Pkg)
		}
		steps = append(steps, engine.Step{Changes: ch, Ops: []engine.Op{
			debian.AptMark(append([]string{"manual"}, names...)...).WithUndo(debian.AptMark(append([]string{"auto"}, names...)...)),
		}})
	}
	if len(d.Auto) > 0 {
		var ch []engine.Change
		var names []string
		for _, a := range d.Auto {
			ch = append(ch, engine.Change{Kind: engine.Modify, Subject: "package " + a.Name, Detail: "manual -> automatic (" + a.Why + ")"})
			names = append(names, a.Name)
		}
		steps = append(steps, engine.Step{Changes: ch, Ops: []engine.Op{
			debian.AptMark(append([]string{"auto"}, names...)...).WithUndo(debian.AptMark(append([]string{"manual"}, names...)...)),
		}})
	}
	if len(d.Install) > 0 {
		var ch []engine.Change
		var names []string
		for _, w := range d.Install {
			c := engine.Change{Kind: engine.Add, Subject: "package " + w.Name, Pos: w.Pos}
			if !strings.HasPrefix(w.Why, "packages[") {
				c.Detail = w.Why
			}
			ch = append(ch, c)
			names = append(names, w.Name)
		}
		var ops []engine.Op
		if d.Update {
			ops = append(ops, debian.AptGet("update"))
		}
		args := append([]string{"install", "--no-install-recommends"}, names...)
		install := installUndo(debian.AptGet(args...))
		install.Packages = names // the restart phase restarts services that restart on them
		ops = append(ops, GuardOp(d.Remove, args...), install)
		steps = append(steps, engine.Step{Changes: ch, Ops: ops})
	}
	if len(d.Remove) > 0 {
		var ch []engine.Change
		for _, n := range d.Remove {
			ch = append(ch, engine.Change{Kind: engine.Del, Subject: "package " + n, Detail: "manually installed, not declared"})
		}
		args := append([]string{"remove"}, d.Remove...)
		reinstall := debian.AptGetAfterInterrupt(append([]string{"install", "--no-install-recommends"}, d.Remove...)...)
		steps = append(steps, engine.Step{Changes: ch, Ops: []engine.Op{
			GuardOp(d.Remove, args...),
			debian.AptGet(args...).WithUndo(reinstall),
			debian.AptGet("autoremove"),
		}})
	}
	if transactions && len(before) > 0 {
		// The install step, else the removal step (apt-mark runs no maintainer scripts).
		first, last := 0, len(steps)-1
		if len(d.Mark) > 0 {
			first++
		}
		if len(d.Auto) > 0 {
			first++
		}
		if len(d.Install) == 0 {
			first = last
		}
		steps[first].Ops = append(slices.Clone(before), steps[first].Ops...)
		steps[last].Ops = append(steps[last].Ops, after...)
	}
	rp.Steps = append(rp.Steps, steps...)
	return rp
}

// guardLarge returns the large-prune guard sentence, or "".
func guardLarge(d *Delta) string {
	if n := len(d.Remove); n > 3 && 2*n > d.Manual {
		return fmt.Sprintf("the prune would remove %d of the %d manually installed packages", n, d.Manual)
	}
	return ""
}

// undoInstallScript reads the package states captured right before the install (stdin: the output
// of installedStates) and removes exactly what the transaction added, its dependencies included:
// purged when the package was unknown before, removed (configuration kept) when only its
// configuration was there. Package names come from dpkg, never from the Ch-obolo. Then it puts
// back apt's auto-installed marks (/var/lib/apt/extended_states) as they were: apt keeps the marks
// of the packages it removes.
//
// A transaction that was killed (chaos killed, connection lost) leaves the package dpkg was
// unpacking half-installed with "reinstall required", others unpacked but not configured, and
// dpkg's journal unmerged: apt refuses to run then. dpkg itself removes what was added (forced past
// "reinstall required", and without configuring what it is about to remove), then finishes
// whatever else the killed run left pending, and the control files the killed dpkg was reading
// (tmp.ci) go. The files dpkg was unpacking when killed are in no list yet: its temp files
// (PATH.dpkg-new, PATH.dpkg-tmp) changed since the transaction began (the capture's first line)
// go, with their parent directories that are left empty, changed since then and owned by no
// package.
const undoInstallScript = `set -e
in=$(mktemp)
trap 'rm -f "$in"' EXIT
cat >"$in"
since=$(sed -n '1s/^-- since //p' "$in")
before=$(sed '1{/^-- since /d;}; /^-- extended_states: /,$d' "$in")
now=$(dpkg-query -W -f '${Package}\t${db:Status-Abbrev}\n')
todo=$(printf '%s\n--\n%s\n' "$before" "$now" | awk -F '\t' '
  $0 == "--" { after = 1; next }
  !after { was[$1] = substr($2, 2, 1); next }
  { s = substr($2, 2, 1); if (s == "n" || s == "c") next
    p = was[$1]; if (p == "" || p == "n") print "purge " $1; else if (p == "c") print "remove " $1 }')
purge=$(printf '%s\n' "$todo" | sed -n 's/^purge //p')
remove=$(printf '%s\n' "$todo" | sed -n 's/^remove //p')
if [ -z "$(dpkg --audit)" ] && [ -z "$(ls -A /var/lib/dpkg/updates 2>/dev/null)" ]; then
  [ -z "$purge" ] || apt-get "$@" purge $purge
  [ -z "$remove" ] || apt-get "$@" remove $remove
else
  [ -z "$purge" ] || dpkg --force-remove-reinstreq --purge $purge
  [ -z "$remove" ] || dpkg --force-remove-reinstreq --remove $remove
  dpkg --force-confdef --force-confold --configure -a
  rm -rf /var/lib/dpkg/tmp.ci
  case $since in ''|*[!0-9]*) ;; *)
    find / /usr /var /etc /opt /boot -xdev \( -name '*.dpkg-new' -o -name '*.dpkg-tmp' \) -newerct "@$since" 2>/dev/null |
      sort -u | while IFS= read -r f; do
        rm -f -- "$f"
        d=${f%/*}
        while [ -n "$d" ] && [ "$d" != / ] && [ -d "$d" ] && [ -z "$(ls -A -- "$d")" ] &&
          [ "$(stat -c %Z -- "$d")" -ge "$since" ] && ! dpkg -S "$d" >/dev/null 2>&1; do
          rmdir -- "$d"
          d=${d%/*}
        done
      done ;;
  esac
fi
case $(grep -m 1 '^-- extended_states: ' "$in" || :) in
'-- extended_states: present')
  sed '1,/^-- extended_states: present$/d' "$in" >/var/lib/apt/extended_states.chaos-undo
  mv -f /var/lib/apt/extended_states.chaos-undo /var/lib/apt/extended_states ;;
'-- extended_states: absent') rm -f /var/lib/apt/extended_states ;;
esac
`

// installedStates prints the time, every package dpkg knows with its state, then apt's
// auto-installed marks, for undoInstallScript.
var installedStates = []string{"sh", "-c", `echo "-- since $(date +%s)"
dpkg-query -W -f '${Package}\t${db:Status-Abbrev}\n'
if [ -f /var/lib/apt/extended_states ]; then
  echo '-- extended_states: present'
  cat /var/lib/apt/extended_states
else
  echo '-- extended_states: absent'
fi`}

// installUndo gives an install its inverse: the package set is captured by the engine right before
// the transaction, and the undo removes what is new since then.
func installUndo(install engine.Op) engine.Op {
	undo := engine.Exec(append([]string{"sh", "-c", undoInstallScript, "sh"}, debian.AptOptions...)...).WithEnv(debian.AptEnv...)
	undo.Label = "apt-get purge/remove the packages the install added"
	install = install.WithUndo(undo)
	install.Capture = installedStates
	return install
}
