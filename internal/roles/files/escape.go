package files

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ch-aos-ch/chaos/internal/shell"
)

// Escape makes secret value v safe to insert into a file of the given format, as one complete value
// of that format (a quoted word, a JSON string, a YAML double-quoted scalar, a quoted ini value),
// so that quotes, newlines, $(...), backslashes, ']', '=' or '#' in a secret cannot change the file's
// structure. A value a format cannot hold is refused; the error never quotes it.
func Escape(format, v string) (string, error) {
	switch format {
	case "", "none":
		return v, nil
	case "shell":
		if strings.ContainsRune(v, 0) {
			return "", fmt.Errorf("contains a NUL byte, which a shell word cannot hold")
		}
		return shell.Quote(v), nil
	case "json":
		if !utf8.ValidString(v) {
			return "", fmt.Errorf("is not valid UTF-8, which a JSON string cannot hold")
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	case "yaml":
		return yamlQuote(v)
	case "ini":
		// The quoted-value dialect of INI parsers such as gopkg.in/ini.v1 (UnescapeValueDoubleQuotes):
		// the value between double quotes, each " written \". No INI dialect has a line break inside
		// a value that all parsers agree on, so one is refused.
		if strings.ContainsAny(v, "\n\r\x00") {
			return "", fmt.Errorf("contains a line break or NUL byte, which an ini value cannot hold (use escape: json in a JSON file)")
		}
		return `"` + strings.ReplaceAll(v, `"`, `\"`) + `"`, nil
	case "html":
		// What the original's Jinja2 autoescape (markupsafe) does.
		return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(v), nil
	}
	return "", fmt.Errorf("unknown escape %q", format)
}

// yamlQuote writes v as a YAML double-quoted scalar on one line: every character that is not
// printable, and the line breaks YAML knows (NEL, LS, PS), as an escape.
func yamlQuote(v string) (string, error) {
	if !utf8.ValidString(v) {
		return "", fmt.Errorf("is not valid UTF-8, which a YAML string cannot hold")
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '"':
			b.WriteString(`\"`)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r > 0xa0 && unicode.IsPrint(r) && r != 0x2028 && r != 0x2029 && r != 0xfeff:
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			fmt.Fprintf(&b, `\U%08X`, r)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}
