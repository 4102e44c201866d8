package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/ch-aos-ch/chaos/internal/secrets"
)

func (a *app) secretsCatCmd(f *secretFlags) *cobra.Command {
	var valueOnly, asJSON bool
	cmd := &cobra.Command{
		Use:   "cat [KEY.PATH...]",
		Short: "Print the decrypted file, or selected keys",
		Long: `Cat prints the decrypted secrets file as sops decrypt would. With KEY.PATHs (dotted, list elements
by index: user_secrets.alice.password, tokens.0) it prints each as "KEY.PATH: value"; --value prints
only the values, one per line (subtrees as YAML).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			sf, _, _, err := a.openSecrets(cmd.Context(), *f, nil)
			if err != nil {
				return err
			}
			defer sf.Close()
			if len(args) == 0 {
				plain, err := sf.Plaintext()
				if err != nil {
					return err
				}
				defer secrets.Wipe(plain)
				_, err = a.stdout.Write(plain)
				return err
			}
			v := sf.Values()
			var missing []string
			for _, p := range args {
				x, ok := v.Lookup(p)
				if !ok {
					missing = append(missing, p)
					continue
				}
				if err := a.printSecret(p, x, valueOnly, asJSON); err != nil {
					return err
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("not in %s: %s", sf.Path, strings.Join(missing, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&valueOnly, "value", false, "print only the values")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print subtrees as JSON")
	return cmd
}

func (a *app) printSecret(path string, x any, valueOnly, asJSON bool) error {
	if s, ok := secrets.NewValues(map[string]any{"v": x}).Get("v"); ok {
		if valueOnly {
			fmt.Fprintln(a.stdout, s)
		} else {
			fmt.Fprintf(a.stdout, "%s: %s\n", path, s)
		}
		return nil
	}
	var data []byte
	var err error
	if asJSON {
		data, err = json.MarshalIndent(x, "", "  ")
		data = append(data, '\n')
	} else {
		data, err = yaml.Marshal(x)
	}
	if err != nil {
		return err
	}
	defer secrets.Wipe(data)
	if !valueOnly {
		fmt.Fprintf(a.stdout, "%s:\n", path)
	}
	_, err = a.stdout.Write(data)
	return err
}
