package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/secrets"
)

func (a *app) secretsShamirCmd(f *secretFlags) *cobra.Command {
	var rule int
	var force bool
	cmd := &cobra.Command{
		Use:   "shamir N",
		Short: "Require N of the key groups to decrypt (0: all of them)",
		Long: `Shamir sets the number of key groups whose keys are needed to recover the data key, in the sops
configuration's rule and in the file, and re-encrypts with a new data key split into one share per
group. N must be between 2 (sops's minimum for a split) and the number of groups (the original
accepted thresholds no set of keys could meet); 0 removes the threshold, so every group is needed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 0 {
				return fmt.Errorf("shamir: %q is not a number of key groups", args[0])
			}
			sf, src, k, err := a.openSecrets(cmd.Context(), *f, nil)
			if err != nil {
				return err
			}
			defer sf.Close()
			res, err := secrets.SetShamir(cmd.Context(), sf, src, k, n, rule, force)
			return a.reportKeyChange(src, res, err)
		},
	}
	cmd.Flags().IntVar(&rule, "rule", -1, "creation rule index (default: the rule matching the secrets file)")
	cmd.Flags().BoolVar(&force, "force", false, "write the file even if the keys available here can no longer decrypt it")
	return cmd
}
