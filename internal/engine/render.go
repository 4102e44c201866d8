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

func (s Style) paint(code, text string) string {
	if !s.Color {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

func (s Style) kind(k Kind) string {
	switch k {
	case Add:
		return s.paint("32", "+")
	case Del:
		return s.paint("31", "-")
	default:
		return s.paint("33", "~")
	}
}

// RenderPlan writes the plan as --dry shows it: grouped by role, one line per change, and under each
// group the exact commands and file actions that apply would execute.
func RenderPlan(w io.Writer, hp *HostPlan, st Style) {
	header := hp.Target
	if hp.OS != "" {
		header += " (" + hp.OS + ", core " + hp.Core + ")"
	}
	fmt.Fprintln(w, st.paint("1", header))
	for _, n := range hp.Notes {
		fmt.Fprintf(w, "  %s\n", st.paint("2", "note: "+n))
	}
	if hp.Empty() {
		fmt.Fprintf(w, "  %s\n", st.paint("2", "no changes"))
		for _, rp := range hp.Roles {
			for _, n := range rp.Notes {
				fmt.Fprintf(w, "  %s\n", st.paint("2", rp.Role+": "+n))
			}
		}
		return
	}
	for _, rp := range hp.Roles {
		if rp.Empty() && len(rp.Notes) == 0 {
			continue
		}
		fmt.Fprintf(w, "  %s\n", st.paint("1;36", rp.Role))
		for _, n := range rp.Notes {
			fmt.Fprintf(w, "    %s\n", st.paint("2", "note: "+n))
		}
		if rp.Guard != "" {
			fmt.Fprintf(w, "    %s\n", st.paint("1;31", "guard: "+rp.Guard))
		}
		for _, step := range rp.Steps {
			for _, c := range step.Changes {
				line := st.kind(c.Kind) + " " + c.Subject
				if c.Detail != "" {
					line += st.paint("2", ": "+c.Detail)
				}
				fmt.Fprintf(w, "    %s\n", line)
			}
			for _, op := range step.Ops {
				fmt.Fprintf(w, "      %s\n", st.paint("2", "$ "+oneLine(op.String())))
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
