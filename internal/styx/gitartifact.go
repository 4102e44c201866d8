package styx

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// A version's artifact may be a git tag of the entry's repository instead of a tarball:
// url: git+REPO#TAG. Its sha256 and signature then cover the tag's tree packed as Pack packs a
// checkout of it (the uncompressed tar stream, so that no compressor's version can change it).

// GitArtifact splits a git+REPO#TAG URL.
func GitArtifact(url string) (repo, tag string, ok bool) {
	rest, ok := strings.CutPrefix(url, "git+")
	if !ok {
		return "", "", false
	}
	repo, tag, ok = strings.Cut(rest, "#")
	return repo, tag, ok && repo != "" && tag != ""
}

// PackGitTag fetches TAG of the repository at url and packs its tree as Pack would pack a checkout
// of it.
func PackGitTag(ctx context.Context, url, tag string, limits Limits) ([]byte, error) {
	repo, err := git.CloneContext(ctx, memory.NewStorage(), nil, &git.CloneOptions{URL: url, ReferenceName: plumbing.NewTagReferenceName(tag),
		SingleBranch: true, Depth: depthFor(url), Tags: git.NoTags})
	if err != nil {
		return nil, fmt.Errorf("git %s#%s: %w", url, tag, err)
	}
	ref, err := repo.Reference(plumbing.NewTagReferenceName(tag), true)
	if err != nil {
		return nil, fmt.Errorf("git %s#%s: %w", url, tag, err)
	}
	// An annotated tag names a tag object, a lightweight one the commit itself.
	hash := ref.Hash()
	if t, err := repo.TagObject(hash); err == nil {
		hash = t.Target
	}
	commit, err := repo.CommitObject(hash)
	if err != nil {
		return nil, fmt.Errorf("git %s#%s: %w", url, tag, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("git %s#%s: %w", url, tag, err)
	}
	var entries []packEntry
	dirs := map[string]bool{}
	var total int64
	err = tree.Files().ForEach(func(f *object.File) error {
		if _, err := entryName(f.Name); err != nil || path.Clean(f.Name) != f.Name {
			return fmt.Errorf("%w: path %q in the tag", ErrUnsafeArtifact, f.Name)
		}
		parts := strings.Split(f.Name, "/")
		if slices.ContainsFunc(parts, func(p string) bool { return slices.Contains(skipped, p) }) {
			return nil
		}
		for i := 1; i < len(parts); i++ {
			dirs[strings.Join(parts[:i], "/")] = true
		}
		total += f.Size
		if total > limits.MaxBytes || len(entries) >= limits.MaxFiles {
			return fmt.Errorf("%w: the tag is larger than the limits", ErrUnsafeArtifact)
		}
		e := packEntry{rel: f.Name, typ: tar.TypeReg, size: f.Size, exec: f.Mode == filemode.Executable, open: f.Reader}
		if f.Mode == filemode.Symlink {
			r, err := f.Reader()
			if err != nil {
				return err
			}
			target, err := io.ReadAll(io.LimitReader(r, 4096))
			r.Close()
			if err != nil {
				return err
			}
			e = packEntry{rel: f.Name, typ: tar.TypeSymlink, link: string(target)}
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("git %s#%s: %w", url, tag, err)
	}
	for d := range dirs {
		entries = append(entries, packEntry{rel: d, typ: tar.TypeDir})
	}
	var buf bytes.Buffer
	if err := writeTar(entries, &buf); err != nil {
		return nil, fmt.Errorf("git %s#%s: %w", url, tag, err)
	}
	return buf.Bytes(), nil
}
