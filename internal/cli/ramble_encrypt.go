package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) rambleEncryptCmd(f *rambleFlags) *cobra.Command {
	var keys []string
	cmd := &cobra.Command{
		Use:   "encrypt JOURNAL.PAGE",
		Short: "Encrypt a page (every key but title, concept and tags, or -k KEYS); an encrypted one is re-encrypted with -k",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, n, err := a.notebookPage(cmd.Context(), *f, args[0])
			if err != nil {
				return err
			}
			if err := n.Encrypt(r, keys); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "encrypted %s\n", r)
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&keys, "keys", "k", nil, "top-level keys to encrypt")
	return cmd
}
