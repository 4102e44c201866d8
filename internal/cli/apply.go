package cli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/config"
	"github.com/ch-aos-ch/chaos/internal/engine"
	"github.com/ch-aos-ch/chaos/internal/logbook"
	"github.com/ch-aos-ch/chaos/internal/transport"
	"github.com/ch-aos-ch/chaos/pkg/chaos"
)

type applyOpts struct {
	targets  []string
	dry      bool
	yes      bool
	json     bool
	core     string
	pruneAll bool
	// secrets is -s (with -sf, -ss, -p): decrypt the secrets file in memory for the roles.
	secrets    secretFlags
	useSecrets bool
	store      engine.SecretStore
	// allowBootloaderInstall lets the bootloader role run grub-install/bootctl/refind-install in a chroot.
	allowBootloaderInstall bool
	// fleet is --fleet, --limit, --serial and the SSH options (fleet.go).
	fleet fleetFlags
	// log is --logbook, --limani, --no-logbook and the run being recorded (logbook.go).
	log logFlags
	// snapshot is --snapshot: a read-only btrfs snapshot of / before the apply (generations.go).
	snapshot bool
	// tx is --keep-generations, --generations-max-size and --force-remove (retention.go).
	tx txFlags
	// access is --no-confirm-access and --confirm-timeout (access.go).
	access accessFlags
}

func (a *app) applyCmd() *cobra.Command {
	var o applyOpts
	cmd := &cobra.Command{
		Use:   "apply [ROLES...]",
		Short: "Make targets match the Ch-obolo (plan, confirm, apply)",
		Long: `Apply probes each target once, computes every selected role's plan and executes it.
Without ROLES, every role with data in the Ch-obolo runs. Roles may be given by name or alias.

Exit codes: 0 done (or, with --dry, nothing to do); 2 with --dry when changes are pending; 1 on error.`,
		Example: `  chaos apply -c machine.yml --dry
  chaos apply users packages -c machine.yml -y
  chaos apply -c machine.yml --target @chroot/mnt`,
		RunE:              func(cmd *cobra.Command, args []string) error { return a.apply(cmd.Context(), args, o) },
		ValidArgsFunction: a.completeRoles,
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.targets, "target", nil, "target: @local (default), @chroot/PATH (a root file system other than /), @pid/N or [user@]host[:port]; repeatable")
	f.BoolVarP(&o.dry, "dry", "d", false, "show the plan and stop (exit 2 when changes are pending)")
	f.BoolVarP(&o.yes, "yes", "y", false, "apply without asking (on a terminal chaos asks before any change; without one, removals need -y)")
	f.BoolVar(&o.yes, "i-know-what-im-doing", false, "same as --yes")
	f.BoolVar(&o.json, "json", false, "machine-readable output: the plan as JSON, events as JSON lines")
	f.StringVar(&o.core, "core", "", "force the core: debian, arch or fedora")
	f.BoolVar(&o.pruneAll, "prune-all", false, "allow prunes that remove a large share of a domain")
	f.BoolVarP(&o.useSecrets, "secrets", "s", false, "decrypt the secrets file (in memory) and hand it to the roles (user passwords)")
	o.secrets.register(f)
	f.BoolVar(&o.allowBootloaderInstall, "allow-bootloader-install", false, "let the bootloader role install a boot loader inside a chroot (Arch)")
	o.fleet.register(f)
	o.log.register(f)
	f.BoolVar(&o.snapshot, "snapshot", false, "take a read-only btrfs snapshot of / before applying (refused when / is not on btrfs)")
	o.tx.register(f)
	o.access.register(f)
	return cmd
}

func (a *app) loadChobolo() (*chobolo.Chobolo, error) {
	path, err := a.choboloPath()
	if err != nil {
		return nil, err
	}
	opts := a.loadOptions()
	if dir, derr := config.Dir(); derr == nil {
		opts.TemplatesDir = filepath.Join(dir, "templates") // secrets.templates[].from, where the original kept them
	}
	c, err := chobolo.Load(path, opts)
	if c != nil {
		for _, w := range c.Warnings {
			fmt.Fprintln(a.stderr, w.String())
		}
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// controller is the library's Controller for this command: the roles (built in and the Souls'),
// the aliases (the Souls' and the user's)
// and retention from config.yml, and the logbook (nil: none).
func (a *app) controller(lb *logbook.Store) (*chaos.Controller, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	aliases, aliasPos, err := a.tagAliases()
	if err != nil {
		return nil, err
	}
	return chaos.New(chaos.Options{Roles: a.registry.All(), Logbook: lb, Aliases: aliases, AliasPos: aliasPos,
		Keep: cfg.Retention.Keep, MaxBytes: cfg.Retention.MaxBytes, Limanis: cfg.Limanis, Souls: a.souls})
}

func (a *app) apply(ctx context.Context, args []string, o applyOpts) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Every --target is checked before anything else happens: a bad spelling stops the whole run.
	for _, spec := range o.targets {
		if _, err := transport.ParseSpec(spec); err != nil {
			return err
		}
	}
	if err := o.access.check(); err != nil {
		return err
	}
	c, err := a.loadChobolo()
	if err != nil {
		return err
	}
	if err := a.checkStyxLock(); err != nil {
		return err
	}
	// What no host can make valid (two roles managing one path, a reserved path, a fleet host
	// chaos cannot connect to, ...): refused before any target is touched, with every problem. The
	// roles' checks need the core: without one the engine runs them as soon as the probe tells it.
	if err := a.checkStatic(c, cmp.Or(o.core, c.Core), false); err != nil {
		return err
	}
	cfg, err := a.config()
	if err != nil {
		return err
	}
	ctl, err := a.controller(nil)
	if err != nil {
		return err
	}
	// A mistyped role is refused (with a suggestion) before secrets are decrypted or a target is
	// contacted.
	tags, err := ctl.ResolveTags(args)
	if err != nil {
		return err
	}
	if o.useSecrets || o.secrets.file != "" || o.secrets.provider != "" || o.secrets.team != "" {
		// Decrypted before any target is touched: a bad key or a tampered file applies nothing.
		v, err := a.loadApplySecrets(ctx, o.secrets, c)
		if err != nil {
			return err
		}
		o.store = v
	}
	req, err := a.applyRequest(o)
	if err != nil {
		return err
	}
	req.Chobolo, req.Tags = c, tags
	isFleet, err := a.prepareFleet(ctx, ctl, c, &o)
	if err != nil {
		return err
	}
	req.Inventory, req.Connect = o.fleet.inv, o.fleet.connectOptions()
	// Every run goes to the logbook (logbook.go); a logbook problem never fails the apply.
	if ctl, err = a.controller(o.log.open(ctx, a, cfg)); err != nil {
		return err
	}
	var run *chaos.Run
	if isFleet {
		run, err = a.applyFleet(ctx, ctl, req, o)
	} else {
		req.Targets = o.targets
		req.Events = a.reporter(o.json).Event
		run, err = ctl.Apply(ctx, req)
	}
	if run != nil {
		o.log.finish(a, run.LogbookID, o.json, o.dry)
	}
	if err != nil {
		return err
	}
	return exitCode(run, o.dry)
}

// exitCode is a run's exit status: 1 when a target failed, 2 when a dry run found changes.
func exitCode(run *chaos.Run, dry bool) error {
	switch {
	case run.Failed() > 0:
		return ExitError{Code: 1}
	case dry && run.Pending():
		return ExitError{Code: 2}
	}
	return nil
}

// applyRequest is the library request for the flags of apply (and rollback, recover --resume).
func (a *app) applyRequest(o applyOpts) (chaos.ApplyRequest, error) {
	req := chaos.ApplyRequest{Core: o.core, Dry: o.dry, Yes: o.yes, PruneAll: o.pruneAll, Secrets: o.store,
		Allow: map[string]bool{"bootloader-install": o.allowBootloaderInstall}, Snapshot: o.snapshot,
		Access: chaos.AccessOptions{Skip: o.access.noConfirm, Timeout: o.access.confirmTimeout()}}
	if err := o.tx.set(&req); err != nil {
		return req, err
	}
	// On a terminal without -y, the question comes before the host lock, on the plan of a read-only
	// probe, so that answering no leaves the target untouched; the plan made again under the lock
	// (after recovery) must be the one shown.
	if a.terminal() {
		req.AskFirst = !o.yes
		req.Approve = a.askApproval(o)
	}
	return req, nil
}

func (a *app) jsonLine(v any) {
	data, _ := json.Marshal(v)
	fmt.Fprintln(a.stdout, string(data))
}

// askApproval asks on the terminal before any change, under the plan and its summary line. -y
// skips the question unless a guarded prune (a large share of a domain) is in the plan and
// --prune-all is not given: then only an explicit yes applies it. Without a terminal the
// library's unattended policy holds (removals need -y; guarded prunes -y and --prune-all).
func (a *app) askApproval(o applyOpts) chaos.Approver {
	return func(_ context.Context, hp *engine.HostPlan) (chaos.Approval, error) {
		var guards []string
		if !o.pruneAll {
			guards = hp.Guards()
		}
		if o.yes && len(guards) == 0 {
			return chaos.ApprovePrune, nil
		}
		out := a.stdout
		if o.json { // stdout is JSON lines: the question and the summary it refers to go to stderr
			out = a.stderr
			fmt.Fprintf(out, "%s: %s\n", hp.Target, engine.Summary(hp))
		}
		if len(guards) > 0 {
			fmt.Fprintf(out, "%s: %s\n", hp.Target, strings.Join(guards, "; "))
		}
		fmt.Fprint(out, "Apply these changes? [y/N] ")
		line, _ := bufio.NewReader(a.stdin).ReadString('\n')
		if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
			return chaos.Refuse, nil
		}
		return chaos.ApprovePrune, nil
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
