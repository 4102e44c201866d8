package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/secrets"
)

// The `chaos secrets` commands, one file each (secrets_init.go, secrets_edit.go, ...); what they
// and apply -s share is here. The logic a non-CLI caller needs too (which file, which keys, key
// rotation) lives in internal/secrets.

// secretFlags are the options every command that opens the secrets file shares (the original's
// -sf, -ss and -p; apply ignored its -sf/-ss, this one does not).
type secretFlags struct {
	file     string // -sf: the encrypted secrets file
	sops     string // -ss: the sops configuration (.sops.yaml)
	provider string // -p: a provider to fetch a private key from
}

func (f *secretFlags) register(fs interface {
	StringVar(*string, string, string, string)
	StringVarP(*string, string, string, string, string)
}) {
	fs.StringVar(&f.file, "secrets-file", "", "sops-encrypted secrets file (-sf; default: secrets_file in config.yml, then the Ch-obolo's secrets.file)")
	fs.StringVar(&f.sops, "sops-file", "", "sops configuration (-ss; default: sops_file in config.yml, then the nearest .sops.yaml)")
	fs.StringVarP(&f.provider, "provider", "p", "", "fetch the private key from this provider (secret_providers in config.yml; \"default\" for the default one)")
}

// LegacyFlags rewrites the original Ch-aOS's two-letter short flags (-sf, -ss), which pflag cannot
// declare, to their long forms. Everything after "--" is left alone.
func LegacyFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		for short, long := range map[string]string{"-sf": "--secrets-file", "-ss": "--sops-file"} {
			if a == short {
				a = long
			} else if strings.HasPrefix(a, short+"=") {
				a = long + a[len(short):]
			}
		}
		out = append(out, a)
	}
	return out
}

// resolveSecrets is secrets.Resolve with the flags and config.yml; c, the Ch-obolo, may be nil.
func (a *app) resolveSecrets(f secretFlags, c *chobolo.Chobolo) (secrets.Sources, error) {
	cfg, err := a.config()
	if err != nil {
		return secrets.Sources{}, err
	}
	return secrets.Resolve(c, secrets.Sources{File: f.file, Sops: f.sops}, cfg.SecretDefaults(a.chobolo)), nil
}

// keyring gathers chaos's age keys, plus the key of provider -p, in memory.
func (a *app) keyring(ctx context.Context, f secretFlags) (*secrets.Keyring, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	return secrets.LoadKeyring(ctx, cfg.KeyringOptions(f.provider))
}

// secretsFile resolves the secrets file (resolveSecrets) and fails when there is none; c, the
// Ch-obolo, may be nil.
func (a *app) secretsFile(f secretFlags, c *chobolo.Chobolo) (secrets.Sources, error) {
	src, err := a.resolveSecrets(f, c)
	switch {
	case err != nil:
		return src, err
	case src.File != "":
		return src, nil
	case c != nil:
		return src, fmt.Errorf("%w: pass -sf FILE, run `chaos set secrets FILE`, or set secrets.file in the Ch-obolo", secrets.ErrNoFile)
	}
	return src, fmt.Errorf("%w: pass -sf FILE or run `chaos set secrets FILE`", secrets.ErrNoFile)
}

// openSecrets resolves, reads and decrypts the secrets file; it returns the keyring that opened it
// too, for the commands that check a change against it.
func (a *app) openSecrets(ctx context.Context, f secretFlags, c *chobolo.Chobolo) (*secrets.File, secrets.Sources, *secrets.Keyring, error) {
	src, err := a.secretsFile(f, c)
	if err != nil {
		return nil, src, nil, err
	}
	k, err := a.keyring(ctx, f)
	if err != nil {
		return nil, src, nil, err
	}
	sf, err := secrets.OpenFile(ctx, src, k)
	return sf, src, k, err
}

// loadApplySecrets is `chaos apply -s`: the decrypted values, in memory only.
func (a *app) loadApplySecrets(ctx context.Context, f secretFlags, c *chobolo.Chobolo) (*secrets.Values, error) {
	src, err := a.secretsFile(f, c)
	if err != nil {
		return nil, err
	}
	k, err := a.keyring(ctx, f)
	if err != nil {
		return nil, err
	}
	return secrets.LoadValues(ctx, src, k)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (a *app) secretsCmd() *cobra.Command {
	var f secretFlags
	cmd := &cobra.Command{
		Use:     "secrets",
		Aliases: []string{"sec"},
		Short:   "Encrypted secrets: keys, sops files, providers",
		Long: `Secrets live in a sops-encrypted YAML or JSON file (age or PGP recipients, optional Shamir key
groups) that chaos reads and writes itself, compatible with the sops CLI. See docs/secrets.md.

The file is -sf FILE, else secrets_file in config.yml, else secrets.file in the Ch-obolo. The sops
configuration is -ss FILE, else sops_file in config.yml, else the nearest .sops.yaml.`,
	}
	f.register(cmd.PersistentFlags())
	cmd.AddCommand(a.secretsInitCmd(&f), a.secretsEditCmd(&f), a.secretsCatCmd(&f), a.secretsSetCmd(&f),
		a.secretsListCmd(&f), a.secretsRotateCmd(&f, true), a.secretsRotateCmd(&f, false), a.secretsShamirCmd(&f),
		a.secretsExportCmd(&f), a.secretsImportCmd(&f))
	return cmd
}
