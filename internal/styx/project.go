package styx

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// A server (Capitain) pins Styx entries per project: an admin chooses exact versions, PinLock
// turns them into a Lock that names every entry they need (what they require too) with its
// sha256, and a project's sync calls Client.Sync with that lock on a Client whose directories
// are the project's. The server stores the lock (Lock.Write's YAML, or its JSON) where it likes.

// PinLock resolves the pinned versions (NAME -> exact VERSION) offline from ix, with everything
// they require, into a lock for registry. A pinned version may be yanked (an admin pinned it on
// purpose); what they require is chosen as invoke chooses it (the newest allowed, never yanked),
// and then pinned too, so that a sync never chooses anew. chaosVersion is the server's own ("" or
// not semver: no check). A conflict is explained as invoke explains it.
func PinLock(ix *Index, registry string, pins map[string]string, chaosVersion string) (*Lock, error) {
	var reqs []Request
	for _, name := range slices.Sorted(maps.Keys(pins)) {
		v, err := semver.NewVersion(pins[name])
		if err != nil {
			return nil, fmt.Errorf("pin %s@%s: an exact version is needed: %v", name, pins[name], err)
		}
		reqs = append(reqs, Request{Name: name, Range: "=" + v.String()})
	}
	cv, err := semver.NewVersion(strings.TrimPrefix(chaosVersion, "chaos "))
	if err != nil {
		cv = nil
	}
	picks, err := Resolve(ix, reqs, pins, cv)
	if err != nil {
		return nil, err
	}
	l := &Lock{Registry: registry, Entries: map[string]LockEntry{}}
	for _, p := range picks {
		l.Entries[p.Entry.Name] = LockEntry{Version: p.Version.Semver().String(), Kind: p.Entry.Kind, SHA256: p.Version.SHA256}
	}
	return l, nil
}

// Synced is what Sync did.
type Synced struct {
	Results []Result
	// Removed are entries Styx had installed that the lock no longer names.
	Removed []Receipt
	// Lock is the lock with the installed trees filled in (what chaos apply checks, LockEntry.Tree).
	Lock *Lock
}

// Sync makes the Client's directories hold exactly what lock names: every locked entry at its
// locked version and sha256 (a yanked one too), nothing chosen anew (an entry that a locked version
// requires but the lock does not name is an error, not a resolution), and every other entry Styx
// installed there removed. Directories Styx did not install are never touched.
func (c *Client) Sync(ctx context.Context, lock *Lock) (*Synced, error) {
	ix, err := c.Index(ctx)
	if err != nil {
		return nil, err
	}
	var reqs []Request
	pinned := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(lock.Entries)) {
		le := lock.Entries[name]
		reqs = append(reqs, Request{Name: name, Range: "=" + le.Version})
		pinned[name] = le.Version
	}
	picks, err := Resolve(ix, reqs, pinned, c.chaosVersion())
	if err != nil {
		return nil, err
	}
	for _, p := range picks {
		if _, ok := lock.Entries[p.Entry.Name]; !ok {
			var from []string
			for _, q := range picks {
				if _, needs := q.Version.requires[p.Entry.Name]; needs {
					from = append(from, q.Ref())
				}
			}
			return nil, fmt.Errorf("%s is required (by %s) but not pinned: pin it too (PinLock pins what pinned entries require)",
				p.Entry.Name, strings.Join(from, ", "))
		}
	}
	out := &Synced{}
	if out.Results, err = c.install(ctx, picks, lock); err != nil {
		return out, err
	}
	rs, err := c.Installed()
	if err != nil {
		return out, err
	}
	for _, r := range rs {
		le, ok := lock.Entries[r.Name]
		if ok && (r.Kind == KindSoul || sameVersionText(r.Version, le.Version)) {
			continue
		}
		gone, err := c.destroy(func(x Receipt) bool { return x.Name == r.Name && x.Version == r.Version })
		if err != nil {
			return out, err
		}
		out.Removed = append(out.Removed, gone...)
	}
	if out.Lock, err = c.Lock(); err != nil {
		return out, err
	}
	out.Lock.Registry = lock.Registry
	return out, nil
}
