package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ch-aos-ch/chaos/internal/transport"
)

// GenerationsDir holds one directory per successful apply: generations/N/ with meta.json,
// chobolo.yml (the resolved Ch-obolo, without secrets), facts.json (what the probe found before),
// plan.json, journal.json and backups/ (the previous content of every file the apply replaced,
// except files written with secret content). index.json lists them.
const GenerationsDir = StateDir + "/generations"

const generationsIndex = GenerationsDir + "/index.json"

// Retention defaults.
const (
	DefaultKeep     = 20
	DefaultMaxBytes = 256 << 20
)

// Generation describes one recorded generation.
type Generation struct {
	N       int           `json:"n"`
	Time    time.Time     `json:"time"`
	Target  string        `json:"target"`
	Kind    string        `json:"kind"`
	Of      int           `json:"of,omitempty"`
	Core    string        `json:"core,omitempty"`
	OS      string        `json:"os,omitempty"`
	Tags    []string      `json:"tags,omitempty"`
	Changes int           `json:"changes"`
	Ops     int           `json:"ops"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Journal string        `json:"journal,omitempty"`
	// Bytes is the size of the generation's files on the host.
	Bytes int64 `json:"bytes"`
	// Files are the paths whose previous state the generation holds (in order of the ops).
	Files []string `json:"files,omitempty"`
	// Summary lists the changes, one "ROLE KIND SUBJECT[: DETAIL]" line each.
	Summary []string `json:"summary,omitempty"`
	// Snapshot is the read-only btrfs snapshot of / taken before the apply (--snapshot).
	Snapshot string `json:"snapshot,omitempty"`
	// UndoneByWatchdog is when the access watchdog rolled this apply back on the host, because no
	// fresh connection confirmed access after it (docs/generations.md, "Confirming access").
	UndoneByWatchdog time.Time `json:"undone_by_watchdog,omitzero"`
	// Job is the server job that made this generation (RecordOptions.Job), if any.
	Job string `json:"job,omitempty"`
}

// Facts is the summary of the probe before an apply, as recorded in a generation.
type FactsSummary struct {
	Target         string              `json:"target"`
	Core           string              `json:"core"`
	OS             map[string]string   `json:"os,omitempty"`
	Chroot         bool                `json:"chroot,omitempty"`
	Systemd        bool                `json:"systemd,omitempty"`
	ProtectedUsers []string            `json:"protected_users,omitempty"`
	Ledger         map[string][]string `json:"ledger,omitempty"`
	ProbeTime      time.Duration       `json:"probe_ns"`
}

// GenerationDir is the directory of generation n.
func GenerationDir(n int) string { return GenerationsDir + "/" + strconv.Itoa(n) }

// ReadGenerations lists the generations recorded on the target, oldest first.
func ReadGenerations(ctx context.Context, t transport.Transport) ([]Generation, error) {
	fi, err := t.Stat(ctx, generationsIndex)
	if err != nil || !fi.Exists {
		return nil, err
	}
	var gens []Generation
	if err := json.Unmarshal(fi.Content, &gens); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", t.Name(), generationsIndex, err)
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i].N < gens[j].N })
	return gens, nil
}

// FindGeneration returns generation n (0: the latest).
func FindGeneration(gens []Generation, n int) (Generation, error) {
	if len(gens) == 0 {
		return Generation{}, errors.New("no generations recorded on this host")
	}
	if n == 0 {
		return gens[len(gens)-1], nil
	}
	for _, g := range gens {
		if g.N == n {
			return g, nil
		}
	}
	return Generation{}, fmt.Errorf("no generation %d (recorded: %d to %d)", n, gens[0].N, gens[len(gens)-1].N)
}

// ReadGenerationFile reads one file of generation n: meta.json, chobolo.yml, facts.json, plan.json
// or journal.json.
func ReadGenerationFile(ctx context.Context, t transport.Transport, n int, name string) ([]byte, error) {
	fi, err := t.Stat(ctx, GenerationDir(n)+"/"+name)
	if err != nil {
		return nil, err
	}
	if !fi.Exists {
		return nil, fmt.Errorf("generation %d has no %s", n, name)
	}
	return fi.Content, nil
}

// ReadGenerationJournal reads the journal of generation n.
func ReadGenerationJournal(ctx context.Context, t transport.Transport, n int) (*Journal, error) {
	data, err := ReadGenerationFile(ctx, t, n, "journal.json")
	if err != nil {
		return nil, err
	}
	var j Journal
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("generation %d: journal.json: %w", n, err)
	}
	return &j, nil
}

func sourceOf(req Request) []byte {
	if req.Source == nil && req.SourceFunc != nil {
		req.Source = req.SourceFunc()
	}
	if req.Source != nil {
		return req.Source
	}
	if req.Chobolo == nil {
		return nil
	}
	data, err := json.MarshalIndent(req.Chobolo, "", "  ")
	if err != nil {
		return nil
	}
	return append(data, '\n')
}

// generationStage is where the generation of the apply in progress is written, inside the journal
// directory, before the journal is committed: a chaos killed while writing it rolls the apply back
// (the stage goes with the journal), one killed after the commit is recovered by publishing it
// (publishGeneration), so a committed apply always has its complete generation.
const generationStage = JournalDir + "/generation"

// stageRetention holds the retention settings of the apply in the stage ("KEEP MAXBYTES").
const stageRetention = generationStage + "/.retention"

// stageGeneration writes generation N+1 of a successful apply into generationStage, meta.json last.
func (e *Engine) stageGeneration(ctx context.Context, t transport.Transport, hp *HostPlan, req Request,
	jw *journalWriter, log []*JournalEntry, res *Result) (int, error) {
	gens, err := ReadGenerations(ctx, t)
	if err != nil {
		return 0, err
	}
	n := 1
	if len(gens) > 0 {
		n = gens[len(gens)-1].N + 1
	}
	dir := generationStage
	if err := t.Remove(ctx, dir, true); err != nil {
		return 0, err
	}
	if err := privateDir(ctx, t, dir+"/backups"); err != nil {
		return 0, err
	}
	if err := privateDir(ctx, t, dir); err != nil {
		return 0, err
	}
	g := Generation{N: n, Time: time.Now().UTC(), Target: hp.Target, Kind: req.Record.Kind, Of: req.Record.Of, Job: req.Record.Job,
		Core: hp.Core, OS: hp.OS, Tags: req.Tags, Changes: res.Changed, Ops: res.Ops, Elapsed: res.Elapsed, Journal: jw.j.ID,
		Snapshot: res.Snapshot}
	g.Kind = cmp.Or(g.Kind, "apply")
	for _, rp := range hp.Roles {
		for _, s := range rp.Steps {
			for _, c := range s.Changes {
				line := rp.Role + " " + string(c.Kind) + " " + c.Subject
				if c.Detail != "" {
					line += ": " + c.Detail
				}
				g.Summary = append(g.Summary, line)
			}
		}
	}
	write := func(name string, data []byte) error {
		g.Bytes += int64(len(data))
		return t.WriteFile(ctx, dir+"/"+name, data, 0o600, 0, 0, nil)
	}
	// Backups: the previous content of replaced files, except secret ones.
	j := jw.j
	j.Entries = nil
	j.State = JournalCommitted // as it is once the generation is published
	for _, je := range log {
		c := *je
		if c.Prev != nil {
			prev := *c.Prev
			c.Prev = &prev
			if prev.Backup != "" {
				if prev.Secret {
					c.Prev.Backup = ""
				} else if err := write("backups/"+prev.Backup, je.prevContent); err != nil {
					return 0, err
				}
			}
			if prev.Tree != "" {
				// The archive stays on the target: a hard link when the journal and the generations
				// share a filesystem (they do, under StateDir), else a copy.
				if _, err := transport.Check(ctx, t, transport.Cmd{Argv: []string{"sh", "-c", `ln -f -- "$1" "$2" 2>/dev/null || cp -- "$1" "$2"`,
					"sh", EntriesDir + "/" + prev.Tree, dir + "/backups/" + prev.Tree}}); err != nil {
					return 0, fmt.Errorf("backup of %s: %w", c.UndoPath, err)
				}
				g.Bytes += prev.TreeBytes
			}
			if !slices.Contains(g.Files, c.UndoPath) {
				g.Files = append(g.Files, c.UndoPath)
			}
		}
		j.Entries = append(j.Entries, c)
	}
	facts := FactsSummary{Target: hp.Target, Core: hp.Core, ProbeTime: hp.ProbeTime, Ledger: hp.ledger}
	if env := hp.env; env != nil {
		facts.OS, facts.Chroot, facts.Systemd, facts.ProtectedUsers = env.OS, env.Chroot, env.Systemd, env.ProtectedUsers
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"facts.json", facts}, {"plan.json", hp}, {"journal.json", j}} {
		data, err := json.MarshalIndent(f.v, "", " ")
		if err != nil {
			return 0, err
		}
		if err := write(f.name, append(data, '\n')); err != nil {
			return 0, err
		}
	}
	if err := write("chobolo.yml", jw.source); err != nil {
		return 0, err
	}
	if err := t.WriteFile(ctx, stageRetention, fmt.Appendf(nil, "%d %d\n", req.Record.Keep, req.Record.MaxBytes), 0o600, 0, 0, nil); err != nil {
		return 0, err
	}
	meta, _ := json.MarshalIndent(g, "", " ")
	if err := write("meta.json", append(meta, '\n')); err != nil {
		return 0, err
	}
	return n, nil
}

// publishGeneration makes the staged generation (stageGeneration) generation N: the index first
// (with the retention applied), then the directory moved into place, then the generations the
// retention dropped removed. Run again after a crash, it finishes what is left. It returns 0 when
// nothing is staged.
func publishGeneration(ctx context.Context, t transport.Transport) (int, error) {
	fi, err := t.Stat(ctx, generationStage+"/meta.json")
	if err != nil || !fi.Exists {
		return 0, err
	}
	var g Generation
	if err := json.Unmarshal(fi.Content, &g); err != nil || g.N < 1 {
		return 0, fmt.Errorf("staged generation: meta.json: %v", err)
	}
	var keep int
	var maxBytes int64
	if r, err := t.Stat(ctx, stageRetention); err == nil && r.Exists {
		_, _ = fmt.Sscanf(string(r.Content), "%d %d", &keep, &maxBytes)
	}
	gens, err := ReadGenerations(ctx, t)
	if err != nil {
		return 0, err
	}
	if err := privateDir(ctx, t, GenerationsDir); err != nil {
		return 0, err
	}
	var drop []Generation
	if !slices.ContainsFunc(gens, func(x Generation) bool { return x.N == g.N }) {
		gens, drop = retain(append(gens, g), keep, maxBytes)
		if err := writeIndex(ctx, t, gens); err != nil {
			return 0, err
		}
	}
	if err := t.Remove(ctx, stageRetention, false); err != nil {
		return 0, err
	}
	// A directory left by a crash during an earlier recording is replaced.
	dir := GenerationDir(g.N)
	if err := t.Remove(ctx, dir, true); err != nil {
		return 0, err
	}
	if r, ok := t.(transport.Renamer); ok {
		err = r.Rename(ctx, generationStage, dir)
	} else {
		_, err = transport.Check(ctx, t, transport.Cmd{Argv: []string{"mv", "-T", "--", generationStage, dir}})
	}
	if err != nil {
		return 0, err
	}
	for _, d := range drop {
		_ = t.Remove(ctx, GenerationDir(d.N), true)
	}
	return g.N, nil
}

// retain applies keep (count) and maxBytes (total size) to gens, oldest first; the newest
// generation always stays.
func retain(gens []Generation, keep int, maxBytes int64) (kept, dropped []Generation) {
	if keep <= 0 {
		keep = DefaultKeep
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	var total int64
	for _, g := range gens {
		total += g.Bytes
	}
	for len(gens) > 1 && (len(gens) > keep || total > maxBytes) {
		total -= gens[0].Bytes
		dropped = append(dropped, gens[0])
		gens = gens[1:]
	}
	return gens, dropped
}

func writeIndex(ctx context.Context, t transport.Transport, gens []Generation) error {
	data, err := json.MarshalIndent(gens, "", " ")
	if err != nil {
		return err
	}
	return t.WriteFile(ctx, generationsIndex, append(data, '\n'), 0o600, 0, 0, nil)
}

// RollbackFiles builds the plan that puts back every file the generations after `to` changed, as it
// was right after generation `to` (the previous state recorded by the oldest later generation that
// touched it). It is the file half of `chaos rollback`; the other half is re-applying generation
// to's Ch-obolo. Paths under StateDir and files whose previous content was secret (never recorded)
// are left to the declarative re-apply.
func (e *Engine) RollbackFiles(ctx context.Context, t transport.Transport, to int) (*RolePlan, error) {
	gens, err := ReadGenerations(ctx, t)
	if err != nil {
		return nil, err
	}
	if _, err := FindGeneration(gens, to); err != nil {
		return nil, err
	}
	type first struct {
		gen int
		je  JournalEntry
	}
	firsts := map[string]first{}
	var order []string
	for _, g := range gens {
		if g.N <= to {
			continue
		}
		j, err := ReadGenerationJournal(ctx, t, g.N)
		if err != nil {
			return nil, err
		}
		for _, je := range j.Entries {
			p := path.Clean(je.UndoPath)
			if je.Prev == nil || p == StateDir || strings.HasPrefix(p, StateDir+"/") {
				continue
			}
			if _, ok := firsts[p]; !ok {
				firsts[p] = first{g.N, je}
				order = append(order, p)
			}
		}
	}
	rp := &RolePlan{Role: "rollback"}
	var removals, dirs, files []Step
	for _, p := range order {
		f := firsts[p]
		prev := f.je.Prev
		cur, err := t.Stat(ctx, p)
		if err != nil {
			return nil, err
		}
		from := fmt.Sprintf("generation %d recorded it before its apply", f.gen)
		switch {
		case !prev.Exists:
			// A mkdir created every directory from its path up to p. Removals are not recursive: a
			// directory that holds something chaos did not create makes the rollback fail (and be
			// undone) instead of being deleted.
			chain := []string{p}
			if f.je.Op.Kind == OpMkdir {
				chain = nil
				for d := path.Clean(f.je.Op.Path); strings.HasPrefix(d, p); d = path.Dir(d) {
					chain = append(chain, d)
					if d == p {
						break
					}
				}
			}
			for _, d := range chain {
				if c, err := t.Stat(ctx, d); err != nil {
					return nil, err
				} else if c.Exists {
					removals = append(removals, Step{Changes: []Change{{Kind: Del, Subject: d, Detail: "absent after generation " + strconv.Itoa(to)}}, Ops: []Op{Remove(d)}})
				}
			}
		case prev.Mode.IsDir() && prev.Tree != "" && !cur.Exists:
			// A recursive remove deleted the tree: extract the archive the generation kept.
			archive := GenerationDir(f.gen) + "/backups/" + prev.Tree
			if res, err := t.Run(ctx, transport.Cmd{Argv: []string{"test", "-f", archive}}); err != nil {
				return nil, err
			} else if res.Code != 0 {
				return nil, fmt.Errorf("generation %d: backup of %s is missing", f.gen, p)
			}
			op := Exec("sh", "-c", extractTree, "sh", archive, path.Dir(p)).WithUndo(Op{Kind: OpRemove, Path: p, Recursive: true})
			op.Label = fmt.Sprintf("extract %s into %s", archive, path.Dir(p))
			dirs = append(dirs, Step{Changes: []Change{{Kind: Add, Subject: p, Detail: fmt.Sprintf("directory tree restored, %s (%s)", HumanBytes(prev.TreeBytes), from)}}, Ops: []Op{op}})
		case prev.Mode.IsDir():
			if cur.Exists && cur.Mode.IsDir() && cur.Mode == prev.Mode && cur.UID == prev.UID && cur.GID == prev.GID {
				continue
			}
			if cur.Exists && !cur.Mode.IsDir() {
				rp.Notes = append(rp.Notes, fmt.Sprintf("%s: was a directory, is now a %s: left alone", p, typeName(cur.Mode)))
				continue
			}
			op := Mkdir(p, prev.Mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), strconv.Itoa(prev.UID), strconv.Itoa(prev.GID))
			if cur.Exists {
				op.Kind = OpChmod
			}
			dirs = append(dirs, Step{Changes: []Change{{Kind: Modify, Subject: p, Detail: "directory restored (" + from + ")"}}, Ops: []Op{op}})
		case prev.Mode&fs.ModeSymlink != 0:
			if cur.Exists && cur.Mode&fs.ModeSymlink != 0 && cur.Target == prev.Target && cur.UID == prev.UID && cur.GID == prev.GID {
				continue
			}
			op := Symlink(p, prev.Target)
			op.Owner, op.Group = strconv.Itoa(prev.UID), strconv.Itoa(prev.GID)
			files = append(files, Step{Changes: []Change{{Kind: Modify, Subject: p, Detail: "symlink -> " + prev.Target + " restored (" + from + ")"}}, Ops: []Op{op}})
		case prev.Mode.IsRegular():
			var content []byte
			if prev.Size > 0 {
				if prev.Backup == "" {
					rp.Notes = append(rp.Notes, fmt.Sprintf("%s: its previous content was secret and is not recorded: left to the Ch-obolo", p))
					continue
				}
				fi, err := t.Stat(ctx, GenerationDir(f.gen)+"/backups/"+prev.Backup)
				if err != nil {
					return nil, err
				}
				if !fi.Exists {
					return nil, fmt.Errorf("generation %d: backup of %s is missing", f.gen, p)
				}
				content = fi.Content
			}
			mode := prev.Mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
			if cur.Exists && cur.Mode.IsRegular() && string(cur.Content) == string(content) &&
				cur.Mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) == mode && cur.UID == prev.UID && cur.GID == prev.GID {
				continue
			}
			if cur.Exists && cur.Mode.IsDir() {
				rp.Notes = append(rp.Notes, fmt.Sprintf("%s: was a file, is now a directory: left alone", p))
				continue
			}
			op := Write(p, content, mode, strconv.Itoa(prev.UID), strconv.Itoa(prev.GID))
			files = append(files, Step{Changes: []Change{{Kind: Modify, Subject: p, Detail: fmt.Sprintf("content restored, %d bytes (%s)", len(content), from)}}, Ops: []Op{op}})
		}
	}
	// Children go before their directories when removing, parents before children when creating.
	sort.SliceStable(removals, func(i, j int) bool {
		return strings.Count(removals[i].Changes[0].Subject, "/") > strings.Count(removals[j].Changes[0].Subject, "/")
	})
	sort.SliceStable(dirs, func(i, j int) bool {
		return strings.Count(dirs[i].Changes[0].Subject, "/") < strings.Count(dirs[j].Changes[0].Subject, "/")
	})
	rp.Steps = slices.Concat(removals, dirs, files)
	return rp, nil
}

// LeaveToRoles drops from a rollback's restore section (RollbackFiles) every step on a path that
// one of roles, the plan of the re-applied Ch-obolo, also has an op for. That role's plan was made
// from the path's current state and is the declarative answer for it, so the path gets one op
// and counts as one change; restoring it first would write it twice. It returns the restore steps
// that must wait for the roles (nil when none): the removal of a directory in which a role removes
// something, which is empty only once that role ran. The caller runs them after the roles.
func LeaveToRoles(restore *RolePlan, roles []*RolePlan) *RolePlan {
	planned := map[string]bool{}
	for _, rp := range roles {
		for _, s := range rp.Steps {
			for _, op := range s.Ops {
				if op.Kind != OpExec && op.Path != "" {
					planned[path.Clean(op.Path)] = true
				}
			}
		}
	}
	var late []Step
	// Each restore step has one change, whose subject is its path.
	restore.Steps = slices.DeleteFunc(restore.Steps, func(s Step) bool {
		if len(s.Changes) != 1 {
			return false
		}
		p := path.Clean(s.Changes[0].Subject)
		if planned[p] {
			return true
		}
		if len(s.Ops) == 1 && s.Ops[0].Kind == OpRemove {
			for q := range planned {
				if strings.HasPrefix(q, p+"/") {
					late = append(late, s)
					return true
				}
			}
		}
		return false
	})
	if len(late) == 0 {
		return nil
	}
	return &RolePlan{Role: restore.Role, Steps: late}
}

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "file"
	}
	return m.Type().String()
}
