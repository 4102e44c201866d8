package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/ramble"
)

func (a *app) rambleReadCmd(f *rambleFlags) *cobra.Command {
	var asJSON bool
	var keys []string
	cmd := &cobra.Command{
		Use:   "read JOURNAL.PAGE|JOURNAL|JOURNAL.list...",
		Short: "Print pages (decrypted in memory), or list a journal's pages",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := a.notebook(cmd.Context(), *f)
			if err != nil {
				return err
			}
			for _, arg := range args {
				r, err := ramble.ParseRef(arg)
				if err != nil {
					return err
				}
				if r.Page == "" || r.Page == "list" {
					refs, err := n.Pages(r.Journal)
					if err != nil {
						return err
					}
					for _, p := range refs {
						fmt.Fprintln(a.stdout, p)
					}
					continue
				}
				if err := a.printPage(n, r, keys, asJSON); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	cmd.Flags().StringSliceVar(&keys, "values", nil, "print only these keys")
	return cmd
}

func (a *app) printPage(n ramble.Notebook, r ramble.Ref, keys []string, asJSON bool) error {
	p, err := n.Open(r)
	if err != nil {
		return err
	}
	defer p.Close()
	if len(keys) == 0 && !asJSON {
		fmt.Fprintf(a.stdout, "# %s\n%s", r, p.Plain)
		return nil
	}
	var doc map[string]any
	if err := yaml.Unmarshal(p.Plain, &doc); err != nil {
		return fmt.Errorf("ramble %s: does not parse as YAML", r)
	}
	if len(keys) > 0 {
		sel := map[string]any{}
		for _, k := range keys {
			if v, ok := doc[k]; ok {
				sel[k] = v
			}
		}
		doc = sel
	}
	if asJSON {
		return a.printJSON(map[string]any{"page": r.String(), "content": doc})
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "# %s\n%s", r, out)
	return nil
}
