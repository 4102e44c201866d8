package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/ramble"
	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/team"
)

// The `chaos ramble` commands, one file each (ramble_create.go, ...); the logic is in
// internal/ramble.

// rambleFlags pick the notebook and its keys.
type rambleFlags struct {
	team     string // -t company.team.person: that person's notebook in an active team
	sops     string // -ss
	provider string // -p
}

func (a *app) rambleCmd() *cobra.Command {
	var f rambleFlags
	cmd := &cobra.Command{
		Use:   "ramble",
		Short: "An encrypted notebook of YAML pages (journal.page) you can search",
		Long: `A ramble is a notebook: journals of YAML pages with title, concept, what, why, how, scripts and
tags, in ~/.local/share/chaos/ramble ($CHAOS_RAMBLE_DIR), or with -t COMPANY.TEAM.PERSON in the
team's ramblings/PERSON. Pages may be sops-encrypted: by default every key except title, concept and
tags, so that find can list what a page is about while its content stays encrypted. find decrypts
in memory, many pages at once; edit never writes plaintext to disk (a private tmpfs file, as chaos
secrets edit). The sops configuration is -ss, else the team's sops-config.yml, else sops_file in
config.yml, else the nearest .sops.yaml, else sops-config.yml in the chaos config directory.
See docs/secrets.md.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVarP(&f.team, "team", "t", "", "use person PERSON's notebook in active team COMPANY.TEAM.PERSON")
	pf.StringVar(&f.sops, "sops-file", "", "sops configuration (-ss)")
	pf.StringVarP(&f.provider, "provider", "p", "", "fetch the private key from this provider")
	cmd.AddCommand(a.rambleCreateCmd(&f), a.rambleEditCmd(&f), a.rambleEncryptCmd(&f), a.rambleReadCmd(&f),
		a.rambleFindCmd(&f), a.rambleMoveCmd(&f), a.rambleDeleteCmd(&f), a.rambleUpdateCmd(&f))
	return cmd
}

// notebook opens the notebook the flags name, with chaos's keys.
// notebookPage parses a JOURNAL[.PAGE] argument and opens the notebook it is in.
func (a *app) notebookPage(ctx context.Context, f rambleFlags, arg string) (ramble.Ref, ramble.Notebook, error) {
	r, err := ramble.ParseRef(arg)
	if err != nil {
		return r, ramble.Notebook{}, err
	}
	n, err := a.notebook(ctx, f)
	return r, n, err
}

func (a *app) notebook(ctx context.Context, f rambleFlags) (ramble.Notebook, error) {
	var n ramble.Notebook
	var err error
	if f.team != "" {
		ref, err := team.ParseRef(f.team)
		if err != nil {
			return n, err
		}
		if n, err = ramble.TeamNotebook(ref, f.sops); err != nil {
			return n, err
		}
	} else {
		if n.Dir, err = ramble.DefaultDir(); err != nil {
			return n, err
		}
		cfg, err := a.config()
		if err != nil {
			return n, err
		}
		// The notebook directory stands in for the file, so that a .sops.yaml there is found.
		n.Sops = secrets.Resolve(nil, secrets.Sources{File: n.Dir + "/page.yml", Sops: f.sops},
			secrets.Defaults{Sops: cfg.SopsFile, ConfigDir: cfg.Dir}).Sops
	}
	n.Keys, err = a.keyring(ctx, secretFlags{provider: f.provider})
	return n, err
}
