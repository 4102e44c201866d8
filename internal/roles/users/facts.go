package users

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/engine"
)

// Account is one /etc/passwd entry.
type Account struct {
	Name  string
	UID   int
	GID   int
	GECOS string
	Home  string
	Shell string
}

// Group is one /etc/group entry.
type Group struct {
	Name    string
	GID     int
	Members []string
}

// SudoFile is one chaos-managed file in /etc/sudoers.d (99-chaos-* or the original's 99-charonte-*).
type SudoFile struct {
	Name    string // base name
	Content string
	Mode    string // octal, as stat %a prints it ("440")
	Owner   string
	Group   string
}

// Facts is everything the users role learnt from the probe.
type Facts struct {
	Accounts []Account // /etc/passwd order
	Groups   []Group   // /etc/group order
	// Shells are the lines of /etc/shells.
	Shells map[string]bool
	// Paths are the probed paths (shell candidates, homes) that exist: 'x' executable file, 'd'
	// directory, 'e' anything else.
	Paths map[string]byte
	// MergedUsr is true when /bin is a symlink (to usr/bin).
	MergedUsr bool
	// Visudo is true when visudo is on the target's PATH; SudoersDir when /etc/sudoers.d exists.
	Visudo     bool
	SudoersDir bool
	// UIDMin and UIDMax come from /etc/login.defs (defaults 1000 and 60000).
	UIDMin, UIDMax int
	Sudoers        map[string]SudoFile
	// Hashes are the shadow password fields of declared users whose password is in the secrets;
	// Status is "locked", "none" or "set" for the other declared users. Both stay empty when the
	// run has no secrets: /etc/shadow is not read at all then.
	Hashes map[string]string
	Status map[string]string
}

// Account returns the passwd entry of name.
func (f *Facts) Account(name string) (Account, bool) {
	for _, a := range f.Accounts {
		if a.Name == name {
			return a, true
		}
	}
	return Account{}, false
}

// Group returns the group entry of name.
func (f *Facts) Group(name string) (Group, bool) {
	for _, g := range f.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return Group{}, false
}

// GroupByGID returns the group whose gid is gid.
func (f *Facts) GroupByGID(gid int) (Group, bool) {
	for _, g := range f.Groups {
		if g.GID == gid {
			return g, true
		}
	}
	return Group{}, false
}

// Supplementary returns the groups that list name as a member, sorted.
func (f *Facts) Supplementary(name string) []string {
	var out []string
	for _, g := range f.Groups {
		for _, m := range g.Members {
			if m == name {
				out = append(out, g.Name)
				break
			}
		}
	}
	return sortedSet(out)
}

// ParseFacts turns the probe's outputs into Facts.
func ParseFacts(in engine.Facts) (*Facts, error) {
	f := &Facts{Shells: map[string]bool{}, Paths: map[string]byte{}, UIDMin: 1000, UIDMax: 60000,
		Sudoers: map[string]SudoFile{}, Hashes: map[string]string{}, Status: map[string]string{}}
	get := func(name string, required bool) (string, error) {
		o, ok := in[name]
		if !ok {
			if required {
				return "", fmt.Errorf("probe section %s missing", name)
			}
			return "", nil
		}
		if o.Code != 0 {
			return "", fmt.Errorf("probe section %s failed (exit %d)", name, o.Code)
		}
		return o.Stdout, nil
	}
	passwd, err := get("passwd", true)
	if err != nil {
		return nil, err
	}
	for line := range strings.SplitSeq(passwd, "\n") {
		p := strings.Split(line, ":")
		if len(p) != 7 || p[0] == "" || p[0][0] == '+' || p[0][0] == '-' {
			continue
		}
		uid, err1 := strconv.Atoi(p[2])
		gid, err2 := strconv.Atoi(p[3])
		if err1 != nil || err2 != nil {
			continue
		}
		f.Accounts = append(f.Accounts, Account{Name: p[0], UID: uid, GID: gid, GECOS: p[4], Home: p[5], Shell: p[6]})
	}
	group, err := get("group", true)
	if err != nil {
		return nil, err
	}
	for line := range strings.SplitSeq(group, "\n") {
		p := strings.Split(line, ":")
		if len(p) != 4 || p[0] == "" || p[0][0] == '+' || p[0][0] == '-' {
			continue
		}
		gid, err := strconv.Atoi(p[2])
		if err != nil {
			continue
		}
		g := Group{Name: p[0], GID: gid}
		for m := range strings.SplitSeq(p[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				g.Members = append(g.Members, m)
			}
		}
		f.Groups = append(f.Groups, g)
	}
	if o, ok := in["shells"]; ok && o.Code == 0 {
		for line := range strings.SplitSeq(o.Stdout, "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				f.Shells[line] = true
			}
		}
	}
	logindefs, err := get("logindefs", false)
	if err != nil {
		return nil, err
	}
	for line := range strings.SplitSeq(logindefs, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		n, err := strconv.Atoi(fields[1])
		if err != nil || n < 0 {
			continue
		}
		switch fields[0] {
		case "UID_MIN":
			f.UIDMin = n
		case "UID_MAX":
			f.UIDMax = n
		}
	}
	paths, err := get("paths", false)
	if err != nil {
		return nil, err
	}
	for line := range strings.SplitSeq(paths, "\n") {
		switch {
		case line == "merged-usr":
			f.MergedUsr = true
		case line == "visudo":
			f.Visudo = true
		case line == "sudoers.d":
			f.SudoersDir = true
		case len(line) > 2 && line[1] == ' ':
			f.Paths[line[2:]] = line[0]
		}
	}
	sudoers, err := get("sudoers", false)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(sudoers, "\n")
	for i := 0; i < len(lines); i++ {
		rest, ok := strings.CutPrefix(lines[i], "F ")
		if !ok {
			continue
		}
		attrs, name, ok := strings.Cut(rest, " ")
		if !ok || i+1 >= len(lines) {
			return nil, fmt.Errorf("probe section sudoers: bad line %q", lines[i])
		}
		i++
		content, err := base64.StdEncoding.DecodeString(strings.TrimSpace(lines[i]))
		if err != nil {
			return nil, fmt.Errorf("probe section sudoers: %s: %w", name, err)
		}
		a := strings.SplitN(attrs, ":", 3)
		for len(a) < 3 {
			a = append(a, "")
		}
		f.Sudoers[name] = SudoFile{Name: name, Content: string(content), Mode: a[0], Owner: a[1], Group: a[2]}
	}
	shadow, err := get("shadow", false)
	if err != nil {
		return nil, err
	}
	for line := range strings.SplitSeq(shadow, "\n") {
		kind, rest, _ := strings.Cut(line, " ")
		name, value, _ := strings.Cut(rest, " ")
		switch kind {
		case "hash":
			f.Hashes[name] = value
		case "status":
			f.Status[name] = value
		}
	}
	return f, nil
}
