package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) rambleDeleteCmd(f *rambleFlags) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete JOURNAL[.PAGE]",
		Short: "Delete a page, or a journal with all its pages (asks first unless -y)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, n, err := a.notebookPage(cmd.Context(), *f, args[0])
			if err != nil {
				return err
			}
			if !yes && !a.confirm(fmt.Sprintf("Delete %s?", r)) {
				return fmt.Errorf("not confirmed: pass -y to delete %s", r)
			}
			if err := n.Delete(r); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "deleted %s\n", r)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask")
	return cmd
}
