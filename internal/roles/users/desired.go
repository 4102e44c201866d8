package users

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine"
)

// Want is one declared user, validated, with defaults applied.
type Want struct {
	Name string
	Pos  chobolo.Pos
	// Path is the Ch-obolo path of the entry ("users[2]"), for positions of its fields.
	Path   string
	Absent bool
	Purge  bool
	// Shell is the declared shell: a bare name ("bash", the default) or an absolute path.
	Shell    string
	ShellPos chobolo.Pos
	Home     string
	HomePos  chobolo.Pos
	// ShellSet and HomeSet are false when the Ch-obolo leaves them out: the defaults (bash,
	// /home/NAME) then apply to new accounts only, and an existing account keeps its own.
	ShellSet, HomeSet bool
	Groups            []string // sorted, without duplicates
	GroupPos          chobolo.Pos
	Sudo              bool
	SudoPos           chobolo.Pos
	UID               *int
	UIDPos            chobolo.Pos
	System            bool
	// Password is the secret's value when the run has secrets and one is set for the user.
	Password *Password
	// Locked is `password: locked`: the account must have no usable password.
	Locked bool
}

// Password is a user's password from the secrets. Hash is true for a crypt(3) hash ("$..."), which
// is written as is; otherwise Value is plaintext, hashed on the target.
type Password struct {
	Value string
	Hash  bool
}

// DefaultShell is used when a user declares none (the original Ch-aOS's default).
const DefaultShell = "bash"

func homeOf(u chobolo.User) string {
	if u.Home != "" {
		return u.Home
	}
	return "/home/" + u.Name
}

// Desired validates the `users` section and applies defaults. The error is a chobolo.Errors with
// every problem at its position (the first of each user). With secrets nil it needs no host and no
// secret: `chaos check chobolo` runs it so (CheckStatic).
func Desired(c *chobolo.Chobolo, secrets engine.SecretStore) ([]Want, error) {
	var out []Want
	var errs chobolo.Errors
	seen := map[string]string{}
	uids := map[int]string{}
	for i, u := range c.Users {
		w, err := desiredOne(c, secrets, i, u, seen, uids)
		if err != nil {
			errs = append(errs, *err)
			continue
		}
		out = append(out, w)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// desiredOne checks user i; seen and uids hold the names and uids of the users before it.
func desiredOne(c *chobolo.Chobolo, secrets engine.SecretStore, i int, u chobolo.User, seen map[string]string,
	uids map[int]string) (Want, *chobolo.Diagnostic) {
	fail := func(pos chobolo.Pos, format string, args ...any) (Want, *chobolo.Diagnostic) {
		return Want{}, &chobolo.Diagnostic{Pos: pos, Severity: chobolo.SevError, Message: fmt.Sprintf(format, args...)}
	}
	p := fmt.Sprintf("users[%d]", i)
	w := Want{Name: u.Name, Path: p, Pos: c.Pos(p + ".name"), Purge: u.PurgeHome, Sudo: u.Sudo, UID: u.UID,
		System: u.System, ShellPos: c.Pos(p + ".shell"), HomePos: c.Pos(p + ".home"),
		GroupPos: c.Pos(p + ".groups"), UIDPos: c.Pos(p + ".uid"), SudoPos: c.Pos(p + ".sudo")}
	if err := chobolo.ValidUserName(u.Name); err != nil {
		return fail(w.Pos, "%v", err)
	}
	if prev, dup := seen[u.Name]; dup {
		return fail(w.Pos, "user %q is declared twice (first at %s)", u.Name, prev)
	}
	seen[u.Name] = w.Pos.String()
	switch u.State {
	case "", "present":
	case "absent":
		w.Absent = true
	default:
		return fail(c.Pos(p+".state"), "user %s: state %q: use present or absent", u.Name, u.State)
	}
	if w.Absent {
		return w, nil
	}
	w.Shell, w.ShellSet, w.HomeSet = u.Shell, u.Shell != "", u.Home != ""
	w.Shell = cmp.Or(w.Shell, DefaultShell)
	if err := validShell(w.Shell); err != nil {
		return fail(w.ShellPos, "user %s: %v", u.Name, err)
	}
	w.Home = homeOf(u)
	if err := validHome(w.Home); err != nil {
		return fail(w.HomePos, "user %s: home: %v", u.Name, err)
	}
	for j, g := range u.Groups {
		if err := chobolo.ValidGroupName(g); err != nil {
			return fail(c.Pos(fmt.Sprintf("%s.groups[%d]", p, j)), "user %s: %v", u.Name, err)
		}
	}
	w.Groups = sortedSet(u.Groups)
	if u.UID != nil {
		switch uid := *u.UID; {
		case uid < 0 || uid > 2147483646:
			return fail(w.UIDPos, "user %s: uid %d out of range", u.Name, uid)
		case uid == 0 && u.Name != "root":
			return fail(w.UIDPos, "user %s: uid 0 would make %s a second root; refused", u.Name, u.Name)
		case uid == 65534:
			return fail(w.UIDPos, "user %s: uid 65534 belongs to nobody; refused", u.Name)
		}
		if other, dup := uids[*u.UID]; dup {
			return fail(w.UIDPos, "user %s: uid %d is also declared for %s", u.Name, *u.UID, other)
		}
		uids[*u.UID] = u.Name
	}
	w.Locked = u.Password == "locked"
	if secrets != nil {
		_, has := secrets.Get(SecretPath(u.Name))
		switch {
		case w.Locked && has:
			return fail(w.Pos, "user %s: password: locked, but the secrets hold %s too; keep one of them", u.Name, SecretPath(u.Name))
		case !w.Locked && !has:
			return fail(w.Pos, "user %s: no password in the secrets (%s); set one or declare `password: locked`", u.Name, SecretPath(u.Name))
		}
	}
	if secrets != nil {
		if v, ok := secrets.Get(SecretPath(u.Name)); ok {
			pw, err := checkPassword(v)
			if err != nil {
				// Never echo the value.
				return fail(w.Pos, "user %s: secret %s: %v", u.Name, SecretPath(u.Name), err)
			}
			w.Password = pw
		}
	}
	return w, nil
}

func checkPassword(v string) (*Password, error) {
	switch {
	case v == "":
		return nil, fmt.Errorf("is empty (an empty password would allow login without one); remove it or set a value")
	case strings.ContainsAny(v, "\n\r\x00"):
		return nil, fmt.Errorf("contains a newline or NUL byte")
	case strings.HasPrefix(v, "$"):
		if strings.ContainsAny(v, ": \t") {
			return nil, fmt.Errorf(`looks like a crypt hash (starts with "$") but contains ":" or blanks`)
		}
		return &Password{Value: v, Hash: true}, nil
	}
	return &Password{Value: v}, nil
}

// validShell accepts a bare command name or an absolute clean path.
func validShell(s string) error {
	if strings.HasPrefix(s, "/") {
		if err := chobolo.ValidAbsPath(s); err != nil {
			return fmt.Errorf("shell: %w", err)
		}
		if strings.ContainsAny(s, ": ") {
			return fmt.Errorf("shell %q: contains \":\" or a space (not allowed in /etc/passwd)", s)
		}
		return nil
	}
	if s == "" || s[0] == '-' || s[0] == '.' || len(s) > 64 {
		return fmt.Errorf("invalid shell %q: give a command name (bash, zsh) or an absolute path", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '+') {
			return fmt.Errorf("invalid shell %q: a bare shell name has only letters, digits and - _ . +; use an absolute path otherwise", s)
		}
	}
	return nil
}

func validHome(h string) error {
	if err := chobolo.ValidAbsPath(h); err != nil {
		return err
	}
	if h == "/" {
		return fmt.Errorf("%q: a user's home cannot be /", h)
	}
	if strings.Contains(h, ":") {
		return fmt.Errorf("%q: contains \":\" (not allowed in /etc/passwd)", h)
	}
	return nil
}

// noLogin lists the shells that refuse logins on purpose; they are valid without /etc/shells.
var noLogin = map[string]bool{
	"/usr/sbin/nologin": true, "/sbin/nologin": true, "/bin/false": true, "/usr/bin/false": true,
}

// shellCandidates are the paths a declared shell may resolve to, in order of preference.
func shellCandidates(spec string) []string {
	spec = cmp.Or(spec, DefaultShell)
	if strings.HasPrefix(spec, "/") {
		return []string{spec}
	}
	if spec == "nologin" {
		return []string{"/usr/sbin/nologin", "/sbin/nologin"}
	}
	return []string{"/bin/" + spec, "/usr/bin/" + spec}
}
