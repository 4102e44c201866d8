package cli

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/secrets"
)

func (a *app) secretsInitCmd(f *secretFlags) *cobra.Command {
	var newKey bool
	var pathRegex string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create an age key in ~/.config/chaos/keys/ and a sops configuration for it",
		Long: `Init creates an age key (mode 0600) in the chaos config directory's keys/ unless one is there
already (--new makes another), and writes a sops configuration whose creation rule encrypts for it:
-ss FILE, else sops_file from config.yml, else .sops.yaml next to the secrets file, else
sops-config.yml in the config directory (then recorded as sops_file). An existing configuration gets
the key added to the rule matching the secrets file, comments kept. When a secrets file is named
and missing, it is created with an empty user_secrets map.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.secretsInit(cmd.Context(), *f, newKey, pathRegex)
		},
	}
	cmd.Flags().BoolVar(&newKey, "new", false, "generate a new key even when one exists")
	cmd.Flags().StringVar(&pathRegex, "path-regex", "", "path_regex of the creation rule in a new configuration (default: every file)")
	return cmd
}

func (a *app) secretsInit(ctx context.Context, f secretFlags, newKey bool, pathRegex string) error {
	cfg, err := a.config()
	if err != nil {
		return err
	}
	dir := cfg.Dir
	keysDir := filepath.Join(dir, secrets.KeysDir)
	k, err := secrets.DiscoverKeyring(dir)
	if err != nil {
		return err
	}
	recipient := ""
	if rs := k.Recipients(); len(rs) > 0 && !newKey {
		recipient = rs[0]
		fmt.Fprintf(a.stdout, "using the existing age key %s\n", recipient)
	} else {
		if recipient, err = writeNewAgeKey(keysDir); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "created an age key in %s\npublic key: %s\n", keysDir, recipient)
	}

	f.file = cmp.Or(f.file, cfg.SecretsFile)
	target := cmp.Or(f.sops, cfg.SopsFile)
	record := false
	if target == "" {
		if f.file != "" {
			target = filepath.Join(filepath.Dir(f.file), ".sops.yaml")
		} else {
			target, record = filepath.Join(dir, "sops-config.yml"), true
		}
	}
	if fileExists(target) {
		sc, err := secrets.LoadSopsConfig(target)
		if err != nil {
			return err
		}
		rule := 0
		if f.file != "" {
			if rule, err = sc.RuleFor(f.file); err != nil {
				return err
			}
		}
		if rule < 0 || sc.Rules() == 0 {
			return fmt.Errorf("%s: no creation rule matches %s; add one or pass -ss", target, f.file)
		}
		if slices.Contains(sc.Keys("age", rule), recipient) {
			fmt.Fprintf(a.stdout, "%s already encrypts for this key\n", target)
		} else {
			if err := sc.AddKey(rule, 0, "age", recipient); err != nil {
				return err
			}
			if err := sc.Save(); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "added the key to creation rule %d of %s\n", rule, target)
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		data, err := secrets.NewSopsConfig(target, pathRegex, []string{recipient}).Bytes()
		if err != nil {
			return err
		}
		if err := secrets.WriteFileAtomic(target, data, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "wrote %s\n", target)
	}
	if record && cfg.SopsFile == "" {
		cfg.SopsFile = target
		if err := cfg.Save(); err != nil {
			return err
		}
	}
	if f.file != "" && !fileExists(f.file) {
		sf, out, err := secrets.Create(f.file, []byte("user_secrets: {}\n"), secrets.Options{Keys: k, SopsConfig: target})
		if err != nil {
			return err
		}
		sf.Close()
		if err := secrets.WriteFileAtomic(f.file, out, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "created %s (edit it with `chaos secrets edit`)\n", f.file)
	}
	_ = ctx
	return nil
}

// writeNewAgeKey writes a new age key file in dir (0700) with mode 0600 and returns its recipient.
func writeNewAgeKey(dir string) (string, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	name := filepath.Join(dir, "age-"+time.Now().UTC().Format("20060102-150405")+".txt")
	text := []byte(fmt.Sprintf("# created: %s\n# public key: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), id.Recipient(), id))
	defer secrets.Wipe(text)
	fh, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	if _, err := fh.Write(text); err != nil {
		fh.Close()
		os.Remove(name)
		return "", fmt.Errorf("init: %w", err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return "", fmt.Errorf("init: %w", err)
	}
	return id.Recipient().String(), fh.Close()
}
