// Package manpage writes a man page (roff, man macros) per cobra command, for `chaos man`. It
// replaces cobra/doc, which renders through Markdown (go-md2man, blackfriday): blackfriday's
// package initialisers (an HTML entity table of 2,000 entries, 0.4-0.5 ms and 200 KB) ran at every
// start of chaos for a command that is run once per install (issue 16).
package manpage

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Header is what every page's .TH line says besides its title.
type Header struct {
	Section string // "1"
	Source  string // "chaos 1.2.0"
	Manual  string // "Ch-aOS manual"
}

// WriteTree writes one page per available command under root (root included) into dir, named
// after the command's path with dashes (chaos-apply.1). SOURCE_DATE_EPOCH, when set, is the
// pages' date (reproducible builds); else today.
func WriteTree(root *cobra.Command, h Header, dir string) error {
	date := time.Now()
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", epoch, err)
		}
		date = time.Unix(sec, 0).UTC()
	}
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() && !sub.IsAdditionalHelpTopicCommand() {
				if err := walk(sub); err != nil {
					return err
				}
			}
		}
		f, err := os.Create(filepath.Join(dir, dashed(c)+"."+h.Section))
		if err != nil {
			return err
		}
		if err := write(f, c, h, date); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", f.Name(), err)
		}
		return f.Close()
	}
	return walk(root)
}

func dashed(c *cobra.Command) string { return strings.ReplaceAll(c.CommandPath(), " ", "-") }

// write writes c's page: NAME, SYNOPSIS, DESCRIPTION, OPTIONS, OPTIONS INHERITED FROM PARENT
// COMMANDS, EXAMPLE and SEE ALSO, as cobra/doc did.
func write(w io.Writer, c *cobra.Command, h Header, date time.Time) error {
	c.InitDefaultHelpFlag()
	var b strings.Builder
	fmt.Fprintf(&b, ".nh\n.TH %s %s %s %s %s\n", quote(strings.ToUpper(dashed(c))), quote(h.Section),
		quote(date.Format("Jan 2006")), quote(h.Source), quote(h.Manual))
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", escape(dashed(c)), text(c.Short))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n\\fB%s\\fR\n", escape(c.UseLine()))
	b.WriteString(".SH DESCRIPTION\n")
	desc := c.Long
	if desc == "" {
		desc = c.Short
	}
	paragraphs(&b, desc)
	flags(&b, "OPTIONS", c.NonInheritedFlags())
	flags(&b, "OPTIONS INHERITED FROM PARENT COMMANDS", c.InheritedFlags())
	if c.Example != "" {
		b.WriteString(".SH EXAMPLE\n.EX\n")
		for _, l := range strings.Split(strings.TrimRight(c.Example, "\n"), "\n") {
			b.WriteString(line(escape(l)) + "\n")
		}
		b.WriteString(".EE\n")
	}
	var also []*cobra.Command
	if c.HasParent() {
		also = append(also, c.Parent())
	}
	subs := slices.Clone(c.Commands())
	slices.SortFunc(subs, func(x, y *cobra.Command) int { return strings.Compare(x.Name(), y.Name()) })
	for _, sub := range subs {
		if sub.IsAvailableCommand() && !sub.IsAdditionalHelpTopicCommand() {
			also = append(also, sub)
		}
	}
	if len(also) > 0 {
		refs := make([]string, len(also))
		for i, a := range also {
			refs[i] = fmt.Sprintf("\\fB%s\\fR(%s)", escape(dashed(a)), h.Section)
		}
		fmt.Fprintf(&b, ".SH SEE ALSO\n%s\n", strings.Join(refs, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// paragraphs writes text: blank lines separate paragraphs, and a line that starts with a space or
// "- " starts a line of its own (lists and indented lines keep their shape).
func paragraphs(b *strings.Builder, s string) {
	for i, p := range strings.Split(strings.TrimSpace(s), "\n\n") {
		if i > 0 {
			b.WriteString(".PP\n")
		}
		for j, l := range strings.Split(strings.Trim(p, "\n"), "\n") {
			if j > 0 && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "- ")) {
				b.WriteString(".br\n")
			}
			b.WriteString(line(text(strings.TrimRight(l, " "))) + "\n")
		}
	}
}

// flags writes a section of flags (none: no section), as --help lists them.
func flags(b *strings.Builder, title string, fs *pflag.FlagSet) {
	if !fs.HasAvailableFlags() {
		return
	}
	fmt.Fprintf(b, ".SH %s\n", title)
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Deprecated != "" || f.Hidden {
			return
		}
		b.WriteString(".TP\n")
		if f.Shorthand != "" && f.ShorthandDeprecated == "" {
			fmt.Fprintf(b, "\\fB\\-%s\\fR, ", escape(f.Shorthand))
		}
		fmt.Fprintf(b, "\\fB\\-\\-%s\\fR", escape(f.Name))
		def := f.DefValue
		if f.Value.Type() == "string" {
			def = strconv.Quote(def)
		}
		if f.NoOptDefVal != "" {
			fmt.Fprintf(b, "[=%s]\n", escape(def))
		} else {
			fmt.Fprintf(b, "=%s\n", escape(def))
		}
		b.WriteString(line(text(f.Usage)) + "\n")
	})
}

// text escapes s and shows `quoted` words in bold, as the Markdown renderer did.
func text(s string) string {
	parts := strings.Split(s, "`")
	if len(parts)%2 == 0 { // an unpaired backquote: literal
		return escape(s)
	}
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 {
			b.WriteString("\\fB" + escape(p) + "\\fR")
		} else {
			b.WriteString(escape(p))
		}
	}
	return b.String()
}

// escape makes s literal text for roff: backslashes and minus signs (which groff would print as
// hyphens, breaking options copied from the page).
func escape(s string) string { return escaper.Replace(s) }

var escaper = strings.NewReplacer(`\`, `\e`, "-", `\-`)

// line keeps a text line from being read as a request (a leading . or ').
func line(s string) string {
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		return `\&` + s
	}
	return s
}

// quote is a .TH argument (its minus signs stay: man prints the title as it is).
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\e`, `"`, `\(dq`).Replace(s) + `"`
}
