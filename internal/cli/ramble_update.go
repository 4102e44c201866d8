package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) rambleUpdateCmd(f *rambleFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "update",
		Short: "Re-key every encrypted page for the recipients its creation rule names now (after a rotation)",
		Long: `Update gives every encrypted page the key groups and Shamir threshold of the creation rule that
matches it, with a new data key, as sops updatekeys -y on each page did in the original. Run it
after adding or removing a key in the sops configuration. Pages already up to date are left alone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := a.notebook(cmd.Context(), *f)
			if err != nil {
				return err
			}
			done, err := n.Update(cmd.Context())
			for _, r := range done {
				fmt.Fprintf(a.stdout, "updated %s\n", r)
			}
			if err == nil && len(done) == 0 {
				fmt.Fprintln(a.stdout, "every page is up to date")
			}
			return err
		},
	}
}
