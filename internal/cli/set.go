package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/config"
)

func (a *app) setCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "set", Short: "Set defaults in ~/.config/chaos/config.yml"}
	for _, s := range []struct {
		use     string
		aliases []string
		what    string
		set     func(*config.Config, string)
	}{
		{"chobolo FILE", []string{"c", "ch"}, "the default Ch-obolo", func(c *config.Config, p string) { c.ChoboloFile = p }},
		{"secrets FILE", []string{"sec", "se"}, "the default secrets file", func(c *config.Config, p string) { c.SecretsFile = p }},
		{"sops FILE", []string{"sop"}, "the default sops config", func(c *config.Config, p string) { c.SopsFile = p }},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:     s.use,
			Aliases: s.aliases,
			Short:   "Set " + s.what,
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				p, err := filepath.Abs(args[0])
				if err != nil {
					return err
				}
				if _, err := os.Stat(p); err != nil {
					return fmt.Errorf("set: %w", err)
				}
				cfg, err := a.config()
				if err != nil {
					return err
				}
				s.set(cfg, p)
				if err := cfg.Save(); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s set to %s\n", s.what, p)
				return nil
			},
		})
	}
	return cmd
}
