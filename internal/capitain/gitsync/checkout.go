package gitsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// writeTree writes tree into parent/commit, read-only, and returns that directory. The tree is
// written under a temporary name and renamed into place, so a reader sees all of it or nothing, and
// two writers of one commit (two processes) both end with the one directory. The whole tree is
// written, not only the Ch-obolo's path: its imports may reach sibling directories. Submodules are
// left out (go-git's file iterator skips them); a symlink must stay inside the checkout.
func writeTree(tree *object.Tree, parent, commit string) (string, error) {
	final := filepath.Join(parent, commit)
	if fi, err := os.Stat(final); err == nil && fi.IsDir() {
		return final, nil
	}
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-"+commit[:12]+"-")
	if err != nil {
		return "", err
	}
	if err := fill(tree, tmp); err != nil {
		_ = removeTree(tmp)
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = removeTree(tmp)
		if fi, serr := os.Stat(final); serr == nil && fi.IsDir() {
			return final, nil // another process wrote it first
		}
		return "", err
	}
	return final, nil
}

// ErrOutsideCheckout is wrapped by Checkout.ReadFile for a path outside the checkout.
var ErrOutsideCheckout = errors.New("outside the repository checkout")

// ReadFile reads a file of the checkout; pass it as chaos.LoadOptions.ReadFile so that a
// Ch-obolo's imports, templates and key files are read from its repository only: a path outside Dir
// (absolute elsewhere, or climbing out with ..) is refused, and so is a symlink leading out (os.Root).
// A relative path is relative to Dir.
func (c *Checkout) ReadFile(path string) ([]byte, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(c.Dir, path)
	}
	rel, err := filepath.Rel(c.Dir, path)
	if err != nil || !filepath.IsLocal(rel) {
		return nil, &fs.PathError{Op: "read", Path: path, Err: ErrOutsideCheckout}
	}
	root, err := os.OpenRoot(c.Dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.ReadFile(rel)
}

type symlink struct{ path, target string }

func fill(tree *object.Tree, root string) error {
	// Symlinks come last, so no file is ever written through one.
	var links []symlink
	err := tree.Files().ForEach(func(f *object.File) error {
		if !filepath.IsLocal(f.Name) {
			return fmt.Errorf("unsafe path %q in the tree", f.Name)
		}
		p := filepath.Join(root, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		switch f.Mode {
		case filemode.Symlink:
			target, err := f.Contents()
			if err != nil {
				return fmt.Errorf("%s: %w", f.Name, err)
			}
			links = append(links, symlink{p, target})
			return nil
		case filemode.Regular, filemode.Deprecated:
			return writeBlob(f, p, 0o444)
		case filemode.Executable:
			return writeBlob(f, p, 0o555)
		}
		return fmt.Errorf("%s: unsupported file mode %s", f.Name, f.Mode)
	})
	if err != nil {
		return err
	}
	for _, l := range links {
		if err := os.Symlink(l.target, l.path); err != nil {
			return err
		}
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	for _, l := range links {
		if !linkInside(realRoot, root, l) {
			rel, _ := filepath.Rel(root, l.path)
			return fmt.Errorf("symlink %s -> %s points outside the repository", filepath.ToSlash(rel), l.target)
		}
	}
	return readOnlyDirs(root)
}

// linkInside reports whether l resolves inside the checkout; a dangling link must name a path
// inside it.
func linkInside(realRoot, root string, l symlink) bool {
	if filepath.IsAbs(l.target) {
		return false
	}
	resolved, err := filepath.EvalSymlinks(l.path)
	if err != nil {
		resolved, root = filepath.Join(filepath.Dir(l.path), l.target), filepath.Clean(root)
		realRoot = root
	}
	rel, err := filepath.Rel(realRoot, resolved)
	return err == nil && filepath.IsLocal(rel)
}

func writeBlob(f *object.File, p string, mode os.FileMode) error {
	r, err := f.Reader()
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	defer r.Close()
	// O_EXCL: a tree naming one path twice is refused rather than half-overwritten
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	return out.Close()
}

func readOnlyDirs(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	// deepest first, so the walk above never met a read-only directory (it matters for non-root)
	slices.Reverse(dirs)
	for _, d := range dirs {
		if err := os.Chmod(d, 0o555); err != nil {
			return err
		}
	}
	return nil
}

// removeTree removes a read-only checkout (its directories need their write bit back first).
func removeTree(root string) error {
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(root)
}

// Prune removes the project's checkouts except those of the commits in keep (the commits its
// hosts are synced to and its running jobs use); the repository cache stays. The caller makes sure
// no job still reads a removed checkout.
func (c *Cache) Prune(ctx context.Context, project string, keep ...string) error {
	dir := c.projectDir(project)
	unlock, err := c.lock(ctx, dir)
	if err != nil {
		return fmt.Errorf("gitsync: project %s: %w", project, err)
	}
	defer unlock()
	entries, err := os.ReadDir(filepath.Join(dir, "checkouts"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("gitsync: project %s: %w", project, err)
	}
	for _, e := range entries {
		name := e.Name()
		if slices.ContainsFunc(keep, func(k string) bool { return strings.EqualFold(k, name) }) {
			continue
		}
		if err := removeTree(filepath.Join(dir, "checkouts", name)); err != nil {
			return fmt.Errorf("gitsync: project %s: %w", project, err)
		}
	}
	return nil
}

// Remove deletes everything the cache holds for a project (a deleted project).
func (c *Cache) Remove(ctx context.Context, project string) error {
	dir := c.projectDir(project)
	unlock, err := c.lock(ctx, dir)
	if err != nil {
		return fmt.Errorf("gitsync: project %s: %w", project, err)
	}
	defer unlock()
	if err := removeTree(dir); err != nil {
		return fmt.Errorf("gitsync: project %s: %w", project, err)
	}
	return nil
}
