// Command dotfiles is the dotfiles Soul: a port of the original chaos-dots plugin, written with
// the Go SDK (pkg/soul). For each entry of `dotfiles:` it clones the repository into the user's
// home as that user (~/.dotfiles/chaos/REPO), links each entry of `links:` into the home (backing
// up what is in the way as PATH.bak_chaos), and keeps full state over the links it made: a link
// dropped from the Ch-obolo is removed and its backup put back.
//
// Build it next to its soul.yaml: go build -o examples/souls/dotfiles/dotfiles ./examples/souls/dotfiles
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/ch-aos-ch/chaos/pkg/soul"
)

func main() {
	soul.Role("dotfiles", dotfiles{})
	soul.Serve()
}

type entry struct {
	User   string `json:"user"`
	URL    string `json:"url"`
	Branch string `json:"branch,omitempty"`
	Pull   bool   `json:"pull,omitempty"`
	Links  []link `json:"links,omitempty"`
}

type link struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Open links each child of From one by one instead of From itself.
	Open bool `json:"open,omitempty"`
}

// backupSuffix names what was in a link's way, kept beside it.
const backupSuffix = ".bak_chaos"

type dotfiles struct{}

func entries(keys map[string]json.RawMessage) ([]entry, error) {
	var es []entry
	if raw, ok := keys["dotfiles"]; ok {
		if err := json.Unmarshal(raw, &es); err != nil {
			return nil, soul.Invalid("dotfiles", "dotfiles: %v", err)
		}
	}
	for i, e := range es {
		at := fmt.Sprintf("dotfiles[%d]", i)
		switch {
		case e.User == "":
			return nil, soul.Invalid(at, "user: missing")
		case e.URL == "":
			return nil, soul.Invalid(at, "url: missing")
		case strings.HasPrefix(e.URL, "-") || strings.ContainsAny(e.URL, " \t\n"):
			return nil, soul.Invalid(at+".url", "url %q: not a repository URL", e.URL)
		case strings.HasPrefix(e.Branch, "-") || strings.ContainsAny(e.Branch, " \t\n"):
			return nil, soul.Invalid(at+".branch", "branch %q: not a branch name", e.Branch)
		case repoName(e.URL) == "":
			return nil, soul.Invalid(at+".url", "url %q: no repository name in it", e.URL)
		}
		for j, l := range e.Links {
			for _, p := range []struct{ name, v string }{{"from", l.From}, {"to", l.To}} {
				if p.v == "" || path.IsAbs(p.v) || path.Clean(p.v) != p.v || p.v == "." || strings.HasPrefix(p.v, "../") || p.v == ".." || strings.ContainsAny(p.v, "\t\n") {
					return nil, soul.Invalid(fmt.Sprintf("%s.links[%d].%s", at, j, p.name), "%s %q: give a clean relative path (inside the repository for from, the home for to)", p.name, p.v)
				}
			}
		}
	}
	return es, nil
}

// repoName is the clone's directory name: the URL's last element without ".git".
func repoName(url string) string {
	name := strings.TrimSuffix(path.Base(strings.TrimRight(url, "/")), ".git")
	if name == "." || name == "/" || strings.ContainsAny(name, ":\\") || strings.HasPrefix(name, ".") {
		return ""
	}
	return name
}

func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// kindOf prints what is at $p: link, dir, file or none, then the link's target.
const kindOf = `kind() { if [ -L "$1" ]; then printf 'link\t%s' "$(readlink -- "$1")"; elif [ -d "$1" ]; then printf 'dir\t'; elif [ -e "$1" ]; then printf 'file\t'; else printf 'none\t'; fi; }
`

// Probe reads, per entry: the user's home and group, the clone (its HEAD and origin), the
// remote's head when pull is set, and what is at each link's place; and what is at each link the
// ledger says chaos made.
func (dotfiles) Probe(_ context.Context, p soul.ProbeParams) (soul.ProbeResult, error) {
	es, err := entries(p.Keys)
	if err != nil {
		return soul.ProbeResult{}, err
	}
	var res soul.ProbeResult
	for i, e := range es {
		var b strings.Builder
		b.WriteString(kindOf)
		fmt.Fprintf(&b, "u=%s\nh=$(getent passwd \"$u\" | cut -d: -f6)\n", q(e.User))
		b.WriteString("if [ -z \"$h\" ]; then echo nouser; exit 0; fi\n")
		b.WriteString("printf 'home\\t%s\\ngroup\\t%s\\n' \"$h\" \"$(id -gn \"$u\")\"\n")
		b.WriteString("command -v git >/dev/null 2>&1 && echo git\n")
		fmt.Fprintf(&b, "d=\"$h/.dotfiles/chaos/\"%s\n", q(repoName(e.URL)))
		b.WriteString("if [ -d \"$d/.git\" ]; then\n")
		b.WriteString("  printf 'head\\t%s\\n' \"$(runuser -u \"$u\" -- git -C \"$d\" rev-parse HEAD 2>/dev/null)\"\n")
		b.WriteString("  printf 'origin\\t%s\\n' \"$(git config -f \"$d/.git/config\" remote.origin.url)\"\n")
		b.WriteString("fi\n")
		if e.Pull {
			ref := "HEAD"
			if e.Branch != "" {
				ref = "refs/heads/" + e.Branch
			}
			fmt.Fprintf(&b, "printf 'remote\\t%%s\\n' \"$(runuser -u \"$u\" -- git ls-remote -- %s %s 2>/dev/null | cut -f1)\"\n", q(e.URL), q(ref))
		}
		for j, l := range e.Links {
			fmt.Fprintf(&b, "p=\"$h/\"%s\nprintf 'link\\t%d\\t'; kind \"$p\"; ", q(l.To), j)
			b.WriteString("printf '\\t%s\\t%s\\n' \"$([ -e \"$p" + backupSuffix + "\" ] || [ -L \"$p" + backupSuffix + "\" ] && echo backup)\" \"$([ -d \"$(dirname -- \"$p\")\" ] && echo parent)\"\n")
			if l.Open {
				fmt.Fprintf(&b, "s=\"$d/\"%s\nif [ -d \"$s\" ]; then for c in \"$s\"/* \"$s\"/.[!.]*; do [ -e \"$c\" ] || [ -L \"$c\" ] || continue; c=${c##*/}; printf 'child\\t%d\\t%%s\\t' \"$c\"; kind \"$p/$c\"; printf '\\t%%s\\n' \"$([ -e \"$p/$c%s\" ] || [ -L \"$p/$c%s\" ] && echo backup)\"; done; fi\n", q(l.From), j, backupSuffix, backupSuffix)
			}
		}
		res.Sections = append(res.Sections, soul.Section{Name: fmt.Sprintf("entry-%d", i), Script: b.String()})
	}
	if cmd, ok := p.LedgerItems["links"]; ok {
		res.Sections = append(res.Sections, soul.Section{Name: "ledger", Script: kindOf + cmd +
			" | while IFS= read -r p; do printf '%s\\t' \"$p\"; kind \"$p\"; printf '\\t%s\\n' \"$([ -e \"$p" + backupSuffix + "\" ] || [ -L \"$p" + backupSuffix + "\" ] && echo backup)\"; done\n"})
	}
	return res, nil
}

// place is what the probe found at a link's place.
type place struct {
	kind, target string
	backup       bool
	parent       bool
}

type facts struct {
	noUser       bool
	home, group  string
	git          bool
	head, origin string
	remote       string
	links        map[int]place
	children     map[int]map[string]place
	childOrder   map[int][]string
}

func parseEntry(out string) facts {
	f := facts{links: map[int]place{}, children: map[int]map[string]place{}, childOrder: map[int][]string{}}
	for line := range strings.SplitSeq(out, "\n") {
		fs := strings.Split(line, "\t")
		switch fs[0] {
		case "nouser":
			f.noUser = true
		case "home":
			f.home = field(fs, 1)
		case "group":
			f.group = field(fs, 1)
		case "git":
			f.git = true
		case "head":
			f.head = field(fs, 1)
		case "origin":
			f.origin = field(fs, 1)
		case "remote":
			f.remote = field(fs, 1)
		case "link":
			var j int
			fmt.Sscan(field(fs, 1), &j)
			f.links[j] = place{kind: field(fs, 2), target: field(fs, 3), backup: field(fs, 4) == "backup", parent: field(fs, 5) == "parent"}
		case "child":
			var j int
			fmt.Sscan(field(fs, 1), &j)
			name := field(fs, 2)
			if f.children[j] == nil {
				f.children[j] = map[string]place{}
			}
			f.children[j][name] = place{kind: field(fs, 3), target: field(fs, 4), backup: field(fs, 5) == "backup", parent: true}
			f.childOrder[j] = append(f.childOrder[j], name)
		}
	}
	return f
}

func field(fs []string, i int) string {
	if i < len(fs) {
		return fs[i]
	}
	return ""
}

func runAs(user string, argv ...string) []string {
	return append([]string{"runuser", "-u", user, "--"}, argv...)
}

// Plan clones what is missing, pulls what is behind (pull: true), links what is not linked and
// removes the links chaos made that the Ch-obolo no longer lists.
func (dotfiles) Plan(_ context.Context, p soul.PlanParams) (soul.PlanResult, error) {
	es, err := entries(p.Keys)
	if err != nil {
		return soul.PlanResult{}, err
	}
	var res soul.PlanResult
	var managed []string
	for i, e := range es {
		at := fmt.Sprintf("dotfiles[%d]", i)
		f := parseEntry(p.Facts[fmt.Sprintf("entry-%d", i)].Stdout)
		// A user or git that another role creates in this apply is not there when the plan is made:
		// the entry waits for the next apply (the plan says so) instead of failing the whole apply.
		if f.noUser || f.home == "" {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: no user %s on %s yet: skipped (the next apply clones, once the user exists)", at, e.User, p.Env.Target))
			continue
		}
		if !f.git {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: git is not installed on %s: skipped (declare it in packages; the next apply clones)", at, p.Env.Target))
			continue
		}
		dir := path.Join(f.home, ".dotfiles/chaos", repoName(e.URL))
		cloned := f.origin != ""
		switch {
		case !cloned:
			argv := []string{"git", "clone", "--quiet"}
			if e.Branch != "" {
				argv = append(argv, "--branch", e.Branch)
			}
			argv = append(argv, "--", e.URL, dir)
			res.Steps = append(res.Steps, soul.Step{
				Changes: []soul.Change{{Kind: "+", Subject: "clone " + dir, Detail: "from " + e.URL, Key: at + ".url"}},
				Ops: []soul.Op{{Kind: "exec", Argv: runAs(e.User, argv...),
					Undo: &soul.Op{Kind: "exec", Argv: []string{"rm", "-rf", "--", dir}}}},
			})
		case f.origin != e.URL:
			return res, soul.Invalid(at+".url", "%s is a clone of %s, not %s: move it away or fix the url", dir, f.origin, e.URL)
		case e.Pull && f.remote != "" && f.remote != f.head:
			res.Steps = append(res.Steps, soul.Step{
				Changes: []soul.Change{{Kind: "~", Subject: "pull " + dir, Detail: short(f.head) + " -> " + short(f.remote), Key: at + ".pull"}},
				Ops: []soul.Op{{Kind: "exec", Argv: runAs(e.User, "git", "-C", dir, "pull", "--ff-only", "--quiet"),
					Undo: &soul.Op{Kind: "exec", Argv: runAs(e.User, "git", "-C", dir, "reset", "--hard", "--quiet", f.head)}}},
			})
		}
		for j, l := range e.Links {
			key := fmt.Sprintf("%s.links[%d]", at, j)
			dst := path.Join(f.home, l.To)
			src := path.Join(dir, l.From)
			if !l.Open {
				st, err := linkStep(dst, src, f.links[j], e.User, f.group, key)
				if err != nil {
					return res, err
				}
				res.Steps = append(res.Steps, st...)
				managed = append(managed, dst)
				continue
			}
			pl := f.links[j]
			switch pl.kind {
			case "dir":
			case "none":
				res.Steps = append(res.Steps, soul.Step{
					Changes: []soul.Change{{Kind: "+", Subject: "directory " + dst, Key: key}},
					Ops:     []soul.Op{{Kind: "mkdir", Path: dst, Mode: "0755", Owner: e.User, Group: f.group}},
				})
			default:
				return res, soul.Invalid(key+".to", "%s is a %s, not a directory: open links go into a directory", dst, pl.kind)
			}
			if !cloned {
				res.Notes = append(res.Notes, fmt.Sprintf("%s: the children of %s are linked on the next apply, once the clone exists", key, l.From))
				continue
			}
			for _, c := range f.childOrder[j] {
				st, err := linkStep(path.Join(dst, c), path.Join(src, c), f.children[j][c], e.User, f.group, key)
				if err != nil {
					return res, err
				}
				res.Steps = append(res.Steps, st...)
				managed = append(managed, path.Join(dst, c))
			}
		}
	}
	// full state: the links chaos made before that no entry makes now
	for line := range strings.SplitSeq(p.Facts["ledger"].Stdout, "\n") {
		fs := strings.Split(line, "\t")
		dst := fs[0]
		if dst == "" || slices.Contains(managed, dst) {
			continue
		}
		pl := place{kind: field(fs, 1), target: field(fs, 2), backup: field(fs, 3) == "backup"}
		var st soul.Step
		switch {
		case pl.kind == "link" && strings.Contains(pl.target, "/.dotfiles/chaos/"):
			st = soul.Step{Changes: []soul.Change{{Kind: "-", Subject: "link " + dst, Detail: "-> " + pl.target}},
				Ops: []soul.Op{{Kind: "remove", Path: dst}}}
		case pl.kind == "none" && pl.backup: // the link is gone already (a rollback): its backup waits
			st = soul.Step{Changes: []soul.Change{{Kind: "-", Subject: "link " + dst, Detail: "gone already"}}}
		default:
			res.Notes = append(res.Notes, fmt.Sprintf("%s is no longer a link chaos made: left alone", dst))
			continue
		}
		if pl.backup {
			st.Changes[0].Detail += ", backup put back"
			st.Ops = append(st.Ops, mv(dst+backupSuffix, dst))
		}
		res.Steps = append(res.Steps, st)
	}
	res.Ledger = map[string][]string{"links": managed}
	if managed == nil {
		res.Ledger["links"] = []string{}
	}
	return res, nil
}

// mv renames from to to, and back on undo.
func mv(from, to string) soul.Op {
	return soul.Op{Kind: "exec", Argv: []string{"mv", "-T", "--", from, to},
		Undo: &soul.Op{Kind: "exec", Argv: []string{"mv", "-T", "--", to, from}}}
}

// linkStep makes dst a link to src: nothing when it is one; else the parent directory when it is
// missing, a backup of what is in the way, and the link.
func linkStep(dst, src string, pl place, user, group, key string) ([]soul.Step, error) {
	if pl.kind == "link" && pl.target == src {
		return nil, nil
	}
	st := soul.Step{Changes: []soul.Change{{Kind: "+", Subject: "link " + dst, Detail: "-> " + src, Key: key}}}
	switch pl.kind {
	case "none", "":
		if !pl.parent {
			st.Ops = append(st.Ops, soul.Op{Kind: "mkdir", Path: path.Dir(dst), Mode: "0755", Owner: user, Group: group})
		}
	default:
		if pl.backup {
			return nil, soul.Invalid(key, "%s is in the way and %s exists already: move one of them", dst, dst+backupSuffix)
		}
		st.Changes[0].Kind = "~"
		st.Changes[0].Detail += fmt.Sprintf(" (the %s there is kept as %s)", pl.kind, dst+backupSuffix)
		st.Ops = append(st.Ops, mv(dst, dst+backupSuffix))
	}
	st.Ops = append(st.Ops, soul.Op{Kind: "symlink", Path: dst, Target: src})
	return []soul.Step{st}, nil
}

func short(sha string) string {
	if len(sha) > 10 {
		return sha[:10]
	}
	return sha
}
