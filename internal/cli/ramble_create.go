package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/ramble"
)

func (a *app) rambleCreateCmd(f *rambleFlags) *cobra.Command {
	var encrypt bool
	var keys []string
	cmd := &cobra.Command{
		Use:   "create JOURNAL.PAGE",
		Short: "Write a new page in $EDITOR (from the page template); -e stores it encrypted",
		Long: `Create opens $EDITOR on the page template (title, concept, what, why, how, scripts, tags) in a private
tmpfs file, as chaos secrets edit does, and saves the result as JOURNAL/PAGE.yml, encrypted with -e
(every key but title, concept and tags, or -k KEYS). An unchanged template creates nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, n, err := a.notebookPage(cmd.Context(), *f, args[0])
			if err != nil {
				return err
			}
			path, err := n.Path(r)
			if err != nil {
				return err
			}
			return a.editPrivately(path, ramble.Template(r.Page), func(edited []byte) error {
				if err := n.Create(r, edited, encrypt || len(keys) > 0, keys); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "created %s\n", path)
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&encrypt, "encrypt", "e", false, "store the page encrypted")
	cmd.Flags().StringSliceVarP(&keys, "keys", "k", nil, "top-level keys to encrypt (implies -e; default: all but title, concept, tags)")
	return cmd
}
