package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/secrets"
	"github.com/ch-aos-ch/chaos/internal/secrets/providers"
)

func (a *app) secretsImportCmd(f *secretFlags) *cobra.Command {
	var to string
	var force bool
	cmd := &cobra.Command{
		Use:   "import PROVIDER",
		Short: "Fetch a key from a provider into the chaos keys directory (age, Vault) or GnuPG (PGP)",
		Long: `Import fetches the provider's item. Age keys and Vault credentials are written (mode 0600) into
the chaos keys directory, or --to FILE; an existing file is not overwritten without --force. PGP
private keys go to GnuPG (gpg --import, on its stdin). A key exported with --no-import
("# NO-IMPORT") is refused: use it with -p instead.`,
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
			data, err := p.Fetch(cmd.Context())
			if err != nil {
				return err
			}
			defer secrets.Wipe(data)
			if providers.HasNoImport(data) {
				return fmt.Errorf("import: the key in provider %s is marked %s; use it ephemerally with -p %s", p.Name(), providers.NoImportMarker, args[0])
			}
			m, err := secrets.NewKeyring().AddKeyMaterial("provider "+p.Name(), data)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			if m.PGP > 0 {
				n, err := secrets.ImportPGP(cmd.Context(), data)
				if err != nil {
					return fmt.Errorf("import: %w", err)
				}
				fmt.Fprintf(a.stdout, "imported %d PGP key block(s) into GnuPG\n", n)
			}
			if m.Age == 0 && !m.Vault {
				return nil
			}
			blocks, data := secrets.SplitMaterial(data)
			defer secrets.Wipe(data)
			for _, b := range blocks {
				secrets.Wipe(b)
			}
			if to == "" {
				to = filepath.Join(cfg.Dir, secrets.KeysDir, "imported-"+p.Name()+".txt")
			}
			if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
				return fmt.Errorf("import: %w", err)
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			fh, err := os.OpenFile(to, flags, 0o600)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("import: %s exists; pass --force to overwrite it", to)
			}
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			if err := fh.Chmod(0o600); err == nil {
				_, err = fh.Write(data)
			}
			if cerr := fh.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			fmt.Fprintf(a.stdout, "imported %s into %s\n", secrets.Material{Age: m.Age, Vault: m.Vault}, to)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "write the key here instead of the chaos keys directory")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing key file")
	return cmd
}
