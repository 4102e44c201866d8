package cli

import (
	"github.com/spf13/cobra"
)

func (a *app) schemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the Ch-obolo (for editors), with the installed Souls' keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := a.schema()
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(data)
			return err
		},
	}
}
