// Package printable makes text that came from a managed host safe to show on the operator's
// terminal. A host is not trusted: a package description, a file's old content in a diff or a
// command's stderr may carry escape sequences that retitle the window, erase the line above, or
// reorder what is displayed (bidirectional overrides), and so hide or forge lines of a plan.
// Everything such text carries that a terminal would interpret is shown as a Go-style escape.
package printable

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Line returns s with every control character escaped, newlines included, for a value shown on one
// line (a subject, a name, a path): `\n`, `\r`, `\x1b`, `\u009b`, `\u202e`; bytes that are not UTF-8
// as `\xff`. A string that needs nothing comes back as it is.
func Line(s string) string { return escape(s, false) }

// Text is Line for multi-line text (diffs, command output, errors): newlines and tabs are kept.
func Text(s string) string { return escape(s, true) }

func escape(s string, multiline bool) string {
	if clean(s, multiline) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t', r == '\n' && multiline:
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case unsafeRune(r) && r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// clean is the fast path: most text is printable ASCII.
func clean(s string, multiline bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\t' || c == '\n' && multiline:
		case c < 0x20 || c == 0x7f:
			return false
		case c >= 0x80:
			return cleanUnicode(s[i:])
		}
	}
	return true
}

func cleanUnicode(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r != '\t' && r != '\n' && unsafeRune(r) {
			return false
		}
	}
	return true
}

// unsafeRune reports the characters a terminal interprets instead of showing: C0 controls, DEL, C1
// controls, and the Unicode bidirectional controls that reorder the rest of the line.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// Unsafe names the first character of s that Text would escape, or "" when s is safe to print.
// Tests use it to check output.
func Unsafe(s string) string {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return fmt.Sprintf("the byte %#x (not UTF-8) at %d", s[i], i)
		case r != '\t' && r != '\n' && unsafeRune(r):
			return fmt.Sprintf("the character %U at byte %d", r, i)
		}
		i += size
	}
	return ""
}
