package cli

import (
	"fmt"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/team"
)

func (a *app) teamCloneCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "clone URL [DIR]",
		Short: "Clone a team repository and activate its teams",
		Long: `Clone runs git clone URL DIR (DIR defaults to the repository's name, as git does), checks the
clone's .chaos.yml (names, engines, no symlinks) and activates every team it lists. A clone that is
not a valid team repository is removed. (The original's clone crashed before cloning.)`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := strings.TrimSuffix(path.Base(strings.TrimRight(args[0], "/")), ".git")
			if len(args) == 2 {
				dir = args[1]
			}
			links, err := team.Clone(cmd.Context(), args[0], dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "cloned %s into %s\n", args[0], dir)
			for _, l := range links {
				fmt.Fprintf(a.stdout, "active: %s\n", l)
			}
			return nil
		},
	}
}
