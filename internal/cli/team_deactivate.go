package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/team"
)

func (a *app) teamDeactivateCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "deactivate COMPANY [TEAM...]",
		Short: "Remove the links of a company's teams (all of them after a confirmation); repositories stay",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && !yes && !a.confirm(fmt.Sprintf("Deactivate every team of %s?", args[0])) {
				return fmt.Errorf("not confirmed: name the teams, or pass -y to deactivate every team of %s", args[0])
			}
			removed, err := team.Deactivate(args[0], args[1:]...)
			for _, r := range removed {
				fmt.Fprintf(a.stdout, "deactivated %s\n", r)
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "deactivate every team of COMPANY without asking")
	return cmd
}
