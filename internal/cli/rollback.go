package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

type rollbackOpts struct {
	target   string
	to       int
	dry      bool
	yes      bool
	json     bool
	pruneAll bool
	log      logFlags
	snapshot bool
	tx       txFlags
	access   accessFlags
}

func (a *app) rollbackCmd() *cobra.Command {
	var o rollbackOpts
	cmd := &cobra.Command{
		Use:   "rollback [--to N]",
		Short: "Go back to an earlier generation (default: the one before the latest)",
		Long: `Rollback restores generation N on a host: it puts back the previous content of every file the
later generations replaced (from their backups) and re-applies generation N's Ch-obolo
declaratively, as one journaled apply that is itself recorded as a new generation. Files whose
previous content was secret were never recorded; the Ch-obolo decides for them.`,
		Example: `  chaos rollback --target @chroot/mnt --dry
  chaos rollback --to 3 -y`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.rollback(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.target, "target", "", "target: @local (default), @chroot/PATH or [user@]host[:port]")
	f.IntVar(&o.to, "to", 0, "the generation to go back to (default: the one before the latest)")
	f.BoolVarP(&o.dry, "dry", "d", false, "show the plan and stop (exit 2 when changes are pending)")
	f.BoolVarP(&o.yes, "yes", "y", false, "apply without asking (on a terminal chaos asks before any change; without one, removals need -y)")
	f.BoolVar(&o.pruneAll, "prune-all", false, "allow prunes that remove a large share of a domain")
	f.BoolVar(&o.json, "json", false, "machine-readable output")
	f.BoolVar(&o.snapshot, "snapshot", false, "restore the btrfs snapshot taken (apply --snapshot) right after generation N instead: it becomes the default subvolume for the next boot")
	o.log.register(f)
	o.tx.register(f)
	o.access.register(f)
	return cmd
}

// rollbackSnapshot restores, for the next boot, the btrfs snapshot that holds the state right after
// generation `to`: the one the next generation's `apply --snapshot` took before it ran.
func (a *app) rollback(ctx context.Context, o rollbackOpts) error {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg, err := a.config()
	if err != nil {
		return err
	}
	if err := o.access.check(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ao := applyOpts{yes: o.yes, pruneAll: o.pruneAll, dry: o.dry, json: o.json, tx: o.tx, access: o.access}
	areq, err := a.applyRequest(ao)
	if err != nil {
		return err
	}
	areq.Events = a.reporter(o.json).Event
	ctl, err := a.controller(o.log.open(ctx, a, cfg))
	if err != nil {
		return err
	}
	run, err := ctl.Rollback(ctx, chaos.RollbackRequest{ApplyRequest: areq, Target: o.target, To: o.to, UseSnapshot: o.snapshot})
	if run != nil {
		o.log.finish(a, run.LogbookID, o.json, o.dry)
	}
	if err != nil {
		return err
	}
	return exitCode(run, o.dry)
}
