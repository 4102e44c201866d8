package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/ch-aos-ch/chaos/internal/transport"
)

// On-host state of the transaction layer. Everything lives under StateDir on the target, so every
// transport (local, chroot, nsenter, SSH) gets the same journal, lock and generations.
const (
	StateDir = "/var/lib/chaos"
	// JournalDir holds the write-ahead journal of the apply in progress: JournalFile (the header:
	// run, state, undo progress) and EntriesDir/SEQ.json, one file per op, each written (temp file,
	// fsync, rename, fsync of the directory) before its op runs, with the previous content of the
	// file the op replaces. It exists only while an apply runs, or after one was interrupted
	// (SIGKILL, lost connection, power loss).
	JournalDir  = StateDir + "/journal"
	JournalFile = JournalDir + "/journal.json"
	EntriesDir  = JournalDir + "/entries"
	// journalSource is the Ch-obolo the interrupted apply was applying (for `chaos recover --resume`).
	journalSource = JournalDir + "/chobolo.yml"
	// LockPath is the lock that keeps two applies off one host.
	LockPath = StateDir + "/lock"
)

// Journal states.
const (
	// JournalOpen: ops are running; recovery rolls the completed ones back (or forward with --resume).
	JournalOpen = "open"
	// JournalUndoing: an op failed and the inverses are running; recovery finishes them.
	JournalUndoing = "undoing"
	// JournalCommitted: every op succeeded; recovery only cleans up.
	JournalCommitted = "committed"
)

// Journal is the write-ahead record of one apply on one host. It is rewritten atomically (temp
// file, fsync, rename, fsync of the directory) before every op, so after a crash it names every op
// that may have run, with what it takes to undo it. It never holds a secret: ops are serialized
// without their content and stdin, and the inverse of an op whose data is secret is not journaled.
type Journal struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	Target  string `json:"target"`
	// Controller and PID identify the chaos process that wrote it.
	Controller string    `json:"controller,omitempty"`
	PID        int       `json:"pid"`
	Started    time.Time `json:"started"`
	Tags       []string  `json:"tags,omitempty"`
	State      string    `json:"state"`
	// Undone counts the entries whose inverse already ran, in undo order (undoOrder: from the last
	// one back, the restart phase's last).
	Undone  int            `json:"undone,omitempty"`
	Entries []JournalEntry `json:"entries"`
	// Error is why the apply failed (state undoing).
	Error string `json:"error,omitempty"`
}

// JournalEntry is one op and its inverse, recorded before the op runs.
type JournalEntry struct {
	Seq  int    `json:"seq"`
	Role string `json:"role"`
	// Op is the op as data, without content or stdin.
	Op Op `json:"op"`
	// UndoPath and Prev are the engine's inverse of a file op: put UndoPath back as Prev describes.
	UndoPath string     `json:"undo_path,omitempty"`
	Prev     *FileState `json:"prev,omitempty"`
	// Undo is the role-supplied inverse (exec ops, and file ops that carry one). UndoData is its
	// stdin (exec) or content (write) unless the inverse is secret, in which case it is not journaled
	// and UndoSecret is set: that inverse can run from memory, never after a crash.
	Undo       *Op    `json:"undo,omitempty"`
	UndoData   []byte `json:"undo_data,omitempty"`
	UndoSecret bool   `json:"undo_secret,omitempty"`

	prevContent []byte // in memory: the previous content of a regular file
	undo        *Op    // in memory: the inverse with its data
}

// FileState is a file's state before an op changed it. The content of a regular file is in the
// journal entry's file, and in a generation in its backups/ directory under the name Backup.
type FileState struct {
	Exists bool        `json:"exists"`
	Mode   fs.FileMode `json:"mode,omitempty"`
	UID    int         `json:"uid"`
	GID    int         `json:"gid"`
	Target string      `json:"target,omitempty"`
	Backup string      `json:"backup,omitempty"`
	Size   int         `json:"size,omitempty"`
	SHA256 string      `json:"sha256,omitempty"`
	// Secret marks the previous content of a file written by a secret op: it is kept in the journal
	// (mode 0600, root only) while the apply runs, so that recovery and the access watchdog can put
	// it back (a private authorized_keys), and never copied into a generation; its SHA256 is left out.
	Secret bool `json:"secret,omitempty"`
	// InMemory marks the previous content of a file written or removed by an op with
	// Op.PrevInMemory (content from the secrets file): it is not journaled either, only the apply's
	// own undo restores it, and recovery after a crash cannot (secretLost).
	InMemory bool `json:"in_memory,omitempty"`
	// Tree names the tar archive of the whole directory a recursive remove deleted (SEQ.tar, in the
	// journal's entries directory, then in the generation's backups/), TreeBytes its size.
	// TreeUnsaved marks a tree removed without a backup (--force-remove past the cap): its undo
	// recreates the directory only.
	Tree        string `json:"tree,omitempty"`
	TreeBytes   int64  `json:"tree_bytes,omitempty"`
	TreeUnsaved bool   `json:"tree_unsaved,omitempty"`
}

func stateOf(fi transport.FileInfo) *FileState {
	s := &FileState{Exists: fi.Exists, Mode: fi.Mode, UID: fi.UID, GID: fi.GID, Target: fi.Target}
	if fi.Exists && fi.Mode.IsRegular() {
		sum := sha256.Sum256(fi.Content)
		s.Size, s.SHA256 = len(fi.Content), hex.EncodeToString(sum[:])
	}
	return s
}

func (s *FileState) info(content []byte) transport.FileInfo {
	return transport.FileInfo{Exists: s.Exists, Mode: s.Mode, UID: s.UID, GID: s.GID, Target: s.Target, Content: content}
}

// prepare captures op's inverse before it runs. A recursive remove of a directory archives the
// whole tree into the journal first (tp bounds its size).
func (e *Engine) prepare(ctx context.Context, t transport.Transport, seq int, role string, op Op, tp treePolicy) (*JournalEntry, error) {
	je := &JournalEntry{Seq: seq, Role: role, Op: op}
	if op.Undo != nil {
		u := *op.Undo
		je.undo = &u
		je.Undo = &u
		data := u.Stdin
		if u.Kind != OpExec {
			data = u.Content
		}
		if u.Secret {
			je.UndoSecret = len(data) > 0
		} else {
			je.UndoData = data
		}
	}
	if len(op.Capture) > 0 && je.undo != nil && je.undo.Kind == OpExec {
		res, err := t.Run(ctx, transport.Cmd{Argv: op.Capture})
		if err != nil {
			return nil, fmt.Errorf("capture for undo: %w", err)
		}
		if res.Code != 0 {
			return nil, &transport.ExitError{Argv: op.Capture, Code: res.Code, Stderr: tail(string(res.Stderr), 2000)}
		}
		je.undo.Stdin = res.Stdout
		if !je.undo.Secret {
			je.UndoData = res.Stdout
		}
	}
	switch op.Kind {
	case OpExec:
		if len(op.Argv) == 0 {
			return nil, fmt.Errorf("empty command")
		}
		return je, nil
	case OpWrite, OpSymlink, OpRemove, OpMkdir, OpChmod:
	default:
		return nil, fmt.Errorf("unknown op kind %q", op.Kind)
	}
	if len(op.Path) == 0 || op.Path[0] != '/' {
		return nil, fmt.Errorf("%q: not an absolute path", op.Path)
	}
	if op.Undo != nil {
		return je, nil
	}
	if op.Kind == OpRemove && op.Recursive {
		if tree, err := prepareTree(ctx, t, je, tp); err != nil || tree {
			return je, err
		}
	}
	prev, err := t.Stat(ctx, op.Path)
	if err != nil {
		return nil, err
	}
	je.UndoPath = op.Path
	if op.Kind == OpMkdir && !prev.Exists {
		// Mkdir creates missing parents too: undo removes the topmost directory it created.
		if je.UndoPath, err = topMissing(ctx, t, op.Path); err != nil {
			return nil, err
		}
	}
	je.Prev = stateOf(prev)
	if prev.Exists && prev.Mode.IsRegular() {
		je.prevContent = prev.Content
		je.Prev.Backup = strconv.Itoa(seq)
		if op.Secret || op.PrevInMemory {
			je.Prev.Secret, je.Prev.SHA256 = true, ""
		}
		je.Prev.InMemory = op.PrevInMemory
	}
	return je, nil
}

// undoEntry runs the inverse of a journal entry. content supplies the backup of a regular file when
// the entry was read back from disk.
func (e *Engine) undoEntry(ctx context.Context, t transport.Transport, ids *idCache, je *JournalEntry,
	content func(*JournalEntry) ([]byte, error)) error {
	if je.undo == nil && je.Undo != nil {
		if je.UndoSecret {
			if je.Undo.Manual != "" {
				return fmt.Errorf("the inverse of %s carries a secret and is never journaled: it cannot run after a crash; %s", je.Op, je.Undo.Manual)
			}
			return fmt.Errorf("the inverse of %s carries a secret and is never journaled: it cannot run after a crash", je.Op)
		}
		u := *je.Undo
		if u.Kind == OpExec {
			u.Stdin = je.UndoData
		} else {
			u.Content = je.UndoData
		}
		je.undo = &u
	}
	if je.undo != nil {
		_, err := e.runOp(ctx, t, ids, *je.undo)
		return err
	}
	if je.Prev == nil {
		return nil
	}
	switch {
	case je.Prev.Tree != "":
		return restoreTree(ctx, t, je.UndoPath, EntriesDir+"/"+je.Prev.Tree)
	case je.Prev.TreeUnsaved:
		if err := restore(ctx, t, je.UndoPath, je.Prev.info(nil)); err != nil {
			return err
		}
		return fmt.Errorf("%s was removed without a backup (--force-remove): only the directory itself was recreated", je.UndoPath)
	}
	var data []byte
	if je.Prev.Exists && je.Prev.Mode.IsRegular() {
		data = je.prevContent
		if data == nil && je.Prev.InMemory {
			return secretLost(je)
		}
		if data == nil && je.Prev.Size > 0 {
			var err error
			if data, err = content(je); err != nil {
				return err
			}
		}
	}
	return restore(ctx, t, je.UndoPath, je.Prev.info(data))
}

// runOp executes one op; an exec op's output comes back (also on failure).
func (e *Engine) runOp(ctx context.Context, t transport.Transport, ids *idCache, op Op) (transport.Result, error) {
	switch op.Kind {
	case OpExec:
		return runExec(ctx, t, op)
	case OpWrite, OpSymlink, OpRemove, OpMkdir, OpChmod:
		if len(op.Path) == 0 || op.Path[0] != '/' {
			return transport.Result{}, fmt.Errorf("%q: not an absolute path", op.Path)
		}
		return transport.Result{}, e.fileOp(ctx, t, ids, op)
	}
	return transport.Result{}, fmt.Errorf("unknown op kind %q", op.Kind)
}

// journalWriter writes the journal of the apply in progress. The journal directory is created at
// the first op, so a plan without ops leaves nothing behind.
type journalWriter struct {
	t      transport.Transport
	j      Journal
	source []byte
	opened bool
}

func newJournal(t transport.Transport, tags []string, source []byte) *journalWriter {
	host, _ := os.Hostname()
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	return &journalWriter{t: t, source: source, j: Journal{Version: 1, ID: time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(rnd[:4]),
		Target: t.Name(), Controller: host, PID: os.Getpid(), Started: time.Now().UTC(), Tags: tags, State: JournalOpen}}
}

func (w *journalWriter) open(ctx context.Context) error {
	if w.opened {
		return nil
	}
	if err := privateDir(ctx, w.t, JournalDir); err != nil {
		return err
	}
	if err := privateDir(ctx, w.t, EntriesDir); err != nil {
		return err
	}
	if len(w.source) > 0 {
		if err := w.t.WriteFile(ctx, journalSource, w.source, 0o600, 0, 0, nil); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	w.opened = true
	return nil
}

// privateDir creates dir (and StateDir) with mode 0700 owned by root.
func privateDir(ctx context.Context, t transport.Transport, dir string) error {
	if err := t.Mkdir(ctx, StateDir, 0o755); err != nil {
		return err
	}
	if err := t.Mkdir(ctx, dir, 0o700); err != nil {
		return err
	}
	if err := t.Chmod(ctx, dir, 0o700); err != nil {
		return err
	}
	return t.Chown(ctx, dir, 0, 0)
}

// add records an entry (and the backup it needs) durably, before its op runs.
func (w *journalWriter) add(ctx context.Context, je *JournalEntry) error {
	if err := w.open(ctx); err != nil {
		return err
	}
	if len(w.j.Entries) == 0 {
		if err := w.save(ctx); err != nil {
			return err
		}
	}
	de := diskEntry{JournalEntry: *je, PrevData: je.prevContent}
	if je.Prev != nil && je.Prev.InMemory {
		de.PrevData = nil // in memory only: see FileState.InMemory
	}
	data, err := json.Marshal(de)
	if err != nil {
		return err
	}
	if err := w.t.WriteFile(ctx, entryPath(je.Seq), data, 0o600, 0, 0, nil); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	w.j.Entries = append(w.j.Entries, *je)
	return nil
}

// secretLost is the error of an undo whose previous content was secret and so never left memory
// (FileState.InMemory): after a crash nothing on the host holds it.
func secretLost(je *JournalEntry) error {
	msg := fmt.Sprintf("the previous content of %s was secret and is never journaled: it cannot be restored after a crash", je.UndoPath)
	if je.Op.Manual != "" {
		msg += "; " + je.Op.Manual
	}
	return errors.New(msg)
}

// diskEntry is a journal entry as written in EntriesDir: with the previous content of the file
// (0600, root only; never the content an op writes, never a secret inverse or secret previous
// content).
type diskEntry struct {
	JournalEntry
	PrevData []byte `json:"prev_data,omitempty"`
}

func entryPath(seq int) string { return fmt.Sprintf("%s/%06d.json", EntriesDir, seq) }

func (w *journalWriter) save(ctx context.Context) error {
	if !w.opened {
		return nil
	}
	h := w.j
	h.Entries = nil // each entry has its own file
	data, err := json.MarshalIndent(&h, "", " ")
	if err != nil {
		return err
	}
	if err := w.t.WriteFile(ctx, JournalFile, data, 0o600, 0, 0, nil); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

func (w *journalWriter) setState(ctx context.Context, state string) error {
	w.j.State = state
	return w.save(ctx)
}

// close removes the journal: the apply is over (committed or fully undone).
func (w *journalWriter) close(ctx context.Context) error {
	if !w.opened {
		return nil
	}
	return closeJournal(ctx, w.t)
}

func closeJournal(ctx context.Context, t transport.Transport) error {
	return t.Remove(ctx, JournalDir, true)
}

// ReadJournal returns the journal an interrupted apply left on the target, or nil when there is none.
func ReadJournal(ctx context.Context, t transport.Transport) (*Journal, error) {
	fi, err := t.Stat(ctx, JournalFile)
	if err != nil {
		return nil, err
	}
	if !fi.Exists {
		// A journal directory without a journal file: the apply died before its first op.
		if d, err := t.Stat(ctx, JournalDir); err == nil && d.Exists {
			_ = closeJournal(ctx, t)
		}
		return nil, nil
	}
	var j Journal
	if err := json.Unmarshal(fi.Content, &j); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", t.Name(), JournalFile, err)
	}
	j.Entries = nil
	for seq := 1; ; seq++ {
		fi, err := t.Stat(ctx, entryPath(seq))
		if err != nil {
			return nil, err
		}
		if !fi.Exists {
			break
		}
		var de diskEntry
		if err := json.Unmarshal(fi.Content, &de); err != nil {
			// Only the last entry can be torn, and it cannot be: entries are renamed into place.
			return nil, fmt.Errorf("%s: %s: %w", t.Name(), entryPath(seq), err)
		}
		de.JournalEntry.prevContent = de.PrevData
		j.Entries = append(j.Entries, de.JournalEntry)
	}
	return &j, nil
}
