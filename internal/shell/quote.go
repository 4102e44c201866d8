// Package shell quotes values for POSIX sh. It is the only place chaos turns data into shell text:
// everything else passes argv slices.
package shell

import (
	"fmt"
	"strings"
)

// Quote returns s as one POSIX sh word that expands to exactly s. Plain words are left bare for
// readability; everything else is single-quoted, each embedded single quote written as the four
// characters quote, backslash, quote, quote.
// NUL cannot be represented in a shell word: callers validate that values contain none (Quote drops
// it rather than letting it truncate the word silently in the shell).
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	s = strings.ReplaceAll(s, "\x00", "")
	if s == "" {
		return "''"
	}
	if isPlain(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes each element and joins them with spaces.
func Join(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(Quote(a))
	}
	return b.String()
}

// isPlain reports whether s needs no quoting: only characters that are never special to sh, and not
// starting with '~' or containing '=' in the first word position (kept quoted to be safe).
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == '/' || c == ',' || c == ':' || c == '+' || c == '@' || c == '%':
		default:
			return false
		}
	}
	return true
}

// Split is the inverse of Join: it splits text made of words as Quote writes them (bare words and
// single-quoted strings, separated by single spaces) back into the values. Anything else is an
// error: Split is not a shell parser, it reads what Join wrote.
func Split(text string) ([]string, error) {
	var argv []string
	for i := 0; i < len(text); {
		var b strings.Builder
		start := i
		for i < len(text) && text[i] != ' ' {
			switch c := text[i]; {
			case c == '\'':
				end := strings.IndexByte(text[i+1:], '\'')
				if end < 0 {
					return nil, fmt.Errorf("shell.Split: unterminated quote at byte %d", i)
				}
				b.WriteString(text[i+1 : i+1+end])
				i += end + 2
			case c == '\\' && i+1 < len(text) && text[i+1] == '\'':
				b.WriteByte('\'')
				i += 2
			case isPlain(string(c)):
				b.WriteByte(c)
				i++
			default:
				return nil, fmt.Errorf("shell.Split: unexpected %q at byte %d", c, i)
			}
		}
		if i == start {
			return nil, fmt.Errorf("shell.Split: empty word at byte %d", i)
		}
		argv = append(argv, b.String())
		if i < len(text) {
			i++ // the separating space
			if i == len(text) {
				return nil, fmt.Errorf("shell.Split: trailing space")
			}
		}
	}
	return argv, nil
}
