package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/ramble"
)

func (a *app) rambleFindCmd(f *rambleFlags) *cobra.Command {
	var o ramble.FindOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "find [TERM]",
		Short: "Find pages whose decrypted text contains TERM (case-insensitive) and/or that carry --tag",
		Long: `Find decrypts every page in memory, several at once (the original ran one sops process per page,
one after the other), and lists the pages that contain TERM, case-insensitively, and carry --tag.
Pages that cannot be decrypted are reported after the others.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Term = args[0]
			}
			n, err := a.notebook(cmd.Context(), *f)
			if err != nil {
				return err
			}
			ms, ferr := n.Find(cmd.Context(), o)
			if asJSON {
				type item struct {
					Page      string         `json:"page"`
					Encrypted bool           `json:"encrypted"`
					Content   map[string]any `json:"content"`
				}
				items := []item{}
				for _, m := range ms {
					items = append(items, item{m.Ref.String(), m.Encrypted, m.Doc})
				}
				if err := a.printJSON(items); err != nil {
					return err
				}
				return ferr
			}
			for _, m := range ms {
				tags := ""
				if len(m.Tags) > 0 {
					tags = "  [" + strings.Join(m.Tags, ", ") + "]"
				}
				fmt.Fprintf(a.stdout, "%s\t%s%s\n", m.Ref, m.Title, tags)
			}
			return ferr
		},
	}
	cmd.Flags().StringVar(&o.Tag, "tag", "", "only pages with this tag")
	cmd.Flags().IntVar(&o.Workers, "jobs", 0, "pages decrypted at once (default: the number of CPUs)")
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "the matching pages, decrypted, as JSON")
	return cmd
}
