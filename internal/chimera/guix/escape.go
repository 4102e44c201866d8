package guix

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Quote returns s as a Guile string literal that Guile 3.0 reads back as exactly s, whatever the
// locale: the literal is pure ASCII. The rules (chimera-targets.md §4.4, verified against Guile
// 3.0.8 by TestQuoteGuileRoundTrip):
//
//   - \ and " are backslash-escaped; LF, TAB and CR become \n, \t and \r;
//   - every other C0 control, NUL included, and DEL become \xHH: exactly two hex digits and no
//     closing semicolon (Guile's default reader keeps a ";" after \x41 as a character);
//   - U+0080..U+FFFF become \uHHHH and anything above \UHHHHHH (exactly six digits: Guile reads
//     six, so Go's eight-digit \U0001f600 would leave a stray "00").
//
// Guile strings hold characters, not bytes, so a string that is not valid UTF-8 cannot be written
// byte-exact: it is an error. Go's strconv.Quote* and json.Marshal are all wrong for Scheme.
func Quote(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%q is not valid UTF-8", s)
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '"':
			b.WriteString(`\"`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x80:
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%06x`, r)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

// Symbol returns s as a Guile symbol literal (to be used after a quote, as in 'NAME). A name of
// lower-case letters, digits and "-" that does not start with a digit or "-" is written bare;
// anything else uses Guile's extended #{...}# syntax with every character outside [a-z0-9-]
// written as an R6RS hex escape \xH; (inside #{}# the semicolon ends the escape). Invalid UTF-8
// is an error, as for Quote.
func Symbol(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%q is not valid UTF-8", s)
	}
	plain := func(r rune) bool { return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' }
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !plain(r) }) < 0 &&
		!(s[0] >= '0' && s[0] <= '9') && s[0] != '-' {
		return s, nil
	}
	var b strings.Builder
	b.WriteString("#{")
	for _, r := range s {
		if plain(r) {
			b.WriteRune(r)
			continue
		}
		b.WriteString(`\x`)
		b.WriteString(strconv.FormatInt(int64(r), 16))
		b.WriteByte(';')
	}
	b.WriteString("}#")
	return b.String(), nil
}
