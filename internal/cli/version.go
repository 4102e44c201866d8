package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Commit, CommitTime and Modified, when set at build time with -ldflags "-X ...", record the commit a
// release was built from (`make release` builds with -buildvcs=false, so that the binary does not
// depend on how the Go toolchain probes the checkout, and stamps these instead). Modified is "true"
// for a build from a tree with uncommitted changes.
var (
	Commit     = ""
	CommitTime = ""
	Modified   = ""
)

// versionInfo is what `chaos version --json` prints.
type versionInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Time     string `json:"commit_time,omitempty"`
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
}

func (a *app) versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print chaos's version and the commit it was built from",
		Long: `Version prints the version and, when the build recorded it, the commit, its time and whether the
tree had uncommitted changes ("modified"). A release (make release) stamps them at build time; any
other build shows what the Go toolchain recorded from the git checkout. A binary built outside a
checkout says so instead of guessing. --json adds the Go version, OS and architecture.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(buildVersion())
			}
			_, err := fmt.Fprintln(a.stdout, versionString())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object: version, commit, commit_time, modified, go, os, arch")
	return cmd
}

// buildVersion is the version of this binary: the -ldflags stamps, else the build info the Go
// toolchain embeds.
func buildVersion() versionInfo {
	bi, _ := debug.ReadBuildInfo()
	return readVersion(Version, Commit, CommitTime, Modified, bi)
}

// readVersion is buildVersion's pure part.
func readVersion(version, commit, commitTime, modified string, bi *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: version, Commit: commit, Time: commitTime, Modified: modified == "true",
		Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi != nil {
		if v.Version == "" {
			v.Version = bi.Main.Version
		}
		if v.Commit == "" {
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					v.Commit = s.Value
				case "vcs.time":
					v.Time = s.Value
				case "vcs.modified":
					v.Modified = s.Value == "true"
				}
			}
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	return v
}

// versionString is "chaos VERSION (commit REV[, modified], TIME)"; a build without a recorded commit
// says "no commit recorded" rather than invent one.
func versionString() string {
	return formatVersion(buildVersion())
}

func formatVersion(v versionInfo) string {
	if v.Commit == "" {
		return "chaos " + v.Version + " (no commit recorded: built outside a git checkout or with -buildvcs=false)"
	}
	parts := []string{"commit " + v.Commit}
	if v.Modified {
		parts = append(parts, "modified")
	}
	if v.Time != "" {
		parts = append(parts, v.Time)
	}
	return "chaos " + v.Version + " (" + strings.Join(parts, ", ") + ")"
}
