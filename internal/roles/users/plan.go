package users

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/shell"
)

// checkShellScript runs before an account gets a shell that was missing at probe time (the
// packages role should have installed it by then). useradd and usermod only warn about a missing
// shell, so without this check a typo would leave an account that cannot log in.
const checkShellScript = `test -x "$1" && { [ "$2" = nologin ] || grep -qxF -- "$1" /etc/shells; } || {
  echo "chaos: shell $1 is missing or not listed in /etc/shells: declare the package that provides it under packages" >&2; exit 1; }`

// undoUserdelScript re-creates a removed account with its uid, primary group (re-created with its
// gid when userdel removed it), home (not re-created: userdel keeps it unless purge_home), shell,
// GECOS and supplementary groups. The password hash is not restored: chaos does not read /etc/shadow
// unless passwords are managed, so the re-created account stays locked until its password is set.
const undoUserdelScript = `set -e
if [ -n "$2" ] && ! getent group "$1" >/dev/null; then groupadd -g "$1" "$2"; fi
shift 2
exec useradd "$@"`

// BuildPlan turns the delta into steps: new groups first, then removals (so that a re-used uid is
// free), then one step per declared user (account, password, sudo file), then stale sudo files.
func BuildPlan(d *Delta) *engine.RolePlan {
	p := &engine.RolePlan{Notes: d.Notes, Guard: d.Guard}
	if len(d.NewGroups) > 0 {
		var changes []engine.Change
		var ops []engine.Op
		for _, g := range d.NewGroups {
			changes = append(changes, engine.Change{Kind: engine.Add, Subject: "group " + g.Name,
				Detail: "for " + strings.Join(g.For, ", "), Pos: g.Pos})
			ops = append(ops, engine.Exec("groupadd", g.Name).WithUndo(engine.Exec("groupdel", g.Name)))
		}
		p.Add(changes, ops...)
	}
	for _, r := range d.Removes {
		p.Add([]engine.Change{{Kind: engine.Del, Subject: "user " + r.Account.Name, Detail: removeDetail(r), Pos: r.Pos}},
			removeOp(r))
	}

	type userStep struct {
		changes []engine.Change
		ops     []engine.Op
	}
	steps := map[string]*userStep{}
	var order []string
	step := func(name string) *userStep {
		s, ok := steps[name]
		if !ok {
			s = &userStep{}
			steps[name] = s
			order = append(order, name)
		}
		return s
	}
	for _, name := range d.Order {
		step(name)
	}
	for _, c := range d.Creates {
		s := step(c.Name)
		detail := createDetail(c)
		for _, pw := range d.Passwords {
			if pw.Name == c.Name {
				detail += ", password from secrets"
			}
		}
		s.changes = append(s.changes, engine.Change{Kind: engine.Add, Subject: "user " + c.Name, Detail: detail, Pos: c.Pos})
		if c.CheckShell {
			s.ops = append(s.ops, checkShellOp(c.ShellPath))
		}
		s.ops = append(s.ops, createOp(c))
	}
	for _, m := range d.Modifies {
		s := step(m.Name)
		s.changes = append(s.changes, engine.Change{Kind: engine.Modify, Subject: "user " + m.Name, Detail: modifyDetail(m), Pos: m.Pos})
		if m.CheckShell {
			s.ops = append(s.ops, checkShellOp(m.Shell))
		}
		s.ops = append(s.ops, modifyOp(m))
		if m.MakeHome {
			s.ops = append(s.ops, engine.Mkdir(m.Home, 0o700, m.Name, ""))
		}
	}
	for _, pw := range d.Passwords {
		s := step(pw.Name)
		if !pw.New {
			s.changes = append(s.changes, engine.Change{Kind: engine.Modify, Subject: "password of " + pw.Name,
				Detail: "set from secrets (" + SecretPath(pw.Name) + ")", Pos: pw.Pos})
		}
		s.ops = append(s.ops, passwordOp(pw))
	}
	for _, l := range d.Locks {
		s := step(l.Name)
		s.changes = append(s.changes, engine.Change{Kind: engine.Modify, Subject: "password of " + l.Name,
			Detail: "locked (password: locked)", Pos: l.Pos})
		s.ops = append(s.ops, engine.Exec("usermod", "-L", "--", l.Name).WithUndo(engine.Exec("usermod", "-U", "--", l.Name)))
	}
	for _, sw := range d.Sudo {
		s := step(sw.User)
		path := SudoersDir + "/" + SudoFileName(sw.User)
		kind, detail := engine.Add, strings.TrimSpace(SudoContent(sw.User))
		if sw.Existed {
			kind, detail = engine.Modify, "rewrite: "+detail+" (mode 0440 root:root)"
		}
		s.changes = append(s.changes, engine.Change{Kind: kind, Subject: path, Detail: detail, Pos: sw.Pos})
		if sw.Mkdir {
			s.ops = append(s.ops, engine.Mkdir(SudoersDir, 0, "", ""))
		}
		w := engine.Write(path, []byte(SudoContent(sw.User)), 0o440, "root", "root")
		w.Validate = []string{"visudo", "-c", "-f", "%s"}
		s.ops = append(s.ops, w)
	}
	for _, name := range order {
		if s := steps[name]; len(s.ops) > 0 {
			p.Add(s.changes, s.ops...)
		}
	}
	for _, u := range d.Unsudo {
		path := SudoersDir + "/" + u.File
		detail := u.User + " is no longer a sudo user"
		if strings.HasPrefix(u.File, LegacySudoPrefix) {
			detail = "replaced by " + SudoersDir + "/" + SudoFileName(u.User) + " (original Ch-aOS name)"
		}
		p.Add([]engine.Change{{Kind: engine.Del, Subject: path, Detail: detail}}, engine.Remove(path))
	}
	for i := range p.Steps {
		for j, op := range p.Steps[i].Ops {
			p.Steps[i].Ops[j] = breakStaleLocks(op)
		}
	}
	return p
}

// unlockScript removes the locks a killed shadow-utils command (useradd, usermod, groupadd, ...)
// left on the account databases, FILE.lock holding the pid of a process that no longer runs and its
// link source FILE.PID, then runs the undo command given as its arguments. shadow-utils breaks such
// stale locks itself on its next run; an undo must not leave them behind, or recovery from a killed
// op (a lost host, a SIGKILL) would not leave the host exactly as before.
const unlockScript = `for f in /etc/passwd /etc/shadow /etc/group /etc/gshadow /etc/subuid /etc/subgid; do
	[ -f "$f.lock" ] || continue
	p=$(tr -dc 0-9 <"$f.lock")
	if [ -n "$p" ] && ! kill -0 "$p" 2>/dev/null; then rm -f -- "$f.lock" "$f.$p"; fi
done
exec "$@"`

// breakStaleLocks runs the undo of a shadow-utils op through unlockScript.
func breakStaleLocks(op engine.Op) engine.Op {
	if op.Undo == nil || op.Undo.Kind != engine.OpExec {
		return op
	}
	u := *op.Undo
	w := engine.Exec(append([]string{"sh", "-c", unlockScript, "chaos-undo"}, u.Argv...)...)
	w.Stdin, w.Secret, w.Env = u.Stdin, u.Secret, u.Env
	w.Label, w.Manual = u.Label, u.Manual
	w.Label = cmp.Or(w.Label, shell.Join(u.Argv))
	return op.WithUndo(w)
}

func checkShellOp(path string) engine.Op {
	kind := "shell"
	if noLogin[path] {
		kind = "nologin"
	}
	return engine.Exec("sh", "-c", checkShellScript, "chaos-check-shell", path, kind)
}

func createDetail(c Create) string {
	uid := "uid auto"
	if c.UID != nil {
		uid = "uid " + strconv.Itoa(*c.UID)
	}
	parts := []string{uid, "shell " + c.ShellPath, "home " + c.Home}
	if c.System {
		parts = append(parts, "system account")
	}
	if c.PrimaryGroup != "" {
		parts = append(parts, "primary group "+c.PrimaryGroup+" (exists)")
	}
	if len(c.Groups) > 0 {
		parts = append(parts, "groups "+strings.Join(c.Groups, ","))
	}
	if c.Sudo {
		parts = append(parts, "sudo")
	}
	return strings.Join(parts, ", ")
}

// createOp is useradd -m: the home is created from /etc/skel unless it exists already. Undo is
// userdel, with -r only when this op created the home.
func createOp(c Create) engine.Op {
	argv := []string{"useradd", "-m", "-d", c.Home, "-s", c.ShellPath}
	if c.UID != nil {
		argv = append(argv, "-u", strconv.Itoa(*c.UID))
	}
	if c.PrimaryGroup != "" {
		argv = append(argv, "-g", c.PrimaryGroup)
	}
	if len(c.Groups) > 0 {
		argv = append(argv, "-G", strings.Join(c.Groups, ","))
	}
	if c.System {
		argv = append(argv, "--system")
	}
	argv = append(argv, c.Name)
	undo := engine.Exec("userdel", "-r", c.Name)
	if c.HomeExisted {
		undo = engine.Exec("userdel", c.Name)
	}
	return engine.Exec(argv...).WithUndo(undo)
}

func modifyDetail(m Modify) string {
	var parts []string
	if m.UID != nil {
		parts = append(parts, fmt.Sprintf("uid %d -> %d (files in the home are re-owned)", m.Cur.UID, *m.UID))
	}
	if m.Shell != "" {
		parts = append(parts, fmt.Sprintf("shell %s -> %s", m.Cur.Shell, m.Shell))
	}
	if m.Home != "" {
		how := "moved"
		switch {
		case m.MakeHome:
			how = "created: the old one is missing"
		case !m.MoveHome:
			how = "not moved: the new home exists"
		}
		parts = append(parts, fmt.Sprintf("home %s -> %s (%s)", m.Cur.Home, m.Home, how))
	}
	if m.SetGroups {
		parts = append(parts, fmt.Sprintf("groups %s -> %s", groupList(m.CurGroups), groupList(m.Groups)))
	}
	return strings.Join(parts, "; ")
}

func groupList(g []string) string {
	if len(g) == 0 {
		return "(none)"
	}
	return strings.Join(g, ",")
}

// modifyOp is one usermod for every changed attribute; its undo is one usermod back to the
// previous values (moving the home back when it was moved).
func modifyOp(m Modify) engine.Op {
	argv := []string{"usermod"}
	undo := []string{"usermod"}
	if m.UID != nil {
		argv = append(argv, "-u", strconv.Itoa(*m.UID))
		undo = append(undo, "-u", strconv.Itoa(m.Cur.UID))
	}
	if m.Home != "" {
		argv = append(argv, "-d", m.Home)
		undo = append(undo, "-d", m.Cur.Home)
		if m.MoveHome {
			argv = append(argv, "-m")
			undo = append(undo, "-m")
		}
	}
	if m.Shell != "" {
		argv = append(argv, "-s", m.Shell)
		undo = append(undo, "-s", m.Cur.Shell)
	}
	if m.SetGroups {
		argv = append(argv, "-G", strings.Join(m.Groups, ","))
		undo = append(undo, "-G", strings.Join(m.CurGroups, ","))
	}
	argv = append(argv, m.Name)
	undo = append(undo, m.Name)
	return engine.Exec(argv...).WithUndo(engine.Exec(undo...))
}

// passwordOp feeds "NAME:VALUE" to chpasswd on stdin (never argv): a hash with -e, plaintext hashed by
// the target with its configured method (yescrypt on Debian 12).
func passwordOp(pw PasswordSet) engine.Op {
	op := engine.Exec("chpasswd")
	if pw.Pw.Hash {
		op = engine.Exec("chpasswd", "-e")
	}
	op.Stdin, op.Secret = []byte(pw.Name+":"+pw.Pw.Value+"\n"), true
	if pw.OldKnow {
		u := engine.Exec("chpasswd", "-e")
		u.Stdin, u.Secret = []byte(pw.Name+":"+pw.Old+"\n"), true
		// The old hash is a secret, never journaled: after a crash only the admin can put it back.
		u.Manual = fmt.Sprintf("the password of user %s may have been changed, and its previous hash is not journaled (a secret): "+
			"if it must be the old one, set it by hand on the host with `passwd %s`", pw.Name, shell.Quote(pw.Name))
		op = op.WithUndo(u)
	}
	return op
}

func removeDetail(r Remove) string {
	why := "not declared"
	if r.Declared {
		why = "state: absent"
	}
	home := "home " + r.Account.Home + " kept"
	if r.Purge {
		home = "home " + r.Account.Home + " removed (purge_home)"
	}
	return fmt.Sprintf("%s; uid %d, %s", why, r.Account.UID, home)
}

func removeOp(r Remove) engine.Op {
	a := r.Account
	argv := []string{"userdel", a.Name}
	if r.Purge {
		argv = []string{"userdel", "-r", a.Name}
	}
	undo := []string{"sh", "-c", undoUserdelScript, "chaos-undo-userdel", strconv.Itoa(a.GID), r.PrimaryGroup,
		"-M", "-u", strconv.Itoa(a.UID), "-g", strconv.Itoa(a.GID), "-d", a.Home, "-s", a.Shell, "-c", a.GECOS}
	if len(r.Groups) > 0 {
		undo = append(undo, "-G", strings.Join(r.Groups, ","))
	}
	undo = append(undo, a.Name)
	return engine.Exec(argv...).WithUndo(engine.Exec(undo...))
}
