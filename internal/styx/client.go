package styx

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/Masterminds/semver/v3"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/souls"
)

// Pins are the publisher keys trusted on first use. The CLI keeps them in config.yml
// (styx.publishers); a server keeps them where it likes.
type Pins interface {
	// Pinned is the key pinned for a publisher, in authorized_keys form.
	Pinned(publisher string) (key string, ok bool)
	// Pin records the key of a publisher seen for the first time.
	Pin(publisher, key string) error
}

// MemPins are pins in memory.
type MemPins map[string]string

func (m MemPins) Pinned(p string) (string, bool) { k, ok := m[p]; return k, ok }
func (m MemPins) Pin(p, k string) error          { m[p] = k; return nil }

// Publisher is who publishes name: the namespace of publisher/name, else the name itself.
func Publisher(name string) string {
	if p, _, ok := strings.Cut(name, "/"); ok {
		return p
	}
	return name
}

// Options configure a Client.
type Options struct {
	// Registry is the index URL (DefaultRegistry when empty).
	Registry string
	// IndexKeys are trusted to sign the index besides the maintainers' key (a private index).
	IndexKeys []PublicKey
	// Dir holds the index cache, the artifact cache and installed.json (~/.local/share/chaos/styx).
	Dir string
	// SoulDir is where Souls are installed: a directory of souls.Paths.
	SoulDir string
	// BundleDir is where Ch-obolo bundles are installed (Dir/chobolos, which imports read).
	BundleDir string
	// Pins are the publisher keys pinned on first use.
	Pins Pins
	// AllowUnsigned installs artifacts without a key, signature or sha256: local development only.
	AllowUnsigned bool
	// ChaosVersion is this chaos's version; versions whose chaos range excludes it are not chosen.
	// Empty or not semver (a development build): no check.
	ChaosVersion string
	HTTP         *http.Client
	Limits       Limits
}

// Client reads the index and installs, updates, removes, verifies and locks entries.
type Client struct {
	opts  Options
	index *Index
}

// New returns a Client.
func New(opts Options) *Client {
	opts.Registry = cmp.Or(opts.Registry, DefaultRegistry)
	if opts.BundleDir == "" {
		opts.BundleDir = filepath.Join(opts.Dir, "chobolos")
	}
	if opts.Pins == nil {
		opts.Pins = MemPins{}
	}
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits
	}
	return &Client{opts: opts}
}

// Registry is the index URL in use.
func (c *Client) Registry() string { return c.opts.Registry }

func (c *Client) trustedIndexKeys() []PublicKey {
	return append([]PublicKey{MaintainersKey()}, c.opts.IndexKeys...)
}

func (c *Client) cacheDir() string {
	sum := sha256.Sum256([]byte(c.opts.Registry))
	return filepath.Join(c.opts.Dir, "index", hex.EncodeToString(sum[:8]))
}

// UpdateIndex fetches the index, checks its signature, parses it and caches it for offline use.
func (c *Client) UpdateIndex(ctx context.Context) (*Index, error) {
	data, sig, rev, err := fetchIndex(ctx, c.opts.HTTP, c.opts.Registry)
	if err != nil {
		return nil, err
	}
	ix, err := c.checkIndex(data, sig)
	if err != nil {
		return nil, err
	}
	if err := writeCache(c.cacheDir(), data, sig, strings.TrimSpace(c.opts.Registry+" "+rev)); err != nil {
		return nil, err
	}
	c.index = ix
	return ix, nil
}

func (c *Client) checkIndex(data, sig []byte) (*Index, error) {
	if err := verifyIndex(data, sig, c.trustedIndexKeys()); err != nil {
		return nil, fmt.Errorf("index %s: %w", c.opts.Registry, err)
	}
	return ParseIndex(c.opts.Registry+"/"+IndexFile, data)
}

// Index is the cached index (its signature checked again), fetched first when there is none.
func (c *Client) Index(ctx context.Context) (*Index, error) {
	if c.index != nil {
		return c.index, nil
	}
	data, err1 := os.ReadFile(filepath.Join(c.cacheDir(), IndexFile))
	sig, err2 := os.ReadFile(filepath.Join(c.cacheDir(), IndexSigFile))
	if err1 != nil || err2 != nil {
		return c.UpdateIndex(ctx)
	}
	ix, err := c.checkIndex(data, sig)
	if err != nil {
		return nil, fmt.Errorf("the cached copy: %w", err)
	}
	c.index = ix
	return ix, nil
}

// Receipt is what chaos records of one installed entry.
type Receipt struct {
	Name    string `json:"name"`
	Kind    Kind   `json:"kind"`
	Version string `json:"version"`
	SHA256  string `json:"sha256,omitempty"`
	// Tree is TreeDigest of the installed directory, to notice a change after installing.
	Tree string `json:"tree"`
	// Key is the publisher key's fingerprint ("" when installed with --allow-unsigned).
	Key  string `json:"key,omitempty"`
	URL  string `json:"url,omitempty"`
	Path string `json:"path"`
	// store is the directory Path links to.
	Store string `json:"store"`
}

// Ref is NAME@VERSION.
func (r Receipt) Ref() string { return r.Name + "@" + r.Version }

func (c *Client) receiptsFile() string { return filepath.Join(c.opts.Dir, "installed.json") }

// Installed are the installed entries, sorted by name and version.
func (c *Client) Installed() ([]Receipt, error) {
	data, err := os.ReadFile(c.receiptsFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("styx: %w", err)
	}
	var rs []Receipt
	if err := json.Unmarshal(data, &rs); err != nil {
		return nil, fmt.Errorf("styx: %s: %w", c.receiptsFile(), err)
	}
	return rs, nil
}

func (c *Client) saveReceipts(rs []Receipt) error {
	slices.SortFunc(rs, func(a, b Receipt) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version)) })
	data, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.opts.Dir, 0o755); err != nil {
		return fmt.Errorf("styx: %w", err)
	}
	return secrets.WriteFileAtomic(c.receiptsFile(), append(data, '\n'), 0o644)
}

// Result is what happened to one entry.
type Result struct {
	Ref    string `json:"ref"`
	Kind   Kind   `json:"kind"`
	Path   string `json:"path"`
	Action string `json:"action"` // installed, unchanged, upgraded from V, downgraded from V
}

func (c *Client) chaosVersion() *semver.Version {
	v, err := semver.NewVersion(strings.TrimPrefix(c.opts.ChaosVersion, "chaos "))
	if err != nil {
		return nil
	}
	return v
}

// Invoke installs the entries named by refs (NAME, NAME@VERSION or NAME@RANGE) and what they
// require. With a lock, locked entries get exactly the locked version (even yanked) and hash; with
// no refs, everything in the lock is installed.
func (c *Client) Invoke(ctx context.Context, refs []string, lock *Lock) ([]Result, error) {
	ix, err := c.Index(ctx)
	if err != nil {
		return nil, err
	}
	var reqs []Request
	for _, ref := range refs {
		name, rng := SplitRef(ref)
		reqs = append(reqs, Request{Name: name, Range: rng})
	}
	pinned := map[string]string{}
	if lock != nil {
		for name, le := range lock.Entries {
			pinned[name] = le.Version
			if len(refs) == 0 {
				reqs = append(reqs, Request{Name: name, Range: le.Version})
			}
		}
	}
	picks, err := Resolve(ix, reqs, pinned, c.chaosVersion())
	if err != nil {
		return nil, err
	}
	return c.install(ctx, picks, lock)
}

// Update moves every installed entry to the newest version allowed (the ranges of what requires
// it, never a yanked version).
func (c *Client) Update(ctx context.Context) ([]Result, error) {
	if _, err := c.UpdateIndex(ctx); err != nil {
		return nil, err
	}
	rs, err := c.Installed()
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, r := range rs {
		if r.Kind == KindSoul {
			refs = append(refs, r.Name)
		}
	}
	if len(refs) == 0 {
		return nil, nil
	}
	return c.Invoke(ctx, refs, nil)
}

// exclusive serialises the commands that change what is installed (two invokes at once, a server
// and a terminal): an flock on Dir/lock, released when the returned function runs.
func (c *Client) exclusive() (func(), error) {
	if err := os.MkdirAll(c.opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("styx: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(c.opts.Dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("styx: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("styx: lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

func (c *Client) install(ctx context.Context, picks []Pick, lock *Lock) ([]Result, error) {
	unlock, err := c.exclusive()
	if err != nil {
		return nil, err
	}
	defer unlock()
	rs, err := c.Installed()
	if err != nil {
		return nil, err
	}
	c.sweep(rs)
	var out []Result
	for _, p := range picks {
		res, rec, err := c.installOne(ctx, p, rs, lock)
		if err != nil {
			return out, fmt.Errorf("%s: %w", p.Ref(), err)
		}
		out = append(out, res)
		if rec == nil {
			continue
		}
		var old []string
		rs = slices.DeleteFunc(rs, func(r Receipt) bool {
			replaced := r.Name == rec.Name && (rec.Kind == KindSoul || r.Version == rec.Version)
			if replaced && r.Store != rec.Store {
				old = append(old, r.Store)
			}
			return replaced
		})
		rs = append(rs, *rec)
		if err := c.saveReceipts(rs); err != nil {
			return out, err
		}
		// Only once the receipts name the new store: killed before this, the old store is what
		// the receipts still name, and sweep keeps whatever a link points to.
		for _, dir := range old {
			os.RemoveAll(dir)
		}
	}
	c.sweep(rs)
	return out, nil
}

// sweep removes what interrupted installs left in the stores: unpacked directories that no
// receipt names and no installed link points to, and temporary links. It runs under exclusive.
func (c *Client) sweep(rs []Receipt) {
	live := map[string]bool{}
	for _, r := range rs {
		live[r.Store] = true
	}
	for _, root := range []string{c.opts.SoulDir, c.opts.BundleDir} {
		if root == "" {
			continue
		}
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			p := filepath.Join(root, e.Name())
			if strings.HasPrefix(e.Name(), ".styx-link-") {
				os.Remove(p)
			} else if target, err := os.Readlink(p); err == nil && !filepath.IsAbs(target) {
				live[filepath.Join(root, target)] = true
			}
		}
		stored, _ := os.ReadDir(filepath.Join(root, storeDir))
		for _, e := range stored {
			if p := filepath.Join(root, storeDir, e.Name()); !live[p] {
				os.RemoveAll(p)
			}
		}
	}
}

// ErrRefused is an artifact refused for trust: no signature, a bad one, a changed key, a hash
// mismatch.
var ErrRefused = errors.New("refused")

// installOne installs one pick; a nil receipt means it was already there, unchanged.
func (c *Client) installOne(ctx context.Context, p Pick, rs []Receipt, lock *Lock) (Result, *Receipt, error) {
	e, v := p.Entry, p.Version
	ver := v.Semver().String()
	root, link := c.opts.SoulDir, dirName(e.Name)
	if e.Kind == KindChobolo {
		root, link = c.opts.BundleDir, chobolo.StyxBundleName(e.Name, ver)
	}
	if root == "" {
		return Result{}, nil, fmt.Errorf("no directory to install a %s into", e.Kind)
	}
	res := Result{Ref: e.Name + "@" + ver, Kind: e.Kind, Path: filepath.Join(root, link), Action: "installed"}
	var prev *Receipt
	for i := range rs {
		if rs[i].Name == e.Name && (e.Kind == KindSoul || rs[i].Version == ver) {
			prev = &rs[i]
		}
	}
	if prev != nil && prev.Version == ver && prev.SHA256 == v.SHA256 {
		if tree, err := TreeDigest(prev.Path); err == nil && tree == prev.Tree {
			res.Action = "unchanged"
			return res, nil, nil
		}
	}
	if prev != nil && prev.Version != ver {
		res.Action = "upgraded from " + prev.Version
		if old, err := semver.NewVersion(prev.Version); err == nil && old.GreaterThan(v.Semver()) {
			res.Action = "downgraded from " + prev.Version
		}
	}
	key, err := c.publisherKey(e)
	if err != nil {
		return res, nil, err
	}
	if lock != nil {
		if le, ok := lock.Entries[e.Name]; ok && le.SHA256 != "" && le.SHA256 != v.SHA256 {
			return res, nil, fmt.Errorf("%w: styx.lock pins sha256 %s, the index now says %s for the same version", ErrRefused, le.SHA256, v.SHA256)
		}
	}
	data, err := c.artifact(ctx, v)
	if err != nil {
		return res, nil, err
	}
	if v.Sig == "" || key.PublicKey == nil {
		if !c.opts.AllowUnsigned {
			return res, nil, fmt.Errorf("%w: the artifact is unsigned (no publisher key or signature in the index); --allow-unsigned installs it, for local development only", ErrRefused)
		}
	} else if err := VerifyBy(key, NamespaceArtifact, data, v.Sig); err != nil {
		return res, nil, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	rec, err := c.place(e, ver, root, link, data)
	if err != nil {
		return res, nil, err
	}
	rec.SHA256, rec.URL = v.SHA256, v.URL
	if key.PublicKey != nil {
		rec.Key = key.Fingerprint()
		if _, ok := c.opts.Pins.Pinned(Publisher(e.Name)); !ok {
			if err := c.opts.Pins.Pin(Publisher(e.Name), key.String()); err != nil {
				return res, nil, err
			}
		}
	}
	return res, rec, nil
}

// publisherKey is the entry's key, checked against the pin of its publisher.
func (c *Client) publisherKey(e *Entry) (PublicKey, error) {
	if e.Key == "" {
		return PublicKey{}, nil
	}
	key, err := ParsePublicKey(e.Key)
	if err != nil {
		return PublicKey{}, err
	}
	if pinned, ok := c.opts.Pins.Pinned(Publisher(e.Name)); ok {
		pk, err := ParsePublicKey(pinned)
		if err != nil {
			return PublicKey{}, fmt.Errorf("the pinned key of %s: %w", Publisher(e.Name), err)
		}
		if !pk.Equal(key) {
			return PublicKey{}, fmt.Errorf("%w: the publisher key of %s changed: pinned %s, the index now has %s. If %s really rotated its key, remove its pin (styx.publishers in config.yml) and invoke again",
				ErrRefused, Publisher(e.Name), pk.Fingerprint(), key.Fingerprint(), Publisher(e.Name))
		}
	}
	return key, nil
}

// artifact returns the artifact's bytes, from the cache or its URL, checked against its sha256.
func (c *Client) artifact(ctx context.Context, v *Version) ([]byte, error) {
	if v.SHA256 == "" && !c.opts.AllowUnsigned {
		return nil, fmt.Errorf("%w: the index gives no sha256 for the artifact", ErrRefused)
	}
	cached := c.cachedArtifact(cmp.Or(v.SHA256, "unsigned"))
	if v.SHA256 != "" {
		if data, err := os.ReadFile(cached); err == nil && sumHex(data) == v.SHA256 {
			return data, nil
		}
	}
	if v.URL == "" {
		return nil, errors.New("the index gives no URL for the artifact")
	}
	var data []byte
	var err error
	if repo, tag, ok := GitArtifact(v.URL); ok {
		data, err = PackGitTag(ctx, repo, tag, c.opts.Limits)
	} else {
		data, err = getURL(ctx, c.opts.HTTP, v.URL, c.opts.Limits.MaxBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	if v.SHA256 != "" {
		if got := sumHex(data); got != v.SHA256 {
			return nil, fmt.Errorf("%w: hash mismatch: %s has sha256 %s, the index says %s", ErrRefused, v.URL, got, v.SHA256)
		}
		if err := os.MkdirAll(filepath.Dir(cached), 0o755); err == nil {
			_ = secrets.WriteFileAtomic(cached, data, 0o644) // a cache: failing to keep it costs a download
		}
	}
	return data, nil
}

// cachedArtifact is where an artifact is kept, by sha256 (a tarball, or a git tag's tar stream).
func (c *Client) cachedArtifact(sha string) string {
	return filepath.Join(c.opts.Dir, "artifacts", sha+".tar")
}

func sumHex(data []byte) string {
	s := sha256.Sum256(data)
	return digestHex(s[:])
}

// dirName is an entry's directory name: publisher/name becomes publisher.name.
func dirName(name string) string { return strings.ReplaceAll(name, "/", ".") }

// storeDir holds the unpacked versions that the installed names link to.
const storeDir = ".styx"

// place unpacks data into root/.styx/NAME@VER.RANDOM, checks it, and then switches root/link to
// it by renaming a new symbolic link over the old one (atomic): until that rename the previous
// version stays installed and working, whatever interrupts the install.
func (c *Client) place(e *Entry, ver, root, link string, data []byte) (*Receipt, error) {
	final := filepath.Join(root, link)
	if fi, err := os.Lstat(final); err == nil && fi.Mode()&fs.ModeSymlink == 0 {
		return nil, fmt.Errorf("%s exists and was not installed by Styx: remove it first", final)
	}
	store := filepath.Join(root, storeDir)
	if err := os.MkdirAll(store, 0o755); err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	dir := filepath.Join(store, link+"."+hex.EncodeToString(suffix))
	if err := Unpack(bytes.NewReader(data), dir, c.opts.Limits); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	if err := checkContent(e, ver, dir); err != nil {
		return nil, err
	}
	tree, err := TreeDigest(dir)
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(root, ".styx-link-"+hex.EncodeToString(suffix))
	if err := os.Symlink(filepath.Join(storeDir, filepath.Base(dir)), tmp); err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("install: %w", err)
	}
	ok = true
	return &Receipt{Name: e.Name, Kind: e.Kind, Version: ver, Tree: tree, Path: final, Store: dir}, nil
}

// checkContent checks that an unpacked artifact is what the index says: a Soul whose manifest has
// the entry's name and version, or a bundle with its chobolo.yml.
func checkContent(e *Entry, ver, dir string) error {
	switch e.Kind {
	case KindSoul:
		s, err := souls.Load(dir)
		if err != nil {
			return fmt.Errorf("the artifact is not a valid Soul: %w", err)
		}
		mv, err := semver.NewVersion(s.Manifest.Version)
		if s.Manifest.Name != e.Name || err != nil || mv.String() != ver {
			return fmt.Errorf("the artifact is the Soul %s %s, not %s %s", s.Manifest.Name, s.Manifest.Version, e.Name, ver)
		}
	case KindChobolo:
		if fi, err := os.Stat(filepath.Join(dir, chobolo.StyxBundleEntry)); err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("the artifact is not a Ch-obolo bundle: it has no %s", chobolo.StyxBundleEntry)
		}
	}
	return nil
}

// Destroy removes an installed entry (every installed version of a bundle).
func (c *Client) Destroy(name string) ([]Receipt, error) {
	gone, err := c.destroy(func(r Receipt) bool { return r.Name == name })
	if err == nil && len(gone) == 0 {
		return nil, fmt.Errorf("%s is not installed by Styx (chaos styx list --installed)", name)
	}
	return gone, err
}

// destroy removes the installed entries that match.
func (c *Client) destroy(match func(Receipt) bool) ([]Receipt, error) {
	unlock, err := c.exclusive()
	if err != nil {
		return nil, err
	}
	defer unlock()
	rs, err := c.Installed()
	if err != nil {
		return nil, err
	}
	var gone []Receipt
	keep := rs[:0]
	for _, r := range rs {
		if !match(r) {
			keep = append(keep, r)
			continue
		}
		// The link first: once it is gone the entry is uninstalled, whatever is left in the store.
		if err := os.Remove(r.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return gone, fmt.Errorf("destroy %s: %w", r.Ref(), err)
		}
		os.RemoveAll(r.Store)
		gone = append(gone, r)
	}
	if len(gone) == 0 {
		return nil, nil
	}
	return gone, c.saveReceipts(keep)
}

// Check is the verification of one installed entry.
type Check struct {
	Ref     string `json:"ref"`
	OK      bool   `json:"ok"`
	Problem string `json:"problem,omitempty"`
}

// Verify re-checks every installed entry: its directory still packs to the digest recorded at
// install, and its cached artifact, when kept, still has the sha256 its signature covered.
func (c *Client) Verify() ([]Check, error) {
	rs, err := c.Installed()
	if err != nil {
		return nil, err
	}
	var out []Check
	for _, r := range rs {
		ch := Check{Ref: r.Ref(), OK: true}
		if tree, err := TreeDigest(r.Path); err != nil {
			ch.OK, ch.Problem = false, err.Error()
		} else if tree != r.Tree {
			ch.OK, ch.Problem = false, fmt.Sprintf("%s changed after it was installed (%s, installed as %s): invoke it again", r.Path, tree, r.Tree)
		}
		if r.SHA256 != "" {
			if data, err := os.ReadFile(c.cachedArtifact(r.SHA256)); err == nil && sumHex(data) != r.SHA256 {
				os.Remove(c.cachedArtifact(r.SHA256))
				if ch.OK {
					ch.Problem = "the cached artifact was damaged and is removed (the installed tree is intact)"
				}
			}
		}
		out = append(out, ch)
	}
	return out, nil
}

// wheelError says what the Go chaos offers instead of an original Python plugin.
func wheelError(e *Entry) error {
	instead := map[string]string{
		"chaos-dots":    "dotfiles are a Soul now: the dotfiles Soul (examples/souls/dotfiles, docs/souls.md), with the same dotfiles: key",
		"ch-aronte":     "the Arch core and its roles (packages, users, repos, services, region, bootloader, ...) are built into chaos",
		"chaos-secrets": "secrets templates are built in: secrets.templates in the Ch-obolo, and chaos secrets (docs/secrets.md)",
	}
	msg, ok := instead[e.Name]
	if !ok {
		msg = "the Go chaos runs Souls, plugins in any language (docs/souls.md); ask its author for a Soul"
	}
	return fmt.Errorf("%s %s is a Python wheel for the original Ch-aOS, which this chaos cannot run: %s", e.Name, e.Versions[0].Version, msg)
}
