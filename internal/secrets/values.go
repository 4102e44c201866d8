package secrets

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/getsops/sops/v3"
)

// Values is a decrypted secrets tree that roles read by dotted path ("user_secrets.alice.password",
// list elements by index: "tokens.0" or "tokens[0]"). It implements engine.SecretStore. It has no
// String method and no JSON form on purpose: printing it must not print secrets.
type Values struct {
	root any // map[string]any, []any or a scalar
}

// NewValues wraps an already-decoded tree (maps, slices and scalars), e.g. from a provider.
func NewValues(root map[string]any) *Values { return &Values{root: root} }

// Get returns the scalar at path as a string; maps, lists and missing paths are not found.
func (v *Values) Get(path string) (string, bool) {
	x, ok := v.Lookup(path)
	if !ok {
		return "", false
	}
	return scalarString(x)
}

// Lookup returns the value at path: a scalar, map[string]any or []any.
func (v *Values) Lookup(path string) (any, bool) {
	if v == nil {
		return nil, false
	}
	p, err := splitPath(path)
	if err != nil {
		return nil, false
	}
	cur := v.root
	for _, s := range p {
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[s.name]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			if s.index < 0 || s.index >= len(c) {
				return nil, false
			}
			cur = c[s.index]
		default:
			return nil, false
		}
	}
	return cur, true
}

// Paths lists the dotted paths of every leaf, sorted: what `chaos secrets list` shows. Values are
// never part of it.
func (v *Values) Paths() []string {
	var out []string
	var walk func(prefix string, x any)
	walk = func(prefix string, x any) {
		join := func(k string) string {
			if prefix == "" {
				return k
			}
			return prefix + "." + k
		}
		switch c := x.(type) {
		case map[string]any:
			if len(c) == 0 && prefix != "" {
				out = append(out, prefix)
			}
			for k, e := range c {
				walk(join(k), e)
			}
		case []any:
			if len(c) == 0 && prefix != "" {
				out = append(out, prefix)
			}
			for i, e := range c {
				walk(join(strconv.Itoa(i)), e)
			}
		default:
			out = append(out, prefix)
		}
	}
	if v != nil {
		walk("", v.root)
	}
	slices.Sort(out)
	return out
}

// Tree returns the decoded tree (for emitting a subtree, `chaos secrets cat KEY`).
func (v *Values) Tree() any { return v.root }

func scalarString(x any) (string, bool) {
	switch s := x.(type) {
	case string:
		return s, true
	case bool:
		return strconv.FormatBool(s), true
	case int:
		return strconv.Itoa(s), true
	case int64:
		return strconv.FormatInt(s, 10), true
	case uint64:
		return strconv.FormatUint(s, 10), true
	case float64:
		if s == math.Trunc(s) && math.Abs(s) < 1e15 {
			return strconv.FormatInt(int64(s), 10), true
		}
		return strconv.FormatFloat(s, 'g', -1, 64), true
	case time.Time:
		return s.Format(time.RFC3339Nano), true
	case nil:
		return "", false
	}
	return "", false
}

// branchValue converts a sops tree (ordered items, comments) to plain maps and slices.
func branchValue(x any) any {
	switch c := x.(type) {
	case sops.TreeBranch:
		m := make(map[string]any, len(c))
		for _, it := range c {
			if _, comment := it.Key.(sops.Comment); comment {
				continue
			}
			m[fmt.Sprint(it.Key)] = branchValue(it.Value)
		}
		return m
	case []any:
		out := make([]any, 0, len(c))
		for _, e := range c {
			if _, comment := e.(sops.Comment); comment {
				continue
			}
			out = append(out, branchValue(e))
		}
		return out
	}
	return x
}

// segment is one step of a dotted path: a map key, which may also be a list index.
type segment struct {
	name  string
	index int // -1 when name is not a number
}

// key is the segment as sops's TreeBranch.Set wants it: an int for list positions.
func (s segment) key() any {
	if s.index >= 0 {
		return s.index
	}
	return s.name
}

// splitPath parses "a.b[0].c" or "a.b.0.c".
func splitPath(path string) ([]segment, error) {
	if path == "" {
		return nil, fmt.Errorf("empty key path")
	}
	path = strings.ReplaceAll(strings.ReplaceAll(path, "[", "."), "]", "")
	parts := strings.Split(path, ".")
	out := make([]segment, 0, len(parts))
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("key path %q has an empty segment", path)
		}
		s := segment{name: p, index: -1}
		if n, err := strconv.Atoi(p); err == nil && n >= 0 {
			s.index = n
		}
		out = append(out, s)
	}
	return out, nil
}
