package engine

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/transport"
)

// DefaultMaxTreeBackup is the largest directory tree a recursive remove deletes by default. The
// tree is archived on the target before the op runs, so that its undo (an op failing later, or
// `chaos recover` after a crash) puts back every file, directory, symlink, mode and owner; a bigger
// tree is refused before the apply changes anything unless Request.ForceRemove.
const DefaultMaxTreeBackup = 64 << 20

// The tree backup is made and restored by the target's own GNU tar (numeric owners, modes,
// symlinks, hard links, special files, mtimes), so the tree never crosses the connection.
// measureTrees prints "SIZE<TAB>PATH" for each argument that is a real directory (du's apparent
// size in bytes).
const measureTrees = `for p; do if [ -d "$p" ] && [ ! -L "$p" ]; then du -s -b -- "$p" || exit 1; fi; done`

// archiveTree archives directory $2/$3 into $1 when its apparent size is at most $4 bytes (or
// $5 is "force": then it makes no archive and prints "unsaved SIZE"), fsyncs the archive and
// prints "saved SIZE ARCHIVE_BYTES". It exits 3, printing the size, when the tree is too big.
const archiveTree = `set -e
size=$(du -s -b -- "$2/$3" | cut -f1)
if [ "$size" -gt "$4" ]; then
  if [ "$5" = force ]; then echo "unsaved $size"; exit 0; fi
  echo "$size"; exit 3
fi
tar --create --file "$1" --numeric-owner --one-file-system -C "$2" -- "$3"
sync -- "$1"
echo "saved $size $(stat -c %s -- "$1")"
`

// extractTree extracts archive $1 into directory $2 as it was made (owners by number, modes).
const extractTree = `tar --extract --file "$1" --numeric-owner --same-owner --preserve-permissions -C "$2"`

// treePolicy is how an apply treats recursive removes of directory trees.
type treePolicy struct {
	max   int64
	force bool
}

func policyOf(req Request) treePolicy {
	p := treePolicy{max: req.MaxTreeBackup, force: req.ForceRemove}
	if p.max <= 0 {
		p.max = DefaultMaxTreeBackup
	}
	return p
}

// checkTrees refuses, before anything changes, a plan whose recursive removes would delete a tree
// bigger than the backup cap (unless forced).
func checkTrees(ctx context.Context, t transport.Transport, hp *HostPlan, tp treePolicy) error {
	if tp.force {
		return nil
	}
	where := map[string]string{}
	var paths []string
	for _, rp := range hp.Roles {
		for _, s := range rp.Steps {
			for _, op := range s.Ops {
				if op.Kind == OpRemove && op.Recursive && path.IsAbs(op.Path) {
					p := path.Clean(op.Path)
					if _, ok := where[p]; !ok {
						where[p] = rp.Role
						paths = append(paths, p)
					}
				}
			}
		}
	}
	if len(paths) == 0 {
		return nil
	}
	res, err := transport.Check(ctx, t, transport.Cmd{Argv: append([]string{"sh", "-c", measureTrees, "sh"}, paths...)})
	if err != nil {
		return fmt.Errorf("%s: measuring the trees to remove: %w", t.Name(), err)
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(res.Stdout)), "\n") {
		size, p, ok := strings.Cut(line, "\t")
		n, err := strconv.ParseInt(size, 10, 64)
		if !ok || err != nil {
			continue
		}
		if n > tp.max {
			return fmt.Errorf("%s: role %s: remove -r %s: the tree holds %s, more than the %s chaos archives to be able to undo "+
				"the removal; nothing was changed (remove it yourself, or apply with --force-remove to delete it without a backup)",
				t.Name(), where[p], p, HumanBytes(n), HumanBytes(tp.max))
		}
	}
	return nil
}

// prepareTree archives the directory a recursive remove is about to delete into the journal, so
// that undo can put the whole tree back. It reports false when p is not a directory (the usual
// file inverse applies).
func prepareTree(ctx context.Context, t transport.Transport, je *JournalEntry, tp treePolicy) (bool, error) {
	p := path.Clean(je.Op.Path)
	prev, err := t.Stat(ctx, p)
	if err != nil {
		return false, err
	}
	if !prev.Exists || !prev.Mode.IsDir() {
		return false, nil
	}
	je.UndoPath, je.Prev = p, stateOf(prev)
	name := strconv.Itoa(je.Seq) + ".tar"
	force := ""
	if tp.force {
		force = "force"
	}
	res, err := t.Run(ctx, transport.Cmd{Argv: []string{"sh", "-c", archiveTree, "sh",
		EntriesDir + "/" + name, path.Dir(p), path.Base(p), strconv.FormatInt(tp.max, 10), force}})
	if err != nil {
		return false, fmt.Errorf("backup of %s: %w", p, err)
	}
	out := strings.Fields(string(res.Stdout))
	switch {
	case res.Code == 3 && len(out) == 1:
		n, _ := strconv.ParseInt(out[0], 10, 64)
		return false, fmt.Errorf("the tree holds %s, more than the %s chaos archives to be able to undo the removal (--force-remove deletes it without a backup)",
			HumanBytes(n), HumanBytes(tp.max))
	case res.Code != 0:
		return false, fmt.Errorf("backup of %s: %w", p, &transport.ExitError{Argv: []string{"tar"}, Code: res.Code, Stderr: string(res.Stderr)})
	case len(out) == 2 && out[0] == "unsaved":
		je.Prev.TreeUnsaved = true
	case len(out) == 3 && out[0] == "saved":
		je.Prev.Tree = name
		je.Prev.TreeBytes, _ = strconv.ParseInt(out[2], 10, 64)
	default:
		return false, fmt.Errorf("backup of %s: unexpected output %q", p, res.Stdout)
	}
	return true, nil
}

// restoreTree puts the tree at p back from archive (a path on the target): whatever is at p now (a
// partly removed tree) goes first.
func restoreTree(ctx context.Context, t transport.Transport, p, archive string) error {
	if err := t.Remove(ctx, p, true); err != nil {
		return err
	}
	if _, err := transport.Check(ctx, t, transport.Cmd{Argv: []string{"sh", "-c", extractTree, "sh", archive, path.Dir(p)}}); err != nil {
		return fmt.Errorf("restoring %s: %w", p, err)
	}
	return nil
}

// HumanBytes renders n with a 1024-based unit: 512B, 1.5KiB, 64MiB.
func HumanBytes(n int64) string {
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	if n < 1024 {
		return strconv.FormatInt(n, 10) + "B"
	}
	f, u := float64(n)/1024, 0
	for f >= 1024 && u < len(units)-1 {
		f, u = f/1024, u+1
	}
	s := strconv.FormatFloat(f, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + units[u]
}

// ParseBytes reads a size: a number of bytes, or a number with a 1024-based unit (K, M, G, T,
// optionally followed by "iB" or "B": 512M, 1.5GiB, 64MB).
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	num := strings.TrimRightFunc(t, func(r rune) bool { return r >= 'A' && r <= 'z' })
	unit := strings.ToUpper(strings.TrimSpace(t[len(num):]))
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "B"), "I")
	mult := map[string]float64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit]
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if mult == 0 || err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a size (bytes, or a number with K, M, G or T: 512M, 1.5GiB)", s)
	}
	return int64(f * mult), nil
}
