package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/secrets"
)

func (a *app) secretsRotateCmd(f *secretFlags, add bool) *cobra.Command {
	var group, rule int
	var force bool
	shamir := -1
	use, short := "rotate-rm KEY...", "Remove recipients and re-encrypt with a new data key"
	if add {
		use, short = "rotate-add age|pgp|vault KEY...", "Add recipients and re-encrypt with a new data key"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: short + `.

The keys (age recipients age1..., PGP fingerprints, Vault transit key URIs
https://VAULT:8200/v1/ENGINE/keys/KEY) are changed in the sops configuration's creation
rule that matches the secrets file (comments kept) and in the file itself, and the file gets a new
data key wrapped for the new set of recipients: a removed recipient cannot read later changes. The
file must be readable with a key chaos can use now.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if add {
				if len(args) < 2 {
					return errors.New("rotate-add: give the key type (age, pgp or vault) and at least one key")
				}
				return a.secretsRotate(cmd.Context(), *f, secrets.Rotation{Add: true, Kind: args[0], Keys: args[1:],
					Group: group, Rule: rule, Shamir: shamir, Force: force})
			}
			return a.secretsRotate(cmd.Context(), *f, secrets.Rotation{Keys: args, Rule: rule, Shamir: shamir, Force: force})
		},
	}
	if add {
		cmd.Flags().IntVarP(&group, "group", "g", 0, "key group to add to (the number of groups starts a new group)")
		cmd.Flags().IntVar(&shamir, "shamir", -1, "also set the Shamir threshold (e.g. 1 when adding a second group that should decrypt on its own)")
	}
	cmd.Flags().IntVar(&rule, "rule", -1, "creation rule index (default: the rule matching the secrets file)")
	cmd.Flags().BoolVar(&force, "force", false, "write the file even if the keys available here can no longer decrypt it")
	return cmd
}

func (a *app) secretsRotate(ctx context.Context, f secretFlags, r secrets.Rotation) error {
	// A bad key is refused before the file is decrypted.
	if err := r.Validate(); err != nil {
		return err
	}
	sf, src, k, err := a.openSecrets(ctx, f, nil)
	if err != nil {
		return err
	}
	defer sf.Close()
	res, err := secrets.Rotate(ctx, sf, src, k, r)
	return a.reportKeyChange(src, res, err)
}

// reportKeyChange prints what secrets.ChangeKeys wrote, also when it failed after writing the sops
// configuration.
func (a *app) reportKeyChange(src secrets.Sources, res secrets.KeyChangeResult, err error) error {
	if res.Config != "" {
		fmt.Fprintf(a.stdout, "updated creation rule %d of %s\n", res.Rule, res.Config)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "re-encrypted %s with a new data key for %d key group(s)\n", src.File, res.Groups)
	return nil
}
