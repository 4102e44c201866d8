package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/team"
)

func (a *app) teamActivateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "activate [REPO]",
		Short: "Link every team of a team repository (default: the current directory) into the teams directory",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo := "."
			if len(args) == 1 {
				repo = args[0]
			}
			links, err := team.Activate(repo)
			for _, l := range links {
				fmt.Fprintf(a.stdout, "active: %s\n", l)
			}
			return err
		},
	}
}
