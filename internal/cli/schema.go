package cli

import (
	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

func (a *app) schemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the Ch-obolo (for editors)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := a.stdout.Write(chobolo.Schema())
			return err
		},
	}
}
