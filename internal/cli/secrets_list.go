package cli

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/secrets"
)

func (a *app) secretsListCmd(f *secretFlags) *cobra.Command {
	var paths bool
	cmd := &cobra.Command{
		Use:   "list [age|pgp|vault]",
		Short: "List the file's recipients by key group (or, with --paths, its key paths)",
		Long: `List shows the master keys of the secrets file by key group, the Shamir threshold, and whether
chaos holds the private key of each age recipient. --paths lists the dotted key paths of the secrets
instead; sops keeps keys in clear, so this needs no private key.`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"age", "pgp", "vault"},
		RunE: func(cmd *cobra.Command, args []string) error {
			rf, err := a.secretsFile(*f, nil)
			if err != nil {
				return err
			}
			kind := ""
			if len(args) == 1 {
				kind = secrets.KindName(args[0])
				if !slices.Contains(secrets.KeyKinds, kind) {
					return fmt.Errorf("list: unknown key type %q (age, pgp, vault)", args[0])
				}
			}
			info, err := secrets.Inspect(rf.File, rf.Sops)
			if err != nil {
				return err
			}
			if paths {
				for _, p := range info.Paths {
					fmt.Fprintln(a.stdout, p)
				}
				return nil
			}
			k, err := a.keyring(cmd.Context(), *f)
			if err != nil {
				return err
			}
			held := k.Recipients()
			fmt.Fprintf(a.stdout, "%s\n", rf.File)
			if len(info.Groups) > 1 {
				thr := info.Threshold
				if thr == 0 {
					thr = len(info.Groups)
				}
				fmt.Fprintf(a.stdout, "shamir: %d of %d key groups\n", thr, len(info.Groups))
			}
			for i, g := range info.Groups {
				fmt.Fprintf(a.stdout, "group %d:\n", i)
				for _, mk := range g {
					if kind != "" && mk.Kind != kind {
						continue
					}
					mark := ""
					if mk.Kind == "age" && slices.Contains(held, mk.ID) {
						mark = "  (private key held)"
					}
					fmt.Fprintf(a.stdout, "  %-4s %s%s\n", mk.Kind, mk.ID, mark)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&paths, "paths", false, "list the secrets' key paths instead of the recipients")
	return cmd
}
