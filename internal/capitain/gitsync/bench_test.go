package gitsync

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// benchRepo serves, with git daemon, a repository of commits commits whose tree has files files.
func benchRepo(b *testing.B, commits, files int) string {
	b.Helper()
	base := b.TempDir()
	tree := map[string]string{}
	for i := 0; i < files; i++ {
		tree[fmt.Sprintf("roles/r%02d/f%04d.yml", i%50, i)] = fmt.Sprintf("key: %d\n", i)
	}
	up := newUpstream(b, filepath.Join(base, "dots.git"), tree)
	for i := 1; i < commits; i++ {
		up.git(up.work, "commit", "-q", "--allow-empty", "-m", fmt.Sprint(i))
	}
	up.git(up.work, "push", "-q", "-f", "origin", "main")
	return gitDaemon(b, base) + "dots.git"
}

// BenchmarkFirstSync: a new project's first Sync (shallow fetch + checkout) of a 200-commit
// repository whose tree has 1,000 files, over git:// on loopback.
func BenchmarkFirstSync(b *testing.B) {
	url := benchRepo(b, 200, 1000)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		c, err := NewCache(filepath.Join(b.TempDir(), fmt.Sprint(i)))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Sync(ctx, "p", Source{URL: url, Ref: "main"}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = removeTree(c.dir)
		b.StartTimer()
	}
}

// BenchmarkSyncUnchanged: a Sync that finds its commit already checked out (one ref listing).
func BenchmarkSyncUnchanged(b *testing.B) {
	url := benchRepo(b, 200, 1000)
	c, err := NewCache(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = removeTree(c.dir) })
	ctx := context.Background()
	src := Source{URL: url, Ref: "main"}
	if _, err := c.Sync(ctx, "p", src); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.Sync(ctx, "p", src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolve: one poll (ref listing) over git:// on loopback.
func BenchmarkResolve(b *testing.B) {
	url := benchRepo(b, 1, 1)
	c, err := NewCache(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Resolve(ctx, "p", Source{URL: url, Ref: "main"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckout: writing one commit's read-only checkout (1,000 files in 50 directories)
// from the cache, the part of a first sync that is not the fetch.
func BenchmarkCheckout(b *testing.B) {
	url := benchRepo(b, 1, 1000)
	c, err := NewCache(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = removeTree(c.dir) })
	co, err := c.Sync(context.Background(), "p", Source{URL: url, Ref: "main"})
	if err != nil {
		b.Fatal(err)
	}
	repo, err := openBare(filepath.Join(c.projectDir("p"), "repo.git"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := checkout(repo, c.dir, co.Commit, ""); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = removeTree(filepath.Join(c.dir, "checkouts"))
		b.StartTimer()
	}
}
