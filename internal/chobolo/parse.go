package chobolo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// maxFileSize bounds one Ch-obolo file; real ones are a few kilobytes.
const maxFileSize = 16 << 20

// yamlLineRE extracts the line from the YAML library's syntax errors ("yaml: line 3: ...").
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse reads one YAML document into a node tree with aliases and merge keys expanded. It returns
// nil (and no error) for an empty document. Problems are reported to d, positioned in file.
func (l *loader) parse(file string, data []byte) *yaml.Node {
	if len(data) > maxFileSize {
		l.d.errorf(Pos{File: file, Line: 1, Col: 1}, "file is larger than %d MiB", maxFileSize>>20)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := decodeSafely(dec, &doc); err != nil {
		if !errors.Is(err, io.EOF) {
			l.d.errs = append(l.d.errs, syntaxError(file, data, err))
		}
		return nil
	}
	var next yaml.Node
	switch err := decodeSafely(dec, &next); {
	case err == nil:
		l.d.errorf(Pos{File: file, Line: next.Line, Col: next.Column},
			"a Ch-obolo is one YAML document; found another one here (use imports to combine files)")
		return nil
	case !errors.Is(err, io.EOF):
		l.d.errs = append(l.d.errs, syntaxError(file, data, err))
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil // a document holding only "---" or "~"
	}
	l.checkDuplicates(file, root)
	if plain(root) {
		// No alias and no merge key, as in most Ch-obolos: nothing to expand or to count, so the
		// parsed tree (the loader's own) is kept and only registered, not copied node by node.
		l.register(file, root)
		return root
	}
	if n := expandedSize(root, map[*yaml.Node]int{}); n > 4*countNodes(root)+maxAliasNodes {
		l.d.errorf(Pos{File: file, Line: root.Line, Col: root.Column},
			"aliases expand to %d nodes; refusing a document this large (alias bomb?)", n)
		return nil
	}
	return l.expand(file, root)
}

// decodeSafely turns a panic of the YAML library on hostile input into an error, so that a
// malformed file can never crash chaos.
func decodeSafely(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: cannot parse: %v", r)
		}
	}()
	return dec.Decode(n)
}

// SyntaxError positions an error of the YAML library on data, the content of file:
// "FILE:LINE:COL: invalid YAML: ...", as for a Ch-obolo. For the other YAML files chaos reads
// (config.yml).
func SyntaxError(file string, data []byte, err error) error {
	d := syntaxError(file, data, err)
	return fmt.Errorf("%s: %s", d.Pos, d.Message)
}

// syntaxError positions a YAML syntax error. The library's message carries the line where the
// enclosing construct started, or no line at all; the line that breaks the document is found by
// parsing ever longer prefixes of it (a binary search, on the error path only).
func syntaxError(file string, data []byte, err error) Diagnostic {
	pos := Pos{File: file, Line: 1, Col: 1}
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	// The library's line is the start of the failing construct, unless that start is on the first
	// line: its mark 0 reads as "none", and the line of the problem (the end of the file, for a
	// quoted string never closed) is given instead. With one blank line in front nothing starts on
	// line 0, so the library tells where the construct starts, one line down.
	if m := yamlLineRE.FindStringSubmatch(errString(parseAll(shiftDown(data)))); m != nil && m[2] == msg {
		n, _ := strconv.Atoi(m[1])
		pos.Line = max(n-1, 1)
	}
	if n := breakingLine(data, msg, pos.Line-1); n > 0 {
		pos.Line = n
		pos.Col = breakingCol(data, n, msg)
	}
	return Diagnostic{Pos: pos, Severity: SevError, Message: "invalid YAML: " + msg}
}

// The column search parses the document up to each character of the breaking line: it stops after
// maxColumnScan characters or maxColumnBytes parsed bytes (column 1), so a hostile file stays cheap.
const (
	maxColumnScan  = 1024
	maxColumnBytes = 64 << 20
)

// breakingCol returns the column in line n where the document breaks (the library reports no
// column): the first character such that the document up to and including it fails with msg. When
// that character opens the first item of a flow collection ("[wheel" left unclosed), the column is
// the collection's "[" or "{", which is what the message is about. It is 1 when no prefix of the
// line fails alone (the line end breaks it).
func breakingCol(data []byte, n int, msg string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	start := len(bytes.Join(lines[:n-1], nil))
	line := lines[n-1]
	if n == 1 { // a byte order mark is no column (nor is it in the library's positions)
		if rest, ok := bytes.CutPrefix(line, []byte("\xef\xbb\xbf")); ok {
			start, line = 3, rest
		}
	}
	if len(line) > maxColumnScan {
		return 1
	}
	var chars []rune // chars[c-1] is the character at column c (columns count characters, as yaml.Node's)
	var ends []int   // ends[c-1] is the end of the prefix that includes it
	for i, r := range string(line) {
		size := utf8.RuneLen(r)
		if r == utf8.RuneError {
			size = 1
		}
		chars, ends = append(chars, r), append(ends, start+i+size)
	}
	for c, parsed := 1, 0; c <= len(ends); c++ {
		if parsed += ends[c-1]; parsed > maxColumnBytes {
			return 1
		}
		if !failsWith(data[:ends[c-1]], msg) {
			continue
		}
		o := c - 1
		for o >= 1 && (chars[o-1] == ' ' || chars[o-1] == '\t') {
			o--
		}
		if o >= 1 && (chars[o-1] == '[' || chars[o-1] == '{') {
			return o
		}
		return c
	}
	return 1
}

// failsWith reports whether data fails to parse with msg (the library's message without its line).
func failsWith(data []byte, msg string) bool {
	err := parseAll(data)
	if err == nil {
		return false
	}
	m := strings.TrimPrefix(err.Error(), "yaml: ")
	if sub := yamlLineRE.FindStringSubmatch(err.Error()); sub != nil {
		m = sub[2]
	}
	return m == msg
}

// breakingLine returns the first line n such that lines 1..n alone fail with msg, or 0. The
// library's line, where the failing construct started, bounds the search from below.
func breakingLine(data []byte, msg string, from int) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	same := func(n int) bool { return failsWith(bytes.Join(lines[:n], nil), msg) }
	from = max(0, min(from, len(lines)))
	n := from + sort.Search(len(lines)+1-from, func(i int) bool { return same(from + i) })
	if n == 0 || n > len(lines) || !same(n) {
		return 0
	}
	return n
}

// shiftDown returns data with a blank line in front (after a byte order mark, which must stay
// first), which moves every line one down and changes nothing else.
func shiftDown(data []byte) []byte {
	bom := []byte("\xef\xbb\xbf")
	rest, hasBOM := bytes.CutPrefix(data, bom)
	out := make([]byte, 0, len(data)+4)
	if hasBOM {
		out = append(out, bom...)
	}
	return append(append(out, '\n'), rest...)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// parseAll parses every document of data and returns the first error.
func parseAll(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := decodeSafely(dec, &n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// checkDuplicates reports repeated keys in every mapping of the document. The YAML library keeps
// them in the node tree (and a decode would silently keep the last), so they are caught here.
// Aliases are not followed: the anchored node is checked where it is written.
func (l *loader) checkDuplicates(file string, n *yaml.Node) {
	if n.Kind == yaml.MappingNode && hasDuplicateKeys(n.Content) {
		seen := map[string]*yaml.Node{}
		out := n.Content[:0:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && !isMergeKey(k) {
				if first, dup := seen[k.Value]; dup {
					l.d.errorf(Pos{File: file, Line: k.Line, Col: k.Column}, "duplicate key %q (first at line %d, column %d)",
						k.Value, first.Line, first.Column)
					continue // dropped, so that later stages see one value
				}
				seen[k.Value] = k
			}
			out = append(out, k, n.Content[i+1])
		}
		n.Content = out
	}
	for _, c := range n.Content {
		l.checkDuplicates(file, c)
	}
}

// hasDuplicateKeys reports whether a mapping's content repeats a scalar key (merge keys aside),
// comparing the keys of small mappings, most of a Ch-obolo's, without building a map.
func hasDuplicateKeys(content []*yaml.Node) bool {
	isKey := func(k *yaml.Node) bool { return k.Kind == yaml.ScalarNode && !isMergeKey(k) }
	if len(content) > 32 {
		seen := make(map[string]bool, len(content)/2)
		for i := 0; i+1 < len(content); i += 2 {
			if k := content[i]; isKey(k) {
				if seen[k.Value] {
					return true
				}
				seen[k.Value] = true
			}
		}
		return false
	}
	for i := 0; i+1 < len(content); i += 2 {
		if a := content[i]; isKey(a) {
			for j := i + 2; j+1 < len(content); j += 2 {
				if b := content[j]; isKey(b) && b.Value == a.Value {
					return true
				}
			}
		}
	}
	return false
}

// plain reports whether n holds no alias and no merge key ("<<"), when expanding it changes nothing.
func plain(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		return false
	}
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 && isMergeKey(c) || !plain(c) {
			return false
		}
	}
	return true
}

// register is expand for a plain tree, in place: every node is registered as declared in file and
// loses its anchor, as expand's copies do.
func (l *loader) register(file string, n *yaml.Node) {
	n.Anchor = ""
	l.node(file, n)
	for _, c := range n.Content {
		l.register(file, c)
	}
}

// maxAliasNodes is how many nodes alias expansion may add beyond four times the document's own size.
// Real Ch-obolos use a few anchors; a "billion laughs" document asks for billions.
const maxAliasNodes = 100_000

// expandedSize counts the nodes of n after alias expansion, memoized per node so that counting
// itself stays linear, and saturating so that it cannot overflow.
func expandedSize(n *yaml.Node, memo map[*yaml.Node]int) int {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return 1
		}
		n = n.Alias
	}
	if s, ok := memo[n]; ok {
		return s
	}
	memo[n] = 1 // a self-referencing alias counts once; expand refuses it
	s := 1
	for _, c := range n.Content {
		s = min(s+expandedSize(c, memo), 1<<40)
	}
	memo[n] = s
	return s
}

func countNodes(n *yaml.Node) int {
	s := 1
	for _, c := range n.Content {
		s += countNodes(c)
	}
	return s
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge")
}

// expand copies n with every alias replaced by a copy of its anchor and every merge key ("<<")
// applied, so that later stages see a plain tree. Copies keep the anchor's position, which is where
// the value was written. Every node of the result is registered as declared in file.
func (l *loader) expand(file string, n *yaml.Node) *yaml.Node {
	return l.expandNode(file, n, map[*yaml.Node]bool{})
}

func (l *loader) expandNode(file string, n *yaml.Node, active map[*yaml.Node]bool) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil || active[n.Alias] {
			l.d.errorf(Pos{File: file, Line: n.Line, Col: n.Column}, "alias *%s refers to itself", n.Value)
			return l.node(file, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column})
		}
		return l.expandNode(file, n.Alias, active)
	}
	active[n] = true
	defer delete(active, n)
	c := *n
	c.Anchor, c.Content = "", nil
	if n.Kind != yaml.MappingNode {
		for _, ch := range n.Content {
			c.Content = append(c.Content, l.expandNode(file, ch, active))
		}
		return l.node(file, &c)
	}
	// Merge keys: the mapping's own keys win over merged ones, and earlier merged mappings win over
	// later ones (YAML merge key spec).
	var own, merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !isMergeKey(k) {
			own = append(own, l.expandNode(file, k, active), l.expandNode(file, v, active))
			continue
		}
		v = l.expandNode(file, v, active)
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, s := range sources {
			if s.Kind != yaml.MappingNode {
				l.d.errorf(Pos{File: file, Line: s.Line, Col: s.Column}, "merge key << needs a mapping or a list of mappings")
				continue
			}
			merged = append(merged, s.Content...)
		}
	}
	c.Content = own
	have := keySet(own)
	for i := 0; i+1 < len(merged); i += 2 {
		if k := merged[i].Value; !have[k] {
			have[k] = true
			c.Content = append(c.Content, merged[i], merged[i+1])
		}
	}
	return l.node(file, &c)
}

// node registers n as declared in file and returns it.
func (l *loader) node(file string, n *yaml.Node) *yaml.Node {
	l.files[n] = file
	return n
}

// mapValue returns the value of key in mapping m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// keySet returns the keys of a mapping's content, for lookups that must stay linear on big mappings.
func keySet(content []*yaml.Node) map[string]bool {
	set := make(map[string]bool, len(content)/2)
	for i := 0; i+1 < len(content); i += 2 {
		set[content[i].Value] = true
	}
	return set
}
