package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) rambleEditCmd(f *rambleFlags) *cobra.Command {
	var sopsConfig bool
	cmd := &cobra.Command{
		Use:   "edit JOURNAL.PAGE",
		Short: "Edit a page in $EDITOR; an encrypted page is decrypted into a private tmpfs file and re-encrypted",
		Long: `Edit opens a page in $EDITOR; an encrypted page is decrypted into a private tmpfs file and
re-encrypted with its data key. With -s (--sops), edit the sops configuration the notebook's pages
use instead, checked before it is saved (as chaos secrets edit -s).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, n, err := a.notebookPage(cmd.Context(), *f, args[0])
			if err != nil {
				return err
			}
			if sopsConfig {
				path, err := n.Path(r)
				if err != nil {
					return err
				}
				return a.editSopsConfig(path, n.Sops)
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
	cmd.Flags().BoolVarP(&sopsConfig, "sops", "s", false, "edit the sops configuration of the pages instead")
	return cmd
}
