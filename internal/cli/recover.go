package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

type recoverOpts struct {
	target string
	resume bool
	yes    bool
	json   bool
	tx     txFlags
}

func (a *app) recoverCmd() *cobra.Command {
	var o recoverOpts
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Finish an interrupted apply: roll it back (default) or forward (--resume)",
		Long: `If chaos was killed in the middle of an apply (SIGKILL, lost connection, power loss), the host
keeps the journal of that apply in /var/lib/chaos/journal. recover runs the inverses of its ops in
reverse order, leaving the host as it was before that apply. With --resume it keeps what was done
and applies the interrupted apply's Ch-obolo again instead. ` + "`chaos apply`" + ` recovers by itself
(rolling back) before planning.`,
		Example: `  chaos recover --target @chroot/mnt
  chaos recover --resume -y`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.recover(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.target, "target", "", "target: @local (default), @chroot/PATH or [user@]host[:port]")
	f.BoolVar(&o.resume, "resume", false, "roll forward: re-apply the interrupted apply's Ch-obolo")
	f.BoolVarP(&o.yes, "yes", "y", false, "apply without asking (with --resume; on a terminal chaos asks before any change)")
	f.BoolVar(&o.json, "json", false, "machine-readable output")
	o.tx.register(f)
	return cmd
}

func (a *app) recover(ctx context.Context, o recoverOpts) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctl, err := a.controller(nil)
	if err != nil {
		return err
	}
	areq, err := a.applyRequest(applyOpts{yes: o.yes, json: o.json, tx: o.tx})
	if err != nil {
		return err
	}
	rec, run, err := ctl.Recover(ctx, chaos.RecoverRequest{Target: o.target, Resume: o.resume, Apply: areq,
		Events: a.reporter(o.json).Event})
	switch {
	case err != nil:
		return err
	case run != nil:
		return exitCode(run, false)
	case rec != nil && len(rec.Errors) > 0:
		return ExitError{Code: 1}
	}
	return nil
}
