package engine

import (
	"fmt"
	"io"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/printable"
)

// Style colors plan output; the zero Style prints plain text.
type Style struct {
	Color bool
}

// Paint wraps text in an ANSI SGR code when colors are on.
func (s Style) Paint(code, text string) string {
	if !s.Color {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

func (s Style) kind(k Kind) string {
	switch k {
	case Add:
		return s.Paint("32", "+")
	case Del:
		return s.Paint("31", "-")
	default:
		return s.Paint("33", "~")
	}
}

// RenderPlan writes the plan as --dry shows it: grouped by role, one line per change, and under each
// group the exact commands and file actions that apply would execute. Text from the host (names,
// old contents in diffs, notes quoting it) is escaped where a terminal would interpret it
// (internal/printable), so a hostile host cannot hide or forge lines of the plan.
func RenderPlan(w io.Writer, hp *HostPlan, st Style) {
	header := printable.Line(hp.Target)
	if hp.OS != "" {
		header += " (" + printable.Line(hp.OS) + ", core " + hp.Core + ")"
	}
	fmt.Fprintln(w, st.Paint("1", header))
	for _, n := range hp.Notes {
		fmt.Fprintf(w, "  %s\n", st.Paint("2", "note: "+printable.Line(n)))
	}
	if hp.Empty() {
		fmt.Fprintf(w, "  %s\n", st.Paint("2", "no changes"))
		for _, rp := range hp.Roles {
			for _, n := range rp.Warnings {
				fmt.Fprintf(w, "  %s\n", st.Paint("33", rp.Role+": warning: "+n))
			}
			for _, n := range rp.Notes {
				fmt.Fprintf(w, "  %s\n", st.Paint("2", rp.Role+": "+printable.Line(n)))
			}
		}
		return
	}
	for _, rp := range hp.Roles {
		if rp.Empty() && len(rp.Notes) == 0 && len(rp.Warnings) == 0 {
			continue
		}
		fmt.Fprintf(w, "  %s\n", st.Paint("1;36", rp.Role))
		for _, n := range rp.Warnings {
			fmt.Fprintf(w, "    %s\n", st.Paint("33", "warning: "+n))
		}
		for _, n := range rp.Notes {
			fmt.Fprintf(w, "    %s\n", st.Paint("2", "note: "+printable.Line(n)))
		}
		if rp.Guard != "" {
			fmt.Fprintf(w, "    %s\n", st.Paint("1;31", "guard: "+printable.Line(rp.Guard)))
		}
		for _, step := range rp.Steps {
			for _, c := range step.Changes {
				line := st.kind(c.Kind) + " " + printable.Line(c.Subject)
				if c.Detail != "" {
					// multi-line details (a file's diff) are indented under their change
					line += st.Paint("2", ": "+strings.ReplaceAll(printable.Text(c.Detail), "\n", "\n        "))
				}
				fmt.Fprintf(w, "    %s\n", line)
			}
			for _, op := range step.Ops {
				fmt.Fprintf(w, "      %s\n", st.Paint("2", "$ "+printable.Line(oneLine(op.String()))))
				if op.Irreversible != "" {
					fmt.Fprintf(w, "        %s\n", st.Paint("33", "cannot be undone: "+op.Irreversible))
				}
				if op.PrevInMemory {
					fmt.Fprintf(w, "        %s\n", st.Paint("2", SecretUndoNote))
				}
			}
		}
	}
}

// SecretUndoNote is shown under a secret write: its undo keeps the previous content in memory only.
const SecretUndoNote = "undo keeps the previous content in memory only: after a crash, recovery cannot restore it"

// Summary is the one-line result of a plan: "3 to add, 1 to change, 2 to remove".
func Summary(hp *HostPlan) string {
	var add, mod, del int
	for _, rp := range hp.Roles {
		for _, s := range rp.Steps {
			for _, c := range s.Changes {
				switch c.Kind {
				case Add:
					add++
				case Del:
					del++
				default:
					mod++
				}
			}
		}
	}
	if add+mod+del == 0 {
		return "no changes"
	}
	return fmt.Sprintf("%d to add, %d to change, %d to remove", add, mod, del)
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
