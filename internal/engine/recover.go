package engine

import (
	"context"
	"fmt"
	"path"
	"sort"
	"time"

	"github.com/ch-aos-ch/chaos/internal/transport"
)

// RecoverOptions say how to finish an interrupted apply.
type RecoverOptions struct {
	// Resume keeps what the interrupted apply did and returns its Ch-obolo (Recovery.Source) so that
	// the caller applies it again (roll forward). An apply that was already undoing is rolled back.
	Resume bool
	// Observe receives an undo event per inverse that runs; may be nil.
	Observe func(Event)
	// Lock is the caller's host lock (LockHost), taken through the same transport; nil: Recover
	// takes the lock itself and releases it when done.
	Lock *HostLock
}

// Recovery is what Recover did.
type Recovery struct {
	Journal *Journal `json:"journal"`
	// Action is "rolled back", "resume" or "cleaned up" (the apply had committed).
	Action string `json:"action"`
	Undone int    `json:"undone"`
	// Errors are inverses that failed (the host may need attention).
	Errors []string `json:"errors,omitempty"`
	// Warnings are failures of the inverse of the last journaled op, which may not have run at all.
	Warnings []string `json:"warnings,omitempty"`
	// NotUndone names the journaled ops that cannot be undone (Op.Irreversible): their effect stays.
	NotUndone []string `json:"not_undone,omitempty"`
	// Source is the Ch-obolo of the interrupted apply (for Resume).
	Source []byte `json:"-"`
	// Generation is the generation of a committed apply that recovery recorded (0: none).
	Generation int `json:"generation,omitempty"`
}

// Recover finishes an apply that was interrupted on t (chaos killed, connection lost, power
// loss): it reads the journal and runs the inverses of the journaled ops in reverse order (the
// last op may or may not have run: errors of its inverse are tolerated), then removes the journal.
// It returns nil when there is nothing to recover. It runs under the host lock (opts.Lock, or its own).
func (e *Engine) Recover(ctx context.Context, t transport.Transport, opts RecoverOptions) (*Recovery, error) {
	release, err := lockFor(ctx, t, opts.Lock)
	if err != nil {
		return nil, err
	}
	defer release()
	j, err := ReadJournal(ctx, t)
	if err != nil || j == nil {
		return nil, err
	}
	// The apply's access watchdog, if it armed one, would undo the same ops again later: this
	// connection proves access, and the journal is dealt with here (docs/generations.md).
	if err := dropWatchdog(ctx, t, j.ID); err != nil {
		return nil, err
	}
	rec := &Recovery{Journal: j}
	switch {
	case j.State == JournalCommitted:
		// Killed after the commit: the generation staged before it is published.
		rec.Action = "cleaned up"
		removeTemps(ctx, t, j)
		if n, err := publishGeneration(ctx, t); err != nil {
			rec.Warnings = append(rec.Warnings, "generation not recorded: "+err.Error())
		} else if n > 0 {
			rec.Generation = n
		}
		return rec, closeJournal(ctx, t)
	case opts.Resume && j.State == JournalOpen:
		fi, err := t.Stat(ctx, journalSource)
		if err != nil {
			return nil, err
		}
		if !fi.Exists {
			return nil, fmt.Errorf("%s: the interrupted apply's Ch-obolo is not in the journal: cannot resume; run `chaos recover` to roll back", t.Name())
		}
		rec.Action, rec.Source = "resume", fi.Content
		return rec, closeJournal(ctx, t)
	}
	rec.Action = "rolled back"
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Minute)
	defer cancel()
	jw := &journalWriter{t: t, j: *j, opened: true}
	ids := &idCache{t: t}
	backup := func(je *JournalEntry) ([]byte, error) {
		return nil, fmt.Errorf("the previous content of %s is missing from the journal", je.UndoPath)
	}
	last := len(j.Entries) - 1
	entries := make([]*JournalEntry, len(j.Entries))
	for i := range j.Entries {
		entries[i] = &j.Entries[i]
	}
	order := undoOrder(entries)
	for _, i := range order[min(j.Undone, len(order)):] {
		je := entries[i]
		if je.Undo != nil || je.Prev != nil {
			emit(opts.Observe, Event{Type: EventUndo, Target: t.Name(), Role: je.Role, Op: je.Op.String()})
			if uerr := e.undoEntry(uctx, t, ids, je, backup); uerr != nil && i != last {
				rec.Errors = append(rec.Errors, fmt.Sprintf("undo %s: %v", je.Op, uerr))
			} else if uerr != nil {
				rec.Warnings = append(rec.Warnings, fmt.Sprintf("undo of the interrupted op %s (it may have changed nothing): %v", je.Op, uerr))
			}
			rec.Undone++
		} else if je.Op.Irreversible != "" {
			rec.NotUndone = append(rec.NotUndone, notUndone(je))
		}
		jw.j.Undone++
		_ = jw.setState(uctx, JournalUndoing)
	}
	removeTemps(uctx, t, j)
	return rec, closeJournal(uctx, t)
}

// removeTemps removes the temporary files (".chaos-XXXXXXXXXXXX.tmp", written then renamed into
// place) that a write killed midway left beside the files the journal names, and in the
// generations (a kill while the generation was recorded). The host lock is held: no chaos is
// writing them.
func removeTemps(ctx context.Context, t transport.Transport, j *Journal) {
	dirs := map[string]bool{}
	for _, je := range j.Entries {
		for _, p := range []string{je.UndoPath, je.Op.Path} {
			if path.IsAbs(p) && path.Clean(p) != "/" {
				dirs[path.Dir(path.Clean(p))] = true
			}
		}
	}
	find := func(maxdepth string, roots ...string) {
		if len(roots) == 0 {
			return
		}
		argv := append([]string{"find"}, roots...)
		argv = append(argv, "-maxdepth", maxdepth, "(", "-type", "f", "-o", "-type", "l", ")",
			"-name", ".chaos-????????????.tmp", "-delete")
		_, _ = t.Run(ctx, transport.Cmd{Argv: argv})
	}
	var roots []string
	for d := range dirs {
		if fi, err := t.Stat(ctx, d); err == nil && fi.Exists && fi.Mode.IsDir() {
			roots = append(roots, d)
		}
	}
	sort.Strings(roots)
	find("1", roots...)
	if fi, err := t.Stat(ctx, GenerationsDir); err == nil && fi.Exists {
		find("3", GenerationsDir)
	}
}
