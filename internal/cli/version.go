package cli

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print chaos's version and the commit it was built from",
		Long: `Version prints the module version and, when the binary was built in a git checkout, the commit,
its time and whether the tree had uncommitted changes ("modified"), as the Go toolchain recorded them
in the binary. A binary built outside a checkout says so instead of guessing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintln(a.stdout, versionString())
			return err
		},
	}
}

// versionString is "chaos VERSION (commit REV[, modified], TIME)" from the build info the Go
// toolchain embeds; a build without VCS stamping says "no commit recorded" rather than invent one.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return formatVersion(Version, nil)
	}
	return formatVersion(Version, bi)
}

// formatVersion is versionString's pure part: override is the -ldflags version (empty: the module's).
func formatVersion(override string, bi *debug.BuildInfo) string {
	v := override
	if v == "" && bi != nil {
		v = bi.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	settings := map[string]string{}
	if bi != nil {
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
	}
	rev := settings["vcs.revision"]
	if rev == "" {
		return "chaos " + v + " (no commit recorded: built outside a git checkout or with -buildvcs=false)"
	}
	parts := []string{"commit " + rev}
	if settings["vcs.modified"] == "true" {
		parts = append(parts, "modified")
	}
	if t := settings["vcs.time"]; t != "" {
		parts = append(parts, t)
	}
	return "chaos " + v + " (" + strings.Join(parts, ", ") + ")"
}
