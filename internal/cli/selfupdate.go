package cli

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/minisign"
	"github.com/ch-aos-ch/chaos/internal/selfupdate"
)

func (a *app) selfUpdateCmd() *cobra.Command {
	var enable, check bool
	var url, key string
	cmd := &cobra.Command{
		Use:   "self-update [--enable] [--check] [--url URL] [--public-key KEY]",
		Short: "Replace this chaos with the latest signed release (off unless enabled)",
		Long: `Self-update fetches the latest release's SHA256SUMS and its minisign signature, verifies the
signature with the pinned release key, refuses an older release (a downgrade) and does nothing when
this is the latest, downloads the binary for this architecture, checks its SHA-256 against the signed
list, runs it once (version --json must name the signed version), and renames it over this binary
in one step, keeping the old binary as CHAOS.old until the installed one has run.

It is off by default: it runs only with --enable or self_update.enabled: true in config.yml, where
self_update.url and self_update.public_key may name another release directory and its key (a mirror,
a fork). A chaos installed by a package (/usr/bin) is left to the package manager. docs/release.md.`,
		Example: `  chaos self-update --enable --check     # is there a newer release? (downloads nothing else)
  chaos self-update --enable
  # or, once: self_update: {enabled: true} in ~/.config/chaos/config.yml, then
  chaos self-update`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config()
			if err != nil {
				return err
			}
			if !enable && !cfg.SelfUpdate.Enabled {
				return fmt.Errorf("self-update is off: run it with --enable, or set self_update.enabled: true in %s",
					filepath.Join(cfg.Dir, "config.yml"))
			}
			pub, err := minisign.ParsePublicKey(cmp.Or(key, cfg.SelfUpdate.PublicKey, selfupdate.ReleasePublicKey))
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err == nil {
				exe, err = filepath.EvalSymlinks(exe)
			}
			if err != nil {
				return fmt.Errorf("self-update: where is this binary: %w", err)
			}
			res, err := selfupdate.Update(cmd.Context(), selfupdate.Options{
				URL:       cmp.Or(url, cfg.SelfUpdate.URL, selfupdate.DefaultURL),
				Key:       pub,
				Current:   buildVersion().Version,
				Exe:       exe,
				Arch:      runtime.GOARCH,
				CheckOnly: check,
				Log:       func(format string, args ...any) { fmt.Fprintf(a.stdout, format+"\n", args...) },
			})
			if err != nil {
				return err
			}
			if check && res.To != res.From {
				return ExitError{Code: 2} // as apply --dry: 2 means there is something to do
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&enable, "enable", false, "allow the update for this run (default: self_update.enabled in config.yml)")
	f.BoolVar(&check, "check", false, "only say whether a newer release exists (exit 2 if so, 0 if not)")
	f.StringVar(&url, "url", "", "release directory (default: self_update.url, else "+selfupdate.DefaultURL+")")
	f.StringVar(&key, "public-key", "", "minisign public key the release must be signed with (default: self_update.public_key, else the pinned release key)")
	return cmd
}
