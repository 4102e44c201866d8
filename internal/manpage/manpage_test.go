package manpage

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// What roff would misread stays text: a line starting with a dot, backslashes, minus signs (which
// groff prints as hyphens); `quoted` words are bold; lists keep their lines. (internal/cli's
// TestManPages runs groff and man over every page of chaos.)
func TestWriteEscapes(t *testing.T) {
	root := &cobra.Command{Use: "tool"}
	sub := &cobra.Command{Use: "sub FILE", Short: "Do a thing", Run: func(*cobra.Command, []string) {},
		Long:    "First line\n.hidden request? no: text, with C:\\path and `--flag`.\n\nSecond paragraph:\n- one\n- two",
		Example: "  tool sub -x\n.start"}
	sub.Flags().StringP("out", "o", "", "where `DIR` goes")
	root.AddCommand(sub)
	var b strings.Builder
	if err := write(&b, sub, Header{Section: "1", Source: "tool 1.0", Manual: "Tool manual"}, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		`.TH "TOOL-SUB" "1" "Dec 2026" "tool 1.0" "Tool manual"`,
		"tool\\-sub \\- Do a thing\n",
		"\\&.hidden request? no: text, with C:\\epath and \\fB\\-\\-flag\\fR.\n",
		".PP\nSecond paragraph:\n.br\n\\- one\n.br\n\\- two\n",
		".TP\n\\fB\\-o\\fR, \\fB\\-\\-out\\fR=\"\"\nwhere \\fBDIR\\fR goes\n",
		".EX\n  tool sub \\-x\n\\&.start\n.EE\n",
		".SH SEE ALSO\n\\fBtool\\fR(1)\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
}
