package users

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/go-crypt/crypt"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// Options are what the delta needs to know besides the facts and the declared users.
type Options struct {
	// Protected users are never removed, never lose their sudo file or their membership of the
	// admin groups, and never get a no-login shell.
	Protected []string
	// PackagesDeclared is true when a packages role runs before this one (it installs the users'
	// shells, this role's need) or the Ch-obolo declares `packages`: a shell missing at probe time
	// is then expected from it.
	PackagesDeclared bool
	// SudoServed is true when a packages role runs before this one and installs sudo (this role's
	// Need) when a user has `sudo: true`.
	SudoServed bool
}

// Delta is the typed difference between the host and the declared users.
type Delta struct {
	NewGroups []NewGroup
	Creates   []Create
	Modifies  []Modify
	Passwords []PasswordSet
	Locks     []Lock
	Sudo      []SudoWrite
	Unsudo    []SudoRemove
	Removes   []Remove
	// Order lists the declared (present) users in Ch-obolo order; their steps follow it.
	Order []string
	Notes []string
	Guard string
}

// NewGroup is a supplementary group to create before the users that need it.
type NewGroup struct {
	Name string
	Pos  chobolo.Pos
	For  []string // users that asked for it
}

// Create is a new account.
type Create struct {
	Want
	ShellPath string
	// CheckShell asks for an apply-time check that the shell exists and is listed in /etc/shells
	// (it was missing when the probe ran: the packages role is expected to install it).
	CheckShell bool
	// HomeExisted is true when the home directory was already there (useradd -m then keeps it as it
	// is and copies nothing from /etc/skel); undo then keeps it too.
	HomeExisted bool
	// PrimaryGroup is set when a group named like the user exists (or is created by this plan):
	// useradd gets -g NAME instead of failing on "group exists".
	PrimaryGroup string
}

// Modify changes an existing account; nil/empty fields are unchanged.
type Modify struct {
	Name       string
	Pos        chobolo.Pos
	Cur        Account
	Shell      string // new shell path
	CheckShell bool
	Home       string // new home
	MoveHome   bool   // usermod -m: the old home exists and the new one does not
	MakeHome   bool   // neither exists: the new home is created (mode 0700, owned by the user)
	Groups     []string
	CurGroups  []string
	SetGroups  bool
	UID        *int
}

// Lock locks an existing account's password (`password: locked`).
type Lock struct {
	Name string
	Pos  chobolo.Pos
}

// PasswordSet writes a password with chpasswd (stdin, never argv).
type PasswordSet struct {
	Name    string
	Pos     chobolo.Pos
	Pw      Password
	New     bool   // the account is created by this plan
	Old     string // previous shadow field, for undo
	OldKnow bool
}

// SudoWrite installs /etc/sudoers.d/99-chaos-NAME.
type SudoWrite struct {
	User    string
	Pos     chobolo.Pos
	Existed bool
	Mkdir   bool // /etc/sudoers.d is missing (sudo is expected from the packages role)
}

// SudoRemove removes a role-managed sudoers file.
type SudoRemove struct {
	File string // base name
	User string
	Pos  chobolo.Pos
}

// Remove deletes an account (userdel; -r with purge_home).
type Remove struct {
	Account Account
	Groups  []string // supplementary groups, for undo
	// PrimaryGroup is the user's primary group when it carries the user's name: userdel removes it,
	// so undo re-creates it with the same gid.
	PrimaryGroup string
	Purge        bool
	Declared     bool // state: absent (otherwise: pruned because undeclared)
	Pos          chobolo.Pos
}

// adminGroups are the groups a protected user never leaves through this role (sudo rights).
var adminGroups = []string{"sudo", "wheel", "admin"}

// SudoContent is the one line of a user's sudoers file.
func SudoContent(user string) string { return user + " ALL=(ALL:ALL) ALL\n" }

// SudoFileName is the base name of user's sudoers file.
func SudoFileName(user string) string { return SudoPrefix + user }

// Managed reports whether an existing account falls in the regular-user range the role prunes:
// uid in [max(UID_MIN,1000), UID_MAX], not nobody (65534) and not a systemd dynamic user
// (61184-65519).
func (f *Facts) Managed(a Account) bool {
	lo, hi := max(f.UIDMin, 1000), f.UIDMax
	switch {
	case a.Name == "root" || a.Name == "nobody" || a.UID == 65534:
		return false
	case a.UID >= 61184 && a.UID <= 65519:
		return false
	}
	return a.UID >= lo && a.UID <= hi
}

// ComputeDelta compares the host with the declared users.
func ComputeDelta(f *Facts, want []Want, o Options) (*Delta, error) {
	d := &Delta{}
	protected := func(n string) bool { return slices.Contains(o.Protected, n) }
	declared := map[string]bool{}
	for _, w := range want {
		declared[w.Name] = true
	}
	// Groups to create, in the order users ask for them.
	newGroup := map[string]int{}
	for _, w := range want {
		if w.Absent {
			continue
		}
		for _, g := range w.Groups {
			if _, ok := f.Group(g); ok {
				continue
			}
			if i, ok := newGroup[g]; ok {
				d.NewGroups[i].For = append(d.NewGroups[i].For, w.Name)
				continue
			}
			newGroup[g] = len(d.NewGroups)
			d.NewGroups = append(d.NewGroups, NewGroup{Name: g, Pos: w.GroupPos, For: []string{w.Name}})
		}
	}
	sudoWanted := map[string]bool{}
	for _, w := range want {
		if w.Absent {
			cur, ok := f.Account(w.Name)
			if !ok {
				continue
			}
			switch {
			case protected(w.Name):
				return nil, fmt.Errorf("%s: user %s has state: absent but is protected (it runs chaos, is SUDO_USER or the SSH user); refusing to remove it", w.Pos, w.Name)
			case cur.UID < 1000 || cur.Name == "root":
				return nil, fmt.Errorf("%s: user %s has uid %d (a system account, below 1000); refusing to remove it", w.Pos, w.Name, cur.UID)
			}
			d.Removes = append(d.Removes, removal(f, cur, w.Purge, true, w.Pos))
			continue
		}
		d.Order = append(d.Order, w.Name)
		cur, exists := f.Account(w.Name)
		var shellPath string
		var check bool
		if !exists || w.ShellSet {
			var err error
			if shellPath, check, err = resolveShell(f, w, o.PackagesDeclared); err != nil {
				return nil, err
			}
		}
		if check {
			d.Notes = append(d.Notes, fmt.Sprintf("user %s: shell %s is not installed yet; expecting %s from the packages role (checked before the account is touched)", w.Name, w.Shell, shellPath))
		}
		if protected(w.Name) && noLogin[shellPath] {
			return nil, fmt.Errorf("%s: user %s is protected (it runs chaos, is SUDO_USER or the SSH user); refusing to give it the no-login shell %s", w.ShellPos, w.Name, shellPath)
		}
		if w.UID != nil {
			for _, a := range f.Accounts {
				leaving := isAbsent(want, a.Name) || (!declared[a.Name] && f.Managed(a) && !protected(a.Name))
				if a.UID == *w.UID && a.Name != w.Name && !leaving {
					return nil, fmt.Errorf("%s: user %s: uid %d is already used by %s", w.UIDPos, w.Name, *w.UID, a.Name)
				}
			}
		}
		if !exists {
			c := Create{Want: w, ShellPath: shellPath, CheckShell: check, HomeExisted: f.Paths[w.Home] != 0}
			if _, ok := f.Group(w.Name); ok {
				c.PrimaryGroup = w.Name
			} else if _, ok := newGroup[w.Name]; ok {
				c.PrimaryGroup = w.Name
			}
			if c.HomeExisted {
				d.Notes = append(d.Notes, fmt.Sprintf("user %s: home %s already exists; useradd keeps it as it is (no /etc/skel copy, owner unchanged)", w.Name, w.Home))
			}
			d.Creates = append(d.Creates, c)
			if w.Password != nil {
				d.Passwords = append(d.Passwords, PasswordSet{Name: w.Name, Pos: w.Pos, Pw: *w.Password, New: true})
			}
		} else {
			m := Modify{Name: w.Name, Pos: w.Pos, Cur: cur}
			if w.ShellSet && !shellMatches(f, w, cur.Shell) {
				m.Shell, m.CheckShell = shellPath, check
			}
			if w.HomeSet && cur.Home != w.Home {
				m.Home = w.Home
				switch {
				case f.Paths[w.Home] != 0:
					d.Notes = append(d.Notes, fmt.Sprintf("user %s: new home %s already exists; the old home %s is not moved", w.Name, w.Home, cur.Home))
				case f.Paths[cur.Home] != 'd':
					m.MakeHome = true
					d.Notes = append(d.Notes, fmt.Sprintf("user %s: the old home %s does not exist; the new home %s is created empty", w.Name, cur.Home, w.Home))
				default:
					m.MoveHome = true
				}
			}
			curGroups := f.Supplementary(w.Name)
			wantGroups := w.Groups
			if protected(w.Name) {
				for _, g := range adminGroups {
					if slices.Contains(curGroups, g) && !slices.Contains(wantGroups, g) {
						wantGroups = sortedSet(append(slices.Clone(wantGroups), g))
						d.Notes = append(d.Notes, fmt.Sprintf("user %s: kept in group %s: it is protected (it runs chaos, is SUDO_USER or the SSH user) and would lose its admin rights", w.Name, g))
					}
				}
			}
			if !slices.Equal(curGroups, wantGroups) {
				m.Groups, m.CurGroups, m.SetGroups = wantGroups, curGroups, true
			}
			if w.UID != nil && *w.UID != cur.UID {
				if cur.UID == 0 || cur.Name == "root" {
					return nil, fmt.Errorf("%s: user %s: refusing to change root's uid", w.UIDPos, w.Name)
				}
				m.UID = w.UID
			}
			if m.Shell != "" || m.Home != "" || m.SetGroups || m.UID != nil {
				d.Modifies = append(d.Modifies, m)
			}
			switch st := f.Status[w.Name]; {
			case w.Locked && st != "" && st != "locked" && protected(w.Name):
				return nil, fmt.Errorf("%s: user %s: refusing to lock the password of a protected user (it runs chaos, is SUDO_USER or the SSH user)", w.Pos, w.Name)
			case w.Locked && st != "" && st != "locked":
				d.Locks = append(d.Locks, Lock{Name: w.Name, Pos: w.Pos})
			}
			if w.Password != nil {
				if ps, ok := passwordDelta(f, w); ok {
					d.Passwords = append(d.Passwords, ps)
				}
			} else if st := f.Status[w.Name]; !w.Locked && st != "" && st != "set" {
				d.Notes = append(d.Notes, fmt.Sprintf("user %s: no password in the secrets (%s) and the account's password is %s", w.Name, SecretPath(w.Name), st))
			}
		}
		if w.Sudo {
			sudoWanted[w.Name] = true
			sf, ok := f.Sudoers[SudoFileName(w.Name)]
			if !ok || sf.Content != SudoContent(w.Name) || sf.Mode != "440" || sf.Owner != "root" || sf.Group != "root" {
				if !f.Visudo && !o.SudoServed {
					return nil, fmt.Errorf("%s: user %s: sudo: true needs sudo (visudo) on the target, and it is not installed; the packages role, which would install it, does not run here", w.SudoPos, w.Name)
				}
				if !f.Visudo {
					d.Notes = append(d.Notes, fmt.Sprintf("user %s: sudo is not installed yet; expecting it from the packages role (visudo validates the file before it lands)", w.Name))
				}
				d.Sudo = append(d.Sudo, SudoWrite{User: w.Name, Pos: w.Pos, Existed: ok, Mkdir: !f.SudoersDir})
			}
		}
	}
	// Role-managed sudoers files that no declared sudo user needs.
	files := slices.Sorted(maps.Keys(f.Sudoers))
	for _, name := range files {
		user, legacy := strings.CutPrefix(name, LegacySudoPrefix)
		if !legacy {
			user = strings.TrimPrefix(name, SudoPrefix)
		}
		if sudoWanted[user] && !legacy {
			continue
		}
		if protected(user) && !sudoWanted[user] {
			if _, exists := f.Account(user); exists {
				d.Notes = append(d.Notes, fmt.Sprintf("%s/%s kept: %s is protected (it runs chaos, is SUDO_USER or the SSH user) and would lose its sudo rights", SudoersDir, name, user))
				continue
			}
		}
		d.Unsudo = append(d.Unsudo, SudoRemove{File: name, User: user})
	}
	// Full state: regular accounts that the Ch-obolo does not declare.
	managed := 0
	var pruned []string
	for _, a := range f.Accounts {
		if !f.Managed(a) {
			continue
		}
		managed++
		if declared[a.Name] {
			continue
		}
		if protected(a.Name) {
			d.Notes = append(d.Notes, fmt.Sprintf("user %s (uid %d) kept although undeclared: it is protected (it runs chaos, is SUDO_USER or the SSH user)", a.Name, a.UID))
			continue
		}
		d.Removes = append(d.Removes, removal(f, a, false, false, chobolo.Pos{}))
		pruned = append(pruned, a.Name)
	}
	if len(pruned) > 3 && len(pruned)*2 > managed {
		d.Guard = fmt.Sprintf("would remove %d of the %d regular users (uid %d-%d) because they are not declared: %s",
			len(pruned), managed, max(f.UIDMin, 1000), f.UIDMax, strings.Join(pruned, ", "))
	}
	return d, nil
}

func isAbsent(want []Want, name string) bool {
	for _, w := range want {
		if w.Name == name {
			return w.Absent
		}
	}
	return false
}

func removal(f *Facts, a Account, purge, declared bool, pos chobolo.Pos) Remove {
	r := Remove{Account: a, Groups: f.Supplementary(a.Name), Purge: purge, Declared: declared, Pos: pos}
	if g, ok := f.GroupByGID(a.GID); ok && g.Name == a.Name {
		r.PrimaryGroup = g.Name
	}
	return r
}

// resolveShell finds the path of w's shell on the target. A bare name resolves to the first
// candidate (/bin/NAME, /usr/bin/NAME) that exists and is listed in /etc/shells. When no candidate
// exists the shell is expected from the packages role (when `packages` is declared): the plan uses
// /usr/bin/NAME (where every merged-/usr distribution has it) and an apply-time check guards the
// account change, because useradd and usermod only warn about a missing shell.
func resolveShell(f *Facts, w Want, packages bool) (path string, check bool, err error) {
	cands := shellCandidates(w.Shell)
	var existing []string
	for _, p := range cands {
		if f.Paths[p] == 'x' {
			if f.Shells[p] || noLogin[p] {
				return p, false, nil
			}
			existing = append(existing, p)
		}
	}
	if len(existing) > 0 {
		return "", false, fmt.Errorf("%s: user %s: shell %s exists but is not listed in /etc/shells; add it there (add-shell %s) or choose a listed shell",
			w.ShellPos, w.Name, existing[0], existing[0])
	}
	if !packages {
		return "", false, fmt.Errorf("%s: user %s: shell %s is not installed on the target (%s missing); declare its package under `packages` (the packages role installs it before users run) or install it",
			w.ShellPos, w.Name, w.Shell, strings.Join(cands, ", "))
	}
	if strings.HasPrefix(w.Shell, "/") {
		return w.Shell, true, nil
	}
	return cands[len(cands)-1], true, nil
}

// shellMatches reports whether the account's current shell satisfies the declared one: the same
// path, or, for a bare name, any existing candidate listed in /etc/shells (/bin/zsh and /usr/bin/zsh
// are the same shell on merged-/usr systems).
func shellMatches(f *Facts, w Want, cur string) bool {
	if !slices.Contains(shellCandidates(w.Shell), cur) {
		return false
	}
	if strings.HasPrefix(w.Shell, "/") {
		return true
	}
	return f.Paths[cur] == 'x' && (f.Shells[cur] || noLogin[cur])
}

// passwordDelta decides whether an existing account's password must be written. A hash compares
// by equality with the shadow field; plaintext is verified against the shadow hash (yescrypt,
// SHA-crypt, bcrypt, md5crypt, ...), so an unchanged password is not rewritten on every run.
func passwordDelta(f *Facts, w Want) (PasswordSet, bool) {
	old, known := f.Hashes[w.Name]
	ps := PasswordSet{Name: w.Name, Pos: w.Pos, Pw: *w.Password, Old: old, OldKnow: known}
	if !known {
		return ps, true
	}
	if w.Password.Hash {
		return ps, old != w.Password.Value
	}
	if old == "" || strings.HasPrefix(old, "!") || strings.HasPrefix(old, "*") {
		return ps, true
	}
	ok, err := crypt.CheckPassword(w.Password.Value, old)
	return ps, err != nil || !ok
}

func sortedSet(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
