package gitsync

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/ch-aos-ch/chaos/internal/secrets"
)

// Source is where a project's Ch-obolo lives.
type Source struct {
	// URL of the repository: git://, http://, https://, ssh://user@host[:port]/path or the scp-like
	// user@host:path. Credentials belong in Auth, not in the URL.
	URL string
	// Ref is a branch ("main" or "refs/heads/main"), a tag ("v1.2" or "refs/tags/v1.2"), a full
	// 40-hex commit id, or "" for the remote's HEAD.
	Ref string
	// Commit, when set, is the exact commit to check out (a webhook's or a rollback's), reached
	// through Ref; "" means the commit Ref names now.
	Commit string
	// Path is the Ch-obolo (file or directory) inside the repository, relative; "" is the root.
	Path string
	// Auth holds the credentials; the zero value is anonymous access.
	Auth Credentials
}

// Credentials authenticate a fetch. Set the SSH fields for ssh URLs, Username/Password for http(s).
type Credentials struct {
	// SSHKey is a PEM private key (a deploy key); SSHKeyPassphrase decrypts it when it is encrypted.
	SSHKey           []byte
	SSHKeyPassphrase string
	// KnownHosts is the content of a known_hosts file listing the server's host key; an SSH fetch
	// without it is refused (there is no trust on first use).
	KnownHosts []byte
	// Username and Password are HTTP basic auth. For a token, Password is the token and Username
	// whatever the forge expects (GitHub: x-access-token, GitLab: oauth2, Gitea: the user); "" is
	// sent as "git".
	Username, Password string
}

// Checkout is a read-only tree of one commit. It stays until [Cache.Prune] or [Cache.Remove]
// removes it; two Syncs of one commit return the same directory.
type Checkout struct {
	// Commit is the full commit id.
	Commit string
	// Dir is the root of the repository's tree at Commit.
	Dir string
	// Chobolo is Dir joined with Source.Path: what chaos.Load takes.
	Chobolo string
}

// Cache keeps one bare repository and the checkouts of each project under one directory:
// DIR/PROJECT/repo.git, DIR/PROJECT/checkouts/COMMIT. Its methods are safe for concurrent use;
// Syncs of one project run one at a time (also across processes sharing DIR), Syncs of different
// projects in parallel.
type Cache struct {
	dir   string
	mu    sync.Mutex
	locks map[string]chan struct{}
}

// NewCache returns a Cache rooted at dir, creating it.
func NewCache(dir string) (*Cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("gitsync: cache: %w", err)
	}
	return &Cache{dir: dir, locks: map[string]chan struct{}{}}, nil
}

// ErrCommitNotFound is wrapped when the wanted commit is in none of the remote's branches and tags
// (or in none of Ref's history when Source.Commit is set).
var ErrCommitNotFound = errors.New("commit not found on the remote")

// Error is every error Sync and Resolve return: it names the project and the URL, never the
// credentials (a password or token found in the underlying message is replaced by "***").
type Error struct {
	Project string
	URL     string // with any user info removed
	Err     error
	secrets []string
}

// Error is the message: project, URL, then the cause with credentials masked.
func (e *Error) Error() string {
	msg := e.Err.Error()
	for _, s := range e.secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "***")
		}
	}
	return fmt.Sprintf("gitsync: project %s (%s): %s", e.Project, e.URL, msg)
}

// Unwrap returns the cause, for errors.Is (ErrCommitNotFound, context.Canceled).
func (e *Error) Unwrap() error { return e.Err }

func wrap(project string, src Source, err error) error {
	if err == nil {
		return nil
	}
	secrets := []string{src.Auth.Password, src.Auth.SSHKeyPassphrase}
	if u, perr := url.Parse(src.URL); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p)
		}
	}
	return &Error{Project: project, URL: redactURL(src.URL), Err: err, secrets: secrets}
}

// redactURL drops the user info of a URL that has a password (a token pasted into the URL).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.User(u.User.Username())
		return strings.Replace(u.String(), u.User.Username()+"@", u.User.Username()+":***@", 1)
	}
	return raw
}

var hashRE = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)

func isHash(s string) bool { return hashRE.MatchString(s) }

func (s Source) validate() error {
	if s.URL == "" {
		return errors.New("no repository URL")
	}
	if s.Commit != "" && !isHash(s.Commit) {
		return fmt.Errorf("commit %q is not a full 40-hex commit id", s.Commit)
	}
	if s.Path != "" && !filepath.IsLocal(s.Path) {
		return fmt.Errorf("path %q is not a relative path inside the repository", s.Path)
	}
	if s.Ref != "" && s.Ref != "HEAD" && !isHash(s.Ref) {
		full := plumbing.ReferenceName(s.Ref)
		if !strings.HasPrefix(s.Ref, "refs/") {
			full = plumbing.NewBranchReferenceName(s.Ref)
		}
		if strings.HasPrefix(s.Ref, "-") || full.Validate() != nil {
			return fmt.Errorf("ref %q is not a valid git ref name", s.Ref)
		}
	}
	return nil
}

var safeName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$`)

// projectDir is the project's directory: its name when that is a plain file name, else a hash of it
// (project names are the server's, and must not steer paths).
func (c *Cache) projectDir(project string) string {
	if safeName.MatchString(project) {
		return filepath.Join(c.dir, project)
	}
	sum := sha256.Sum256([]byte(project))
	return filepath.Join(c.dir, "x-"+hex.EncodeToString(sum[:12]))
}

// lock serializes one project's work: a channel (so a waiting Sync honours ctx) within this
// process, and flock on DIR/PROJECT/lock across processes.
func (c *Cache) lock(ctx context.Context, dir string) (func(), error) {
	c.mu.Lock()
	ch, ok := c.locks[dir]
	if !ok {
		ch = make(chan struct{}, 1)
		c.locks[dir] = ch
	}
	c.mu.Unlock()
	select {
	case ch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		<-ch
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		<-ch
		return nil, fmt.Errorf("locking the project cache: %w", err)
	}
	return func() { f.Close(); <-ch }, nil
}

// auth builds the go-git auth method for src; dir receives the known_hosts file.
func auth(src Source, dir string) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(src.URL)
	if err != nil {
		return nil, err
	}
	switch ep.Protocol {
	case "ssh":
		if len(src.Auth.SSHKey) == 0 {
			return nil, errors.New("an ssh URL needs a deploy key (Credentials.SSHKey)")
		}
		if len(src.Auth.KnownHosts) == 0 {
			return nil, errors.New("an ssh URL needs the server's host key (Credentials.KnownHosts)")
		}
		user := ep.User
		if user == "" {
			user = "git"
		}
		keys, err := gitssh.NewPublicKeys(user, src.Auth.SSHKey, src.Auth.SSHKeyPassphrase)
		if err != nil {
			return nil, fmt.Errorf("deploy key: %w", err)
		}
		// x/crypto's knownhosts reads files only; the copy is per content, so concurrent writers
		// of one project write the same bytes.
		sum := sha256.Sum256(src.Auth.KnownHosts)
		kh := filepath.Join(dir, "known_hosts-"+hex.EncodeToString(sum[:8]))
		if _, err := os.Stat(kh); err != nil {
			if err := secrets.WriteFileAtomic(kh, src.Auth.KnownHosts, 0o600); err != nil {
				return nil, err
			}
		}
		db, err := gitssh.NewKnownHostsDb(kh)
		if err != nil {
			return nil, fmt.Errorf("known_hosts: %w", err)
		}
		port := ep.Port
		if port == 0 {
			port = 22
		}
		keys.HostKeyCallback = db.HostKeyCallback()
		// Offer only the algorithms known_hosts has a key for: otherwise the server may present
		// another of its keys and a correct known_hosts would be refused as a mismatch.
		keys.HostKeyAlgorithms = db.HostKeyAlgorithms(fmt.Sprintf("%s:%d", ep.Host, port))
		return keys, nil
	case "http", "https":
		if src.Auth.Password == "" && src.Auth.Username == "" {
			return nil, nil
		}
		user := src.Auth.Username
		if user == "" {
			user = "git"
		}
		return &githttp.BasicAuth{Username: user, Password: src.Auth.Password}, nil
	}
	return nil, nil
}

// Resolve asks the remote which commit src.Ref names, with one ref advertisement (git ls-remote)
// and no fetch: what the poller runs. A commit id Ref resolves to itself without any network.
func (c *Cache) Resolve(ctx context.Context, project string, src Source) (string, error) {
	if err := src.validate(); err != nil {
		return "", wrap(project, src, err)
	}
	if isHash(src.Ref) {
		return strings.ToLower(src.Ref), nil
	}
	dir := c.projectDir(project)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", wrap(project, src, err)
	}
	am, err := auth(src, dir)
	if err != nil {
		return "", wrap(project, src, err)
	}
	_, commit, err := lsRemote(ctx, src, am)
	return commit, wrap(project, src, err)
}

// lsRemote returns the full name of the ref src.Ref names on the remote and its commit (a tag's
// peeled commit).
func lsRemote(ctx context.Context, src Source, am transport.AuthMethod) (plumbing.ReferenceName, string, error) {
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{src.URL}})
	proxyOpts, done := withCtxDialer(ctx, src.URL)
	defer done()
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: am, PeelingOption: git.AppendPeeled,
		ProxyOptions: proxyOpts})
	if err != nil {
		return "", "", fmt.Errorf("listing refs: %w", err)
	}
	byName := make(map[plumbing.ReferenceName]*plumbing.Reference, len(refs))
	for _, r := range refs {
		byName[r.Name()] = r
	}
	var candidates []plumbing.ReferenceName
	switch {
	case src.Ref == "" || src.Ref == "HEAD":
		candidates = []plumbing.ReferenceName{plumbing.HEAD}
	case strings.HasPrefix(src.Ref, "refs/"):
		candidates = []plumbing.ReferenceName{plumbing.ReferenceName(src.Ref)}
	default:
		candidates = []plumbing.ReferenceName{plumbing.NewBranchReferenceName(src.Ref),
			plumbing.NewTagReferenceName(src.Ref)}
	}
	for _, name := range candidates {
		r, ok := byName[name]
		if !ok {
			continue
		}
		if r.Type() == plumbing.SymbolicReference {
			// HEAD -> refs/heads/main: fetch the branch itself
			name = r.Target()
			if r, ok = byName[name]; !ok {
				continue
			}
		}
		// the name comes from the server (HEAD's target): it becomes a file name in the cache
		if err := name.Validate(); err != nil {
			return "", "", fmt.Errorf("the remote advertises an invalid ref name %q", name)
		}
		if peeled, ok := byName[name+"^{}"]; ok {
			return name, peeled.Hash().String(), nil
		}
		return name, r.Hash().String(), nil
	}
	return "", "", fmt.Errorf("ref %q not found on the remote", cmp.Or(src.Ref, "HEAD"))
}

// Sync makes src's commit available as a read-only checkout: it fetches only what is missing (a
// shallow fetch of Ref; its full history only when an older Source.Commit asks for it; every branch
// and tag for a commit id Ref), and writes the checkout once per commit. A force-pushed branch is
// followed (the fetch refspecs are forced). The remote is asked nothing when Source.Commit or a
// commit id Ref is already in the cache. ctx bounds the whole sync, network included: give it a
// deadline.
func (c *Cache) Sync(ctx context.Context, project string, src Source) (*Checkout, error) {
	if err := src.validate(); err != nil {
		return nil, wrap(project, src, err)
	}
	dir := c.projectDir(project)
	unlock, err := c.lock(ctx, dir)
	if err != nil {
		return nil, wrap(project, src, err)
	}
	defer unlock()
	co, err := c.sync(ctx, dir, src)
	return co, wrap(project, src, err)
}

func (c *Cache) sync(ctx context.Context, dir string, src Source) (*Checkout, error) {
	repo, err := openBare(filepath.Join(dir, "repo.git"))
	if err != nil {
		return nil, err
	}
	want := strings.ToLower(src.Commit)
	if want == "" && isHash(src.Ref) {
		want = strings.ToLower(src.Ref)
	}
	if want != "" && hasCommit(repo, want) {
		return checkout(repo, dir, want, src.Path)
	}
	am, err := auth(src, dir)
	if err != nil {
		return nil, err
	}
	remote := git.NewRemote(repo.Storer, &config.RemoteConfig{Name: "origin", URLs: []string{src.URL}})
	fetch := func(depth int, specs ...config.RefSpec) error {
		proxyOpts, done := withCtxDialer(ctx, src.URL)
		defer done()
		err := remote.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", RefSpecs: specs, Depth: depth,
			Auth: am, Tags: git.NoTags, Force: true, ProxyOptions: proxyOpts})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return fmt.Errorf("fetching: %w", err)
		}
		return nil
	}
	if !isHash(src.Ref) {
		name, tip, err := lsRemote(ctx, src, am)
		if err != nil {
			return nil, err
		}
		if want == "" {
			want = tip
		}
		if hasCommit(repo, want) {
			return checkout(repo, dir, want, src.Path)
		}
		spec := config.RefSpec("+" + name.String() + ":" + name.String())
		if err := fetch(1, spec); err != nil {
			return nil, err
		}
		if src.Commit == "" {
			// the branch may have moved since the listing: check out what was fetched
			if want, err = localCommit(repo, name); err != nil {
				return nil, err
			}
		}
		if !hasCommit(repo, want) {
			// an older commit of the branch (a rollback): deepen to the whole history, as git
			// fetch --unshallow does
			if err := fetch(fullDepth, spec); err != nil {
				return nil, err
			}
		}
	} else {
		if err := fetch(fullDepth, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"); err != nil {
			return nil, err
		}
	}
	if !hasCommit(repo, want) {
		return nil, fmt.Errorf("%s: %w", want, ErrCommitNotFound)
	}
	return checkout(repo, dir, want, src.Path)
}

// fullDepth is git's "infinite" deepen (INFINITE_DEPTH): on a shallow cache it fetches the history
// a depth-1 fetch left out.
const fullDepth = 0x7fffffff

func openBare(path string) (*git.Repository, error) {
	repo, err := git.PlainOpen(path)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainInit(path, true)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the cache %s: %w", path, err)
	}
	return repo, nil
}

func hasCommit(repo *git.Repository, hash string) bool {
	_, err := repo.CommitObject(plumbing.NewHash(hash))
	return err == nil
}

// localCommit is the commit a fetched ref points at, through an annotated tag.
func localCommit(repo *git.Repository, name plumbing.ReferenceName) (string, error) {
	ref, err := repo.Reference(name, true)
	if err != nil {
		return "", fmt.Errorf("reading %s after the fetch: %w", name, err)
	}
	if tag, err := repo.TagObject(ref.Hash()); err == nil {
		c, err := tag.Commit()
		if err != nil {
			return "", fmt.Errorf("tag %s: %w", name, err)
		}
		return c.Hash.String(), nil
	}
	return ref.Hash().String(), nil
}

func checkout(repo *git.Repository, dir, commit, path string) (*Checkout, error) {
	c, err := repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", commit, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("tree of %s: %w", commit, err)
	}
	if path != "" {
		if _, err := tree.FindEntry(filepath.ToSlash(path)); err != nil {
			return nil, fmt.Errorf("path %s not found at commit %s", path, commit)
		}
	}
	root, err := writeTree(tree, filepath.Join(dir, "checkouts"), commit)
	if err != nil {
		return nil, fmt.Errorf("checking out %s: %w", commit, err)
	}
	return &Checkout{Commit: commit, Dir: root, Chobolo: filepath.Join(root, path)}, nil
}
