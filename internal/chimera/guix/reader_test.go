package guix

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// readString is a reference reader for Guile 3.0 string literals, written from Guile's read.c
// (the escapes Quote emits plus the ones it must never emit by accident): it reads the literal at
// the start of src and returns its value and the rest of src.
func readString(src string) (string, string, error) {
	if !strings.HasPrefix(src, `"`) {
		return "", src, errors.New("no opening quote")
	}
	var b strings.Builder
	hex := func(s string, n int) (rune, error) {
		if len(s) < n {
			return 0, fmt.Errorf("short hex escape %q", s)
		}
		v, err := strconv.ParseUint(s[:n], 16, 32)
		if err != nil {
			return 0, fmt.Errorf("bad hex escape %q", s[:n])
		}
		return rune(v), nil
	}
	for i := 1; i < len(src); {
		c := src[i]
		switch c {
		case '"':
			return b.String(), src[i+1:], nil
		case '\\':
			if i+1 >= len(src) {
				return "", "", errors.New("backslash at end")
			}
			e := src[i+1]
			i += 2
			switch e {
			case '\\', '"':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'a':
				b.WriteByte(7)
			case 'f':
				b.WriteByte('\f')
			case 'v':
				b.WriteByte('\v')
			case 'b':
				b.WriteByte('\b')
			case '0':
				b.WriteByte(0)
			case 'x', 'u', 'U':
				n := map[byte]int{'x': 2, 'u': 4, 'U': 6}[e]
				r, err := hex(src[i:], n)
				if err != nil {
					return "", "", err
				}
				b.WriteRune(r)
				i += n
			case '\n':
				// line continuation: Guile skips the newline and the next line's leading blanks
				for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
					i++
				}
			default:
				return "", "", fmt.Errorf("unknown escape \\%c", e)
			}
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", "", errors.New("unterminated string")
}

// readSymbol reads a symbol as Symbol writes it: bare, or #{...}# with \xH; escapes.
func readSymbol(src string) (string, error) {
	body, ok := strings.CutPrefix(src, "#{")
	if !ok {
		return src, nil
	}
	body, ok = strings.CutSuffix(body, "}#")
	if !ok {
		return "", errors.New("unterminated #{")
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			b.WriteByte(body[i])
			continue
		}
		if i+1 >= len(body) || body[i+1] != 'x' {
			return "", fmt.Errorf("bad escape in %q", src)
		}
		end := strings.IndexByte(body[i:], ';')
		if end < 0 {
			return "", fmt.Errorf("unterminated escape in %q", src)
		}
		v, err := strconv.ParseUint(body[i+2:i+end], 16, 32)
		if err != nil {
			return "", err
		}
		b.WriteRune(rune(v))
		i += end
	}
	return b.String(), nil
}

// readForms checks that src is a sequence of balanced s-expressions as Guile reads them: lists,
// strings (through readString), ; comments, #t/#f, quotes and atoms. It returns how many top-level
// forms it read. It is the fuzz oracle for whole generated files, where running guile per input
// would be too slow; TestGoldenHarness and TestRandomChobolos run the real guile.
func readForms(src string) (int, error) {
	depth, forms := 0, 0
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ';':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == ' ' || c == '\n' || c == '\t':
			i++
		case c == '(':
			depth++
			i++
		case c == ')':
			depth--
			if depth < 0 {
				return forms, fmt.Errorf("unbalanced ) at byte %d", i)
			}
			if depth == 0 {
				forms++
			}
			i++
		case c == '"':
			_, rest, err := readString(src[i:])
			if err != nil {
				return forms, fmt.Errorf("byte %d: %w", i, err)
			}
			i = len(src) - len(rest)
			if depth == 0 {
				forms++
			}
		case c == '#' && i+1 < len(src) && (src[i+1] == '|' || src[i+1] == ';'):
			return forms, fmt.Errorf("block or datum comment at byte %d", i)
		case c > 0x7e || c < 0x20:
			return forms, fmt.Errorf("non-ASCII or control byte %#x at %d", c, i)
		default:
			for i < len(src) && !strings.ContainsRune(" \n\t()\";", rune(src[i])) {
				i++
			}
			if depth == 0 {
				forms++
			}
		}
	}
	if depth != 0 {
		return forms, fmt.Errorf("%d unclosed (", depth)
	}
	return forms, nil
}
