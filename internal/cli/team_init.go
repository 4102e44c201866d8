package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/team"
)

func (a *app) teamInitCmd() *cobra.Command {
	var k team.Keys
	var gitInit bool
	cmd := &cobra.Command{
		Use:   "init COMPANY.TEAM[.PERSON] [REPO]",
		Short: "Create a team in a team repository (default: the current directory) and activate it",
		Long: `Init creates REPO/COMPANY/TEAM with secrets/dev, secrets/prod, ramblings/PERSON and sops-config.yml,
records the team and person in REPO/.chaos.yml and links the team into the teams directory.

The creation rules (secrets/dev, secrets/prod, ramblings) encrypt for the team's key group (--age,
--pgp; default: your chaos age keys), an optional backup group (--backup-age, --backup-pgp) and
an optional HashiCorp Vault group (--vault: transit keys, the original's hc_vault groups), with a
Shamir threshold of --shamir groups (default: every group). Unlike the original, the keys
are real (no placeholders) and the threshold is one sops accepts. An existing sops-config.yml is
kept, so init also adds a person to an existing team.`,
		Example: `  chaos team init acme.ops.alice ~/src/infra --git
  chaos team init acme.ops.bob --age age1... --backup-pgp 0123...CDEF --shamir 2
  chaos team init acme.ops.carol --age age1... --vault https://vault.acme:8200/v1/transit/keys/ops --shamir 2`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := team.ParseRef(args[0])
			if err != nil {
				return err
			}
			repo := "."
			if len(args) == 2 {
				repo = args[1]
			}
			if len(k.Age)+len(k.PGP) == 0 {
				cfg, err := a.config()
				if err != nil {
					return err
				}
				kr, err := secrets.DiscoverKeyring(cfg.Dir)
				if err != nil {
					return err
				}
				if k.Age = kr.Recipients(); len(k.Age) == 0 {
					return fmt.Errorf("no team keys: pass --age/--pgp, or run chaos secrets init to make yourself an age key")
				}
			}
			res, err := team.Init(cmd.Context(), repo, ref, k, gitInit)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "team %s.%s in %s\n", ref.Company, ref.Team, res.TeamDir)
			if res.SopsConfig != "" {
				fmt.Fprintf(a.stdout, "wrote %s\n", res.SopsConfig)
			} else {
				fmt.Fprintf(a.stdout, "kept the existing %s\n", team.SopsConfigName)
			}
			fmt.Fprintf(a.stdout, "active as %s\n", res.Link)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&k.Age, "age", nil, "age recipients of the team's key group (repeatable or comma-separated)")
	f.StringSliceVar(&k.PGP, "pgp", nil, "PGP fingerprints of the team's key group")
	f.StringSliceVar(&k.BackupAge, "backup-age", nil, "age recipients of a backup key group")
	f.StringSliceVar(&k.BackupPGP, "backup-pgp", nil, "PGP fingerprints of a backup key group")
	f.StringSliceVar(&k.Vault, "vault", nil, "HashiCorp Vault transit key URIs (https://VAULT:8200/v1/ENGINE/keys/KEY), a key group of their own")
	f.IntVar(&k.Shamir, "shamir", 0, "key groups needed to decrypt (2..groups; 0: all)")
	f.BoolVar(&gitInit, "git", false, "run git init in REPO when it is not a repository")
	return cmd
}
