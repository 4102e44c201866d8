package files

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/engine"
)

// Ledger domains: paths chaos created (pruned when they leave the Ch-obolo), and paths that existed
// before chaos managed them (never deleted; recorded so that the plan can say so).
const (
	DomainCreated = "files"
	DomainAdopted = "files.adopted"
	// DomainSecret are the managed paths whose content comes from the secrets file, so that their
	// removal, once they have left the Ch-obolo, is a secret op too whose previous content stays in
	// memory (never journaled or kept in a generation).
	DomainSecret = "files.secret"
)

func octal(m uint32) string { return fmt.Sprintf("%04o", m) }

// pathLess orders parents before children: component by component, as comparing the lists of
// components would, byte by byte without splitting (a split per comparison was a tenth of the
// controller's time over 1,000 files). A "/" sorts before any other byte because it ends a component.
func pathLess(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		switch ca, cb := a[i], b[i]; {
		case ca == cb:
		case ca == '/':
			return -1
		case cb == '/':
			return 1
		default:
			return cmp.Compare(ca, cb)
		}
	}
	return cmp.Compare(len(a), len(b))
}

func ownerMatches(want, name string, id int) bool {
	if want == "" {
		return true
	}
	if n, err := strconv.Atoi(want); err == nil {
		return n == id
	}
	return want == name
}

// keepOwner returns the declared owner/group, or the current numeric ids when undeclared, so that
// rewriting a file keeps its ownership.
func keepOwner(d Desired, s Stat) (string, string) {
	owner, group := d.Owner, d.Group
	if s.Exists() {
		if owner == "" && s.UID >= 0 {
			owner = strconv.Itoa(s.UID)
		}
		if group == "" && s.GID >= 0 {
			group = strconv.Itoa(s.GID)
		}
	}
	return owner, group
}

// metaDiff describes mode/owner/group differences ("" when none).
func metaDiff(d Desired, s Stat) string {
	var parts []string
	if d.ModeSet && d.Mode != s.Mode {
		parts = append(parts, fmt.Sprintf("mode %s -> %s", octal(s.Mode), octal(d.Mode)))
	}
	if !ownerMatches(d.Owner, s.User, s.UID) {
		parts = append(parts, fmt.Sprintf("owner %s -> %s", s.User, d.Owner))
	}
	if !ownerMatches(d.Group, s.Group, s.GID) {
		parts = append(parts, fmt.Sprintf("group %s -> %s", s.Group, d.Group))
	}
	return strings.Join(parts, ", ")
}

// BuildPlan is the pure delta and plan: declared files, probed facts and the ledger to a role plan
// with the new ledger.
func BuildPlan(desired []Desired, f *Facts, ledger map[string][]string, full bool) (*engine.RolePlan, error) {
	rp := &engine.RolePlan{}
	created := map[string]bool{}
	for _, p := range ledger[DomainCreated] {
		created[p] = true
	}
	adopted := map[string]bool{}
	for _, p := range ledger[DomainAdopted] {
		adopted[p] = true
	}
	wasSecret := map[string]bool{}
	for _, p := range ledger[DomainSecret] {
		wasSecret[p] = true
	}
	// secretRemove marks the removal of a private file (its content never goes into a generation)
	// or of one rendered from secrets (nor into the journal).
	secretRemove := func(op engine.Op, p string, s Stat) engine.Op {
		op.Secret = wasSecret[p] || (s.Type == "file" && s.Mode&0o044 == 0)
		op.PrevInMemory = wasSecret[p]
		return op
	}
	newCreated := map[string]bool{}
	newAdopted := map[string]bool{}
	newSecret := map[string]bool{}
	declared := map[string]bool{}
	willBeDir := map[string]bool{}
	for _, d := range desired {
		declared[d.Path] = true
		if d.State == "directory" {
			willBeDir[d.Path] = true
		}
	}
	order := slices.Clone(desired)
	slices.SortStableFunc(order, func(a, b Desired) int { return pathLess(a.Path, b.Path) })

	var removals []engine.Step
	for _, d := range order {
		s, ok := f.Declared[d.Index]
		if !ok || !s.Known {
			return nil, fmt.Errorf("%s: the probe did not report %s", d.Pos, d.Path)
		}
		parent := d.Path[:strings.LastIndexByte(d.Path, '/')]
		parent = cmp.Or(parent, "/")
		if d.State != "absent" && !s.Exists() && !s.Parent && !willBeDir[parent] && !d.HomeByUsers {
			return nil, fmt.Errorf("%s: cannot create %s: its directory %s does not exist (declare it with state: directory)", d.Pos, d.Path, parent)
		}
		// bookkeeping: what chaos created vs what it found
		if d.State != "absent" {
			switch {
			case created[d.Path] || !s.Exists():
				newCreated[d.Path] = true
			default:
				newAdopted[d.Path] = true
				if !adopted[d.Path] {
					rp.Notes = append(rp.Notes, fmt.Sprintf("%s existed before chaos managed it: it will be kept, not deleted, if it leaves the Ch-obolo", d.Path))
				}
			}
		}
		subject := d.Path
		change := func(k engine.Kind, detail string, ops ...engine.Op) {
			for i := range ops {
				ops[i].Notify = d.Notify
			}
			rp.Add([]engine.Change{{Kind: k, Subject: subject, Detail: detail, Pos: d.Pos}}, ops...)
		}
		switch d.State {
		case "present":
			switch s.Type {
			case "dir":
				return nil, fmt.Errorf("%s: %s is a directory on the target; remove it first or declare state: directory", d.Pos, d.Path)
			case "other":
				return nil, fmt.Errorf("%s: %s is a special file (device, fifo or socket) on the target", d.Pos, d.Path)
			}
			mode := d.Mode
			if !d.ModeSet {
				mode = 0o644
				if s.Type == "file" {
					mode = s.Mode
				}
			}
			secret := d.Secret || (s.Type == "file" && !d.ModeSet && s.Mode&0o044 == 0)
			if d.SecretSource {
				newSecret[d.Path] = true
			}
			owner, group := keepOwner(d, s)
			var missing error
			write := func() engine.Op {
				content := d.Content
				if !d.ManageContent {
					content = nil
				}
				op := engine.Write(d.Path, content, FileMode(mode), owner, group)
				// Content from the secrets: the previous content stays in memory for the undo. A
				// private file (an authorized_keys) keeps it in the root-only journal, from which
				// recovery and the access watchdog can restore it.
				op.Secret, op.PrevInMemory = secret, d.SecretSource
				if d.Check != nil {
					op.Validate, op.Label = d.Check.Argv, d.Check.Label
					if !f.Tools[d.Check.Tool] {
						missing = fmt.Errorf("%s: %s must be checked with %s before it lands, and %s is not installed on the target",
							d.Check.Pos, d.Path, checkName(d.Check), d.Check.Tool)
					}
				}
				return op
			}

			switch {
			case s.Type == "none":
				detail := fmt.Sprintf("file, %d bytes, mode %s", len(d.Content), octal(mode))
				if secret {
					detail = fmt.Sprintf("file (secret), mode %s", octal(mode))
				}
				change(engine.Add, detail, write())
			case s.Type == "link":
				change(engine.Modify, "symlink -> regular file", write())
			case d.ManageContent && s.SHA256 != sha(d.Content):
				detail := contentDetail(s, d.Content, secret)
				if m := metaDiff(d, s); m != "" {
					detail = m + "; " + detail
				}
				change(engine.Modify, detail, write())
			default:
				if m := metaDiff(d, s); m != "" {
					op := engine.Op{Kind: engine.OpChmod, Path: d.Path, Owner: d.Owner, Group: d.Group}
					if d.ModeSet {
						op.Mode = FileMode(d.Mode)
					}
					change(engine.Modify, m, op)
				}
			}
			if missing != nil {
				return nil, missing
			}
		case "directory":
			switch s.Type {
			case "none":
				mode := d.Mode
				if !d.ModeSet {
					mode = 0o755
				}
				change(engine.Add, "directory, mode "+octal(mode), engine.Mkdir(d.Path, FileMode(mode), d.Owner, d.Group))
			case "dir":
				if m := metaDiff(d, s); m != "" {
					op := engine.Op{Kind: engine.OpChmod, Path: d.Path, Owner: d.Owner, Group: d.Group}
					if d.ModeSet {
						op.Mode = FileMode(d.Mode)
					}
					change(engine.Modify, m, op)
				}
			default:
				return nil, fmt.Errorf("%s: %s exists on the target and is not a directory (%s)", d.Pos, d.Path, s.Type)
			}
		case "link":
			switch s.Type {
			case "dir":
				return nil, fmt.Errorf("%s: %s is a directory on the target; chaos will not replace it with a link", d.Pos, d.Path)
			case "other":
				return nil, fmt.Errorf("%s: %s is a special file on the target", d.Pos, d.Path)
			case "none":
				change(engine.Add, "symlink -> "+d.Target, symlink(d))
			case "file":
				change(engine.Modify, "regular file -> symlink -> "+d.Target, symlink(d))
			case "link":
				switch {
				case s.Target != d.Target:
					change(engine.Modify, fmt.Sprintf("symlink -> %s (was -> %s)", d.Target, s.Target), symlink(d))
				case !ownerMatches(d.Owner, s.User, s.UID) || !ownerMatches(d.Group, s.Group, s.GID):
					change(engine.Modify, metaDiff(Desired{Owner: d.Owner, Group: d.Group}, s), symlink(d))
				}
			}
		case "absent":
			if s.Exists() {
				op := secretRemove(engine.Remove(d.Path), d.Path, s)
				detail := s.Type
				if s.Type == "dir" {
					op.Recursive = true
					detail = "directory and everything in it"
				}
				op.Notify = d.Notify
				removals = append(removals, engine.Step{Changes: []engine.Change{{Kind: engine.Del, Subject: subject, Detail: detail, Pos: d.Pos}}, Ops: []engine.Op{op}})
			}
		}
	}
	// full state: what chaos created and the Ch-obolo no longer declares. Children go before their
	// directory, and a directory chaos created is removed only when everything in it goes too.
	pruned := 0
	if full {
		going := map[string]int{} // directory -> entries removed from it by this plan
		for _, st := range removals {
			p := st.Changes[0].Subject
			going[p[:strings.LastIndexByte(p, '/')]]++
		}
		// Only the ledger's paths the Ch-obolo no longer declares are sorted: after the apply that
		// created them, nearly every path is still declared (sorting 1,000 of them was most of
		// Compute's time).
		var stale []string
		for p := range created {
			if !declared[p] {
				stale = append(stale, p)
			}
		}
		// pathLess orders distinct paths strictly: the map's order does not show through.
		slices.SortFunc(stale, func(a, b string) int { return -pathLess(a, b) })
		for _, p := range stale {
			s := f.Ledger[p]
			switch {
			case !s.Known:
				newCreated[p] = true
				rp.Notes = append(rp.Notes, fmt.Sprintf("%s: not checked (unreadable ledger entry), kept in the ledger", p))
				continue
			case !s.Exists():
				continue // already gone
			case undeletable(p):
				rp.Notes = append(rp.Notes, fmt.Sprintf("%s: refusing to remove a system path, dropped from the ledger", p))
				continue
			case s.Type == "dir" && s.Entries != going[p]:
				newCreated[p] = true
				rp.Notes = append(rp.Notes, fmt.Sprintf("%s: directory created by chaos holds files chaos did not create, kept", p))
				continue
			}
			pruned++
			going[p[:strings.LastIndexByte(p, '/')]]++
			removals = append(removals, engine.Step{Changes: []engine.Change{{Kind: engine.Del, Subject: p,
				Detail: "created by chaos, no longer declared"}}, Ops: []engine.Op{secretRemove(engine.Remove(p), p, s)}})
		}
	} else {
		for p := range created {
			if !declared[p] {
				newCreated[p] = true
			}
		}
	}
	// removals deepest first
	slices.SortStableFunc(removals, func(a, b engine.Step) int { return -pathLess(a.Changes[0].Subject, b.Changes[0].Subject) })
	rp.Steps = append(rp.Steps, removals...)
	if pruned > 3 && pruned*2 > len(created) {
		rp.Guard = fmt.Sprintf("this removes %d of the %d files chaos created, because they left the Ch-obolo", pruned, len(created))
	}
	for p := range wasSecret {
		if newCreated[p] && !declared[p] {
			newSecret[p] = true // kept in the ledger undeclared: still secret when it is pruned later
		}
	}
	rp.Ledger = map[string][]string{DomainCreated: slices.Sorted(maps.Keys(newCreated)), DomainAdopted: slices.Sorted(maps.Keys(newAdopted)),
		DomainSecret: slices.Sorted(maps.Keys(newSecret))}
	return rp, nil
}

// checkName is how a check is named in messages.
func checkName(c *Check) string {
	if c.Label != "" {
		return c.Label
	}
	return strings.Join(c.Argv, " ")
}

func symlink(d Desired) engine.Op {
	op := engine.Symlink(d.Path, d.Target)
	op.Owner, op.Group = d.Owner, d.Group
	return op
}

// contentDetail says how a file's content changes: a diff for small text files, sizes otherwise,
// and nothing about the content of a secret.
func contentDetail(s Stat, want []byte, secret bool) string {
	if secret {
		return "secret content changed (not shown)"
	}
	summary := fmt.Sprintf("content changed (%d -> %d bytes)", s.Size, len(want))
	if s.HasContent {
		if d := Diff(s.Content, want); d != "" {
			return summary + "\n" + d
		}
	}
	return summary
}
