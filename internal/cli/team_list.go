package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/team"
)

func (a *app) teamListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [COMPANY...]",
		Short: "List the active teams and where they point",
		RunE: func(cmd *cobra.Command, args []string) error {
			act, err := team.List(args...)
			if err != nil {
				return err
			}
			type item struct {
				Company  string `json:"company"`
				Team     string `json:"team"`
				Path     string `json:"path"`
				Dangling bool   `json:"dangling"`
			}
			items := []item{}
			for _, x := range act {
				items = append(items, item{x.Company, x.Team, x.Target, x.Dangling})
			}
			return a.reporter(asJSON).Show(items, func(w io.Writer) error {
				if len(act) == 0 {
					fmt.Fprintln(w, "no active teams (chaos team init, clone or activate)")
				}
				for _, x := range act {
					gone := ""
					if x.Dangling {
						gone = "  (gone; chaos team prune)"
					}
					fmt.Fprintf(w, "%s.%s\t%s%s\n", x.Company, x.Team, x.Target, gone)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	return cmd
}
