package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/secrets/providers"
	"github.com/ch-aos-ch/chaos/internal/secrets/vault"
)

func (a *app) secretsExportCmd(f *secretFlags) *cobra.Command {
	var keyFile, keyType, vaultAddr string
	var fingerprints []string
	var noImport bool
	cmd := &cobra.Command{
		Use:   "export PROVIDER",
		Short: "Store a private key (age, PGP) or Vault credentials in a provider",
		Long: `Export stores key material with the provider's store operation; it goes to the provider's CLI on
stdin (or to Vault's HTTP API in a request body), never in argv. --key-type says what:
  age    an age key file (--key-file, default: every key in the chaos keys directory)
  pgp    GnuPG's secret keys of --fingerprints, armored (they must have no passphrase)
  vault  a Vault address (--vault-addr, else $VAULT_ADDR) and token ($VAULT_TOKEN, else
         ~/.vault-token), for the file keys of type hc_vault
--no-import prefixes "# NO-IMPORT": chaos then refuses to import that key to disk, so it is only
ever used ephemerally with -p.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config()
			if err != nil {
				return err
			}
			set, err := cfg.Providers()
			if err != nil {
				return err
			}
			p, err := set.Get(args[0])
			if err != nil {
				return err
			}
			var data []byte
			switch keyType {
			case "age":
				data, err = exportKeys(cfg.Dir, keyFile)
			case "pgp", "gpg":
				data, err = secrets.ExportPGP(cmd.Context(), fingerprints)
			case "vault":
				data, err = exportVault(vaultAddr)
			default:
				err = fmt.Errorf("export: --key-type %q: want age, pgp or vault", keyType)
			}
			if err != nil {
				return err
			}
			defer secrets.Wipe(data)
			if noImport {
				marked := providers.MarkNoImport(data)
				defer secrets.Wipe(marked)
				data = marked
			}
			if err := p.Store(cmd.Context(), data); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "stored the key in provider %s\n", p.Name())
			return nil
		},
	}
	cmd.Flags().StringVarP(&keyFile, "key-file", "k", "", "age key file to export (default: the chaos keys directory)")
	cmd.Flags().BoolVarP(&noImport, "no-import", "N", false, "mark the stored key so that `chaos secrets import` refuses it")
	cmd.Flags().StringVar(&keyType, "key-type", "age", "what to store: age, pgp or vault")
	cmd.Flags().StringSliceVarP(&fingerprints, "fingerprints", "f", nil, "PGP fingerprints to export (--key-type pgp)")
	cmd.Flags().StringVarP(&vaultAddr, "vault-addr", "a", "", "Vault address (--key-type vault; default $VAULT_ADDR)")
	return cmd
}

// exportKeys reads keyFile, else every key file in dir's keys directory, each checked to be an age
// key file.
func exportKeys(dir, keyFile string) ([]byte, error) {
	var files []string
	if keyFile != "" {
		files = []string{keyFile}
	} else {
		entries, err := os.ReadDir(filepath.Join(dir, secrets.KeysDir))
		if err != nil {
			return nil, fmt.Errorf("export: %w (run `chaos secrets init` or pass --key-file)", err)
		}
		for _, e := range entries {
			if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				files = append(files, filepath.Join(dir, secrets.KeysDir, e.Name()))
			}
		}
	}
	var parts [][]byte
	defer func() {
		for _, d := range parts {
			secrets.Wipe(d)
		}
	}()
	size := 0
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		parts = append(parts, data)
		size += len(data) + 1
		// Validate before it leaves: an unparsable key stored remotely is found out too late.
		if _, err := secrets.NewKeyring().AddAgeKeys(p, data); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
	}
	out := make([]byte, 0, size)
	for _, d := range parts {
		out = append(out, d...)
		if len(d) > 0 && d[len(d)-1] != '\n' {
			out = append(out, '\n')
		}
	}
	if len(out) == 0 {
		return nil, errors.New("export: no key files found")
	}
	return out, nil
}

// exportVault is the original Ch-aOS's Vault item: the address and the token vault would use.
func exportVault(addr string) ([]byte, error) {
	c, err := vault.New(addr, "")
	if err != nil {
		return nil, fmt.Errorf("export vault: %w", err)
	}
	return vault.Credentials{Addr: c.Addr, Token: c.Token}.Format(), nil
}
