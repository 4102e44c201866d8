package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/chimera"
	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

type chimeraOpts struct {
	to, out      string
	strict       bool
	allow, deny  []string
	inlineHashes bool
	disko        bool
	stateVersion string
	json         bool
	secrets      secretFlags
}

func (a *app) chimeraCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "chimera",
		Short: "Ch-imera: compile a Ch-obolo into a NixOS or Guix System configuration",
	}
	cmd.AddCommand(a.chimeraCompileCmd())
	return cmd
}

func (a *app) chimeraCompileCmd() *cobra.Command {
	var o chimeraOpts
	cmd := &cobra.Command{
		Use:   "compile -c FILE --to nixos|guix -o DIR",
		Short: "Compile a Ch-obolo into a declarative system configuration",
		Long: `Compile reads the Ch-obolo with the same loader as apply (imports, legacy spellings, positions)
and writes a NixOS flake or a Guix System configuration into DIR, with chimera.json (diagnostics and
a source map from every generated line to the Ch-obolo line it came from).

Diagnostics are printed as FILE:LINE:COL: severity[CODE]: message (hint). Nothing is written when
there is an error; DIR is replaced atomically, and only if it is empty or a previous output.

Exit codes: 0 written; 1 errors in the Ch-obolo (or warnings with --strict); 2 usage or I/O errors.`,
		Example: `  chaos chimera compile -c machine.yml --to nixos -o out/nixos
  chaos chimera compile -c machine.yml --to guix -o out/guix --strict
  chaos chimera compile -c machine.yml --to nixos -o out --allow CHI203 --state-version 25.11 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.chimeraCompile(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.to, "to", "", "target: "+strings.Join(chimera.Backends(), " or "))
	f.StringVarP(&o.out, "output", "o", "", "output directory (replaced atomically)")
	f.BoolVar(&o.strict, "strict", false, "treat warnings as errors")
	f.StringSliceVar(&o.allow, "allow", nil, "lower these diagnostic codes to notes (repeatable, e.g. CHI203)")
	f.StringSliceVar(&o.deny, "deny", nil, "raise these diagnostic codes to errors (repeatable)")
	f.BoolVar(&o.inlineHashes, "inline-hashes", false, "write password hashes from the secrets into the configuration (world-readable in the store) instead of wiring sops-nix")
	f.BoolVar(&o.disko, "disko", false, "NixOS: also write disko.nix from partitioning")
	f.StringVar(&o.stateVersion, "state-version", "", "NixOS system.stateVersion (default: the pinned release)")
	f.BoolVar(&o.json, "json", false, "print chimera.json (diagnostics and source map) on stdout")
	o.secrets.register(f)
	return cmd
}

var diagCode = regexp.MustCompile(`^CHI[0-9]{3}$`)

// usageError exits 2 with a message.
func (a *app) usageError(format string, args ...any) error {
	fmt.Fprintf(a.stderr, "chaos chimera compile: "+format+"\n", args...)
	return ExitError{Code: 2}
}

func (a *app) chimeraCompile(ctx context.Context, o chimeraOpts) error {
	if ctx == nil {
		ctx = context.Background()
	}
	switch {
	case o.to == "":
		return a.usageError("--to is required (%s)", strings.Join(chimera.Backends(), ", "))
	case o.out == "":
		return a.usageError("-o DIR is required")
	}
	if _, err := chimera.Lookup(o.to, a.souls); err != nil {
		return a.usageError("%v", err)
	}
	for _, c := range append(append([]string{}, o.allow...), o.deny...) {
		if !diagCode.MatchString(c) {
			return a.usageError("%q is not a diagnostic code (CHI followed by three digits)", c)
		}
	}
	path, err := a.choboloPath()
	if err != nil {
		return a.usageError("%v", err)
	}
	if _, err := os.Stat(path); err != nil {
		return a.usageError("cannot read Ch-obolo: %v", err)
	}
	c, err := a.loadChobolo()
	if err != nil {
		var errs chobolo.Errors
		if errors.As(err, &errs) {
			for _, d := range errs {
				fmt.Fprintln(a.stderr, d.String())
			}
			fmt.Fprintf(a.stderr, "%d errors, 0 warnings\n", len(errs))
			return ExitError{Code: 1}
		}
		return a.usageError("%v", err)
	}
	opts := chimera.Options{Strict: o.strict, Allow: o.allow, Deny: o.deny, InlineHashes: o.inlineHashes,
		Disko: o.disko, StateVersion: o.stateVersion, Souls: a.souls}
	if o.inlineHashes {
		hashes, err := a.passwordHashes(ctx, o.secrets, c)
		if err != nil {
			return a.usageError("--inline-hashes: %v", err)
		}
		opts.Hashes = hashes
	}
	r, err := chaos.Compile(ctx, c, o.to, opts)
	if err != nil {
		return a.usageError("%v", err)
	}
	for _, d := range r.Diagnostics.List {
		fmt.Fprintln(a.stderr, d.String())
	}
	fmt.Fprintf(a.stderr, "%s, %s\n", plural(r.Diagnostics.Errors(), "error"), plural(r.Diagnostics.Warnings(), "warning"))
	if o.json {
		if err := a.printJSON(r.Manifest()); err != nil {
			return err
		}
	}
	if r.Failed() {
		return ExitError{Code: 1}
	}
	if err := r.Write(o.out); err != nil {
		fmt.Fprintf(a.stderr, "chaos chimera compile: %v\n", err)
		return ExitError{Code: 2}
	}
	if !o.json {
		names := make([]string, 0, len(r.Files)+1)
		for _, f := range r.Files {
			names = append(names, f.Path)
		}
		fmt.Fprintf(a.stdout, "wrote %s: %s, chimera.json\n", o.out, strings.Join(names, ", "))
	}
	return nil
}

// passwordHashes reads user_secrets.NAME.password for every declared user from the secrets file,
// in memory. Values are passed on unchecked: the back end refuses anything but a crypt hash,
// without printing it.
func (a *app) passwordHashes(ctx context.Context, f secretFlags, c *chobolo.Chobolo) (map[string]string, error) {
	v, err := a.loadApplySecrets(ctx, f, c)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, u := range c.Users {
		if h, ok := v.Get("user_secrets." + u.Name + ".password"); ok {
			out[u.Name] = h
		}
	}
	return out, nil
}
