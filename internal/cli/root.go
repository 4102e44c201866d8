// Package cli is the `chaos` command line: a thin layer over the engine, the Ch-obolo loader and the
// role registry.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/printable"
	"github.com/ch-aos-ch/chaos/internal/roles/builtin"
)

// Version, when set at build time with -ldflags "-X .../internal/cli.Version=...", overrides the
// module version that the Go toolchain records in the binary (see versionString).
var Version = ""

// ExitError carries a process exit code without printing anything more.
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit %d", e.Code) }

// app holds what every command shares.
type app struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	chobolo        string // -c
	noColor        bool
	verbose        int // -v, counted: one meaning on every command
	registry       *engine.Registry
}

// Main runs the CLI and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, stdin: stdin, registry: builtin.Registry()}
	root := a.rootCmd()
	root.SetArgs(LegacyFlags(args))
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	var ee ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.Code
	default:
		fmt.Fprintln(stderr, "chaos: "+printable.Text(err.Error()))
		return 1
	}
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "chaos",
		Short: "Ch-aOS: declare a Linux machine in YAML and make it so",
		Long: `Ch-aOS (Change an OS) manages Linux machines from Ch-obolos: YAML files that declare
hostname, users, packages, repositories, services, region and files. chaos probes a target once,
computes the difference locally, shows the exact plan and applies it, with undo on failure.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionString(),
	}
	// cobra's version template repeats the name; ours already starts with it.
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().StringVarP(&a.chobolo, "chobolo", "c", "", "Ch-obolo file (default: chobolo_file in ~/.config/chaos/config.yml)")
	root.PersistentFlags().BoolVar(&a.noColor, "no-color", false, "disable colors (also NO_COLOR set or TERM=dumb)")
	// -v is --verbose on every command; the version is --version or `chaos version` (cobra gives
	// --version no -v shorthand once -v is taken).
	root.PersistentFlags().CountVarP(&a.verbose, "verbose", "v", "more output (repeatable)")
	root.AddCommand(a.applyCmd(), a.checkCmd(), a.explainCmd(), a.initCmd(), a.setCmd(), a.schemaCmd(), a.secretsCmd(),
		a.generationsCmd(), a.rollbackCmd(), a.recoverCmd(), a.logbookCmd(), a.fleetCmd(), a.chimeraCmd(), a.versionCmd())
	return root
}

// color reports whether output to w should be colored.
func (a *app) color(w io.Writer) bool {
	// TERM=dumb is a terminal that understands no escape sequences (Emacs shell, some CI logs).
	if a.noColor || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (a *app) interactive() bool {
	f, ok := a.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// terminal reports whether a person can be asked: stdin and stdout are both a terminal (with
// stdout redirected, the question would go unseen).
func (a *app) terminal() bool {
	f, ok := a.stdout.(*os.File)
	return a.interactive() && ok && term.IsTerminal(int(f.Fd()))
}

// choboloPath is -c, else the configured default.
func (a *app) choboloPath() (string, error) {
	if a.chobolo != "" {
		return a.chobolo, nil
	}
	cfg, err := LoadConfig()
	if err != nil {
		return "", err
	}
	if cfg.ChoboloFile == "" {
		return "", errors.New("no Ch-obolo: pass -c FILE or run `chaos set chobolo FILE`")
	}
	return cfg.ChoboloFile, nil
}
