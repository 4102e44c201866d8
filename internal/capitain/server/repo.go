package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// repos keeps a bare clone of each project's repository under DIR/repos and an extracted tree of
// each commit a job needs under DIR/trees (immutable once written, so jobs share them). Credentials,
// webhooks and sync windows belong to internal/capitain/gitsync; this is a plain fetch.
type repos struct {
	dir string
	mu  sync.Mutex // one fetch or extraction at a time per server
}

// fetch brings the project's repository up to date and returns the commit ref points at ("": the
// remote's HEAD; else a branch, a tag or a full commit hash).
func (r *repos) fetch(ctx context.Context, project, url, ref string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	repo, err := r.open(project, url)
	if err != nil {
		return "", err
	}
	err = repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", Force: true, Tags: git.AllTags,
		RefSpecs: []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*"}})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return "", fmt.Errorf("fetch %s: %w", url, err)
	}
	if ref == "" {
		return remoteHead(ctx, repo, url)
	}
	for _, name := range []plumbing.ReferenceName{plumbing.NewRemoteReferenceName("origin", ref), plumbing.NewTagReferenceName(ref)} {
		if h, err := repo.ResolveRevision(plumbing.Revision(name)); err == nil {
			return h.String(), nil
		}
	}
	if plumbing.IsHash(ref) {
		if _, err := repo.CommitObject(plumbing.NewHash(ref)); err == nil {
			return ref, nil
		}
	}
	return "", fmt.Errorf("%s: no branch, tag or commit %q", url, ref)
}

// remoteHead is the commit the remote's HEAD names.
func remoteHead(ctx context.Context, repo *git.Repository, url string) (string, error) {
	rem, err := repo.Remote("origin")
	if err != nil {
		return "", err
	}
	refs, err := rem.ListContext(ctx, &git.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("list %s: %w", url, err)
	}
	byName := map[plumbing.ReferenceName]*plumbing.Reference{}
	for _, r := range refs {
		byName[r.Name()] = r
	}
	head := byName[plumbing.HEAD]
	for i := 0; head != nil && head.Type() == plumbing.SymbolicReference && i < 5; i++ {
		head = byName[head.Target()]
	}
	if head == nil || head.Type() != plumbing.HashReference {
		return "", fmt.Errorf("%s: the remote names no HEAD: set the project's ref", url)
	}
	return head.Hash().String(), nil
}

// open opens (creating) the project's bare clone, pointing origin at url.
func (r *repos) open(project, url string) (*git.Repository, error) {
	dir := filepath.Join(r.dir, "repos", project+".git")
	repo, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainInit(dir, true)
	}
	if err != nil {
		return nil, fmt.Errorf("repository of %s: %w", project, err)
	}
	if rem, err := repo.Remote("origin"); err == nil && rem.Config().URLs[0] == url {
		return repo, nil
	}
	_ = repo.DeleteRemote("origin")
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}}); err != nil {
		return nil, fmt.Errorf("repository of %s: %w", project, err)
	}
	return repo, nil
}

// tree returns a directory holding the files of commit (fetching when this server's clone lacks
// it: another replica may have fetched it).
func (r *repos) tree(ctx context.Context, project, url, commit string) (string, error) {
	dir := filepath.Join(r.dir, "trees", project, commit)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	repo, err := r.open(project, url)
	if err != nil {
		return "", err
	}
	c, err := repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		err = repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", Force: true, Tags: git.AllTags,
			RefSpecs: []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*"}})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return "", fmt.Errorf("fetch %s: %w", url, err)
		}
		if c, err = repo.CommitObject(plumbing.NewHash(commit)); err != nil {
			return "", fmt.Errorf("%s: commit %s: %w", url, commit, err)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tree-")
	if err != nil {
		if err = os.MkdirAll(filepath.Dir(dir), 0o700); err == nil {
			tmp, err = os.MkdirTemp(filepath.Dir(dir), ".tree-")
		}
		if err != nil {
			return "", err
		}
	}
	if err := extract(c, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("%s: commit %s: %w", url, commit, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	return dir, nil
}

// extract writes the regular files of commit c under dir (symlinks and submodules are skipped:
// a repository must not point the server at its own files).
func extract(c *object.Commit, dir string) error {
	files, err := c.Files()
	if err != nil {
		return err
	}
	return files.ForEach(func(f *object.File) error {
		if f.Mode != filemode.Regular && f.Mode != filemode.Executable {
			return nil
		}
		name := filepath.Clean(filepath.FromSlash(f.Name))
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			return fmt.Errorf("path %q leaves the repository", f.Name)
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		rd, err := f.Reader()
		if err != nil {
			return err
		}
		defer rd.Close()
		mode := os.FileMode(0o600)
		if f.Mode == filemode.Executable {
			mode = 0o700
		}
		w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, rd); err != nil {
			_ = w.Close()
			return err
		}
		return w.Close()
	})
}
