package engine

import (
	"fmt"
	"io"
	"strings"
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
// group the exact commands and file actions that apply would execute.
func RenderPlan(w io.Writer, hp *HostPlan, st Style) {
	header := hp.Target
	if hp.OS != "" {
		header += " (" + hp.OS + ", core " + hp.Core + ")"
	}
	fmt.Fprintln(w, st.Paint("1", header))
	for _, n := range hp.Notes {
		fmt.Fprintf(w, "  %s\n", st.Paint("2", "note: "+n))
	}
	if hp.Empty() {
		fmt.Fprintf(w, "  %s\n", st.Paint("2", "no changes"))
		for _, rp := range hp.Roles {
			for _, n := range rp.Warnings {
				fmt.Fprintf(w, "  %s\n", st.Paint("33", rp.Role+": warning: "+n))
			}
			for _, n := range rp.Notes {
				fmt.Fprintf(w, "  %s\n", st.Paint("2", rp.Role+": "+n))
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
			fmt.Fprintf(w, "    %s\n", st.Paint("2", "note: "+n))
		}
		if rp.Guard != "" {
			fmt.Fprintf(w, "    %s\n", st.Paint("1;31", "guard: "+rp.Guard))
		}
		for _, step := range rp.Steps {
			for _, c := range step.Changes {
				line := st.kind(c.Kind) + " " + c.Subject
				if c.Detail != "" {
					// multi-line details (a file's diff) are indented under their change
					line += st.Paint("2", ": "+strings.ReplaceAll(c.Detail, "\n", "\n        "))
				}
				fmt.Fprintf(w, "    %s\n", line)
			}
			for _, op := range step.Ops {
				fmt.Fprintf(w, "      %s\n", st.Paint("2", "$ "+oneLine(op.String())))
			}
		}
	}
}

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
