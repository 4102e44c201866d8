package ramble

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Match is a page found by Find, decrypted (in memory).
type Match struct {
	Ref       Ref
	Encrypted bool
	Title     string
	Tags      []string
	Doc       map[string]any
}

// FindOptions select pages: Term is a case-insensitive substring of the decrypted page, Tag one of
// its tags (case-insensitive); empty selects all. Workers bounds the pages decrypted at once
// (default GOMAXPROCS).
type FindOptions struct {
	Term, Tag string
	Workers   int
}

// Find searches every page of the notebook, decrypting encrypted ones in memory, several at once.
// Pages that cannot be opened are reported in the error (errors.Join, one per page) after the
// matches of the others.
func (n Notebook) Find(ctx context.Context, o FindOptions) ([]Match, error) {
	refs, err := n.Pages("")
	if err != nil {
		return nil, err
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	term := bytes.ToLower([]byte(o.Term))
	type result struct {
		m   *Match
		err error
	}
	results := make([]result, len(refs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(refs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				m, err := n.match(refs[i], term, o.Tag)
				results[i] = result{m, err}
			}
		}()
	}
feed:
	for i := range refs {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ramble find: %w", err)
	}
	var out []Match
	var errs []error
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
		} else if r.m != nil {
			out = append(out, *r.m)
		}
	}
	return out, errors.Join(errs...)
}

// match opens one page and tests it; nil, nil when it does not match.
func (n Notebook) match(r Ref, term []byte, tag string) (*Match, error) {
	path, err := n.Path(r)
	if err != nil {
		return nil, err
	}
	p, err := n.open(r, path)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if len(term) > 0 && !bytes.Contains(bytes.ToLower(p.Plain), term) {
		return nil, nil
	}
	var doc map[string]any
	if err := yaml.Unmarshal(p.Plain, &doc); err != nil {
		return nil, fmt.Errorf("ramble %s: does not parse as YAML", r)
	}
	m := &Match{Ref: r, Encrypted: p.Encrypted(), Doc: doc}
	m.Title, _ = doc["title"].(string)
	if tags, ok := doc["tags"].([]any); ok {
		for _, t := range tags {
			m.Tags = append(m.Tags, fmt.Sprint(t))
		}
	}
	if tag != "" && !slices.ContainsFunc(m.Tags, func(t string) bool { return strings.EqualFold(t, tag) }) {
		return nil, nil
	}
	return m, nil
}

// Update gives every encrypted page the recipients of its creation rule now (after a rotation in
// the sops configuration), with a new data key, as `sops updatekeys -y` on each page did. It
// returns the pages rewritten; pages that failed are in the error.
func (n Notebook) Update(ctx context.Context) ([]Ref, error) {
	refs, err := n.Pages("")
	if err != nil {
		return nil, err
	}
	var done []Ref
	var errs []error
	for _, r := range refs {
		if err := ctx.Err(); err != nil {
			return done, fmt.Errorf("ramble update: %w", err)
		}
		changed, err := n.update(r)
		if err != nil {
			errs = append(errs, err)
		} else if changed {
			done = append(done, r)
		}
	}
	return done, errors.Join(errs...)
}

func (n Notebook) update(r Ref) (bool, error) {
	p, err := n.Open(r)
	if err != nil || !p.Encrypted() {
		return false, err
	}
	defer p.Close()
	changed, err := p.file.UpdateKeys(n.Sops)
	if err != nil || !changed {
		return false, err
	}
	out, err := p.file.Encrypted()
	if err != nil {
		return false, err
	}
	return true, n.write(p.Path, out)
}
