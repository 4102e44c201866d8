package fleet

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Limit selects hosts with an Ansible-style pattern: comma-separated terms, each a host name, a
// group name, a glob (web*), a regular expression (~web[0-9]+), `all` or `*`, or @FILE (one pattern
// per line, # comments). A term prefixed with ! excludes, one prefixed with & intersects. The result
// is the union of the plain terms (all hosts when there are none), intersected with every & term,
// minus every ! term, in inventory order. A plain name that matches no host or group is an error, to
// catch typos. readFile reads @FILE (os.ReadFile when nil).
func Limit(f *Fleet, pattern string, readFile func(string) ([]byte, error)) ([]*Host, error) {
	if readFile == nil {
		readFile = os.ReadFile
	}
	terms, err := limitTerms(pattern, readFile, 0)
	if err != nil {
		return nil, err
	}
	if len(terms) == 0 {
		return nil, fmt.Errorf("--limit: empty pattern")
	}
	var plus, and, minus [][]*Host
	for _, t := range terms {
		op := byte(0)
		if t[0] == '!' || t[0] == '&' {
			op, t = t[0], strings.TrimSpace(t[1:])
		}
		hosts, err := f.match(t)
		if err != nil {
			return nil, err
		}
		switch op {
		case '!':
			minus = append(minus, hosts)
		case '&':
			and = append(and, hosts)
		default:
			if len(hosts) == 0 && !hasGlob(t) && !strings.HasPrefix(t, "~") {
				return nil, fmt.Errorf("--limit: %q matches no host or group%s", t, f.suggest(t))
			}
			plus = append(plus, hosts)
		}
	}
	sel := map[*Host]bool{}
	if len(plus) == 0 {
		for _, h := range f.Hosts {
			sel[h] = true
		}
	}
	for _, hs := range plus {
		for _, h := range hs {
			sel[h] = true
		}
	}
	for _, hs := range and {
		for h := range sel {
			if !slices.Contains(hs, h) {
				delete(sel, h)
			}
		}
	}
	for _, hs := range minus {
		for _, h := range hs {
			delete(sel, h)
		}
	}
	var out []*Host
	for _, h := range f.Hosts {
		if sel[h] {
			out = append(out, h)
		}
	}
	return out, nil
}

func limitTerms(pattern string, readFile func(string) ([]byte, error), depth int) ([]string, error) {
	if depth > 8 {
		return nil, fmt.Errorf("--limit: @file nested too deep")
	}
	var out []string
	for _, t := range strings.Split(pattern, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		// A connector spelling names a host (@local exactly, @chroot/...); any other @WORD is a file.
		if strings.HasPrefix(t, "@") && t != "@local" && !strings.HasPrefix(t, "@chroot/") {
			data, err := readFile(t[1:])
			if err != nil {
				return nil, fmt.Errorf("--limit: %v", err)
			}
			sc := bufio.NewScanner(strings.NewReader(string(data)))
			for sc.Scan() {
				line := strings.TrimSpace(sc.Text())
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				sub, err := limitTerms(line, readFile, depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, sub...)
			}
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

// match returns the hosts one term selects.
func (f *Fleet) match(t string) ([]*Host, error) {
	var out []*Host
	switch {
	case t == "all" || t == "*":
		return slices.Clone(f.Hosts), nil
	case strings.HasPrefix(t, "~"):
		re, err := regexp.Compile(t[1:])
		if err != nil {
			return nil, fmt.Errorf("--limit: bad regular expression %q: %v", t, err)
		}
		for _, h := range f.Hosts {
			if re.MatchString(h.Name) {
				out = append(out, h)
			}
		}
		return out, nil
	}
	if hasGlob(t) {
		if _, err := matchGlob(t, ""); err != nil {
			return nil, fmt.Errorf("--limit: bad pattern %q: %v", t, err)
		}
	}
	for _, h := range f.Hosts {
		if matchName(t, h.Name) || slices.ContainsFunc(h.Groups, func(g string) bool { return matchName(t, g) }) {
			out = append(out, h)
		}
	}
	return out, nil
}

func matchGlob(pat, s string) (bool, error) {
	return pathMatch(pat, s)
}

func (f *Fleet) suggest(t string) string {
	best, bestD := "", 3
	try := func(n string) {
		if d := lev(t, n); d < bestD {
			best, bestD = n, d
		}
	}
	for _, h := range f.Hosts {
		try(h.Name)
	}
	for _, g := range f.Groups {
		try(g.Name)
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func lev(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
