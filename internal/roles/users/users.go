// Package users is the `users` role (alias `usr`): accounts, supplementary groups, login shells,
// homes, sudo rights through /etc/sudoers.d, and passwords from the secrets.
//
// The role is full-state when `users` is declared: accounts with a uid in the regular range
// (UID_MIN..UID_MAX of /etc/login.defs, never below 1000) that the Ch-obolo does not declare are
// removed, except the protected ones (the user running chaos, SUDO_USER, the SSH user).
package users

import (
	_ "embed"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/cores/arch"
	"github.com/ch-aos-ch/chaos/internal/cores/debian"
	"github.com/ch-aos-ch/chaos/internal/cores/fedora"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/shell"
)

// explainMD is the text of `chaos explain users`.
//
//go:embed explain.md
var explainMD string

// SudoersDir is where the role keeps one file per sudo user.
const SudoersDir = "/etc/sudoers.d"

// SudoPrefix names the files the role manages in SudoersDir; LegacySudoPrefix is the original
// Ch-aOS's prefix, adopted (and replaced) by this role.
const (
	SudoPrefix       = "99-chaos-"
	LegacySudoPrefix = "99-charonte-"
)

// SecretPath is where a user's password lives in the secrets: user_secrets.NAME.password. A value
// starting with "$" is a crypt(3) hash used as is; anything else is a plaintext password that the
// target hashes with its own configured method (chpasswd, ENCRYPT_METHOD / PAM).
func SecretPath(user string) string { return "user_secrets." + user + ".password" }

type role struct{}

var _ engine.Capturer = role{}

// New returns the users role. It works on every core whose accounts are managed with shadow-utils
// (useradd, usermod, userdel, groupadd, chpasswd): Debian, Arch and Fedora alike.
func New() engine.Role { return role{} }

func (role) Meta() engine.Meta {
	return engine.Meta{
		Name:    "users",
		Aliases: []string{"usr"},
		Keys:    []string{"users"},
		Summary: "accounts, groups, shells, homes, sudo rights and passwords (full-state for regular users)",
		Explain: explainMD,
		Secrets: []string{"user_secrets"},
		Order:   30,
	}
}

var _ engine.Owner = role{}

// Owns implements engine.Owner: the account databases (through useradd, usermod, userdel, groupadd
// and chpasswd), the sudoers file of each sudo user and the role's namespace in /etc/sudoers.d,
// which it prunes (99-chaos-*, and the original's 99-charonte-*, which it replaces).
func (role) Owns(_ string, c *chobolo.Chobolo) []engine.Claim {
	if !c.Has("users") {
		return nil
	}
	pos := c.Pos("users")
	var out []engine.Claim
	for i, u := range c.Users {
		if u.Sudo && u.State != "absent" {
			out = append(out, engine.Claim{Path: SudoersDir + "/" + SudoFileName(u.Name),
				Pos: c.Pos(fmt.Sprintf("users[%d].sudo", i)), Why: "sudo rights of " + u.Name})
		}
	}
	for _, p := range []string{"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow"} {
		out = append(out, engine.Claim{Path: p, Pos: pos, Why: "accounts (full state of regular users)"})
	}
	return append(out,
		engine.Claim{Path: SudoersDir + "/" + SudoPrefix + "*", Glob: true, Pos: pos, Why: "sudo rights (pruned when no user needs them)"},
		engine.Claim{Path: SudoersDir + "/" + LegacySudoPrefix + "*", Glob: true, Pos: pos, Why: "the original Ch-aOS's sudo files (replaced)"})
}

// Probe reads passwd, group, shells, the UID range, the role's sudoers files (base64, with mode and
// owner), which shell and home paths exist, and — only when the run has secrets — the shadow hash of
// the declared users that have a password in the secrets (a locked/none/set status for the others).
func (role) Probe(env *engine.Env, c *chobolo.Chobolo) []engine.ProbeSection {
	return probeSections(c, env.Secrets)
}

// readFile prints the file named after it with shell builtins up to its 64th line, and cat prints
// the rest: no process for a small file (a probe's cost on a busy host is mostly the processes it
// starts), and no byte-at-a-time read of a large one (dash's read takes one system call per byte:
// /etc/passwd with 1,000 accounts cost more than a process).
const readFile = `r() { { i=0; while [ $i -lt 64 ]; do IFS= read -r l || { [ -z "$l" ] || printf '%s\n' "$l"; return 0; }; printf '%s\n' "$l"; i=$((i + 1)); done; cat; } <"$1"; }; r`

func probeSections(c *chobolo.Chobolo, secrets engine.SecretStore) []engine.ProbeSection {
	s := []engine.ProbeSection{
		{Name: "passwd", Script: readFile + ` /etc/passwd`},
		{Name: "group", Script: readFile + ` /etc/group`},
		{Name: "shells", Script: `[ -f /etc/shells ] || exit 3
` + readFile + ` /etc/shells`},
		{Name: "logindefs", Script: `[ -r /etc/login.defs ] || exit 0
grep -E '^[[:space:]]*(UID_MIN|UID_MAX)[[:space:]]' /etc/login.defs
exit 0`},
		{Name: "sudoers", Script: `cd /etc/sudoers.d 2>/dev/null || exit 0
for f in ` + SudoPrefix + `* ` + LegacySudoPrefix + `*; do
  [ -f "$f" ] || continue
  case "$f" in *'
'*) continue;; esac
  printf 'F %s %s\n' "$(stat -c '%a:%U:%G' "$f")" "$f"
  base64 "$f" | tr -d '\n'; echo
done
exit 0`},
	}
	var paths, names []string
	if c != nil {
		for _, u := range c.Users {
			if u.State == "absent" {
				continue
			}
			paths = append(paths, shellCandidates(u.Shell)...)
			paths = append(paths, homeOf(u))
			names = append(names, u.Name)
		}
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)
	var b strings.Builder
	b.WriteString(`command -v visudo >/dev/null 2>&1 && echo visudo
[ -d /etc/sudoers.d ] && echo sudoers.d
[ -L /bin ] && echo merged-usr
kind() { if [ -d "$1" ]; then echo "d $1"; elif [ -f "$1" ] && [ -x "$1" ]; then echo "x $1"; elif [ -e "$1" ] || [ -L "$1" ]; then echo "e $1"; fi; }
`)
	// A home is a directory: tested inline, without a function call per declared user.
	if len(paths) > 0 {
		b.WriteString("for p in")
		for _, p := range paths {
			b.WriteString(" " + shell.Quote(p))
		}
		b.WriteString("; do if [ -d \"$p\" ]; then echo \"d $p\"; else kind \"$p\"; fi; done\n")
	}
	if len(names) > 0 {
		// The current homes of the declared users: usermod -m cannot move a home that is missing.
		// Their list comes back whole (a read loop over a pipe takes a system call per byte).
		b.WriteString("IFS='\n'; set -f\nfor h in $(" + lookup("passwd", "/etc/passwd", names, "", `if ($6 != "") o[++no] = $6`) +
			"); do if [ -d \"$h\" ]; then echo \"d $h\"; else kind \"$h\"; fi; done\n")
	}
	b.WriteString("exit 0")
	s = append(s, engine.ProbeSection{Name: "paths", Script: b.String()})

	if c != nil && (secrets != nil || anyLocked(c.Users)) {
		// One getent for every user (a getent, a cut and a subshell per user made 1,000 locked
		// users cost seconds); awk prints the hash of the users whose password is in the secrets
		// and the status of the others, in the order getent answers (the order of the names).
		var names, hashed []string
		for _, u := range c.Users {
			if u.State == "absent" || chobolo.ValidUserName(u.Name) != nil || (secrets == nil && u.Password != "locked") {
				continue
			}
			names = append(names, u.Name)
			if _, ok := secretGet(secrets, SecretPath(u.Name)); ok {
				hashed = append(hashed, u.Name)
			}
		}
		script := "exit 0"
		if len(names) > 0 {
			script = lookup("shadow", "/etc/shadow", names, "-v hashed="+shell.Quote(" "+strings.Join(hashed, " ")+" "),
				`if (index(hashed, " " $1 " ")) o[++no] = "hash " $1 " " $2
  else o[++no] = "status " $1 " " ($2 == "" ? "none" : $2 ~ /^[!*]/ ? "locked" : "set")`) + "\nexit 0"
		}
		s = append(s, engine.ProbeSection{Name: "shadow", Script: script})
	}
	return s
}

// lookup is a fragment printing, for each of names (valid user names) found in the database db,
// what the awk statements body collect in o[1..no] from its entry ($1 the name, -F:). The entries
// come from one awk pass over file, and getent asks only for the names file lacks (directory
// services, systemd's dynamic users): getent with many keys reads the whole file again for each
// (1,000 users cost 0.2 s), and a missing or unreadable file leaves every name to getent. vars are
// awk -v assignments (already quoted) that body uses.
func lookup(db, file string, names []string, vars, body string) string {
	q := shell.Quote(" " + strings.Join(names, " ") + " ")
	return "set -f; IFS=' '; nl='\n'\n" +
		"res=$(awk -F: " + vars + " -v names=" + q + ` 'BEGIN { n = split(names, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
want[$1] == 1 { want[$1] = 2
  ` + body + ` }
END { for (i = 1; i <= n; i++) if (want[a[i]] == 1) m = m " " a[i]; print m; for (i = 1; i <= no; i++) print o[i] }' ` +
		file + " 2>/dev/null) || res=" + q + "\n" +
		"m=${res%%\"$nl\"*}; case $res in *\"$nl\"*) res=${res#*\"$nl\"} ;; *) res= ;; esac\n" +
		"[ -z \"$res\" ] || printf '%s\\n' \"$res\"\n" +
		"[ -z \"${m# }\" ] || getent " + db + " $m | awk -F: " + vars + " '{\n  " + body + " }\nEND { for (i = 1; i <= no; i++) print o[i] }'"
}

// shellPackages are the cores' login shell packages.
var shellPackages = map[string]map[string]string{
	debian.Core: debian.ShellPackages, arch.Core: arch.ShellPackages, fedora.Core: fedora.ShellPackages,
}

// Needs implements engine.Needer: the packages of the declared users' login shells (useradd and
// usermod need the shell), and sudo for users with `sudo: true` (visudo validates their sudoers file
// before it lands), on every core. The packages role installs them before this role runs.
func (role) Needs(env *engine.Env, c *chobolo.Chobolo) []engine.Need {
	var needs []engine.Need
	sudo := false
	for i, u := range c.Users {
		if u.State == "absent" {
			continue
		}
		if pkg := shellPackages[env.Core][path.Base(u.Shell)]; u.Shell != "" && pkg != "" {
			needs = append(needs, engine.Need{Package: pkg, Command: u.Shell, Why: "login shell of user " + u.Name, Pos: c.Pos("users[" + strconv.Itoa(i) + "].shell")})
		}
		if u.Sudo && !sudo {
			sudo = true
			needs = append(needs, engine.Need{Package: "sudo", Command: "visudo", Why: "visudo for sudo: true of user " + u.Name, Pos: c.Pos("users[" + strconv.Itoa(i) + "].sudo")})
		}
	}
	return needs
}

func (role) Plan(env *engine.Env, c *chobolo.Chobolo, in engine.Facts) (*engine.RolePlan, error) {
	if !c.Has("users") {
		return &engine.RolePlan{Notes: []string{"no `users` declared: nothing to do (regular users are pruned only when `users` is declared)"}}, nil
	}
	f, err := ParseFacts(in)
	if err != nil {
		return nil, err
	}
	want, err := Desired(c, env.Secrets)
	if err != nil {
		return nil, err
	}
	d, err := ComputeDelta(f, want, Options{
		Protected:        env.ProtectedUsers,
		PackagesDeclared: c.Has("packages") || env.NeedsServed,
		SudoServed:       env.NeedsServed,
	})
	if err != nil {
		return nil, err
	}
	return BuildPlan(d), nil
}

// Capture describes the target's regular users (the accounts the role would otherwise prune) as a
// `users` section, for `chaos init chobolo --from`: uid, shell (absolute path), home, supplementary
// groups and sudo (a 99-chaos-NAME or the original's 99-charonte-NAME file). Passwords are not
// captured.
func (role) Capture(_ *engine.Env, in engine.Facts, into *chobolo.Chobolo) error {
	f, err := ParseFacts(in)
	if err != nil {
		return err
	}
	into.Users = CaptureUsers(f)
	into.SetKey("users", chobolo.Pos{})
	return nil
}

// CaptureUsers is Capture's pure part.
func CaptureUsers(f *Facts) []chobolo.User {
	var out []chobolo.User
	for _, a := range f.Accounts {
		if !f.Managed(a) {
			continue
		}
		uid := a.UID
		u := chobolo.User{Name: a.Name, UID: &uid, Shell: a.Shell, Home: a.Home, Groups: f.Supplementary(a.Name)}
		_, sudo := f.Sudoers[SudoFileName(a.Name)]
		_, legacy := f.Sudoers[LegacySudoPrefix+a.Name]
		u.Sudo = sudo || legacy
		out = append(out, u)
	}
	return out
}

// anyLocked reports whether a user declares `password: locked`: its lock state is read from
// /etc/shadow (as a status, never the hash) even when the run has no secrets.
func anyLocked(users []chobolo.User) bool {
	for _, u := range users {
		if u.Password == "locked" {
			return true
		}
	}
	return false
}

func secretGet(s engine.SecretStore, path string) (string, bool) {
	if s == nil {
		return "", false
	}
	return s.Get(path)
}

var _ engine.StaticChecker = role{}

// CheckStatic implements engine.StaticChecker: Desired without secrets (Plan runs it with them).
func (role) CheckStatic(_ string, c *chobolo.Chobolo) []chobolo.Diagnostic {
	_, err := Desired(c, nil)
	return engine.StaticDiagnostics(err)
}
