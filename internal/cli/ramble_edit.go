package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) rambleEditCmd(f *rambleFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "edit JOURNAL.PAGE",
		Short: "Edit a page in $EDITOR; an encrypted page is decrypted into a private tmpfs file and re-encrypted",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, n, err := a.notebookPage(cmd.Context(), *f, args[0])
			if err != nil {
				return err
			}
			p, err := n.Open(r)
			if err != nil {
				return err
			}
			defer p.Close()
			return a.editPrivately(p.Path, p.Plain, func(edited []byte) error {
				if err := n.Save(p, edited); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "saved %s\n", p.Path)
				return nil
			})
		},
	}
}
