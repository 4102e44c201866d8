package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/team"
)

func (a *app) teamPruneCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "prune [COMPANY...]",
		Short: "Remove the links of teams whose repository is gone",
		RunE: func(cmd *cobra.Command, args []string) error {
			removed, err := team.Prune(args...)
			for _, r := range removed {
				fmt.Fprintf(a.stdout, "pruned %s\n", r)
			}
			if err == nil && len(removed) == 0 {
				fmt.Fprintln(a.stdout, "nothing to prune")
			}
			return err
		},
	}
	// The original asked first; pruning removes only links to nothing, so chaos does not, and
	// accepts -y for the original's scripts.
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "accepted for compatibility (prune does not ask)")
	cmd.Flags().MarkHidden("yes")
	return cmd
}
