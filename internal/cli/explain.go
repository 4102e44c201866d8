package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/explain"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
)

func (a *app) library() (explain.Library, error) {
	topics := builtin.Explanations()
	for t, md := range a.soulExplanations() {
		if _, ok := topics[t]; !ok {
			topics[t] = md
		}
	}
	return explain.NewLibrary(topics)
}

func (a *app) explainCmd() *cobra.Command {
	var details string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "explain TOPIC[.SUB]...",
		Short: "Explain a role or concept (TOPIC.list lists its subtopics)",
		Example: `  chaos explain users
  chaos explain users.security
  chaos explain packages --details advanced`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: a.completeTopics,
		RunE: func(cmd *cobra.Command, args []string) error {
			lib, err := a.library()
			if err != nil {
				return err
			}
			for _, ref := range args {
				topic, sub, hasSub := strings.Cut(ref, ".")
				if name := a.registry.Canonical(topic); name != "" {
					topic = name
				}
				if sub == "list" {
					t, err := lib.Lookup(topic, "advanced")
					if err != nil {
						return err
					}
					err = a.reporter(asJSON).Show(t.SectionNames(), func(w io.Writer) error {
						_, err := fmt.Fprintf(w, "%s: %s\n", topic, strings.Join(t.SectionNames(), ", "))
						return err
					})
					if err != nil {
						return err
					}
					continue
				}
				if hasSub {
					topic += "." + sub
				}
				t, err := lib.Lookup(topic, details)
				if err != nil {
					return err
				}
				err = a.reporter(asJSON).Show(t, func(w io.Writer) error {
					_, err := fmt.Fprint(w, t.Text())
					return err
				})
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&details, "details", "d", "basic", "detail level: basic, intermediate, advanced")
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	return cmd
}
