package dnf

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/cores/fedora"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/shell"
)

// GuardOp returns the op that checks a removal transaction right before it runs: `rpm -e --test` of
// every package the plan does not need (the removals and the dependencies nothing that stays
// requires) fails when a package that stays requires one of them, i.e. when dnf would take a
// declared, base-set, protected or otherwise kept package with it. The plan's own dependency walk
// should make this never fire; it is the backstop that lets rpm, not chaos's reading of the
// dependencies, have the last word.
func GuardOp(unneeded []string) engine.Op {
	op := engine.Exec(append([]string{"rpm", "-e", "--test", "--allmatches", "--"}, unneeded...)...)
	op.Label = "check: rpm -e --test " + shell.Join(unneeded) + " (nothing that stays requires what goes)"
	return op
}

// BuildPlan turns a delta into steps for the host's dnf: one `mark install` (dnf5: `mark user`) for
// declared packages installed as dependencies (first, so that the removal cannot take them as
// unneeded), one `mark remove` (dnf5: `mark dependency`) for undeclared user-installed packages a
// declared one requires, one dnf transaction for the installs (packages and @groups), and one for the removals
// (packages and the groups chaos installed), guarded by GuardOp.
func BuildPlan(d *Delta, dnf fedora.Tool) *engine.RolePlan {
	rp := &engine.RolePlan{Notes: slices.Clone(d.Notes)}
	if len(d.Mark) > 0 {
		var ch []engine.Change
		var names []string
		for _, m := range d.Mark {
			detail := "installed as " + reasonText(m.Reason) + "; mark it user-installed"
			if m.Pkg != m.Name {
				detail = "provided by " + m.Pkg + ", installed as " + reasonText(m.Reason) + "; mark " + m.Pkg + " user-installed"
			}
			ch = append(ch, engine.Change{Kind: engine.Modify, Subject: "package " + m.Name, Detail: detail, Pos: m.Pos})
			names = append(names, m.Pkg)
		}
		rp.Add(ch, dnf.Op(append(dnf.MarkUser(), names...)...).
			WithUndo(dnf.Op(append(dnf.MarkDependency(), names...)...)))
	}
	if len(d.Deps) > 0 {
		var ch []engine.Change
		var names []string
		for _, dep := range d.Deps {
			ch = append(ch, engine.Change{Kind: engine.Modify, Subject: "package " + dep.Name, Detail: "user-installed -> dependency (" + dep.Why + ")"})
			names = append(names, dep.Name)
		}
		rp.Add(ch, dnf.Op(append(dnf.MarkDependency(), names...)...).
			WithUndo(dnf.Op(append(dnf.MarkUser(), names...)...)))
	}
	if len(d.Install) > 0 {
		var ch []engine.Change
		var names []string
		for _, w := range d.Install {
			subject := "package " + w.Name
			if fedora.IsGroup(w.Name) {
				subject = "group " + w.Name
			}
			c := engine.Change{Kind: engine.Add, Subject: subject, Pos: w.Pos}
			if !strings.HasPrefix(w.Why, "packages[") {
				c.Detail = w.Why
			}
			ch = append(ch, c)
			names = append(names, w.Name)
		}
		install := InstallUndo(dnf.Op(dnf.Names([]string{"install"}, names...)...), dnf, names)
		install.Packages = names // the restart phase restarts services that restart on them
		rp.Add(ch, install)
	}
	if len(d.Remove) > 0 || len(d.RemoveGroups) > 0 {
		var ch []engine.Change
		var names []string
		for _, n := range d.Remove {
			ch = append(ch, engine.Change{Kind: engine.Del, Subject: "package " + n, Detail: "user-installed, not declared"})
			names = append(names, n)
		}
		for _, g := range d.RemoveGroups {
			ch = append(ch, engine.Change{Kind: engine.Del, Subject: "group @" + g, Detail: "installed by chaos, no longer declared"})
			names = append(names, "@"+g)
		}
		var ops []engine.Op
		if len(d.Remove) > 0 {
			ops = append(ops, GuardOp(d.Unneeded))
		}
		ops = append(ops, dnf.Op(dnf.Names(append([]string{"remove"}, fedora.RemoveOptions...), names...)...).
			WithUndo(dnf.Op(dnf.Names([]string{"install"}, names...)...)))
		rp.Add(ch, ops...)
	}
	return rp
}

// undoInstallScript is the inverse of an install transaction. Its stdin, captured by the engine
// right before the transaction (installedPackages), is the time and every installed package.
//
//  1. It removes every package installed now that was not before, exactly those, with dnf and
//     without clean_requirements_on_remove. So a transaction that was killed half-way is undone
//     too: the dependencies it installed before it died are new packages, while dnf, which never
//     recorded them as dependencies, would keep them as user-installed when asked to remove only
//     the named packages.
//  2. It removes what rpm left of a package it was unpacking when it was killed, which is in no
//     database (rpm records a package after its files): the candidates are the named packages and
//     their dependencies in the repositories (dnf repoquery, from the metadata the transaction
//     used) that are not installed; of their files (repoquery -l), rpm's temp files (PATH;XXXXXXXX)
//     go, and the files and then the empty directories that no installed package owns and whose
//     inode changed since the transaction began (a file nobody owns from before stays).
//  3. It removes the groups it installed from dnf's record, their packages already gone: those
//     dnf's record holds as installed (groupsProbe: a killed transaction recorded none).
//
// Its arguments are dnf's major version, its command and the installed names.
const undoInstallScript = `set -e
major=$1 dnf=$2
shift 2
remove() {
  if [ "$major" -ge 5 ]; then
    "$dnf" -y remove --setopt=clean_requirements_on_remove=False "$@"
  else
    "$dnf" -y --color=never remove --setopt=clean_requirements_on_remove=False -- "$@"
  fi
}
in=$(mktemp)
files=$(mktemp)
trap 'rm -f "$in" "$files"' EXIT
cat >"$in"
since=$(sed -n '1s/^since //p' "$in")
case $since in ''|*[!0-9]*) echo "chaos: no start time in the captured state" >&2; exit 1 ;; esac
set -f
new=$(rpm -qa --qf '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\n' | awk 'FILENAME == ARGV[1] { if (FNR > 1) was[$0] = 1; next } !was[$0]' "$in" -)
[ -z "$new" ] || remove $new
pkgs= groups=
for n in "$@"; do
  case $n in @*) groups="$groups $n" ;; *) pkgs="$pkgs $n" ;; esac
done
# rpm installs a package after what it requires: with every named package installed, nothing
# of the transaction was left half-written.
missing=
for p in $pkgs; do
  if ! rpm -q --quiet "$p"; then missing=1; fi
done
if [ -n "$missing" ]; then
  deps=$("$dnf" -q -C repoquery --requires --resolve --recursive --qf '%{name}\n' $pkgs)
  cand=
  for p in $pkgs $deps; do
    if ! rpm -q --quiet "$p"; then cand="$cand $p"; fi
  done
  "$dnf" -q -C repoquery -l $cand | sort -u >"$files"
  set +f
  while IFS= read -r f; do
    for t in "$f;"????????; do
      if [ -f "$t" ]; then rm -f -- "$t"; fi
    done
    if [ -e "$f" ] && [ ! -d "$f" ] && ! rpm -qf --quiet "$f" && [ "$(stat -c %Z -- "$f")" -ge "$since" ]; then
      rm -f -- "$f"
    fi
  done <"$files"
  sort -r "$files" | while IFS= read -r f; do
    if [ -d "$f" ] && ! rpm -qf --quiet "$f" && [ "$(stat -c %Z -- "$f")" -ge "$since" ]; then
      rmdir -- "$f" 2>/dev/null || :
    fi
  done
  set -f
fi
[ -n "$groups" ] || exit 0
nl='
'
installed=$nl$(
` + groupsProbe + `
)$nl
drop=
for g in $groups; do
  case $installed in *"$nl@group ${g#@}$nl"*) drop="$drop $g" ;; esac
done
[ -z "$drop" ] || remove $drop
`

// installedPackages prints the time (since EPOCH-SECONDS) and every installed package as
// NAME-VERSION-RELEASE.ARCH, for undoInstallScript.
var installedPackages = []string{"sh", "-c", `set -e
echo "since $(date +%s)"
rpm -qa --qf '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\n'`}

// InstallUndo gives an install transaction of names its inverse: the engine captures the installed
// packages right before it, and the undo removes what is new since then (undoInstallScript).
func InstallUndo(install engine.Op, dnf fedora.Tool, names []string) engine.Op {
	argv := append([]string{"sh", "-c", undoInstallScript, "sh", strconv.Itoa(dnf.Major), dnf.Cmd}, names...)
	undo := engine.Exec(argv...)
	undo.Label = dnf.Cmd + " remove the packages the install added"
	install = install.WithUndo(undo)
	install.Capture = installedPackages
	return install
}

func reasonText(r string) string {
	switch r {
	case "dependency":
		return "a dependency"
	case "weak-dependency":
		return "a weak dependency"
	case "group":
		return "a member of a group"
	case "":
		return "an unknown reason"
	}
	return r
}

// guardLarge returns the large-prune guard sentence, or "".
func guardLarge(d *Delta) string {
	if n := len(d.Remove); n > 3 && 2*n > d.User {
		return fmt.Sprintf("the prune would remove %d of the %d user-installed packages", n, d.User)
	}
	return ""
}
