package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/manpage"
)

func (a *app) manCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "man -o DIR",
		Short: "Write the man pages of every command into DIR (chaos.1, chaos-apply.1, ...)",
		Long: `Man writes one man page (section 1) per command, generated from the commands themselves, so the
pages never disagree with --help. SOURCE_DATE_EPOCH, when set, fixes their date (reproducible builds).`,
		Example: `  chaos man -o /usr/local/share/man/man1 && mandb -q
  man -l "$(chaos man -o /tmp/chaos-man >/dev/null; echo /tmp/chaos-man/chaos-apply.1)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("man: %w", err)
			}
			// "chaos VERSION" without the commit; each page's title is its command (CHAOS-APPLY).
			v := versionString()
			if i := strings.LastIndex(v, " ("); i > 0 {
				v = v[:i]
			}
			header := manpage.Header{Section: "1", Source: v, Manual: "Ch-aOS manual"}
			if err := manpage.WriteTree(cmd.Root(), header, dir); err != nil {
				return fmt.Errorf("man: %w", err)
			}
			fmt.Fprintf(a.stdout, "wrote the man pages into %s\n", dir)
			return nil
		},
	}
	cmd.Flags().StringVarP(&dir, "output", "o", "", "directory to write the pages into (created if missing; pages in it are replaced)")
	_ = cmd.MarkFlagRequired("output")
	_ = cmd.MarkFlagDirname("output")
	return cmd
}
