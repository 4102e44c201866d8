package files

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/shell"
)

// secOwners is the probe section that says whether the declared owners and groups exist on the
// target, so that a file owned by a user nobody creates fails in the plan, not in the middle of the
// apply.
const secOwners = "owners"

// ownerNames are the user and group names (not numeric ids) the declared entries use.
func ownerNames(c *chobolo.Chobolo) (users, groups []string) {
	for _, f := range c.Files {
		if f.State == "absent" {
			continue
		}
		if f.Owner != "" && !numeric(f.Owner) && chobolo.ValidUserName(f.Owner) == nil && !slices.Contains(users, f.Owner) {
			users = append(users, f.Owner)
		}
		if f.Group != "" && !numeric(f.Group) && chobolo.ValidGroupName(f.Group) == nil && !slices.Contains(groups, f.Group) {
			groups = append(groups, f.Group)
		}
	}
	// secrets.templates owners are not here: their homes are read with the paths (homesScript),
	// which tells whether the target knows them.
	return users, groups
}

func numeric(s string) bool { _, err := strconv.Atoi(s); return err == nil }

// ownersProbe prints "U NAME 0|1" and "G NAME 0|1": whether the user or group exists, through NSS
// with /etc/passwd and /etc/group as the fallback. Names are quoted words.
func ownersProbe(c *chobolo.Chobolo) (engine.ProbeSection, bool) {
	users, groups := ownerNames(c)
	if len(users)+len(groups) == 0 {
		return engine.ProbeSection{}, false
	}
	var b strings.Builder
	b.WriteString(`has() { { getent "$1" "$2" || awk -F: -v n="$2" '$1 == n {f = 1} END {exit !f}' "/etc/$1"; } >/dev/null 2>&1; }
`)
	for _, u := range users {
		fmt.Fprintf(&b, "if has passwd %[1]s; then printf 'U %%s 1\\n' %[1]s; else printf 'U %%s 0\\n' %[1]s; fi\n", shell.Quote(u))
	}
	for _, g := range groups {
		fmt.Fprintf(&b, "if has group %[1]s; then printf 'G %%s 1\\n' %[1]s; else printf 'G %%s 0\\n' %[1]s; fi\n", shell.Quote(g))
	}
	b.WriteString("true\n")
	return engine.ProbeSection{Name: secOwners, Script: b.String()}, true
}

// ownerFacts is what ownersProbe printed.
type ownerFacts struct {
	users, groups map[string]bool // name -> exists on the target
}

func parseOwners(out string) ownerFacts {
	o := ownerFacts{users: map[string]bool{}, groups: map[string]bool{}}
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "U":
			o.users[f[1]] = f[2] == "1"
		case len(f) == 3 && f[0] == "G":
			o.groups[f[1]] = f[2] == "1"
		}
	}
	return o
}

// checkOwners refuses an owner or group that neither exists on the target nor is created by the
// users role in the same plan (a declared user, its own group, the groups it is put in), each at
// its position. When the plan installs packages (installing, from the packages role planned
// before), one of them may create the account (a daemon's system user): that is a "cannot verify"
// warning instead.
func checkOwners(c *chobolo.Chobolo, o ownerFacts, installing []string) (errs []chobolo.Diagnostic, warns []string) {
	users, groups := map[string]bool{}, map[string]bool{}
	for _, u := range c.Users {
		if u.State == "absent" {
			continue
		}
		users[u.Name], groups[u.Name] = true, true
		for _, g := range u.Groups {
			groups[g] = true
		}
	}
	judge := func(i int, field, kind, name string, exists map[string]bool, declared map[string]bool) {
		if name == "" || numeric(name) || declared[name] {
			return
		}
		ok, known := exists[name]
		if !known || ok {
			return // not probed (an invalid name: Validate reports it) or present
		}
		pos := c.Pos(fmt.Sprintf("files[%d].%s", i, field))
		if len(installing) > 0 {
			warns = append(warns, fmt.Sprintf("%s: cannot verify %s %s of %s: the target has no such %s yet, and a package this plan installs (%s) may create it",
				pos, field, name, c.Files[i].Path, kind, strings.Join(installing, ", ")))
			return
		}
		errs = append(errs, chobolo.Diagnostic{Pos: pos, Severity: chobolo.SevError, Code: "unknown-" + field,
			Message: fmt.Sprintf("files[%d].%s: %s %s does not exist on the target and is not declared under users", i, field, kind, name)})
	}
	for i, f := range c.Files {
		if f.State == "absent" {
			continue
		}
		judge(i, "owner", "user", f.Owner, o.users, users)
		judge(i, "group", "group", f.Group, o.groups, groups)
	}
	return errs, warns
}
