package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/ramble"
)

func (a *app) rambleMoveCmd(f *rambleFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "move OLD NEW",
		Short: "Rename a page (journal.page) or a journal; encrypted pages move as they are",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, err := ramble.ParseRef(args[0])
			if err != nil {
				return err
			}
			to, err := ramble.ParseRef(args[1])
			if err != nil {
				return err
			}
			n, err := a.notebook(cmd.Context(), *f)
			if err != nil {
				return err
			}
			if err := n.Move(from, to); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "moved %s to %s\n", from, to)
			return nil
		},
	}
}
