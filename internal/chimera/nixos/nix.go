package nixos

import (
	"errors"
	"regexp"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chimera"
	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// errNUL is the one thing a Nix string cannot hold: Nix truncates a string at a raw NUL byte and
// has no escape for it.
var errNUL = errors.New("contains a NUL byte, which a Nix string cannot hold")

// String writes s as a Nix double-quoted string literal that evaluates to exactly s.
//
// Every $ is escaped (so neither ${ nor $${ can start an interpolation), CR is escaped because a
// raw CR reads as LF, and no \u, \x or octal escape is ever used: Nix reads "\u0001" as "u0001".
// That is why json.Marshal, strconv.Quote and nixpkgs' lib.escapeNixString are all wrong here.
// Other control bytes and non-ASCII UTF-8 are written raw, which Nix keeps byte for byte.
func String(s string) (string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", errNUL
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"', '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

// bareID is the ID rule of Nix's lexer, as a full match.
var bareID = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_'-]*$`)

// keywords cannot be bare attribute names. Nix 2.8 accepts `or` there, but newer parsers and
// readers disagree, so it is quoted too. true, false and null are ordinary identifiers.
var keywords = map[string]bool{"if": true, "then": true, "else": true, "assert": true, "with": true,
	"let": true, "in": true, "rec": true, "inherit": true, "or": true}

// Attr writes name as an attribute name: bare when the lexer reads it as an identifier, otherwise
// as a quoted string (which cannot become a dynamic attribute, since every $ is escaped).
func Attr(name string) (string, error) {
	if bareID.MatchString(name) && !keywords[name] {
		return name, nil
	}
	return String(name)
}

// AttrPath writes a dotted attribute path such as pkgs."gtk+3" or users.users.alice.
func AttrPath(segs ...string) (string, error) {
	parts := make([]string, len(segs))
	for i, s := range segs {
		a, err := Attr(s)
		if err != nil {
			return "", err
		}
		parts[i] = a
	}
	return strings.Join(parts, "."), nil
}

// expr is a Nix expression in the generated tree: raw (generator text, already safe), a list, or a
// set. User text only ever enters through String and Attr.
type expr interface{ isExpr() }

type raw string

type list struct{ items []item }

type item struct {
	e   expr
	pos chobolo.Pos
}

// set is an attribute set. A block set prints as `name = { ... };`; any other set is flattened into
// dotted paths (`networking.hostName = ...;`), which Nix merges.
type set struct {
	block  bool
	fields []*field
	index  map[string]*field
}

type field struct {
	name string // unescaped
	val  expr
	pos  chobolo.Pos
}

func (raw) isExpr()   {}
func (*list) isExpr() {}
func (*set) isExpr()  {}

func newSet(block bool) *set { return &set{block: block, index: map[string]*field{}} }

// sub returns the set at path below s, creating flattened sets on the way; the last one is a block
// when block is set.
func (s *set) sub(pos chobolo.Pos, block bool, path ...string) *set {
	cur := s
	for i, name := range path {
		f := cur.index[name]
		if f == nil {
			f = &field{name: name, val: newSet(block && i == len(path)-1), pos: pos}
			cur.index[name] = f
			cur.fields = append(cur.fields, f)
		}
		next, ok := f.val.(*set)
		if !ok { // a generator bug, not user input: the tree never mixes a value and a set
			panic("nixos: " + strings.Join(path, ".") + " is already a value")
		}
		cur = next
	}
	return cur
}

// set assigns e to the dotted path below s; a later assignment to the same path replaces it.
func (s *set) set(pos chobolo.Pos, e expr, path ...string) {
	parent := s.sub(pos, false, path[:len(path)-1]...)
	name := path[len(path)-1]
	if f := parent.index[name]; f != nil {
		f.val, f.pos = e, pos
		return
	}
	f := &field{name: name, val: e, pos: pos}
	parent.index[name] = f
	parent.fields = append(parent.fields, f)
}

// has reports whether path is assigned below s.
func (s *set) has(path ...string) bool {
	cur := s
	for i, name := range path {
		f := cur.index[name]
		if f == nil {
			return false
		}
		if i == len(path)-1 {
			return true
		}
		next, ok := f.val.(*set)
		if !ok {
			return false
		}
		cur = next
	}
	return true
}

// appendTo adds e to the list at path, creating it.
func (s *set) appendTo(pos chobolo.Pos, e expr, path ...string) {
	parent := s.sub(pos, false, path[:len(path)-1]...)
	name := path[len(path)-1]
	f := parent.index[name]
	if f == nil {
		f = &field{name: name, val: &list{}, pos: pos}
		parent.index[name] = f
		parent.fields = append(parent.fields, f)
	}
	l := f.val.(*list)
	l.items = append(l.items, item{e: e, pos: pos})
}

// print writes the fields of s into w, flattening non-block sets into dotted paths.
func (s *set) print(w *chimera.Writer, prefix []string) error {
	for _, f := range s.fields {
		path := append(append([]string(nil), prefix...), f.name)
		if sub, ok := f.val.(*set); ok && !sub.block && len(sub.fields) > 0 {
			if err := sub.print(w, path); err != nil {
				return err
			}
			continue
		}
		lhs, err := AttrPath(path...)
		if err != nil {
			return err
		}
		if err := printValue(w, f.pos, lhs+" = ", f.val, ";"); err != nil {
			return err
		}
	}
	return nil
}

// printValue writes `head<e>tail`, spreading sets and non-empty lists over several lines.
func printValue(w *chimera.Writer, pos chobolo.Pos, head string, e expr, tail string) error {
	switch v := e.(type) {
	case raw:
		w.Line(pos, head+string(v)+tail)
	case *list:
		if len(v.items) == 0 {
			w.Line(pos, head+"[ ]"+tail)
			return nil
		}
		if short, ok := inline(v); ok && len(head)+len(short) <= 80 {
			w.Line(pos, head+short+tail)
			return nil
		}
		w.Open(pos, head+"[")
		for _, it := range v.items {
			p := it.pos
			if p.Line == 0 {
				p = pos
			}
			if err := printValue(w, p, "", it.e, ""); err != nil {
				return err
			}
		}
		w.Close("]" + tail)
	case *set:
		if len(v.fields) == 0 {
			w.Line(pos, head+"{ }"+tail)
			return nil
		}
		w.Open(pos, head+"{")
		if err := v.print(w, nil); err != nil {
			return err
		}
		w.Close("}" + tail)
	}
	return nil
}

// inline prints a list on one line when every item is a plain value without a source position of
// its own (so the source map loses nothing): [ "wheel" "docker" ].
func inline(l *list) (string, bool) {
	parts := []string{"["}
	for _, it := range l.items {
		r, ok := it.e.(raw)
		if !ok || it.pos.Line > 0 {
			return "", false
		}
		parts = append(parts, string(r))
	}
	return strings.Join(append(parts, "]"), " "), true
}

// str is s as a string literal for the tree.
func str(s string) (raw, error) {
	q, err := String(s)
	return raw(q), err
}

// strList is a list of string literals.
func strList(ss ...string) (*list, error) {
	l := &list{}
	for _, s := range ss {
		q, err := str(s)
		if err != nil {
			return nil, err
		}
		l.items = append(l.items, item{e: q})
	}
	return l, nil
}

// pkgRef is pkgs.<attr path> with each segment escaped.
func pkgRef(attr string) (raw, error) {
	p, err := AttrPath(append([]string{"pkgs"}, strings.Split(attr, ".")...)...)
	return raw(p), err
}

func boolean(b bool) raw {
	if b {
		return "true"
	}
	return "false"
}
